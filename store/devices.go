package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DeviceByEASID returns the user's device with the given EAS DeviceId.
func (s *Store) DeviceByEASID(ctx context.Context, userID int64, deviceID string) (*Device, error) {
	var d Device
	err := s.db.WithContext(ctx).Where("user_id = ? AND device_id = ?", userID, deviceID).First(&d).Error
	if err != nil {
		return nil, wrap(err, "device "+deviceID)
	}
	return &d, nil
}

// DeviceByID returns a device by its primary key.
func (s *Store) DeviceByID(ctx context.Context, id int64) (*Device, error) {
	var d Device
	if err := s.db.WithContext(ctx).First(&d, id).Error; err != nil {
		return nil, wrap(err, fmt.Sprintf("device %d", id))
	}
	return &d, nil
}

// EnsureDevice returns the user's device with d.DeviceID, creating it from d
// when it does not exist yet. created reports which happened. Two first
// requests racing from one device create one row.
func (s *Store) EnsureDevice(ctx context.Context, d *Device) (dev *Device, created bool, err error) {
	if d.State == "" {
		d.State = DeviceNew
	}
	if d.FirstSeen.IsZero() {
		d.FirstSeen = s.now()
	}
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(d)
	if res.Error != nil {
		return nil, false, wrap(res.Error, "create device")
	}
	if res.RowsAffected == 1 {
		return d, true, nil
	}
	dev, err = s.DeviceByEASID(ctx, d.UserID, d.DeviceID)
	return dev, false, err
}

// UpdateDevice writes the given columns of a device.
func (s *Store) UpdateDevice(ctx context.Context, id int64, fields map[string]any) error {
	fields["updated_at"] = s.now()
	res := s.db.WithContext(ctx).Model(&Device{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return wrap(res.Error, "update device")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("update device %d: %w", id, ErrNotFound)
	}
	return nil
}

// TouchDevice records a request from a device without rewriting the row on
// every Ping: last_seen moves at most once a minute.
func (s *Store) TouchDevice(ctx context.Context, id int64, command string, synced bool) error {
	now := s.now()
	q := s.db.WithContext(ctx).Model(&Device{}).Where("id = ?", id)
	fields := map[string]any{"last_seen": now, "last_command": command}
	if synced {
		fields["last_sync"] = now
	} else {
		q = q.Where("last_seen IS NULL OR last_seen < ?", now.Add(-time.Minute))
	}
	return wrap(q.Updates(fields).Error, "touch device")
}

// DeleteDevice removes a device partnership and its sync state.
func (s *Store) DeleteDevice(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Delete(&Device{}, id)
	if res.Error != nil {
		return wrap(res.Error, "delete device")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete device %d: %w", id, ErrNotFound)
	}
	return nil
}

// DevicesOfUser lists a user's devices, newest first.
func (s *Store) DevicesOfUser(ctx context.Context, userID int64) ([]Device, error) {
	var ds []Device
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("id DESC").Find(&ds).Error
	return ds, wrap(err, "devices of user")
}

// CountDevicesOfUser counts a user's devices, for the per-user limit.
func (s *Store) CountDevicesOfUser(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Device{}).Where("user_id = ?", userID).Count(&n).Error
	return n, wrap(err, "count devices")
}

// DeviceFilter selects devices for the admin list. Empty fields match all.
type DeviceFilter struct {
	State      DeviceState
	DeviceType string
	Model      string
	OS         string
	UserID     int64
	Search     string // substring of device id, model, type, user agent, friendly name
	SeenBefore *time.Time
	AfterID    int64 // keyset paging: devices with id below this (newest first); 0 = from the top
	Limit      int
}

