package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// bumpFolder reserves n consecutive change counters in a folder inside tx
// and returns the first. The UPDATE holds the folder's row lock until commit,
// so counters are handed out in commit order: a reader that sees counter N
// committed also sees every change below N.
func bumpFolder(tx *gorm.DB, userID, folderID int64, n int) (int64, error) {
	var v int64
	err := tx.Raw("UPDATE folders SET modseq = modseq + ? WHERE id = ? AND user_id = ? AND deleted = ? RETURNING modseq",
		n, folderID, userID, false).Scan(&v).Error
	if err != nil {
		return 0, wrap(err, "bump folder counter")
	}
	if v == 0 {
		return 0, fmt.Errorf("folder %d: %w", folderID, ErrNotFound)
	}
	if err := noteChange(tx, Change{UserID: userID, FolderID: folderID}); err != nil {
		return 0, err
	}
	return v - int64(n) + 1, nil
}

// AddItem stores a new item in it.FolderID. For mail, raw is the RFC 5322
// message, stored once as a blob; it may be nil for the other classes. The
// item's attachments (it.Attachments) are stored with it. it.ID and
// it.Modseq are set on return.
func (s *Store) AddItem(ctx context.Context, it *Item, raw []byte) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return addItem(tx, it, raw, 0) })
}

// Delivery is one message to store in several folders (one per recipient),
// sharing one blob.
type Delivery struct {
	Raw   []byte
	Items []*Item
}

// Deliver stores one message for several recipients in one transaction:
// either every recipient gets it or none does.
func (s *Store) Deliver(ctx context.Context, d Delivery) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		blobID, err := newMailBlob(tx, d.Raw, d.Items...) // bodies.go
		if err != nil {
			return err
		}
		for _, it := range d.Items {
			if err := addItem(tx, it, nil, blobID); err != nil {
				return err
			}
		}
		return nil
	})
}

func addItem(tx *gorm.DB, it *Item, raw []byte, blobID int64) error {
	if it.UserID == 0 || it.FolderID == 0 {
		return fmt.Errorf("add item: user and folder are required")
	}
	var f Folder
	if err := tx.Select("id", "class").Where("id = ? AND user_id = ? AND deleted = ?", it.FolderID, it.UserID, false).First(&f).Error; err != nil {
		return wrap(err, "add item")
	}
	if it.Class == "" {
		it.Class = f.Class
	}
	if !classFits(it.Class, f.Class) { // SMS among mail (quota_writes.go)
		return fmt.Errorf("add item: a %s item does not belong in a %s folder: %w", it.Class, f.Class, ErrConflict)
	}
	if raw == nil && blobID == 0 {
		it.Size = contentSize(it) // counts against the quota (quota_writes.go)
	}
	if raw != nil {
		id, err := newMailBlob(tx, raw, it) // bodies.go
		if err != nil {
			return err
		}
		blobID = id
		it.Size = int64(len(raw))
	}
	if blobID != 0 {
		it.BlobID = &blobID
	}
	m, err := bumpFolder(tx, it.UserID, it.FolderID, 1)
	if err != nil {
		return err
	}
	it.ID, it.Modseq, it.Deleted = 0, m, false
	atts := it.Attachments
	if err := tx.Omit("Attachments").Create(it).Error; err != nil {
		return wrap(err, "add item")
	}
	for i := range atts {
		atts[i].ID, atts[i].ItemID = 0, it.ID
		if err := tx.Create(&atts[i]).Error; err != nil {
			return wrap(err, "add attachment")
		}
	}
	it.Attachments = atts
	if it.SearchText != "" {
		if err := saveSearchText(tx, blobID, it.SearchText); err != nil { // mailsearch.go
			return err
		}
	}
	return adjustQuota(tx, it.UserID, it.Size)
}

func adjustQuota(tx *gorm.DB, userID, delta int64) error {
	if delta == 0 {
		return nil
	}
	return wrap(tx.Exec("UPDATE users SET quota_used = quota_used + ? WHERE id = ?", delta, userID).Error, "adjust quota")
}

