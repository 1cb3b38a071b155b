package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// sumOfSizes is what the user's live items take, counted from the items.
func sumOfSizes(t testing.TB, s *store.Store, u *store.User) (int64, int) {
	t.Helper()
	db, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM items WHERE user_id = $1 AND deleted = false"
	if s.Dialect() == "sqlite" {
		q = "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM items WHERE user_id = ? AND deleted = 0"
	}
	var sum int64
	var n int
	if err := db.QueryRowContext(context.Background(), q, u.ID).Scan(&sum, &n); err != nil {
		t.Fatal(err)
	}
	return sum, n
}

// An import into a mailbox that fills up stops at the first item that does
// not fit, with a clear message; that item left nothing (no item, no blob,
// no usage), the ones before it are kept, and usage equals their sizes. A
// second run after more room skips what is in and adds the rest.
func TestImportStopsAtQuota(t *testing.T) {
	// Twenty messages of one size, so that the room is for exactly seven.
	dir := filepath.Join(t.TempDir(), "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(i int) []byte {
		return []byte(fmt.Sprintf("Message-ID: <q%03d@example.org>\r\nFrom: ward@example.org\r\nTo: %s\r\nSubject: Referral %03d\r\n\r\nPlease see patient %03d.\r\n", i, userEmail, i, i))
	}
	for i := 0; i < 20; i++ {
		if err := os.WriteFile(filepath.Join(dir, "cur", fmt.Sprintf("%d.M%03d.ward:2,S", 1551686400+i, i)), msg(i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ics := filepath.Join(t.TempDir(), "diary.ics")
	if err := os.WriteFile(ics, []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:clinic-1\r\nDTSTART:20260302T090000Z\r\nDTEND:20260302T100000Z\r\nSUMMARY:Clinic\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	room := int64(7*len(msg(0)) + len(msg(0))/2)
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := newUser(t, s)
		lvl, err := s.CreateServiceLevel(ctx, "Small", room)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AssignServiceLevel(ctx, &lvl.ID, []int64{u.ID}); err != nil {
			t.Fatal(err)
		}
		blobsBefore := countBlobs(t, s)
		var report bytes.Buffer
		sum, err := Import(ctx, s, userEmail, "", []string{dir}, &report)
		if !errors.Is(err, ErrQuota) || !errors.Is(err, store.ErrQuotaExceeded) {
			t.Fatalf("import into a full mailbox: %v", err)
		}
		for _, want := range []string{userEmail, "7 items were imported before this one", "nothing of it or of what follows was stored", "run the import again"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message lacks %q: %v", want, err)
			}
		}
		if sum.Imported[store.ClassEmail] != 7 || !strings.Contains(report.String(), "mailbox of "+userEmail+" is full") {
			t.Fatalf("summary %v, report:\n%s", sum, report.String())
		}
		q, err := s.QuotaOf(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		used, n := sumOfSizes(t, s, u)
		if n != 7 || q.Used != used || q.Used > q.Limit || countBlobs(t, s)-blobsBefore != 7 {
			t.Fatalf("after the stop: %d items, usage %d, sizes %d, limit %d, new blobs %d", n, q.Used, used, q.Limit, countBlobs(t, s)-blobsBefore)
		}

		// Events count too: with no room left, the .ics stops as well.
		if _, err := Import(ctx, s, userEmail, "", []string{ics}, nil); !errors.Is(err, ErrQuota) {
			t.Fatalf("event into a full mailbox: %v", err)
		}

		// More room: the rerun skips the seven and adds the rest.
		if err := s.SetServiceLevelQuota(ctx, lvl.ID, 1<<20); err != nil {
			t.Fatal(err)
		}
		sum, err = Import(ctx, s, userEmail, "", []string{dir, ics}, nil)
		if err != nil || sum.Imported[store.ClassEmail] != 13 || sum.Duplicates[store.ClassEmail] != 7 || sum.Imported[store.ClassCalendar] != 1 {
			t.Fatalf("rerun: %v %v", sum, err)
		}
		q, _ = s.QuotaOf(ctx, u.ID)
		if used, n := sumOfSizes(t, s, u); n != 21 || q.Used != used {
			t.Fatalf("after the rerun: %d items, usage %d, sizes %d", n, q.Used, used)
		}
	})
}

func countBlobs(t testing.TB, s *store.Store) int {
	t.Helper()
	db, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM blobs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
