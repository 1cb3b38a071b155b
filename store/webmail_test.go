package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

// TestMailListKeysetPages walks a folder page by page in every order, both
// ways, with and without the filters, and checks that every message shows
// exactly once, in order, and that another user's folder and cursors are
// refused.
func TestMailListKeysetPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "lister@example.nhs.uk")
		f := inbox(t, s, u)
		base := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
		senders := []string{`"Zoe Able" <zoe@example.nhs.uk>`, "bob@example.nhs.uk", `"alice Brown" <ab@example.nhs.uk>`, `"Carl" <carl@example.nhs.uk>`}
		const n = 23
		for i := 0; i < n; i++ {
			// Pairs of messages share a date, so ties are broken by id.
			d := base.Add(time.Duration(i/2) * time.Hour)
			it := &store.Item{UserID: u.ID, FolderID: f.ID, Subject: fmt.Sprintf("Subject %02d", (i*7)%n), FromAddr: senders[i%len(senders)],
				DateReceived: &d, Read: i%3 == 0, FlagStatus: map[bool]int{true: 2}[i%5 == 0]}
			if err := s.AddItem(ctx, it, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		all := listAll(t, s, u.ID, store.MailListQuery{FolderID: f.ID, Sort: store.MailNewest, Limit: 1000})
		if len(all.Items) != n {
			t.Fatalf("%d items listed, want %d", len(all.Items), n)
		}
		for _, tc := range []struct {
			name string
			q    store.MailListQuery
			want func(a, b store.Item) bool // a before b
			keep func(store.Item) bool
		}{
			{"newest", store.MailListQuery{Sort: store.MailNewest}, func(a, b store.Item) bool {
				return a.DateReceived.After(*b.DateReceived) || a.DateReceived.Equal(*b.DateReceived) && a.ID > b.ID
			}, nil},
			{"oldest", store.MailListQuery{Sort: store.MailOldest}, func(a, b store.Item) bool {
				return a.DateReceived.Before(*b.DateReceived) || a.DateReceived.Equal(*b.DateReceived) && a.ID < b.ID
			}, nil},
			{"sender", store.MailListQuery{Sort: store.MailSender}, nil, nil},
			{"unread", store.MailListQuery{Sort: store.MailNewest, Unread: true}, nil, func(it store.Item) bool { return !it.Read }},
			{"flagged", store.MailListQuery{Sort: store.MailSender, Flagged: true}, nil, func(it store.Item) bool { return it.FlagStatus == 2 }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				q := tc.q
				q.FolderID, q.Limit = f.ID, 4
				var fwd []store.Item
				for pages := 0; ; pages++ {
					p, err := s.MailList(ctx, u.ID, q)
					if err != nil {
						t.Fatal(err)
					}
					fwd = append(fwd, p.Items...)
					if !p.More {
						break
					}
					q.After = p.Items[len(p.Items)-1].ID
					if pages > n {
						t.Fatal("paging does not end")
					}
				}
				ids := map[int64]bool{}
				for _, it := range fwd {
					if ids[it.ID] {
						t.Fatalf("item %d listed twice", it.ID)
					}
					ids[it.ID] = true
					if tc.keep != nil && !tc.keep(it) {
						t.Fatalf("item %d does not match the filter", it.ID)
					}
				}
				want := 0
				for _, it := range all.Items {
					if tc.keep == nil || tc.keep(it) {
						want++
					}
				}
				if len(fwd) != want {
					t.Fatalf("%d items over the pages, want %d", len(fwd), want)
				}
				for i := 1; tc.want != nil && i < len(fwd); i++ {
					if !tc.want(fwd[i-1], fwd[i]) {
						t.Fatalf("rows %d and %d out of order", i-1, i)
					}
				}
				// Backwards from the end gives the same rows.
				var back []store.Item
				q.After, q.Before = 0, fwd[len(fwd)-1].ID
				back = append(back, fwd[len(fwd)-1])
				for {
					p, err := s.MailList(ctx, u.ID, q)
					if err != nil {
						t.Fatal(err)
					}
					back = append(slices.Clone(p.Items), back...)
					if !p.More {
						break
					}
					q.Before = p.Items[0].ID
				}
				if len(back) != len(fwd) {
					t.Fatalf("backwards: %d rows, forwards %d", len(back), len(fwd))
				}
				for i := range back {
					if back[i].ID != fwd[i].ID {
						t.Fatalf("backwards row %d is %d, forwards %d", i, back[i].ID, fwd[i].ID)
					}
				}
			})
		}

		// The sender order ignores case and the quote of a display name.
		p := listAll(t, s, u.ID, store.MailListQuery{FolderID: f.ID, Sort: store.MailSender, Limit: 1000})
		var firsts []string
		for _, it := range p.Items {
			if len(firsts) == 0 || firsts[len(firsts)-1] != it.FromAddr {
				firsts = append(firsts, it.FromAddr)
			}
		}
		if want := []string{senders[2], senders[1], senders[3], senders[0]}; !slices.Equal(firsts, want) {
			t.Fatalf("sender order %q, want %q", firsts, want)
		}

		// Subject order, in Go.
		modseq, order, err := s.SubjectOrder(ctx, u.ID, f.ID)
		if err != nil || len(order) != n {
			t.Fatalf("subject order: %d entries, %v", len(order), err)
		}
		for i := 1; i < len(order); i++ {
			if order[i-1].Key > order[i].Key {
				t.Fatalf("subject order: %q before %q", order[i-1].Key, order[i].Key)
			}
		}

		// Changes since are merged into the order as a fresh sort would
		// place them: a flag, a move out, a deletion and new mail.
		flag := 2
		if _, err := s.UpdateItem(ctx, u.ID, order[3].ID, store.FlagChange{FlagStatus: &flag}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteItem(ctx, u.ID, order[5].ID); err != nil {
			t.Fatal(err)
		}
		for _, subj := range []string{"Subject 07", "aaa first", "zzz last"} {
			d := base.Add(48 * time.Hour)
			if err := s.AddItem(ctx, &store.Item{UserID: u.ID, FolderID: f.ID, Subject: subj, FromAddr: senders[0], DateReceived: &d}, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		changed, err := s.ChangesSince(ctx, u.ID, f.ID, modseq, 1000)
		if err != nil {
			t.Fatal(err)
		}
		merged := store.MergeSubjectChanges(order, changed, f.ID)
		_, fresh, err := s.SubjectOrder(ctx, u.ID, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(merged, fresh) {
			t.Fatalf("merged order differs from a fresh sort:\n%v\n%v", merged, fresh)
		}
		ids := make([]int64, len(fresh))
		for i, e := range fresh {
			ids[i] = e.ID
		}
		items, err := s.MailListItems(ctx, u.ID, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(items); i++ {
			if strings.ToLower(items[i-1].Subject) > strings.ToLower(items[i].Subject) {
				t.Fatalf("subject order: %q before %q", items[i-1].Subject, items[i].Subject)
			}
		}

		// Counts for the folder tree.
		counts, err := s.UnreadCounts(ctx, u.ID, []int64{f.ID})
		if err != nil {
			t.Fatal(err)
		}
		var unread int64
		for _, e := range fresh {
			if !e.Read {
				unread++
			}
		}
		if c := counts[f.ID]; c != unread {
			t.Fatalf("%d unread, want %d", c, unread)
		}

		// Another user sees nothing of it.
		other := newUser(t, s, "other@example.nhs.uk")
		if _, err := s.MailList(ctx, other.ID, store.MailListQuery{FolderID: f.ID}); err == nil {
			t.Fatal("another user listed the folder")
		}
		if _, _, err := s.SubjectOrder(ctx, other.ID, f.ID); err == nil {
			t.Fatal("another user ordered the folder")
		}
		if got, _ := s.UnreadCounts(ctx, other.ID, []int64{f.ID}); len(got) != 0 {
			t.Fatalf("another user counted the folder: %v", got)
		}
		if got, _ := s.MailListItems(ctx, other.ID, ids); len(got) != 0 {
			t.Fatalf("another user read %d list rows", len(got))
		}
		// A cursor from another folder matches no row: an empty page.
		oi := inbox(t, s, other)
		foreign := addMail(t, s, other, oi, "foreign")
		pg, err := s.MailList(ctx, u.ID, store.MailListQuery{FolderID: f.ID, After: foreign.ID})
		if err != nil || len(pg.Items) != 0 {
			t.Fatalf("foreign cursor: %d rows, %v", len(pg.Items), err)
		}
	})
}

func listAll(t *testing.T, s *store.Store, userID int64, q store.MailListQuery) *store.MailPage {
	t.Helper()
	p, err := s.MailList(ctx, userID, q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
