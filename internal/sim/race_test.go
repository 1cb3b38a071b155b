package sim

import (
	"context"
	"sync"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

// twoDevices enrols two devices of one user, keeping only the Inbox, on
// the real handler over st.
func twoDevices(t *testing.T, st *store.Store, n int) (a, b *Device, u *User, rec *Recorder) {
	t.Helper()
	ctx := context.Background()
	url := serve(t, st, nil)
	u = &User{Email: "race@sim.airlock.test", Password: "sim-password-1", Index: 1}
	if err := EnsureUsers(ctx, st, []*User{u}); err != nil {
		t.Fatal(err)
	}
	if err := Seed(ctx, st, nil, "rrace", u, n); err != nil {
		t.Fatal(err)
	}
	stats, rec := NewStats(), &Recorder{}
	client := NewHTTPClient(4)
	mk := func(name string, i int) *Device {
		id := DefaultProfile
		id.User, id.Password, id.DeviceID = u.Email, u.Password, "RACE"+name
		d := NewDevice(name, u, NewConn([]string{url}, 0, client, id, stats, Faults{}, uint64(i)), stats, rec, uint64(i))
		d.Types = []int{TypeInbox, TypeDeleted}
		if err := d.Enrol(ctx); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return mk("a", 1), mk("b", 2), u, rec
}

// settleAndCompare syncs both devices and counts their differences from
// the database.
func settleAndCompare(t *testing.T, st *store.Store, u *User, devs ...*Device) *Verdict {
	t.Helper()
	ctx := context.Background()
	truth, err := StoreTruth{Store: st}.View(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verdict{}
	for _, d := range devs {
		if err := d.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
		compare(v, d.Name, d.Snapshot(), View{TypeInbox: truth[TypeInbox], TypeDeleted: truth[TypeDeleted]})
	}
	return v
}

// Reliability case 64 (imaptest's own_flags): two devices change the same
// mail at the same moment, one its read state, the other its flag. Both
// changes must persist and both devices must end up seeing both.
//
// Regression: on PostgreSQL the later writer's "own change" record
// (its modseq) became the item's modseq, so the later writer never got the
// earlier writer's change.
func TestConcurrentChangesOfOneItem(t *testing.T) {
	st := storetest.OpenPostgres(t)
	a, b, u, _ := twoDevices(t, st, 1)
	ctx := context.Background()
	sid, _ := a.pickItem(TypeInbox)
	divergent := 0
	for round := 0; round < 60 && divergent == 0; round++ {
		_, fa := a.pickItem(TypeInbox)
		_, fb := b.pickItem(TypeInbox)
		read, flag := !fa.Read, map[int]int{0: 2, 2: 0, 1: 0}[fb.Flag]
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			a.syncOnce(ctx, []int{TypeInbox}, []clientCmd{{Kind: "Change", ServerID: sid, Read: &read}})
		}()
		go func() {
			defer wg.Done()
			b.syncOnce(ctx, []int{TypeInbox}, []clientCmd{{Kind: "Change", ServerID: sid, Flag: &flag}})
		}()
		wg.Wait()
		v := settleAndCompare(t, st, u, a, b)
		divergent += v.Divergent + v.Lost
		for _, d := range v.Details {
			t.Logf("round %d: %s", round, d)
		}
	}
	if divergent > 0 {
		t.Fatalf("after concurrent changes of one item a device's copy differs from the server's")
	}
}

// One device moves a mail to Deleted Items (Sync Delete with
// DeletesAsMoves) while the other marks it read. The second must not keep
// the mail in its Inbox.
//
// Regression: on PostgreSQL the Change was applied to the moved item's
// tombstone and recorded as the device's own change, which hid the Delete
// from that device for good: a ghost mail on the phone.
func TestChangeRacingAMoveLeavesNoGhost(t *testing.T) {
	st := storetest.OpenPostgres(t)
	a, b, u, _ := twoDevices(t, st, 40)
	ctx := context.Background()
	bad := 0
	for round := 0; round < 40 && bad == 0; round++ {
		sid, fp := a.pickItem(TypeInbox)
		if sid == "" {
			break
		}
		read := !fp.Read
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			a.syncOnce(ctx, []int{TypeInbox}, []clientCmd{{Kind: "Delete", ServerID: sid}})
		}()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(round%4) * time.Millisecond)
			b.syncOnce(ctx, []int{TypeInbox}, []clientCmd{{Kind: "Change", ServerID: sid, Read: &read}})
		}()
		wg.Wait()
		v := settleAndCompare(t, st, u, a, b)
		bad += v.Divergent + v.Lost
		for _, d := range v.Details {
			t.Logf("round %d: %s", round, d)
		}
	}
	if bad > 0 {
		t.Fatalf("a device keeps a mail another device moved away (%d differences)", bad)
	}
}
