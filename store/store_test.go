package store_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"airlock/migrations"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

func newUser(t *testing.T, s *store.Store, email string) *store.User {
	t.Helper()
	u := &store.User{Email: email, DisplayName: email}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

func inbox(t *testing.T, s *store.Store, u *store.User) *store.Folder {
	t.Helper()
	f, err := s.FolderByType(ctx, u.ID, store.FolderInbox)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func addMail(t testing.TB, s *store.Store, u *store.User, f *store.Folder, subject string) *store.Item {
	t.Helper()
	now := time.Now().UTC()
	it := &store.Item{UserID: u.ID, FolderID: f.ID, Subject: subject, DateReceived: &now}
	if err := s.AddItem(ctx, it, []byte("Subject: "+subject+"\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	return it
}

func TestMigrationsBothDialectsHaveSameVersions(t *testing.T) {
	names := func(d migrations.Dialect) []string {
		var out []string
		fs.WalkDir(migrations.FS(d), ".", func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	pg, lite := names(migrations.Postgres), names(migrations.SQLite)
	if len(pg) == 0 || !slices.Equal(pg, lite) {
		t.Fatalf("migration files differ:\npostgres: %v\nsqlite:   %v", pg, lite)
	}
}

func TestMigrationsIdempotentAndReversible(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		cur, newest, err := s.MigrationVersion(ctx)
		if err != nil || cur != newest || cur == 0 {
			t.Fatalf("version %d of %d, err %v", cur, newest, err)
		}
		// Down to empty, then up one step at a time: the schema must serve
		// the same data as a fresh install.
		if err := s.MigrateDownTo(ctx, 0); err != nil {
			t.Fatalf("down: %v", err)
		}
		// Version numbers may have gaps (numbers are reserved per work
		// item), so step until the newest rather than counting.
		for steps := 0; ; steps++ {
			v, _, err := s.MigrationVersion(ctx)
			if err != nil || steps > 1000 {
				t.Fatalf("version: %v", err)
			}
			if v == newest {
				break
			}
			if err := s.MigrateUpByOne(ctx); err != nil {
				t.Fatalf("up by one from %d: %v", v, err)
			}
		}
		// The schema was emptied: the keyring too.
		if err := store.ReopenKeys(ctx, s); err != nil {
			t.Fatal(err)
		}
		u := newUser(t, s, "after.upgrade@example.nhs.uk")
		addMail(t, s, u, inbox(t, s, u), "still works")
	})
}

func TestUsersAndLogins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "  Alice.Smith@Example.NHS.uk ")
		if u.Email != "alice.smith@example.nhs.uk" {
			t.Fatalf("email not normalised: %q", u.Email)
		}
		if err := s.CreateUser(ctx, &store.User{Email: "alice.smith@example.nhs.uk"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate user: %v", err)
		}
		if err := s.AddAlias(ctx, u.ID, "asmith@example.nhs.uk"); err != nil {
			t.Fatal(err)
		}
		for _, login := range []string{"alice.smith@example.nhs.uk", "ALICE.SMITH@example.nhs.uk", `NHS\alice.smith`, "alice.smith", "asmith@example.nhs.uk"} {
			got, err := s.UserByLogin(ctx, login)
			if err != nil || got.ID != u.ID {
				t.Errorf("UserByLogin(%q) = %v, %v", login, got, err)
			}
		}
		// A bare name that is ambiguous or a LIKE pattern finds nobody.
		newUser(t, s, "alice.smith@other.nhs.uk")
		for _, login := range []string{"alice.smith", "%", "alice_smith", ""} {
			if _, err := s.UserByLogin(ctx, login); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("UserByLogin(%q) = %v, want ErrNotFound", login, err)
			}
		}
		folders, err := s.Folders(ctx, u.ID)
		if err != nil || len(folders) != len(store.DefaultFolders) {
			t.Fatalf("default folders: %d, %v", len(folders), err)
		}
		if err := s.SetUserDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		got, _ := s.UserByID(ctx, u.ID)
		if !got.Disabled {
			t.Fatal("not disabled")
		}
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UserByID(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted user found: %v", err)
		}
		if fs, _ := s.Folders(ctx, u.ID); len(fs) != 0 {
			t.Fatalf("folders survived their user: %d", len(fs))
		}
	})
}

func TestFolderHierarchyChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "h@example.nhs.uk")
		all, base, err := s.HierarchyChangesSince(ctx, u.ID, 0)
		if err != nil || len(all) != len(store.DefaultFolders) {
			t.Fatalf("initial hierarchy: %d folders, %v", len(all), err)
		}
		in := inbox(t, s, u)
		p, err := s.CreateFolder(ctx, u.ID, in.ID, "Projects", store.FolderUserMail)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateFolder(ctx, u.ID, in.ID, "projects ", store.FolderUserMail); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("same name in another case: %v", err)
		}
		c, err := s.CreateFolder(ctx, u.ID, p.ID, "Ward 7", store.FolderUserMail)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateFolder(ctx, u.ID, 0, "Inbox", store.FolderInbox); err == nil {
			t.Fatal("created a second default Inbox")
		}
		if _, err := s.UpdateFolder(ctx, u.ID, p.ID, c.ID, "Loop"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("moved a folder under its child: %v", err)
		}
		if _, err := s.UpdateFolder(ctx, u.ID, in.ID, 0, "Renamed"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("renamed the Inbox: %v", err)
		}
		got, err := s.FolderByPath(ctx, u.ID, "inbox/projects/ward 7")
		if err != nil || got.ID != c.ID {
			t.Fatalf("FolderByPath: %v %v", got, err)
		}
		addMail(t, s, u, c, "in child")
		if err := s.DeleteFolder(ctx, u.ID, p.ID); err != nil {
			t.Fatal(err)
		}
		changes, cur, err := s.HierarchyChangesSince(ctx, u.ID, base)
		if err != nil {
			t.Fatal(err)
		}
		// Projects and Ward 7 were added then deleted: each appears once,
		// as a tombstone.
		if len(changes) != 2 || !changes[0].Deleted || !changes[1].Deleted || cur <= base {
			t.Fatalf("changes since %d: %+v (cur %d)", base, changes, cur)
		}
		if _, err := s.FolderByID(ctx, u.ID, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("deleted child folder still found")
		}
		other := newUser(t, s, "other@example.nhs.uk")
		if _, err := s.FolderByID(ctx, other.ID, in.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("another user's folder is visible")
		}
	})
}

// Two writers add to one folder at once: counters strictly increase, no two
// items share one, and none is lost.
func TestCountersStrictlyIncreaseUnderConcurrentWriters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "c@example.nhs.uk")
		f := inbox(t, s, u)
		const writers, each = 2, 60
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					it := &store.Item{UserID: u.ID, FolderID: f.ID, Subject: fmt.Sprintf("w%d-%d", w, i)}
					if err := s.AddItem(ctx, it, []byte("x")); err != nil {
						errs <- err
						return
					}
					if i%3 == 0 {
						read := true
						if _, err := s.UpdateItem(ctx, u.ID, it.ID, store.FlagChange{Read: &read}); err != nil {
							errs <- err
							return
						}
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		changes, err := s.ChangesSince(ctx, u.ID, f.ID, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != writers*each {
			t.Fatalf("%d changes, want %d", len(changes), writers*each)
		}
		seen := map[int64]bool{}
		for i, c := range changes {
			if seen[c.Modseq] {
				t.Fatalf("counter %d used twice", c.Modseq)
			}
			seen[c.Modseq] = true
			if i > 0 && c.Modseq <= changes[i-1].Modseq {
				t.Fatalf("counters not increasing at %d", i)
			}
		}
		top, _ := s.FolderModseq(ctx, u.ID, f.ID)
		if top != changes[len(changes)-1].Modseq {
			t.Fatalf("folder counter %d, last change %d", top, changes[len(changes)-1].Modseq)
		}
	})
}

