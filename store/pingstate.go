package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// PingState is a device's cached Ping parameters (MS-ASCMD 3.1.5.8): the
// heartbeat interval in seconds and the monitored folder ids,
// comma-separated.
type PingState struct {
	DevicePK  int64 `gorm:"column:device_pk;primaryKey"`
	Heartbeat int
	Folders   string
	UpdatedAt time.Time
}

// PingState returns the device's cached Ping parameters, or ErrNotFound.
func (s *Store) PingState(ctx context.Context, devicePK int64) (*PingState, error) {
	var st PingState
	if err := s.db.WithContext(ctx).Where("device_pk = ?", devicePK).First(&st).Error; err != nil {
		return nil, wrap(err, "ping state")
	}
	return &st, nil
}

// SavePingState stores (or replaces) the device's cached Ping parameters.
func (s *Store) SavePingState(ctx context.Context, st *PingState) error {
	st.UpdatedAt = s.now()
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "device_pk"}},
		DoUpdates: clause.AssignmentColumns([]string{"heartbeat", "folders", "updated_at"}),
	}).Create(st).Error
	return wrap(err, "save ping state")
}

// FolderCounters returns the change counters of those of folderIDs that are
// live folders of the user, in one query. A missing id is absent from the
// map: the folder was deleted or never was the user's.
func (s *Store) FolderCounters(ctx context.Context, userID int64, folderIDs []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(folderIDs))
	if len(folderIDs) == 0 {
		return out, nil
	}
	var rows []Folder
	err := s.db.WithContext(ctx).Select("id", "modseq").
		Where("user_id = ? AND deleted = ? AND id IN ?", userID, false, folderIDs).Find(&rows).Error
	if err != nil {
		return nil, wrap(err, "folder counters")
	}
	for _, f := range rows {
		out[f.ID] = f.Modseq
	}
	return out, nil
}

// HierarchyCounter returns the user's folder-hierarchy change counter.
func (s *Store) HierarchyCounter(ctx context.Context, userID int64) (int64, error) {
	var v []int64
	if err := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).Pluck("hierarchy_modseq", &v).Error; err != nil {
		return 0, wrap(err, "hierarchy counter")
	}
	if len(v) == 0 {
		return 0, fmt.Errorf("hierarchy counter: user %d: %w", userID, ErrNotFound)
	}
	return v[0], nil
}
