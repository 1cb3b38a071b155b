package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TaskRegeneration is a recurring task moving on to its next occurrence
// (package pim, Task.CompleteOccurrence): the series' new content and,
// unless the series ended, the completed occurrence as a new item.
type TaskRegeneration struct {
	UserID, ItemID int64
	// Modseq is the series' change counter the regeneration was computed
	// from: if the item changed since, nothing is applied (ErrConflict).
	Modseq int64
	// Series replaces the content of the item (as ReplaceItem does).
	Series *Item
	// Done, when not nil, is added beside the series, in its folder.
	Done *Item
}

// RegenerateTask applies r in one transaction: both parts or neither, and
// only over the version of the series it was computed from, so a
// completion is turned into one next occurrence however many requests race
// on it.
func (s *Store) RegenerateTask(ctx context.Context, r *TaskRegeneration) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var cur Item
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "user_id", "folder_id", "class", "modseq", "size").
			Where("id = ? AND user_id = ? AND deleted = ?", r.ItemID, r.UserID, false).First(&cur).Error; err != nil {
			return wrap(err, "regenerate task")
		}
		if cur.Class != ClassTasks || cur.Modseq != r.Modseq {
			return fmt.Errorf("regenerate task %d: changed since (counter %d, not %d): %w", r.ItemID, cur.Modseq, r.Modseq, ErrConflict)
		}
		if r.Done != nil {
			r.Done.UserID, r.Done.FolderID, r.Done.Class = r.UserID, cur.FolderID, ClassTasks
			if err := addItem(tx, r.Done, nil, 0); err != nil {
				return err
			}
		}
		m, err := bumpFolder(tx, r.UserID, cur.FolderID, 1)
		if err != nil {
			return err
		}
		it := r.Series
		it.ID, it.UserID, it.FolderID, it.Class, it.Modseq = cur.ID, r.UserID, cur.FolderID, ClassTasks, m
		fields := map[string]any{
			"modseq": m, "subject": it.Subject, "uid": it.UID, "start_time": it.StartTime, "end_time": it.EndTime,
			"props": it.Props, "categories": it.Categories, "importance": it.Importance, "updated_at": time.Now().UTC(),
		}
		// As ReplaceItem: the owner's usage follows the new content.
		if err := resize(tx, &cur, contentSize(it), fields); err != nil {
			return err
		}
		return wrap(tx.Model(&Item{}).Where("id = ?", it.ID).Updates(fields).Error, "regenerate task")
	})
}
