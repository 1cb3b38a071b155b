package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

func TestNormalizeSearchText(t *testing.T) {
	long := strings.Repeat("é", store.MaxSearchText) // 2 bytes each
	for _, c := range []struct{ in, want string }{
		{"  Bed 4:\r\n\tSTABLE  obs\u00a0every 4h ", "bed 4: stable obs every 4h"},
		{"ÉCOLE Straße", "école straße"},
		{"", ""},
		{long, long[:store.MaxSearchText]},
		{"a" + long, "a" + long[:store.MaxSearchText-2]}, // cut before a split character
	} {
		if got := store.NormalizeSearchText(c.in); got != c.want {
			t.Errorf("NormalizeSearchText(%.20q) = %.20q (%d bytes), want %.20q (%d bytes)", c.in, got, len(got), c.want, len(c.want))
		}
	}
}

// One message delivered to two staff shares one blob and one search text:
// each finds it until they delete it, and the text goes with the blob.
func TestMailSearchTextFollowsTheBlob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		a, b := newUser(t, s, "a@example.nhs.uk"), newUser(t, s, "b@example.nhs.uk")
		now := time.Now().UTC()
		mk := func(u *store.User) *store.Item {
			return &store.Item{UserID: u.ID, FolderID: inbox(t, s, u).ID, Subject: "Newsletter", DateReceived: &now,
				SearchText: store.NormalizeSearchText("Flu clinics open on Saturday; [sic] 2*3?")}
		}
		ia, ib := mk(a), mk(b)
		if err := s.Deliver(ctx, store.Delivery{Raw: []byte("Subject: Newsletter\r\n\r\nFlu clinics open on Saturday\r\n"), Items: []*store.Item{ia, ib}}); err != nil {
			t.Fatal(err)
		}
		found := func(u *store.User, text string) int64 {
			_, n, err := s.SearchMail(ctx, u.ID, store.MailQuery{Text: text})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		texts := func() (n int) {
			db, _ := s.SQL()
			db.QueryRow("SELECT count(*) FROM blob_texts").Scan(&n)
			return n
		}
		if found(a, "[sic]") != 1 || found(a, "2*3?") != 1 || found(a, "flu") != 1 || found(a, "on") != 1 || found(a, "SATURDAY clinics") != 1 || found(b, "saturday") != 1 || found(a, "sunday") != 0 || texts() != 1 {
			t.Fatalf("after delivery: %d %d %d, %d texts", found(a, "saturday clinics"), found(b, "saturday"), found(a, "sunday"), texts())
		}
		if found(a, "sat%") != 0 || found(a, "clinic_") != 0 || found(a, "sat*") != 0 || found(a, "clinic?") != 0 || found(a, "[s]aturday") != 0 {
			t.Fatal("LIKE wildcards in a word are not escaped")
		}
		if err := s.DeleteItem(ctx, a.ID, ia.ID); err != nil {
			t.Fatal(err)
		}
		if found(a, "saturday") != 0 || found(b, "saturday") != 1 || texts() != 1 {
			t.Fatal("after the first delete")
		}
		if err := s.DeleteItem(ctx, b.ID, ib.ID); err != nil {
			t.Fatal(err)
		}
		if found(b, "saturday") != 0 || texts() != 0 {
			t.Fatalf("after the last delete: %d texts left", texts())
		}
	})
}

// BenchmarkSearchMailBody: one word, found in 1 of n messages' bodies
// (beyond the preview), in a mailbox of n messages among 4n of others.
func BenchmarkSearchMailBody(b *testing.B) {
	const n = 2000
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			var s *store.Store
			if dialect == "sqlite" {
				s = storetest.OpenSQLite(b)
			} else {
				s = storetest.OpenPostgres(b)
			}
			var users []*store.User
			for i := 0; i < 5; i++ {
				u := &store.User{Email: fmt.Sprintf("u%d@example.nhs.uk", i)}
				if err := s.CreateUser(ctx, u); err != nil {
					b.Fatal(err)
				}
				users = append(users, u)
			}
			filler := strings.Repeat("Observations unchanged overnight, plan as before. ", 40)
			for i := 0; i < n; i++ {
				now := time.Now().UTC()
				var items []*store.Item
				for _, u := range users {
					f, _ := s.FolderByType(ctx, u.ID, store.FolderInbox)
					word := fmt.Sprintf("ward%d", i)
					if i == n/2 {
						word = "bradycardia"
					}
					items = append(items, &store.Item{UserID: u.ID, FolderID: f.ID, Subject: fmt.Sprintf("Handover %d", i), DateReceived: &now,
						SearchText: store.NormalizeSearchText(filler + word)})
				}
				if err := s.Deliver(ctx, store.Delivery{Raw: []byte(fmt.Sprintf("Subject: Handover %d\r\n\r\n%s\r\n", i, filler)), Items: items}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, total, err := s.SearchMail(ctx, users[0].ID, store.MailQuery{Text: "bradycardia", Limit: 10})
				if err != nil || total != 1 {
					b.Fatalf("%d %v", total, err)
				}
			}
		})
	}
}
