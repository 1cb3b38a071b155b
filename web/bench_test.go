package web

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock/devices"
	"airlock/internal/password"
	"airlock/store"
)

// BenchmarkDeviceList measures the dashboard's heaviest pages on SQLite
// with 10,000 devices of 500 users, through the whole handler (session
// check, CSRF, queries, template):
//
//	go test ./web -run '^$' -bench DeviceList -benchmem
func BenchmarkDeviceList(b *testing.B) {
	srv, cookie := benchServer(b)
	for _, bc := range []struct{ name, path string }{
		{"first-page", "/admin/devices"},
		{"deep-page", "/admin/devices?after=5000"},
		{"filter-state-type", "/admin/devices?state=allowed&type=iPhone"},
		{"search", "/admin/devices?q=sm-g9"},
		{"not-seen-30d", "/admin/devices?seen=30"},
		{"quarantine", "/admin/quarantine"},
		{"overview", "/admin"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			req.AddCookie(cookie)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%s: HTTP %d", bc.path, w.Code)
				}
			}
		})
	}
}

// benchServer seeds a store for the sub-benchmarks and signs in its
// administrator.
func benchServer(b *testing.B) (*Server, *http.Cookie) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	start := time.Now()
	if err := seedDevices(ctx, st, 500, 10000); err != nil {
		b.Fatal(err)
	}
	if n, _ := st.CountDevices(ctx, store.DeviceFilter{}); n != 10000 {
		b.Fatalf("%d devices seeded", n)
	}
	b.Logf("seeded 10,000 devices in %v", time.Since(start).Round(time.Millisecond))
	devs := devices.New(st, nil)
	if err := devs.EnsureDefaults(ctx); err != nil {
		b.Fatal(err)
	}
	s := NewServer(Deps{Store: st, Devices: devs, Hostname: "mail.example.nhs.uk"})
	admin, err := st.UserByAddress(ctx, "user0@example.nhs.uk")
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := s.issue(ctx, admin, audienceDashboard, true, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return s, &http.Cookie{Name: sessionCookie, Value: tok}
}

// seedDevices creates users and a realistic fleet: families, OS versions,
// states and last-sync times spread as in a large trust. User 0 is an
// administrator.
func seedDevices(ctx context.Context, st *store.Store, users, n int) error {
	h, err := password.Hash("bench-pass-1", fastHash)
	if err != nil {
		return err
	}
	ids := make([]int64, users)
	for i := range users {
		u := &store.User{Email: fmt.Sprintf("user%d@example.nhs.uk", i), DisplayName: fmt.Sprintf("User %d", i), PasswordHash: h}
		if i == 0 {
			u.Role = store.RoleAdmin
		}
		if err := st.CreateUser(ctx, u); err != nil {
			return err
		}
		ids[i] = u.ID
	}
	type fam struct{ typ, model, os, ua, ver string }
	fams := []fam{
		{"iPhone", "iPhone10,4", "iOS 16.1.1 20B101", "Apple-iPhone10C4/2001.101", "16.1"},
		{"iPhone", "iPhone2,1", "iOS 5.0", "Apple-iPhone2C1/901.334", "14.0"},
		{"iPad", "iPad7,5", "iOS 15.7 19H12", "Apple-iPad7C5/1907.12", "16.1"},
		{"Android", "SM-G991B", "Android 13", "Android-Mail/2023.02.12.512000000.Release", "16.1"},
		{"SAMSUNGSMG960F", "SM-G960F", "Android 10", "SAMSUNG-SM-G960F/101.100001", "14.1"},
		{"Android", "", "Android 2.3.4", "Android/2.3.4-EAS-1.2", "12.1"},
		{"NokiaEmail", "", "", "NokiaE721/2.02(0)MailforExchange 3gpp-gba", "12.1"},
		{"PocketPC", "HTC HD2", "Windows CE 5.2.21234", "MSFT-PPC/5.2.5082", "12.1"},
		{"BlackBerry", "Q10-SQN100-3", "BlackBerry 10.2.0.1443", "RIM-Q10-SQN100-3/10.2.0.1443", "14.1"},
		{"Outlook", "", "", "Outlook-iOS-Android/1.0", "16.1"},
	}
	states := []store.DeviceState{store.DeviceAllowed, store.DeviceAllowed, store.DeviceAllowed, store.DeviceAllowed, store.DeviceAllowed,
		store.DeviceAllowed, store.DeviceQuarantined, store.DeviceBlocked, store.DeviceNew, store.DeviceWipePending}
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC()
	batch := make([]store.Device, 0, 1000)
	for i := range n {
		f := fams[r.IntN(len(fams))]
		state := states[r.IntN(len(states))]
		last := now.Add(-time.Duration(r.Int64N(int64(60 * 24 * time.Hour))))
		d := store.Device{
			UserID: ids[i%users], DeviceID: fmt.Sprintf("BENCH%08d", i), DeviceType: f.typ, Model: f.model, OS: f.os, UserAgent: f.ua,
			ProtocolVersion: f.ver, State: state, StateReason: "Seeded for the benchmark: " + string(state) + ".", DecidedBy: "default",
			Evidence: `["seeded"]`, PolicyAckStatus: 1, PolicyKey: int64(1000 + i), PolicyVersion: 1, LastSeen: &last, LastSync: &last,
			FriendlyName: fmt.Sprintf("%s %d", strings.TrimSpace(f.typ+" "+f.model), i),
		}
		if state == store.DeviceNew {
			d.PolicyAckStatus, d.LastSync = 0, nil
		}
		batch = append(batch, d)
		if len(batch) == cap(batch) {
			if err := st.BulkInsertDevices(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		return st.BulkInsertDevices(ctx, batch)
	}
	return nil
}
