package store_test

import (
	"errors"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

// A 12.x resend key (store.Resend) blocks an identical submission from the
// same device inside its window, with nothing stored; another device, an
// ended window or a failed first attempt do not block.
func TestSubmitResendKeyWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "alice@example.nhs.uk")
		var devs [2]*store.Device
		for i, id := range []string{"DEV1", "DEV2"} {
			d, _, err := s.EnsureDevice(ctx, &store.Device{UserID: u.ID, DeviceID: id, DeviceType: "iPhone"})
			if err != nil {
				t.Fatal(err)
			}
			devs[i] = d
		}
		raw := []byte("To: bob@example.nhs.uk\r\nSubject: OK\r\n\r\nOK\r\n")
		submit := func(dev *store.Device, fp string, window time.Duration) error {
			return s.Submit(ctx, store.Submission{UserID: u.ID, Raw: raw,
				Items:  []*store.Item{{UserID: u.ID, FolderID: inbox(t, s, u).ID, Subject: "OK"}},
				Resend: &store.Resend{DevicePK: dev.ID, Fingerprint: fp, Window: window}})
		}
		count := func() int {
			its, err := s.ListItems(ctx, u.ID, inbox(t, s, u).ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			return len(its)
		}
		steps := []struct {
			name   string
			dev    int
			fp     string
			window time.Duration
			sleep  time.Duration
			resent bool
		}{
			{"first", 0, "aa", 300 * time.Millisecond, 0, false},
			{"resend inside the window", 0, "aa", 300 * time.Millisecond, 0, true},
			{"same key, other device", 1, "aa", 300 * time.Millisecond, 0, false},
			{"other key, same device", 0, "bb", time.Hour, 0, false},
			{"after the window", 0, "aa", 300 * time.Millisecond, 400 * time.Millisecond, false},
			{"resend in the new window", 0, "aa", 300 * time.Millisecond, 0, true},
		}
		want := 0
		for _, st := range steps {
			time.Sleep(st.sleep)
			err := submit(devs[st.dev], st.fp, st.window)
			if got := errors.Is(err, store.ErrResent); got != st.resent || (err != nil && !got) {
				t.Fatalf("%s: %v, want resent=%v", st.name, err, st.resent)
			}
			if !st.resent {
				want++
			}
			if n := count(); n != want {
				t.Fatalf("%s: %d items stored, want %d", st.name, n, want)
			}
		}
		// Pruning forgets ended windows only.
		time.Sleep(400 * time.Millisecond)
		if n, err := s.PruneResends(ctx); err != nil || n != 2 {
			t.Fatalf("pruned %d (%v), want the two ended keys", n, err)
		}
		if err := submit(devs[0], "bb", time.Hour); !errors.Is(err, store.ErrResent) {
			t.Fatalf("a live key was pruned: %v", err)
		}
	})
}
