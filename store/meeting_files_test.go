package store_test

import (
	"errors"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// ReplaceItemFiles (an attendee's copy of a meeting taking the organizer's
// current files): the event fields and the files are replaced together,
// the old attachments go, the old blob is freed, the usage follows the
// size; with no content left the item has no blob and no files.
func TestReplaceItemFiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "attendee@example.nhs.uk")
		f, err := s.FolderByType(ctx, u.ID, store.FolderCalendar)
		if err != nil {
			t.Fatal(err)
		}
		raw1 := []byte("Subject: request 1\r\n\r\nwith the agenda, a little longer\r\n")
		it := &store.Item{UserID: u.ID, FolderID: f.ID, Subject: "Planning", UID: "m-1", Props: `{"v":1}`, HasAttachments: true,
			Attachments: []store.Attachment{{PartIndex: 2, FileName: "agenda.txt"}}}
		if err := s.AddItem(ctx, it, raw1); err != nil {
			t.Fatal(err)
		}
		oldAtt := it.Attachments[0].ID
		steps := []struct {
			name  string
			raw   []byte
			files []string
		}{
			{"new set", []byte("Subject: request 2\r\n\r\nminutes\r\n"), []string{"minutes.txt", "slides.pdf"}},
			{"no files left", nil, nil},
		}
		for _, c := range steps {
			before, _ := s.UserByID(ctx, u.ID)
			cur, _ := s.ItemByID(ctx, u.ID, it.ID)
			repl := &store.Item{ID: it.ID, UserID: u.ID, Subject: "Planning (" + c.name + ")", UID: "m-1", Props: `{"v":2}`}
			for i, name := range c.files {
				repl.Attachments = append(repl.Attachments, store.Attachment{PartIndex: 2 + i, FileName: name})
			}
			if err := s.ReplaceItemFiles(ctx, repl, c.raw); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got, _ := s.ItemByID(ctx, u.ID, it.ID)
			if got.Subject != repl.Subject || got.Props != `{"v":2}` || len(got.Attachments) != len(c.files) || got.HasAttachments != (len(c.files) > 0) || got.Modseq <= cur.Modseq {
				t.Fatalf("%s: %+v", c.name, got)
			}
			for i, a := range got.Attachments {
				if a.FileName != c.files[i] || a.ID == oldAtt {
					t.Fatalf("%s: attachment %d: %+v", c.name, i, a)
				}
			}
			if _, _, err := s.AttachmentByID(ctx, u.ID, oldAtt); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: old attachment still there: %v", c.name, err)
			}
			b, err := s.Blob(ctx, u.ID, it.ID)
			if c.raw != nil && string(b) != string(c.raw) || c.raw == nil && (got.BlobID != nil || !errors.Is(err, store.ErrNotFound)) {
				t.Fatalf("%s: content %q %v", c.name, b, err)
			}
			after, _ := s.UserByID(ctx, u.ID)
			if d, want := after.QuotaUsed-before.QuotaUsed, got.Size-cur.Size; d != want || (c.raw != nil && got.Size != int64(len(c.raw))) {
				t.Fatalf("%s: usage moved by %d, want %d (size %d)", c.name, d, want, got.Size)
			}
			if len(got.Attachments) > 0 {
				oldAtt = got.Attachments[0].ID
			}
		}
	})
}