// ItemByID returns a live item of the user, with its attachments.
func (s *Store) ItemByID(ctx context.Context, userID, itemID int64) (*Item, error) {
	var it Item
	db := s.db.WithContext(ctx)
	if err := db.Where("id = ? AND user_id = ? AND deleted = ?", itemID, userID, false).First(&it).Error; err != nil {
		return nil, wrap(err, fmt.Sprintf("item %d", itemID))
	}
	if err := db.Where("item_id = ?", it.ID).Order("part_index").Find(&it.Attachments).Error; err != nil {
		return nil, wrap(err, "attachments")
	}
	return &it, nil
}

// ItemsByIDs returns the live items of the user among ids, with attachments,
// in id order. Missing or foreign ids are left out.
func (s *Store) ItemsByIDs(ctx context.Context, userID int64, ids []int64) ([]Item, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var items []Item
	db := s.db.WithContext(ctx)
	if err := db.Where("id IN ? AND user_id = ? AND deleted = ?", ids, userID, false).Order("id").Find(&items).Error; err != nil {
		return nil, wrap(err, "items")
	}
	if err := s.loadAttachments(db, items); err != nil {
		return nil, err
	}
	return items, nil
}

func (s *Store) loadAttachments(db *gorm.DB, items []Item) error {
	var ids []int64
	for _, it := range items {
		if it.HasAttachments {
			ids = append(ids, it.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var atts []Attachment
	if err := db.Where("item_id IN ?", ids).Order("item_id, part_index").Find(&atts).Error; err != nil {
		return wrap(err, "attachments")
	}
	byItem := map[int64][]Attachment{}
	for _, a := range atts {
		byItem[a.ItemID] = append(byItem[a.ItemID], a)
	}
	for i := range items {
		items[i].Attachments = byItem[items[i].ID]
	}
	return nil
}

// ListItems returns up to limit live items of a folder with ids above
// afterID, in id order: stable windows for an initial sync or a listing.
func (s *Store) ListItems(ctx context.Context, userID, folderID, afterID int64, limit int) ([]Item, error) {
	var items []Item
	db := s.db.WithContext(ctx)
	err := db.Where("folder_id = ? AND user_id = ? AND deleted = ? AND id > ?", folderID, userID, false, afterID).
		Order("id").Limit(limit).Find(&items).Error
	if err != nil {
		return nil, wrap(err, "list items")
	}
	return items, s.loadAttachments(db, items)
}

// CountItems counts the live items of a folder.
func (s *Store) CountItems(ctx context.Context, userID, folderID int64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Item{}).Where("folder_id = ? AND user_id = ? AND deleted = ?", folderID, userID, false).Count(&n).Error
	return n, wrap(err, "count items")
}

// FolderModseq returns a folder's current change counter.
func (s *Store) FolderModseq(ctx context.Context, userID, folderID int64) (int64, error) {
	var f Folder
	err := s.db.WithContext(ctx).Select("modseq").Where("id = ? AND user_id = ? AND deleted = ?", folderID, userID, false).First(&f).Error
	return f.Modseq, wrap(err, "folder counter")
}

// ChangesSince returns up to limit items of a folder whose counter is above
// since, tombstones included, in counter order. Each item appears once, with
// its latest state, however often it changed. Callers page by passing the
// last returned Modseq as the next since.
func (s *Store) ChangesSince(ctx context.Context, userID, folderID, since int64, limit int) ([]Item, error) {
	var items []Item
	db := s.db.WithContext(ctx)
	err := db.Where("folder_id = ? AND user_id = ? AND modseq > ?", folderID, userID, since).
		Order("modseq").Limit(limit).Find(&items).Error
	if err != nil {
		return nil, wrap(err, "changes")
	}
	return items, s.loadAttachments(db, items)
}

// FlagChange is a change of an item's mutable mail properties; nil fields
// stay as they are.
type FlagChange struct {
	Read       *bool
	FlagStatus *int
	Flag       *string // the whole flag as JSON (Item.Flag)
	Categories *string
	LastVerb   *int
	Props      *string
}

// UpdateItem applies ch to a live item and gives it a new change counter, so
// the user's other devices pick the change up.
func (s *Store) UpdateItem(ctx context.Context, userID, itemID int64, ch FlagChange) (*Item, error) {
	var it Item
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ? AND user_id = ? AND deleted = ?", itemID, userID, false).First(&it).Error; err != nil {
			return wrap(err, "update item")
		}
		fields := map[string]any{"updated_at": time.Now().UTC()}
		if ch.Read != nil {
			fields["read"], it.Read = *ch.Read, *ch.Read
		}
		if ch.FlagStatus != nil {
			fields["flag_status"], it.FlagStatus = *ch.FlagStatus, *ch.FlagStatus
		}
		if ch.Flag != nil {
			fields["flag"], it.Flag = *ch.Flag, *ch.Flag
		} else if ch.FlagStatus != nil {
			// A status alone (IMAP \Flagged): the old dates no longer hold.
			fields["flag"], it.Flag = "", ""
		}
		if ch.Categories != nil {
			fields["categories"], it.Categories = *ch.Categories, *ch.Categories
		}
		if ch.LastVerb != nil {
			now := time.Now().UTC()
			fields["last_verb"], it.LastVerb = *ch.LastVerb, *ch.LastVerb
			fields["last_verb_at"], it.LastVerbAt = now, &now
		}
		if ch.Props != nil {
			fields["props"], it.Props = *ch.Props, *ch.Props
		}
		m, err := bumpFolder(tx, userID, it.FolderID, 1)
		if err != nil {
			return err
		}
		fields["modseq"], it.Modseq = m, m
		return wrap(tx.Model(&Item{}).Where("id = ?", it.ID).Updates(fields).Error, "update item")
	})
	if err != nil {
		return nil, err
	}
	return &it, nil
}

