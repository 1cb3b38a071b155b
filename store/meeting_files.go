package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ReplaceItemFiles overwrites a live calendar item's content as
// ReplaceItem does, and its files with it: raw becomes the item's blob (nil
// for none) and it.Attachments, parts of raw, its attachments (new ids;
// the old ones are dropped). An attendee's copy of a meeting keeps the
// organizer's files this way (package scheduling): its blob is the meeting
// message that brought them. The old blob is freed when nothing else
// refers to it; the owner's usage follows the new size.
func (s *Store) ReplaceItemFiles(ctx context.Context, it *Item, raw []byte) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var cur Item
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "user_id", "folder_id", "class", "blob_id", "size").
			Where("id = ? AND user_id = ? AND deleted = ?", it.ID, it.UserID, false).First(&cur).Error; err != nil {
			return wrap(err, "replace item files")
		}
		m, err := bumpFolder(tx, it.UserID, cur.FolderID, 1)
		if err != nil {
			return err
		}
		it.FolderID, it.Class, it.Modseq = cur.FolderID, cur.Class, m
		fields := map[string]any{
			"modseq": m, "subject": it.Subject, "uid": it.UID, "start_time": it.StartTime, "end_time": it.EndTime,
			"props": it.Props, "categories": it.Categories, "updated_at": time.Now().UTC(),
			"blob_id": nil, "has_attachments": raw != nil && len(it.Attachments) > 0,
		}
		size := contentSize(it)
		if raw != nil {
			id, err := newBlob(tx, raw)
			if err != nil {
				return err
			}
			fields["blob_id"], size = id, int64(len(raw))
		}
		if err := resize(tx, &cur, size, fields); err != nil {
			return err
		}
		if err := tx.Model(&Item{}).Where("id = ?", cur.ID).Updates(fields).Error; err != nil {
			return wrap(err, "replace item files")
		}
		if err := tx.Where("item_id = ?", cur.ID).Delete(&Attachment{}).Error; err != nil {
			return wrap(err, "replace item files: old attachments")
		}
		if raw != nil {
			for i := range it.Attachments {
				a := &it.Attachments[i]
				a.ID, a.ItemID = 0, cur.ID
				if err := tx.Create(a).Error; err != nil {
					return wrap(err, "replace item files: attachment")
				}
			}
		}
		if cur.BlobID != nil {
			if err := tx.Exec("DELETE FROM blobs WHERE id = ? AND NOT EXISTS (SELECT 1 FROM items WHERE blob_id = ?)", *cur.BlobID, *cur.BlobID).Error; err != nil {
				return wrap(err, "replace item files: free blob")
			}
		}
		return nil
	})
}
