package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

// TestRenderedBodyIsStoredSealedBesideTheBlob: the body rendered when a
// message is delivered is kept once beside its blob, sealed, read back with
// the raw message, and goes with the blob; a rendering of other bytes than
// the ones stored is not kept.
func TestRenderedBodyIsStoredSealedBesideTheBlob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		a, b := newUser(t, s, "a@example.nhs.uk"), newUser(t, s, "b@example.nhs.uk")
		raw := []byte("Subject: Clinic\r\nContent-Type: text/html\r\n\r\n<p>Flu clinics open on Saturday</p>\r\n")
		r := &store.Rendered{Text: "Flu clinics open on Saturday", HTML: "<p>Flu clinics open on Saturday</p>", Source: sha256.Sum256(raw)}
		now := time.Now().UTC()
		mk := func(u *store.User) *store.Item {
			return &store.Item{UserID: u.ID, FolderID: inbox(t, s, u).ID, Subject: "Clinic", DateReceived: &now, Rendered: r}
		}
		ia, ib := mk(a), mk(b)
		if err := s.Deliver(ctx, store.Delivery{Raw: raw, Items: []*store.Item{ia, ib}}); err != nil {
			t.Fatal(err)
		}
		db, _ := s.SQL()
		var rows int
		var sealed []byte
		db.QueryRow("SELECT count(*) FROM blob_bodies").Scan(&rows)
		db.QueryRow("SELECT sealed FROM blob_bodies").Scan(&sealed)
		if rows != 1 || bytes.Contains(sealed, []byte("Saturday")) {
			t.Fatalf("%d rows, sealed %q", rows, sealed)
		}
		cs, err := s.ContentsOf(ctx, b.ID, []int64{ib.ID, ia.ID})
		if err != nil {
			t.Fatal(err)
		}
		got := cs[ib.ID]
		if _, other := cs[ia.ID]; other || !bytes.Equal(got.Raw, raw) || got.Rendered == nil || got.Rendered.Text != r.Text || got.Rendered.HTML != r.HTML {
			t.Fatalf("contents %+v", cs)
		}
		if c, err := s.Content(ctx, a.ID, ia.ID); err != nil || c.Rendered == nil || c.Rendered.HTML != r.HTML {
			t.Fatalf("content %+v %v", c, err)
		}
		if _, err := s.Content(ctx, a.ID, ib.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another user's item: %v", err)
		}

		// Bytes changed after parsing: the rendering is not theirs.
		ic := mk(a)
		changed := append([]byte("X-Added: 1\r\n"), raw...)
		if err := s.Deliver(ctx, store.Delivery{Raw: changed, Items: []*store.Item{ic}}); err != nil {
			t.Fatal(err)
		}
		if c, err := s.Content(ctx, a.ID, ic.ID); err != nil || c.Rendered != nil || !bytes.Equal(c.Raw, changed) {
			t.Fatalf("changed message: %+v %v", c, err)
		}

		for _, it := range []*store.Item{ia, ib, ic} {
			if err := s.DeleteItem(ctx, it.UserID, it.ID); err != nil {
				t.Fatal(err)
			}
		}
		db.QueryRow("SELECT count(*) FROM blob_bodies").Scan(&rows)
		if rows != 0 {
			t.Fatalf("%d bodies left after the last delete", rows)
		}
	})
}

// TestBackfillBodiesRendersOldMailOnceAndMarksUnreadable: mail stored
// without a rendering gets one; mail that cannot be rendered is marked and
// still served raw; a second pass has nothing to do.
func TestBackfillBodiesRendersOldMailOnceAndMarksUnreadable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "a@example.nhs.uk")
		now := time.Now().UTC()
		var items []*store.Item
		for _, raw := range []string{"Subject: one\r\n\r\nfirst\r\n", "Subject: two\r\n\r\nbroken\r\n"} {
			it := &store.Item{UserID: u.ID, FolderID: inbox(t, s, u).ID, Subject: "old", DateReceived: &now}
			if err := s.Deliver(ctx, store.Delivery{Raw: []byte(raw), Items: []*store.Item{it}}); err != nil {
				t.Fatal(err)
			}
			items = append(items, it)
		}
		render := func(raw []byte) (*store.Rendered, error) {
			if bytes.Contains(raw, []byte("broken")) {
				return nil, errors.New("malformed")
			}
			return &store.Rendered{Text: "first"}, nil
		}
		if n, err := s.BackfillBodies(ctx, render, 1); err != nil || n != 1 {
			t.Fatalf("first batch: %d %v", n, err)
		}
		if n, err := s.BackfillBodies(ctx, render, 10); err != nil || n != 1 {
			t.Fatalf("second batch: %d %v", n, err)
		}
		if n, err := s.BackfillBodies(ctx, render, 10); err != nil || n != 0 {
			t.Fatalf("after: %d %v", n, err)
		}
		cs, err := s.ContentsOf(ctx, u.ID, []int64{items[0].ID, items[1].ID})
		if err != nil {
			t.Fatal(err)
		}
		if r := cs[items[0].ID].Rendered; r == nil || r.Text != "first" {
			t.Fatalf("rendered %+v", r)
		}
		if c := cs[items[1].ID]; c.Rendered != nil || !bytes.Contains(c.Raw, []byte("broken")) {
			t.Fatalf("unreadable %+v", c)
		}
	})
}