// Reading "changes since N" page by page, with writes in between, returns
// each change exactly once and deletions as tombstones.
func TestChangesSinceExactlyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "x@example.nhs.uk")
		f := inbox(t, s, u)
		var items []*store.Item
		for i := 0; i < 25; i++ {
			items = append(items, addMail(t, s, u, f, fmt.Sprint("m", i)))
		}
		since := int64(0)
		state := map[int64]bool{} // the replica: id -> present
		drain := func() {
			for {
				page, err := s.ChangesSince(ctx, u.ID, f.ID, since, 7)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					return
				}
				for _, c := range page {
					if c.Deleted {
						delete(state, c.ID)
					} else {
						state[c.ID] = true
					}
					since = c.Modseq
				}
				// Writes between pages: a change to an item already sent
				// comes again later, with a higher counter.
				if len(state) == 7 {
					read := true
					if _, err := s.UpdateItem(ctx, u.ID, items[0].ID, store.FlagChange{Read: &read}); err != nil {
						t.Fatal(err)
					}
					if err := s.DeleteItem(ctx, u.ID, items[20].ID); err != nil {
						t.Fatal(err)
					}
					items = append(items, addMail(t, s, u, f, "late"))
				}
			}
		}
		drain()
		live, err := s.ListItems(ctx, u.ID, f.ID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != len(state) {
			t.Fatalf("replica has %d items, server %d", len(state), len(live))
		}
		for _, it := range live {
			if !state[it.ID] {
				t.Fatalf("item %d missing from replica", it.ID)
			}
		}
		// A deletion after the drain arrives as a tombstone, once.
		if err := s.DeleteItem(ctx, u.ID, items[1].ID); err != nil {
			t.Fatal(err)
		}
		page, _ := s.ChangesSince(ctx, u.ID, f.ID, since, 100)
		if len(page) != 1 || !page[0].Deleted || page[0].ID != items[1].ID {
			t.Fatalf("tombstone: %+v", page)
		}
		if err := s.DeleteItem(ctx, u.ID, items[1].ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestWindowsOf100InStableOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "w@example.nhs.uk")
		f := inbox(t, s, u)
		d := store.Delivery{Raw: []byte("Subject: bulk\r\n\r\nx")}
		for i := 0; i < 350; i++ {
			d.Items = append(d.Items, &store.Item{UserID: u.ID, FolderID: f.ID, Subject: fmt.Sprint(i)})
		}
		if err := s.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		after := int64(0)
		for windows := 0; ; windows++ {
			page, err := s.ListItems(ctx, u.ID, f.ID, after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				if windows != 4 {
					t.Fatalf("%d windows, want 4", windows)
				}
				break
			}
			if len(page) > 100 {
				t.Fatalf("window of %d", len(page))
			}
			for _, it := range page {
				ids = append(ids, it.ID)
			}
			after = page[len(page)-1].ID
		}
		if len(ids) != 350 || !sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i] < ids[j] }) {
			t.Fatalf("%d ids, sorted %v", len(ids), sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i] < ids[j] }))
		}
		n, _ := s.CountItems(ctx, u.ID, f.ID)
		if n != 350 {
			t.Fatalf("count %d", n)
		}
	})
}

func TestMoveSharesBlobAndTracksQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "m@example.nhs.uk")
		in := inbox(t, s, u)
		arch, err := s.CreateFolder(ctx, u.ID, 0, "Archive", store.FolderUserMail)
		if err != nil {
			t.Fatal(err)
		}
		it := &store.Item{UserID: u.ID, FolderID: in.ID, Subject: "with attachment", HasAttachments: true,
			Attachments: []store.Attachment{{PartIndex: 2, FileName: "scan.pdf", ContentType: "application/pdf", Size: 3}}}
		raw := []byte("Subject: with attachment\r\n\r\nbody")
		if err := s.AddItem(ctx, it, raw); err != nil {
			t.Fatal(err)
		}
		moved, err := s.MoveItem(ctx, u.ID, it.ID, arch.ID)
		if err != nil {
			t.Fatal(err)
		}
		if moved.ID == it.ID || moved.FolderID != arch.ID {
			t.Fatalf("moved: %+v", moved)
		}
		got, err := s.Blob(ctx, u.ID, moved.ID)
		if err != nil || string(got) != string(raw) {
			t.Fatalf("blob after move: %q %v", got, err)
		}
		full, _ := s.ItemByID(ctx, u.ID, moved.ID)
		if len(full.Attachments) != 1 || full.Attachments[0].FileName != "scan.pdf" {
			t.Fatalf("attachments after move: %+v", full.Attachments)
		}
		a, owner, err := s.AttachmentByID(ctx, u.ID, full.Attachments[0].ID)
		if err != nil || owner.ID != moved.ID || a.FileName != "scan.pdf" {
			t.Fatalf("attachment by id: %v %v", a, err)
		}
		other := newUser(t, s, "o@example.nhs.uk")
		if _, _, err := s.AttachmentByID(ctx, other.ID, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("another user reads the attachment")
		}
		if _, err := s.Blob(ctx, other.ID, moved.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("another user reads the message")
		}
		user, _ := s.UserByID(ctx, u.ID)
		if user.QuotaUsed != int64(len(raw)) {
			t.Fatalf("quota %d, want %d", user.QuotaUsed, len(raw))
		}
		if err := s.DeleteItem(ctx, u.ID, moved.ID); err != nil {
			t.Fatal(err)
		}
		user, _ = s.UserByID(ctx, u.ID)
		if user.QuotaUsed != 0 {
			t.Fatalf("quota after delete %d", user.QuotaUsed)
		}
		sqlDB, _ := s.SQL()
		var blobs int
		sqlDB.QueryRow("SELECT count(*) FROM blobs").Scan(&blobs)
		if blobs != 0 {
			t.Fatalf("%d blobs left after the last reference went", blobs)
		}
		// Mail cannot land in a calendar.
		cal, _ := s.FolderByType(ctx, u.ID, store.FolderCalendar)
		if err := s.AddItem(ctx, &store.Item{UserID: u.ID, FolderID: cal.ID, Class: store.ClassEmail}, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("mail in calendar: %v", err)
		}
	})
}

func TestDevicesAndSyncState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "d@example.nhs.uk")
		var wg sync.WaitGroup
		created := make(chan bool, 4)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, c, err := s.EnsureDevice(ctx, &store.Device{UserID: u.ID, DeviceID: "Appl123", DeviceType: "iPhone"})
				if err != nil {
					t.Error(err)
				}
				created <- c
			}()
		}
		wg.Wait()
		close(created)
		n := 0
		for c := range created {
			if c {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("device created %d times", n)
		}
		d, err := s.DeviceByEASID(ctx, u.ID, "Appl123")
		if err != nil || d.State != store.DeviceNew {
			t.Fatalf("device: %+v %v", d, err)
		}
		if err := s.UpdateDevice(ctx, d.ID, map[string]any{"state": store.DeviceQuarantined, "model": "iPhone2,1"}); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListDevices(ctx, store.DeviceFilter{State: store.DeviceQuarantined, Search: "IPHONE2"})
		if err != nil || len(list) != 1 {
			t.Fatalf("filtered list: %d %v", len(list), err)
		}
		if list, _ := s.ListDevices(ctx, store.DeviceFilter{Search: "%"}); len(list) != 0 {
			t.Fatal("a LIKE wildcard in the search matched")
		}
		counts, err := s.CountDevicesBy(ctx, "state")
		if err != nil || len(counts) != 1 || counts[0].Count != 1 || counts[0].Key != "quarantined" {
			t.Fatalf("counts: %+v %v", counts, err)
		}
		for key := int64(1); key <= 4; key++ {
			if err := s.SaveSyncState(ctx, &store.SyncState{DevicePK: d.ID, Collection: "5", SyncKey: key, Data: []byte(fmt.Sprint(key))}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SyncStateAt(ctx, d.ID, "5", 3); err != nil {
			t.Fatalf("previous generation gone: %v", err)
		}
		if _, err := s.SyncStateAt(ctx, d.ID, "5", 2); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("old generation kept: %v", err)
		}
		// Re-saving an older key (a replayed request) replaces what followed it.
		if err := s.SaveSyncState(ctx, &store.SyncState{DevicePK: d.ID, Collection: "5", SyncKey: 4, Data: []byte("again")}); err != nil {
			t.Fatal(err)
		}
		latest, err := s.LatestSyncState(ctx, d.ID, "5")
		if err != nil || latest.SyncKey != 4 || string(latest.Data) != "again" {
			t.Fatalf("latest: %+v %v", latest, err)
		}
		if err := s.DeleteDevice(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LatestSyncState(ctx, d.ID, "5"); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("sync state survived its device")
		}
	})
}

