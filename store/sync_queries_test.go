package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

func TestCommitSyncAppliesOpsAndStateAtomically(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "cs@example.nhs.uk")
		other := newUser(t, s, "other@example.nhs.uk")
		in := inbox(t, s, u)
		del, err := s.FolderByType(ctx, u.ID, store.FolderDeletedItems)
		if err != nil {
			t.Fatal(err)
		}
		d, _, err := s.EnsureDevice(ctx, &store.Device{UserID: u.ID, DeviceID: "dev1", DeviceType: "iPhone"})
		if err != nil {
			t.Fatal(err)
		}
		a := addMail(t, s, u, in, "a")
		b := addMail(t, s, u, in, "b")
		c := addMail(t, s, u, in, "c")
		foreign := addMail(t, s, other, inbox(t, s, other), "foreign")
		read := true

		ops := []store.SyncOp{
			{Kind: store.SyncOpAdd, Item: &store.Item{Subject: "new"}, Raw: []byte("Subject: new\r\n\r\nx"), InFolder: in.ID},
			{Kind: store.SyncOpChange, ItemID: a.ID, Change: store.FlagChange{Read: &read}, InFolder: in.ID},
			{Kind: store.SyncOpDelete, ItemID: b.ID, InFolder: in.ID},
			{Kind: store.SyncOpMove, ItemID: c.ID, DstFolderID: del.ID, InFolder: in.ID},
			{Kind: store.SyncOpDelete, ItemID: foreign.ID, InFolder: in.ID},
		}
		var seen []store.SyncOpResult
		res, err := s.CommitSync(ctx, &store.SyncCommit{UserID: u.ID, DevicePK: d.ID, Collection: "x", Ops: ops,
			State: func(r []store.SyncOpResult) (*store.SyncState, error) {
				seen = r
				return &store.SyncState{SyncKey: 1, Data: []byte("one")}, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 5 || len(seen) != 5 {
			t.Fatalf("results %d, state saw %d", len(res), len(seen))
		}
		for i := 0; i < 4; i++ {
			if !res[i].Applied || res[i].Err != nil {
				t.Fatalf("op %d: %+v", i, res[i])
			}
		}
		if !errors.Is(res[4].Err, store.ErrNotFound) || res[4].Applied {
			t.Fatalf("another user's item was touched: %+v", res[4])
		}
		if it, err := s.ItemByID(ctx, u.ID, res[0].ItemID); err != nil || it.Subject != "new" || it.Modseq != res[0].Modseq {
			t.Fatalf("added item: %+v %v", it, err)
		}
		if it, _ := s.ItemByID(ctx, u.ID, a.ID); !it.Read {
			t.Fatal("change not applied")
		}
		if _, err := s.ItemByID(ctx, u.ID, b.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("delete not applied")
		}
		if it, err := s.ItemByID(ctx, u.ID, res[3].ItemID); err != nil || it.FolderID != del.ID {
			t.Fatalf("move: %+v %v", it, err)
		}
		if _, err := s.ItemByID(ctx, other.ID, foreign.ID); err != nil {
			t.Fatal("another user's item was deleted")
		}
		st, err := s.LatestSyncState(ctx, d.ID, "x")
		if err != nil || st.SyncKey != 1 || string(st.Data) != "one" {
			t.Fatalf("state: %+v %v", st, err)
		}

		// A stale guard applies nothing.
		n0, _ := s.CountItems(ctx, u.ID, in.ID)
		_, err = s.CommitSync(ctx, &store.SyncCommit{UserID: u.ID, DevicePK: d.ID, Collection: "x",
			Guard: store.SyncStateGuard{LatestKey: 0},
			Ops:   []store.SyncOp{{Kind: store.SyncOpAdd, Item: &store.Item{Subject: "dup"}, Raw: []byte("Subject: dup\r\n\r\nx"), InFolder: in.ID}},
			State: func([]store.SyncOpResult) (*store.SyncState, error) { return &store.SyncState{SyncKey: 1}, nil }})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale guard: %v", err)
		}
		if n1, _ := s.CountItems(ctx, u.ID, in.ID); n1 != n0 {
			t.Fatalf("stale commit applied its add: %d -> %d", n0, n1)
		}

		// A failing state builder rolls the ops back.
		_, err = s.CommitSync(ctx, &store.SyncCommit{UserID: u.ID, DevicePK: d.ID, Collection: "x",
			Guard: store.SyncStateGuard{LatestKey: 1, LatestID: st.ID},
			Ops:   []store.SyncOp{{Kind: store.SyncOpAdd, Item: &store.Item{Subject: "dup"}, Raw: []byte("Subject: dup\r\n\r\nx"), InFolder: in.ID}},
			State: func([]store.SyncOpResult) (*store.SyncState, error) { return nil, errors.New("boom") }})
		if err == nil {
			t.Fatal("state error not returned")
		}
		if n1, _ := s.CountItems(ctx, u.ID, in.ID); n1 != n0 {
			t.Fatal("ops survived a failed state")
		}

		// Generations: 1, 2, 3 keep 2 and 3; a replay of 2 replaces 3.
		for key := int64(2); key <= 3; key++ {
			latest, _ := s.LatestSyncState(ctx, d.ID, "x")
			if err := s.SaveSyncStateIf(ctx, &store.SyncState{DevicePK: d.ID, Collection: "x", SyncKey: key}, store.SyncStateGuard{LatestKey: latest.SyncKey, LatestID: latest.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SyncStateAt(ctx, d.ID, "x", 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("generation 1 kept")
		}
		if err := s.SaveSyncStateIf(ctx, &store.SyncState{DevicePK: d.ID, Collection: "x", SyncKey: 3, Data: []byte("replayed")}, store.SyncStateGuard{LatestKey: 3}); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.SyncStateAt(ctx, d.ID, "x", 2); st == nil {
			t.Fatal("replay dropped the base generation")
		}
		if st, _ := s.LatestSyncState(ctx, d.ID, "x"); string(st.Data) != "replayed" {
			t.Fatal("replay not stored")
		}
		// Restart drops everything.
		if err := s.SaveSyncStateIf(ctx, &store.SyncState{DevicePK: d.ID, Collection: "x", SyncKey: 1}, store.SyncStateGuard{Restart: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SyncStateAt(ctx, d.ID, "x", 2); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("restart kept an old generation")
		}
	})
}

func TestCommitSyncConflictDetection(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "cf@example.nhs.uk")
		in := inbox(t, s, u)
		d, _, _ := s.EnsureDevice(ctx, &store.Device{UserID: u.ID, DeviceID: "dev2", DeviceType: "iPhone"})
		a := addMail(t, s, u, in, "a")
		seenAt := a.Modseq
		flag := 2
		if _, err := s.UpdateItem(ctx, u.ID, a.ID, store.FlagChange{FlagStatus: &flag}); err != nil { // another device
			t.Fatal(err)
		}
		read := true
		res, err := s.CommitSync(ctx, &store.SyncCommit{UserID: u.ID, DevicePK: d.ID, Collection: "c",
			Ops: []store.SyncOp{{Kind: store.SyncOpChange, ItemID: a.ID, InFolder: in.ID, Change: store.FlagChange{Read: &read}, NotAfter: seenAt}}})
		if err != nil {
			t.Fatal(err)
		}
		if !res[0].Conflict || res[0].Applied {
			t.Fatalf("server-wins conflict: %+v", res[0])
		}
		if it, _ := s.ItemByID(ctx, u.ID, a.ID); it.Read {
			t.Fatal("losing change applied")
		}
		res, _ = s.CommitSync(ctx, &store.SyncCommit{UserID: u.ID, DevicePK: d.ID, Collection: "c",
			Ops: []store.SyncOp{{Kind: store.SyncOpChange, ItemID: a.ID, InFolder: in.ID, Change: store.FlagChange{Read: &read}, NotAfter: seenAt, ClientWins: true}}})
		if !res[0].Conflict || !res[0].Applied {
			t.Fatalf("client-wins conflict: %+v", res[0])
		}
		// A version the device wrote itself is no conflict.
		res, _ = s.CommitSync(ctx, &store.SyncCommit{UserID: u.ID, DevicePK: d.ID, Collection: "c",
			Ops: []store.SyncOp{{Kind: store.SyncOpChange, ItemID: a.ID, InFolder: in.ID, Change: store.FlagChange{Read: &read}, NotAfter: seenAt, Own: res[0].Modseq}}})
		if res[0].Conflict || !res[0].Applied {
			t.Fatalf("own version: %+v", res[0])
		}
	})
}

func TestCommitSyncSerialisesOneKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "race@example.nhs.uk")
		in := inbox(t, s, u)
		d, _, _ := s.EnsureDevice(ctx, &store.Device{UserID: u.ID, DeviceID: "dev3", DeviceType: "iPhone"})
		if err := s.SaveSyncStateIf(ctx, &store.SyncState{DevicePK: d.ID, Collection: "c", SyncKey: 1}, store.SyncStateGuard{}); err != nil {
			t.Fatal(err)
		}
		base, _ := s.LatestSyncState(ctx, d.ID, "c")
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.CommitSync(ctx, &store.SyncCommit{UserID: u.ID, DevicePK: d.ID, Collection: "c",
					Guard: store.SyncStateGuard{LatestKey: 1, LatestID: base.ID},
					Ops:   []store.SyncOp{{Kind: store.SyncOpAdd, Item: &store.Item{Subject: "once"}, Raw: []byte("Subject: once\r\n\r\nx"), InFolder: in.ID}},
					State: func([]store.SyncOpResult) (*store.SyncState, error) { return &store.SyncState{SyncKey: 2}, nil }})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of 8 racing commits won", ok)
		}
		if n, _ := s.CountItems(ctx, u.ID, in.ID); n != 1 {
			t.Fatalf("%d items stored, want 1", n)
		}
	})
}

func TestSyncBatchReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "br@example.nhs.uk")
		other := newUser(t, s, "br2@example.nhs.uk")
		in := inbox(t, s, u)
		a := addMail(t, s, u, in, "a")
		b := addMail(t, s, u, in, "b")
		f := addMail(t, s, other, inbox(t, s, other), "f")
		blobs, err := s.BlobsOf(ctx, u.ID, []int64{a.ID, b.ID, f.ID})
		if err != nil || len(blobs) != 2 || string(blobs[a.ID]) != "Subject: a\r\n\r\nbody\r\n" {
			t.Fatalf("blobs: %d %v", len(blobs), err)
		}
		if n, err := s.CountChangesSince(ctx, u.ID, in.ID, a.Modseq); err != nil || n != 1 {
			t.Fatalf("count since: %d %v", n, err)
		}
		old := time.Now().UTC().Add(-10 * 24 * time.Hour)
		it := &store.Item{UserID: u.ID, FolderID: in.ID, Subject: "old", DateReceived: &old}
		if err := s.AddItem(ctx, it, []byte("Subject: old\r\n\r\nx")); err != nil {
			t.Fatal(err)
		}
		ids, err := s.ItemsDatedBetween(ctx, u.ID, in.ID, old.Add(-time.Hour), old.Add(time.Hour))
		if err != nil || len(ids) != 1 || ids[0] != it.ID {
			t.Fatalf("dated between: %v %v", ids, err)
		}
	})
}

func TestStatementCounter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := s.StatementCounter()
		if s.StatementCounter() != c {
			t.Fatal("a second counter")
		}
		u := newUser(t, s, "count@example.nhs.uk")
		before := c.Load()
		if _, err := s.Folders(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		addMail(t, s, u, inbox(t, s, u), "x")
		if n := c.Load() - before; n < 4 {
			t.Fatalf("%d statements counted for a query and an insert", n)
		}
	})
}
