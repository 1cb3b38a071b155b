package store

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// bumpHierarchy increments the user's hierarchy counter inside tx and
// returns the new value. The UPDATE takes the row lock, so concurrent
// writers get strictly increasing values in commit order.
func bumpHierarchy(tx *gorm.DB, userID int64) (int64, error) {
	var v int64
	err := tx.Raw("UPDATE users SET hierarchy_modseq = hierarchy_modseq + 1 WHERE id = ? RETURNING hierarchy_modseq", userID).Scan(&v).Error
	if err != nil {
		return 0, wrap(err, "bump hierarchy counter")
	}
	if v == 0 {
		return 0, fmt.Errorf("bump hierarchy counter: user %d: %w", userID, ErrNotFound)
	}
	if err := noteChange(tx, Change{UserID: userID}); err != nil {
		return 0, err
	}
	return v, nil
}

// Folders lists a user's live folders in creation order.
func (s *Store) Folders(ctx context.Context, userID int64) ([]Folder, error) {
	var fs []Folder
	err := s.db.WithContext(ctx).Where("user_id = ? AND deleted = ?", userID, false).Order("id").Find(&fs).Error
	return fs, wrap(err, "list folders")
}

// FolderByID returns a live folder of the user. A folder of another user is
// reported as not found: callers never learn that it exists.
func (s *Store) FolderByID(ctx context.Context, userID, folderID int64) (*Folder, error) {
	var f Folder
	err := s.db.WithContext(ctx).Where("id = ? AND user_id = ? AND deleted = ?", folderID, userID, false).First(&f).Error
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("folder %d", folderID))
	}
	return &f, nil
}

// FolderByType returns the user's default folder of a type (Inbox, Sent...).
func (s *Store) FolderByType(ctx context.Context, userID int64, t FolderType) (*Folder, error) {
	var f Folder
	err := s.db.WithContext(ctx).Where("user_id = ? AND type = ? AND deleted = ?", userID, t, false).Order("id").First(&f).Error
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("folder of type %d", t))
	}
	return &f, nil
}

// FolderByPath finds a live folder by its slash-separated path of names,
// e.g. "Inbox" or "Inbox/Projects". Names compare case-insensitively.
func (s *Store) FolderByPath(ctx context.Context, userID int64, path string) (*Folder, error) {
	all, err := s.Folders(ctx, userID)
	if err != nil {
		return nil, err
	}
	parent := int64(0)
	var found *Folder
	for _, name := range strings.Split(strings.Trim(path, "/"), "/") {
		found = nil
		for i := range all {
			if all[i].ParentID == parent && strings.EqualFold(all[i].Name, name) {
				found = &all[i]
				break
			}
		}
		if found == nil {
			return nil, fmt.Errorf("folder %q: %w", path, ErrNotFound)
		}
		parent = found.ID
	}
	return found, nil
}

// CreateFolder adds a user folder under parentID (0 for the top level).
func (s *Store) CreateFolder(ctx context.Context, userID, parentID int64, name string, t FolderType) (*Folder, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, fmt.Errorf("create folder: empty name")
	}
	class, ok := classOfType(t)
	if !ok {
		return nil, fmt.Errorf("create folder: type %d cannot be created by a user", t)
	}
	f := &Folder{UserID: userID, ParentID: parentID, Name: name, Type: t, Class: class}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := checkParent(tx, userID, parentID); err != nil {
			return err
		}
		hm, err := bumpHierarchy(tx, userID)
		if err != nil {
			return err
		}
		f.HierarchyModseq = hm
		return wrap(tx.Create(f).Error, "create folder "+name)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func classOfType(t FolderType) (Class, bool) {
	switch t {
	case FolderUserGeneric, FolderUserMail:
		return ClassEmail, true
	case FolderUserCalendar:
		return ClassCalendar, true
	case FolderUserContacts:
		return ClassContacts, true
	case FolderUserTasks:
		return ClassTasks, true
	case FolderUserNotes:
		return ClassNotes, true
	}
	return "", false
}

func checkParent(tx *gorm.DB, userID, parentID int64) error {
	if parentID == 0 {
		return nil
	}
	var n int64
	if err := tx.Model(&Folder{}).Where("id = ? AND user_id = ? AND deleted = ?", parentID, userID, false).Count(&n).Error; err != nil {
		return wrap(err, "check parent folder")
	}
	if n == 0 {
		return fmt.Errorf("parent folder %d: %w", parentID, ErrNotFound)
	}
	return nil
}

