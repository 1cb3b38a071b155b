package store_test

import (
	"errors"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// A mail's content replaced through CommitSync (a 16.x draft changed on a
// device): kept attachments keep their id, dropped ones go, new ones get
// one, the old blob is freed and the quota follows the size. A replacement
// naming another item's attachment fails alone and writes nothing.
func TestReplaceMailKeepsAttachmentIdentity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "drafter@example.nhs.uk")
		f, err := s.FolderByType(ctx, u.ID, store.FolderDrafts)
		if err != nil {
			t.Fatal(err)
		}
		raw1 := []byte("Subject: v1\r\n\r\nfirst version, long enough to differ in size\r\n")
		it := &store.Item{UserID: u.ID, FolderID: f.ID, Subject: "v1", IsDraft: true, HasAttachments: true,
			Attachments: []store.Attachment{{PartIndex: 1, FileName: "keep.txt"}, {PartIndex: 2, FileName: "drop.txt"}}}
		if err := s.AddItem(ctx, it, raw1); err != nil {
			t.Fatal(err)
		}
		other := &store.Item{UserID: u.ID, FolderID: f.ID, Subject: "other", HasAttachments: true,
			Attachments: []store.Attachment{{PartIndex: 1, FileName: "theirs.txt"}}}
		if err := s.AddItem(ctx, other, []byte("Subject: other\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
		keep, drop := it.Attachments[0].ID, it.Attachments[1].ID
		before, _ := s.UserByID(ctx, u.ID)

		commit := func(repl *store.Item, raw []byte) store.SyncOpResult {
			t.Helper()
			res, err := s.CommitSync(ctx, &store.SyncCommit{UserID: u.ID, Ops: []store.SyncOp{
				{Kind: store.SyncOpReplace, ItemID: it.ID, Item: repl, Raw: raw, InFolder: f.ID}}})
			if err != nil {
				t.Fatal(err)
			}
			return res[0]
		}

		// Another item's attachment: refused, nothing written.
		bad := &store.Item{Subject: "hijack", Attachments: []store.Attachment{{ID: other.Attachments[0].ID, PartIndex: 1, FileName: "theirs.txt"}}}
		if r := commit(bad, []byte("Subject: hijack\r\n\r\n")); !errors.Is(r.Err, store.ErrConflict) || r.Applied {
			t.Fatalf("foreign attachment: %+v", r)
		}
		got, _ := s.ItemByID(ctx, u.ID, it.ID)
		if got.Subject != "v1" || len(got.Attachments) != 2 {
			t.Fatalf("refused replacement wrote: %+v", got)
		}

		raw2 := []byte("Subject: v2\r\n\r\nsecond\r\n")
		repl := &store.Item{Subject: "v2", IsDraft: true, BccAddrs: "dave@example.nhs.uk",
			Attachments: []store.Attachment{{ID: keep, PartIndex: 2, FileName: "keep.txt"}, {PartIndex: 3, FileName: "new.txt"}}}
		if r := commit(repl, raw2); !r.Applied || r.Err != nil {
			t.Fatalf("replace: %+v", r)
		}
		got, _ = s.ItemByID(ctx, u.ID, it.ID)
		if got.Subject != "v2" || got.BccAddrs != "dave@example.nhs.uk" || len(got.Attachments) != 2 ||
			got.Attachments[0].ID != keep || got.Attachments[0].PartIndex != 2 || got.Attachments[1].FileName != "new.txt" ||
			got.Attachments[1].ID == drop || got.Attachments[1].ID == 0 {
			t.Fatalf("after replace: %+v", got)
		}
		if _, _, err := s.AttachmentByID(ctx, u.ID, drop); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("dropped attachment still there: %v", err)
		}
		if b, _ := s.Blob(ctx, u.ID, it.ID); string(b) != string(raw2) {
			t.Fatalf("content %q", b)
		}
		after, _ := s.UserByID(ctx, u.ID)
		if d := after.QuotaUsed - before.QuotaUsed; d != int64(len(raw2)-len(raw1)) {
			t.Fatalf("quota moved by %d, want %d", d, len(raw2)-len(raw1))
		}
	})
}