func TestAuditChainDetectsTampering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		for i := 0; i < 5; i++ {
			if err := s.Audit(ctx, &store.AuditEvent{Actor: "admin@example.nhs.uk", ActorIP: "127.0.0.1", Action: "device.block", Target: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if bad, err := s.VerifyAuditChain(ctx); err != nil || bad != 0 {
			t.Fatalf("intact chain reported bad at %d (%v)", bad, err)
		}
		evs, err := s.ListAudit(ctx, store.AuditFilter{Action: "device.block", Limit: 2})
		if err != nil || len(evs) != 2 || evs[0].ID < evs[1].ID {
			t.Fatalf("list audit: %+v %v", evs, err)
		}
		sqlDB, _ := s.SQL()
		if _, err := sqlDB.Exec("UPDATE audit_events SET target = 'edited' WHERE id = $1", evs[1].ID); err != nil {
			t.Fatal(err)
		}
		if bad, _ := s.VerifyAuditChain(ctx); bad != evs[1].ID {
			t.Fatalf("tampered row %d, verify said %d", evs[1].ID, bad)
		}
	})
}

func TestAuthFailuresLockOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		key := "acct:1"
		limits := []store.AuthLimit{{Key: key, Limit: 5}, {Key: "ip:192.0.2.1", Limit: 50}}
		for i := 1; i <= 5; i++ {
			r, until, err := s.ReserveAuthAttempt(ctx, limits, time.Minute, time.Hour)
			if err != nil || until != nil || r == nil {
				t.Fatalf("attempt %d: %v %v %v", i, r, until, err)
			}
			if locking := len(r.Locking) > 0; locking != (i == 5) {
				t.Fatalf("attempt %d: locking %v", i, r.Locking)
			}
		}
		if got, _ := s.AuthLockedUntil(ctx, key); got == nil {
			t.Fatal("lock not reported")
		}
		r, until, err := s.ReserveAuthAttempt(ctx, limits, time.Minute, time.Hour)
		if err != nil || r != nil || until == nil {
			t.Fatalf("sixth attempt: %v %v %v", r, until, err)
		}
		// A locked account charges nothing to the address.
		if af, _ := s.AuthFailures(ctx, "ip:192.0.2.1"); af.Failures != 5 {
			t.Fatalf("address charged %d", af.Failures)
		}
		if err := s.ClearAuthFailures(ctx, key); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AuthLockedUntil(ctx, key); got != nil {
			t.Fatal("lock survived clear")
		}
	})
}

// A success gives its charge back: the account's counter is forgotten, the
// address's loses one, and a lock the successful attempt set is lifted (an
// office behind one address is not locked by its own sign-ins).
func TestAuthReservationReleasedOnSuccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ip := "ip:192.0.2.9"
		for i := 0; i < 3; i++ {
			r, _, err := s.ReserveAuthAttempt(ctx, []store.AuthLimit{{Key: fmt.Sprintf("acct:%d", i), Limit: 10}, {Key: ip, Limit: 3}}, time.Minute, time.Hour)
			if err != nil || r == nil {
				t.Fatal(r, err)
			}
			if err := s.ReleaseAuthAttempt(ctx, r, fmt.Sprintf("acct:%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if until, _ := s.AuthLockedUntil(ctx, ip); until != nil {
			t.Fatal("three successes locked the address")
		}
		if af, _ := s.AuthFailures(ctx, ip); af.Failures != 0 {
			t.Fatalf("address counts %d after successes", af.Failures)
		}
		if _, err := s.AuthFailures(ctx, "acct:1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("account counter kept: %v", err)
		}
	})
}