// ReplaceItem overwrites the content of a live non-mail item (an event,
// contact, task or note changed on a device or by an import) and gives it a
// new change counter. Identity, folder and class stay.
func (s *Store) ReplaceItem(ctx context.Context, it *Item) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var cur Item
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "user_id", "folder_id", "class", "blob_id", "size").Where("id = ? AND user_id = ? AND deleted = ?", it.ID, it.UserID, false).First(&cur).Error; err != nil {
			return wrap(err, "replace item")
		}
		m, err := bumpFolder(tx, it.UserID, cur.FolderID, 1)
		if err != nil {
			return err
		}
		it.FolderID, it.Class, it.Modseq = cur.FolderID, cur.Class, m
		fields := map[string]any{
			"modseq": m, "subject": it.Subject, "uid": it.UID, "start_time": it.StartTime, "end_time": it.EndTime,
			"props": it.Props, "categories": it.Categories, "updated_at": time.Now().UTC(),
		}
		if cur.BlobID == nil { // usage follows the new content (quota_writes.go)
			if err := resize(tx, &cur, contentSize(it), fields); err != nil {
				return err
			}
		}
		return wrap(tx.Model(&Item{}).Where("id = ?", it.ID).Updates(fields).Error, "replace item")
	})
}

// DeleteItem turns a live item into a tombstone with a new change counter
// and frees its blob if nothing else refers to it.
func (s *Store) DeleteItem(ctx context.Context, userID, itemID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var it Item
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ? AND user_id = ? AND deleted = ?", itemID, userID, false).First(&it).Error; err != nil {
			return wrap(err, "delete item")
		}
		return tombstone(tx, &it)
	})
}

