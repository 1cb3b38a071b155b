package store_test

import (
	"fmt"
	"sync"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// TestOppositeMovesDoNotDeadlock has two devices of one user move mail
// between two folders in opposite directions at once, many times over
// (opposite moves). Each move locks both folders' counters and the user's quota
// row; taken in different orders, PostgreSQL answered one of two opposite
// moves with "deadlock detected" (40P01). Every move must now succeed, and
// each message must end in exactly one folder, once.
func TestOppositeMovesDoNotDeadlock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "mover@example.nhs.uk")
		a := inbox(t, s, u)
		b, err := s.CreateFolder(ctx, u.ID, 0, "Work", store.FolderUserMail)
		if err != nil {
			t.Fatal(err)
		}
		const perSide, rounds = 8, 6
		type mail struct {
			subject string
			id      int64
			in      int64
		}
		// Each worker owns one message and moves it back and forth, so
		// at any moment about half the moves go A to B and half B to A.
		var mails []*mail
		for i := 0; i < 2*perSide; i++ {
			f := a
			if i%2 == 1 {
				f = b
			}
			it := addMail(t, s, u, f, fmt.Sprintf("m%d", i))
			mails = append(mails, &mail{subject: it.Subject, id: it.ID, in: f.ID})
		}
		other := map[int64]int64{a.ID: b.ID, b.ID: a.ID}
		var wg sync.WaitGroup
		errs := make(chan error, len(mails)*rounds)
		start := make(chan struct{})
		for _, m := range mails {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for r := 0; r < rounds; r++ {
					moved, err := s.MoveItem(ctx, u.ID, m.id, other[m.in])
					if err != nil {
						errs <- fmt.Errorf("%s round %d: %w", m.subject, r, err)
						return
					}
					m.id, m.in = moved.ID, moved.FolderID
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// Every message once, in the folder its last move put it in.
		seen := map[string]int64{}
		for _, f := range []*store.Folder{a, b} {
			items, err := s.ListItems(ctx, u.ID, f.ID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if prev, dup := seen[it.Subject]; dup {
					t.Errorf("%s in folders %d and %d", it.Subject, prev, f.ID)
				}
				seen[it.Subject] = f.ID
			}
		}
		for _, m := range mails {
			if got, ok := seen[m.subject]; !ok {
				t.Errorf("%s lost", m.subject)
			} else if got != m.in {
				t.Errorf("%s in folder %d, its last move put it in %d", m.subject, got, m.in)
			}
		}
		if len(seen) != len(mails) {
			t.Errorf("%d messages in the folders, want %d", len(seen), len(mails))
		}
	})
}
