package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

func addStaff(t *testing.T, s *store.Store, email, display, first, last, dept, title string) *store.User {
	t.Helper()
	ctx := context.Background()
	u := &store.User{Email: email, DisplayName: display, FirstName: first, LastName: last}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	u.Department, u.JobTitle = dept, title
	if err := s.UpdateDirectory(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

func names(us []store.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Email)
	}
	return out
}

func TestSearchDirectory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ada := addStaff(t, s, "ada.lovelace@example.nhs.uk", "Lovelace, Ada (Dr)", "Ada", "Lovelace", "Cardiology", "Consultant Cardiologist")
		addStaff(t, s, "charles.babbage@example.nhs.uk", "Babbage, Charles", "Charles", "Babbage", "Clinical Engineering", "Clinical Director")
		addStaff(t, s, "grace.hopper@example.nhs.uk", "Hopper, Grace", "Grace", "Hopper", "Cardiology", "Registrar")
		gone := addStaff(t, s, "alan.turing@example.nhs.uk", "Turing, Alan", "Alan", "Turing", "Cardiology", "Research Fellow")
		if err := s.SetUserDisabled(ctx, gone.ID, true); err != nil {
			t.Fatal(err)
		}
		addStaff(t, s, "james.littlejohn@example.nhs.uk", "Littlejohn, James", "James", "Littlejohn", "Estates", "Porter")
		addStaff(t, s, "odd_name%@example.nhs.uk", "Percent, Odd", "Odd", "Percent", "Estates", "Porter")

		for _, c := range []struct {
			q     string
			want  []string
			total int64
		}{
			{"bab", []string{"charles.babbage@example.nhs.uk"}, 1},
			{"LOVE", []string{"ada.lovelace@example.nhs.uk"}, 1},
			{"ada", []string{"ada.lovelace@example.nhs.uk"}, 1},
			// Department, first word and later word; the disabled
			// cardiologist is not in the directory.
			{"cardio", []string{"grace.hopper@example.nhs.uk", "ada.lovelace@example.nhs.uk"}, 2},
			{"engineering", []string{"charles.babbage@example.nhs.uk"}, 1},
			{"director", []string{"charles.babbage@example.nhs.uk"}, 1},
			{"grace.h", []string{"grace.hopper@example.nhs.uk"}, 1},
			// A word prefix, not any substring (MS-ASCMD Query).
			{"john", nil, 0},
			{"turing", nil, 0},
			// LIKE metacharacters are literal.
			{"%", nil, 0},
			{"odd_", []string{"odd_name%@example.nhs.uk"}, 1},
			{"", nil, 0},
		} {
			got, total, err := s.SearchDirectory(ctx, store.DirectoryQuery{Text: c.q})
			if err != nil {
				t.Fatal(err)
			}
			// Order: by display name ("Hopper" before "Lovelace").
			if g := names(got); len(g) != len(c.want) || total != c.total || (len(g) > 0 && g[0] != c.want[0]) {
				t.Errorf("%q: got %v (total %d), want %v (total %d)", c.q, g, total, c.want, c.total)
			}
		}
		// Windows.
		got, total, err := s.SearchDirectory(ctx, store.DirectoryQuery{Text: "cardio", Offset: 1, Limit: 1})
		if err != nil || total != 2 || len(got) != 1 || got[0].ID != ada.ID {
			t.Fatalf("window: %v %d %v", names(got), total, err)
		}
		// Lookup by address and alias; disabled staff are not found.
		if err := s.AddAlias(ctx, ada.ID, "a.lovelace@example.nhs.uk"); err != nil {
			t.Fatal(err)
		}
		if u, err := s.DirectoryEntry(ctx, "A.Lovelace@example.nhs.uk"); err != nil || u.ID != ada.ID {
			t.Fatalf("alias: %v %v", u, err)
		}
		if _, err := s.DirectoryEntry(ctx, gone.Email); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("disabled: %v", err)
		}
	})
}

func TestPhotosAndOof(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := addStaff(t, s, "ada@example.nhs.uk", "Ada", "Ada", "L", "", "")
		if _, err := s.Photo(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no photo: %v", err)
		}
		if err := s.SetPhoto(ctx, u.ID, "image/png", []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPhoto(ctx, u.ID, "image/jpeg", []byte{4, 5}); err != nil {
			t.Fatal(err)
		}
		p, err := s.Photo(ctx, u.ID)
		if err != nil || string(p.Data) != "\x04\x05" || p.ContentType != "image/jpeg" {
			t.Fatalf("photo: %+v %v", p, err)
		}
		if err := s.SetPhoto(ctx, u.ID, "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Photo(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("removed photo: %v", err)
		}

		if _, err := s.Oof(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no oof: %v", err)
		}
		r1, err := s.SetOof(ctx, u.ID, `{"state":1}`)
		if err != nil || r1.Generation != 1 {
			t.Fatalf("set: %+v %v", r1, err)
		}
		// One reply per sender per generation, even when claimed at once.
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.ClaimOofReply(ctx, u.ID, r1.Generation, "Bob@Example.org")
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d claims won, want 1", won)
		}
		if ok, _ := s.ClaimOofReply(ctx, u.ID, r1.Generation, "carol@example.org"); !ok {
			t.Fatal("another sender")
		}
		r2, err := s.SetOof(ctx, u.ID, `{"state":2}`)
		if err != nil || r2.Generation != 2 {
			t.Fatalf("reset: %+v %v", r2, err)
		}
		if ok, _ := s.ClaimOofReply(ctx, u.ID, r2.Generation, "bob@example.org"); !ok {
			t.Fatal("new generation answers again")
		}
		got, err := s.Oof(ctx, u.ID)
		if err != nil || got.Settings != `{"state":2}` || got.Generation != 2 {
			t.Fatalf("oof: %+v %v", got, err)
		}
	})
}

