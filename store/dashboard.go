package store

import (
	"context"
	"time"
)

// Read-only queries for the admin dashboard (package web): aggregates that
// stay one indexed scan at tens of thousands of devices.

// UsersByIDs returns the users with the given ids, keyed by id; ids that do
// not exist are absent.
func (s *Store) UsersByIDs(ctx context.Context, ids []int64) (map[int64]*User, error) {
	out := make(map[int64]*User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var users []User
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&users).Error; err != nil {
		return nil, wrap(err, "users by ids")
	}
	for i := range users {
		out[users[i].ID] = &users[i]
	}
	return out, nil
}

// CountDevicesPerUser returns how many devices each user has, keyed by
// user id; users without devices are absent.
func (s *Store) CountDevicesPerUser(ctx context.Context) (map[int64]int64, error) {
	var rows []struct {
		UserID int64
		N      int64
	}
	err := s.db.WithContext(ctx).Model(&Device{}).Select("user_id, count(*) AS n").Group("user_id").Scan(&rows).Error
	if err != nil {
		return nil, wrap(err, "count devices per user")
	}
	out := make(map[int64]int64, len(rows))
	for _, r := range rows {
		out[r.UserID] = r.N
	}
	return out, nil
}

// ListServiceLevels returns every service level, by name.
func (s *Store) ListServiceLevels(ctx context.Context) ([]ServiceLevel, error) {
	var out []ServiceLevel
	err := s.db.WithContext(ctx).Order("name").Find(&out).Error
	return out, wrap(err, "list service levels")
}

// DecisionCount is one group of DeviceDecisionCounts.
type DecisionCount struct {
	State           DeviceState
	DecidedBy       string
	PolicyAckStatus int
	MDMCompliant    *bool `gorm:"column:mdm_compliant"`
	Count           int64
}

// DeviceDecisionCounts groups devices by state, what decided it, their
// policy acknowledgement and MDM verdict: the dashboard derives encryption
// compliance from these few groups without reading every device.
// DecidedBy values of the form "admin:<who>" and "rule:<id>" are many but
// bounded by the number of admins and rules.
func (s *Store) DeviceDecisionCounts(ctx context.Context) ([]DecisionCount, error) {
	var out []DecisionCount
	err := s.db.WithContext(ctx).Model(&Device{}).
		Select("state, decided_by, policy_ack_status, mdm_compliant, count(*) AS count").
		Group("state, decided_by, policy_ack_status, mdm_compliant").Scan(&out).Error
	return out, wrap(err, "device decision counts")
}

// LastSyncCounts counts the devices whose last successful Sync is at or
// after each cutoff, plus those that never synced. Each count is a range
// over the last_sync index.
func (s *Store) LastSyncCounts(ctx context.Context, cutoffs []time.Time) (since []int64, never int64, err error) {
	since = make([]int64, len(cutoffs))
	for i, c := range cutoffs {
		if err := s.db.WithContext(ctx).Model(&Device{}).Where("last_sync >= ?", c).Count(&since[i]).Error; err != nil {
			return nil, 0, wrap(err, "count devices by last sync")
		}
	}
	if err := s.db.WithContext(ctx).Model(&Device{}).Where("last_sync IS NULL").Count(&never).Error; err != nil {
		return nil, 0, wrap(err, "count devices never synced")
	}
	return since, never, nil
}