// UpdateFolder renames a user folder and/or moves it under newParentID.
// Default folders cannot be changed.
func (s *Store) UpdateFolder(ctx context.Context, userID, folderID, newParentID int64, newName string) (*Folder, error) {
	newName = strings.TrimSpace(newName)
	if newName == "" {
		return nil, fmt.Errorf("update folder: empty name")
	}
	var f Folder
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = ? AND user_id = ? AND deleted = ?", folderID, userID, false).First(&f).Error; err != nil {
			return wrap(err, "update folder")
		}
		if _, userMade := classOfType(f.Type); !userMade {
			return fmt.Errorf("update folder %q: a default folder: %w", f.Name, ErrConflict)
		}
		if err := checkParent(tx, userID, newParentID); err != nil {
			return err
		}
		if newParentID == folderID || isDescendant(tx, userID, newParentID, folderID) {
			return fmt.Errorf("update folder: cannot move a folder under itself: %w", ErrConflict)
		}
		hm, err := bumpHierarchy(tx, userID)
		if err != nil {
			return err
		}
		f.Name, f.ParentID, f.HierarchyModseq = newName, newParentID, hm
		return wrap(tx.Model(&f).Updates(map[string]any{"name": newName, "parent_id": newParentID, "hierarchy_modseq": hm, "updated_at": s.now()}).Error, "update folder")
	})
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// isDescendant reports whether candidate lies below ancestor.
func isDescendant(tx *gorm.DB, userID, candidate, ancestor int64) bool {
	for seen := 0; candidate != 0 && seen < 1000; seen++ {
		var f Folder
		if tx.Select("id", "parent_id").Where("id = ? AND user_id = ?", candidate, userID).First(&f).Error != nil {
			return false
		}
		if f.ParentID == ancestor {
			return true
		}
		candidate = f.ParentID
	}
	return false
}

// DeleteFolder deletes a user folder, its subfolders and their items. The
// folders stay as tombstones so FolderSync can report the deletion.
func (s *Store) DeleteFolder(ctx context.Context, userID, folderID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var f Folder
		if err := tx.Where("id = ? AND user_id = ? AND deleted = ?", folderID, userID, false).First(&f).Error; err != nil {
			return wrap(err, "delete folder")
		}
		if _, userMade := classOfType(f.Type); !userMade {
			return fmt.Errorf("delete folder %q: a default folder: %w", f.Name, ErrConflict)
		}
		ids := []int64{f.ID}
		for i := 0; i < len(ids); i++ {
			var children []int64
			if err := tx.Model(&Folder{}).Where("parent_id = ? AND user_id = ? AND deleted = ?", ids[i], userID, false).Pluck("id", &children).Error; err != nil {
				return wrap(err, "delete folder")
			}
			ids = append(ids, children...)
		}
		for _, id := range ids {
			hm, err := bumpHierarchy(tx, userID)
			if err != nil {
				return err
			}
			if err := tx.Model(&Folder{}).Where("id = ?", id).Updates(map[string]any{"deleted": true, "hierarchy_modseq": hm, "updated_at": s.now()}).Error; err != nil {
				return wrap(err, "delete folder")
			}
			// The items go with the folder; a tombstoned folder needs no
			// item tombstones because clients drop the whole collection.
			if err := tx.Where("folder_id = ?", id).Delete(&Item{}).Error; err != nil {
				return wrap(err, "delete folder items")
			}
		}
		return deleteOrphanBlobs(tx)
	})
}

// HierarchyChangesSince returns the folders (tombstones included) added,
// changed or deleted after hierarchy counter since, in counter order, and
// the user's current counter.
func (s *Store) HierarchyChangesSince(ctx context.Context, userID, since int64) ([]Folder, int64, error) {
	// No transaction is needed: counters are assigned under the user's row
	// lock, so every folder with a counter up to cur is already committed.
	var (
		fs  []Folder
		cur int64
	)
	db := s.db.WithContext(ctx)
	err := db.Model(&User{}).Where("id = ?", userID).Pluck("hierarchy_modseq", &cur).Error
	if err == nil {
		err = db.Where("user_id = ? AND hierarchy_modseq > ? AND hierarchy_modseq <= ?", userID, since, cur).
			Order("hierarchy_modseq").Find(&fs).Error
	}
	return fs, cur, wrap(err, "hierarchy changes")
}