// ListDevices returns devices matching f, newest first, at most f.Limit
// (default 50, at most 500).
func (s *Store) ListDevices(ctx context.Context, f DeviceFilter) ([]Device, error) {
	q := s.devicesQuery(ctx, f)
	if f.AfterID > 0 {
		q = q.Where("devices.id < ?", f.AfterID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	var ds []Device
	err := q.Order("devices.id DESC").Limit(limit).Find(&ds).Error
	return ds, wrap(err, "list devices")
}

// CountDevices counts devices matching f (paging fields ignored).
func (s *Store) CountDevices(ctx context.Context, f DeviceFilter) (int64, error) {
	var n int64
	err := s.devicesQuery(ctx, f).Count(&n).Error
	return n, wrap(err, "count devices")
}

func (s *Store) devicesQuery(ctx context.Context, f DeviceFilter) *gorm.DB {
	q := s.db.WithContext(ctx).Model(&Device{})
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if f.DeviceType != "" {
		q = q.Where("device_type = ?", f.DeviceType)
	}
	if f.Model != "" {
		q = q.Where("model = ?", f.Model)
	}
	if f.OS != "" {
		q = q.Where("os = ?", f.OS)
	}
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.SeenBefore != nil {
		q = q.Where("last_seen < ?", *f.SeenBefore)
	}
	if f.Search != "" {
		like := "%" + escapeLike(strings.ToLower(f.Search)) + "%"
		q = q.Where("(lower(device_id) LIKE ? ESCAPE '\\' OR lower(model) LIKE ? ESCAPE '\\' OR lower(device_type) LIKE ? ESCAPE '\\' OR lower(user_agent) LIKE ? ESCAPE '\\' OR lower(friendly_name) LIKE ? ESCAPE '\\')",
			like, like, like, like, like)
	}
	return q
}

// DeviceCount is one row of a grouped count.
type DeviceCount struct {
	Key   string
	Count int64
}

// CountDevicesBy groups devices by one column: "state", "device_type",
// "model" or "os".
func (s *Store) CountDevicesBy(ctx context.Context, column string) ([]DeviceCount, error) {
	switch column {
	case "state", "device_type", "model", "os":
	default:
		return nil, fmt.Errorf("count devices by %q: unknown column", column)
	}
	var out []DeviceCount
	err := s.db.WithContext(ctx).Model(&Device{}).Select(column + " AS key, count(*) AS count").Group(column).Order("count DESC").Scan(&out).Error
	return out, wrap(err, "count devices by "+column)
}

// SaveSyncState stores generation key of a collection's sync state and drops
// generations older than key-1, in one transaction: the current and the
// previous key stay valid, so a client that lost a response can resend.
func (s *Store) SaveSyncState(ctx context.Context, st *SyncState) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("device_pk = ? AND collection = ? AND sync_key >= ?", st.DevicePK, st.Collection, st.SyncKey).Delete(&SyncState{}).Error; err != nil {
			return wrap(err, "save sync state")
		}
		if err := tx.Create(st).Error; err != nil {
			return wrap(err, "save sync state")
		}
		return wrap(tx.Where("device_pk = ? AND collection = ? AND sync_key < ?", st.DevicePK, st.Collection, st.SyncKey-1).Delete(&SyncState{}).Error, "prune sync state")
	})
}

// SyncStateAt returns one generation of a collection's sync state.
func (s *Store) SyncStateAt(ctx context.Context, devicePK int64, collection string, key int64) (*SyncState, error) {
	var st SyncState
	err := s.db.WithContext(ctx).Where("device_pk = ? AND collection = ? AND sync_key = ?", devicePK, collection, key).First(&st).Error
	if err != nil {
		return nil, wrap(err, "sync state")
	}
	return &st, nil
}

// LatestSyncState returns the newest generation of a collection's state.
func (s *Store) LatestSyncState(ctx context.Context, devicePK int64, collection string) (*SyncState, error) {
	var st SyncState
	err := s.db.WithContext(ctx).Where("device_pk = ? AND collection = ?", devicePK, collection).Order("sync_key DESC").First(&st).Error
	if err != nil {
		return nil, wrap(err, "sync state")
	}
	return &st, nil
}

// ResetSyncState forgets every collection's state for a device (or one
// collection when collection is not empty), forcing a full resync.
func (s *Store) ResetSyncState(ctx context.Context, devicePK int64, collection string) error {
	q := s.db.WithContext(ctx).Where("device_pk = ?", devicePK)
	if collection != "" {
		q = q.Where("collection = ?", collection)
	}
	return wrap(q.Delete(&SyncState{}).Error, "reset sync state")
}