func tombstone(tx *gorm.DB, it *Item) error {
	m, err := bumpFolder(tx, it.UserID, it.FolderID, 1)
	if err != nil {
		return err
	}
	if err := tx.Model(&Item{}).Where("id = ?", it.ID).Updates(map[string]any{
		"deleted": true, "modseq": m, "blob_id": nil, "props": "", "preview": "", "updated_at": time.Now().UTC(),
	}).Error; err != nil {
		return wrap(err, "delete item")
	}
	if err := tx.Where("item_id = ?", it.ID).Delete(&Attachment{}).Error; err != nil {
		return wrap(err, "delete attachments")
	}
	if it.BlobID != nil {
		if err := tx.Exec("DELETE FROM blobs WHERE id = ? AND NOT EXISTS (SELECT 1 FROM items WHERE blob_id = ?)", *it.BlobID, *it.BlobID).Error; err != nil {
			return wrap(err, "free blob")
		}
	}
	return adjustQuota(tx, it.UserID, -it.Size)
}

// MoveItem moves a live item to another folder of the same user. The item
// gets a new id there (EAS hands the device a new ServerId) and leaves a
// tombstone behind; the raw message is shared, not copied.
func (s *Store) MoveItem(ctx context.Context, userID, itemID, dstFolderID int64) (*Item, error) {
	var moved Item
	err := s.txRetry(ctx, func(tx *gorm.DB) error {
		var it Item
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ? AND user_id = ? AND deleted = ?", itemID, userID, false).First(&it).Error; err != nil {
			return wrap(err, "move item")
		}
		if it.FolderID == dstFolderID {
			return fmt.Errorf("move item: source and destination are the same folder: %w", ErrConflict)
		}
		// Both counters are bumped below: lock them in order (move.go).
		if err := lockFolders(tx, userID, it.FolderID, dstFolderID); err != nil {
			return err
		}
		var atts []Attachment
		if err := tx.Where("item_id = ?", it.ID).Order("part_index").Find(&atts).Error; err != nil {
			return wrap(err, "move item")
		}
		moved = it
		moved.FolderID = dstFolderID
		moved.Attachments = atts
		moved.Class = keepClass(it.Class)
		if err := addItem(tx, &moved, nil, derefID(it.BlobID)); err != nil {
			return err
		}
		// The blob now has a second reference, so the tombstone keeps it.
		return tombstone(tx, &it)
	})
	if err != nil {
		return nil, err
	}
	return &moved, nil
}

func derefID(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// EmptyFolder deletes every live item of a folder (tombstones remain).
func (s *Store) EmptyFolder(ctx context.Context, userID, folderID int64) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var items []Item
		if err := tx.Where("folder_id = ? AND user_id = ? AND deleted = ?", folderID, userID, false).Find(&items).Error; err != nil {
			return wrap(err, "empty folder")
		}
		for i := range items {
			if err := tombstone(tx, &items[i]); err != nil {
				return err
			}
		}
		n = len(items)
		return nil
	})
	return n, err
}

// Blob returns the raw content of an item of the user.
func (s *Store) Blob(ctx context.Context, userID, itemID int64) ([]byte, error) {
	var b Blob
	err := s.db.WithContext(ctx).Table("blobs").Select("blobs.*").
		Joins("JOIN items ON items.blob_id = blobs.id").
		Where("items.id = ? AND items.user_id = ? AND items.deleted = ?", itemID, userID, false).
		First(&b).Error
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("content of item %d", itemID))
	}
	return s.openBlob(b.DEK, b.Data)
}

// AttachmentByID returns an attachment and the item holding it, if the item
// is the user's and alive.
func (s *Store) AttachmentByID(ctx context.Context, userID, attID int64) (*Attachment, *Item, error) {
	var a Attachment
	if err := s.db.WithContext(ctx).First(&a, attID).Error; err != nil {
		return nil, nil, wrap(err, fmt.Sprintf("attachment %d", attID))
	}
	it, err := s.ItemByID(ctx, userID, a.ItemID)
	if err != nil {
		return nil, nil, err
	}
	return &a, it, nil
}

func deleteOrphanBlobs(tx *gorm.DB) error {
	return wrap(tx.Exec("DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM items WHERE items.blob_id = blobs.id)").Error, "free blobs")
}