func TestCalendarQueries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := addStaff(t, s, "ada@example.nhs.uk", "Ada", "Ada", "L", "", "")
		other := addStaff(t, s, "bob@example.nhs.uk", "Bob", "Bob", "B", "", "")
		cal, err := s.FolderByType(ctx, u.ID, store.FolderCalendar)
		if err != nil {
			t.Fatal(err)
		}
		day := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
		add := func(userID, folderID int64, uid string, start, end time.Time) *store.Item {
			it := &store.Item{UserID: userID, FolderID: folderID, UID: uid, StartTime: &start, EndTime: &end, Props: "{}"}
			if err := s.AddItem(ctx, it, nil); err != nil {
				t.Fatal(err)
			}
			return it
		}
		add(u.ID, cal.ID, "before", day.Add(-2*time.Hour), day.Add(-time.Hour))
		add(u.ID, cal.ID, "touching", day.Add(-time.Hour), day)
		in := add(u.ID, cal.ID, "in", day.Add(9*time.Hour), day.Add(10*time.Hour))
		add(u.ID, cal.ID, "series", day.AddDate(-1, 0, 0), time.Date(4501, 1, 1, 0, 0, 0, 0, time.UTC))
		add(u.ID, cal.ID, "zero-length", day.Add(12*time.Hour), day.Add(12*time.Hour))
		add(u.ID, cal.ID, "after", day.Add(24*time.Hour), day.Add(25*time.Hour))
		del := add(u.ID, cal.ID, "deleted", day.Add(11*time.Hour), day.Add(12*time.Hour))
		if err := s.DeleteItem(ctx, u.ID, del.ID); err != nil {
			t.Fatal(err)
		}
		ocal, _ := s.FolderByType(ctx, other.ID, store.FolderCalendar)
		add(other.ID, ocal.ID, "bobs", day.Add(9*time.Hour), day.Add(10*time.Hour))

		items, err := s.CalendarItemsBetween(ctx, u.ID, day, day.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var uids []string
		for _, it := range items {
			uids = append(uids, it.UID)
		}
		want := []string{"series", "in", "zero-length"}
		if len(uids) != len(want) || uids[0] != want[0] || uids[1] != want[1] || uids[2] != want[2] {
			t.Fatalf("between: %v, want %v", uids, want)
		}
		got, err := s.ItemByUID(ctx, u.ID, store.ClassCalendar, "in")
		if err != nil || got.ID != in.ID {
			t.Fatalf("by uid: %v %v", got, err)
		}
		if _, err := s.ItemByUID(ctx, u.ID, store.ClassCalendar, "bobs"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another user's uid: %v", err)
		}
		if _, err := s.ItemByUID(ctx, u.ID, store.ClassCalendar, "deleted"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted: %v", err)
		}
	})
}

func TestSearchMail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := addStaff(t, s, "ada@example.nhs.uk", "Ada", "Ada", "L", "", "")
		inbox, _ := s.FolderByType(ctx, u.ID, store.FolderInbox)
		sent, _ := s.FolderByType(ctx, u.ID, store.FolderSentItems)
		at := func(d int) *time.Time { t := time.Date(2026, 3, d, 10, 0, 0, 0, time.UTC); return &t }
		add := func(folder int64, subject, from string, d int) {
			it := &store.Item{UserID: u.ID, FolderID: folder, Subject: subject, FromAddr: from, DateReceived: at(d), Preview: "body of " + subject}
			if err := s.AddItem(ctx, it, nil); err != nil {
				t.Fatal(err)
			}
		}
		add(inbox.ID, "Discharge summary template", "ward7@example.nhs.uk", 1)
		add(inbox.ID, "Rota", "discharge.team@example.nhs.uk", 5)
		add(sent.ID, "Re: discharge summary", "ada@example.nhs.uk", 7)
		add(inbox.ID, "Lunch", "bob@example.nhs.uk", 9)

		q := func(mq store.MailQuery) ([]string, int64) {
			items, total, err := s.SearchMail(ctx, u.ID, mq)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, it := range items {
				out = append(out, it.Subject)
			}
			return out, total
		}
		if got, total := q(store.MailQuery{Text: "DISCHARGE"}); total != 3 || got[0] != "Re: discharge summary" {
			t.Errorf("text: %v %d", got, total)
		}
		if got, total := q(store.MailQuery{Text: "discharge summary"}); total != 2 {
			t.Errorf("two words: %v %d", got, total)
		}
		if got, total := q(store.MailQuery{Text: "discharge", FolderIDs: []int64{inbox.ID}}); total != 2 {
			t.Errorf("folder: %v %d", got, total)
		}
		if got, total := q(store.MailQuery{Text: "discharge", After: at(2), Before: at(7)}); total != 1 || got[0] != "Rota" {
			t.Errorf("dates: %v %d", got, total)
		}
		if got, total := q(store.MailQuery{Text: "discharge", Offset: 1, Limit: 1}); total != 3 || len(got) != 1 || got[0] != "Rota" {
			t.Errorf("window: %v %d", got, total)
		}
	})
}