// Expired counters go; a lock that still holds stays.
func TestAuthFailuresExpire(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		s.ReserveAuthAttempt(ctx, []store.AuthLimit{{Key: "name:old", Limit: 5}}, time.Minute, time.Hour)
		s.ReserveAuthAttempt(ctx, []store.AuthLimit{{Key: "name:locked", Limit: 1}}, time.Minute, time.Hour)
		n, err := s.ExpireAuthFailures(ctx, time.Now().Add(time.Second))
		if err != nil || n != 1 {
			t.Fatalf("expired %d: %v", n, err)
		}
		if _, err := s.AuthFailures(ctx, "name:old"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("old counter kept: %v", err)
		}
		if until, _ := s.AuthLockedUntil(ctx, "name:locked"); until == nil {
			t.Fatal("a holding lock was expired")
		}
	})
}

// The lockout race: a failure is reserved before the password is verified,
// so 200 concurrent attempts get no more than the limit through, on both
// databases and whatever the interleaving.
func TestLockoutRaceReservesBeforeVerifying(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var granted, refused atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, until, err := s.ReserveAuthAttempt(ctx, []store.AuthLimit{{Key: "acct:7", Limit: 10}, {Key: fmt.Sprintf("ip:192.0.2.%d", i%4), Limit: 50}}, time.Minute, time.Hour)
				switch {
				case err != nil:
					t.Error(err)
				case r != nil:
					granted.Add(1)
				case until != nil:
					refused.Add(1)
				}
			}()
		}
		wg.Wait()
		if granted.Load() != 10 || refused.Load() != 190 {
			t.Fatalf("%d attempts granted, %d refused; want 10 and 190", granted.Load(), refused.Load())
		}
	})
}

func TestPoliciesRulesSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		p, err := s.SavePolicy(ctx, "default", `{"RequireDeviceEncryption":true}`)
		if err != nil || !p.IsDefault || p.Version != 1 {
			t.Fatalf("first policy: %+v %v", p, err)
		}
		p2, err := s.SavePolicy(ctx, "default", `{"RequireDeviceEncryption":false}`)
		if err != nil || p2.Version != 2 || p2.ID != p.ID {
			t.Fatalf("changed policy: %+v %v", p2, err)
		}
		def, _ := s.DefaultPolicy(ctx)
		if def.Version != 2 {
			t.Fatalf("default policy version %d", def.Version)
		}
		for i, prio := range []int{30, 10, 20} {
			if err := s.AddRule(ctx, &store.DeviceRule{Priority: prio, Field: "model", Match: "exact", Pattern: fmt.Sprint(i), Action: "allow", Enabled: true}); err != nil {
				t.Fatal(err)
			}
		}
		rules, _ := s.ListRules(ctx)
		if len(rules) != 3 || rules[0].Priority != 10 || rules[2].Priority != 30 {
			t.Fatalf("rules order: %+v", rules)
		}
		if err := s.DeleteRule(ctx, rules[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRule(ctx, rules[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if v, _ := s.Setting(ctx, "default_access", "quarantine"); v != "quarantine" {
			t.Fatal("default not returned")
		}
		s.SetSetting(ctx, "default_access", "allow")
		s.SetSetting(ctx, "default_access", "block")
		if v, _ := s.Setting(ctx, "default_access", ""); v != "block" {
			t.Fatalf("setting %q", v)
		}
	})
}

// An unreachable database is ErrUnavailable, which the EAS layer answers
// with "retry later" (Sync Status 16, common status 111, HTTP 503).
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	_, err := store.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", store.Options{})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("refused connection: %v", err)
	}
	s := storetest.OpenSQLite(t)
	s.Close()
	if _, err := s.UserByID(ctx, 1); err == nil {
		t.Fatal("query on a closed store succeeded")
	}
}

func TestBadDatabaseURL(t *testing.T) {
	for _, dsn := range []string{"", "mysql://root@localhost/x", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"} {
		_, err := store.Open(ctx, dsn, store.Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}
