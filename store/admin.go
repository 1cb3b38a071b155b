package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DefaultPolicy returns the organisation's default policy.
func (s *Store) DefaultPolicy(ctx context.Context) (*Policy, error) {
	var p Policy
	err := s.db.WithContext(ctx).Where("is_default = ?", true).Order("id").First(&p).Error
	if err != nil {
		return nil, wrap(err, "default policy")
	}
	return &p, nil
}

// PolicyByID returns one policy.
func (s *Store) PolicyByID(ctx context.Context, id int64) (*Policy, error) {
	var p Policy
	if err := s.db.WithContext(ctx).First(&p, id).Error; err != nil {
		return nil, wrap(err, "policy")
	}
	return &p, nil
}

// SavePolicy creates the named policy or replaces its settings, bumping its
// version so that every policy key issued under the old version is stale.
// The first policy saved becomes the default.
func (s *Store) SavePolicy(ctx context.Context, name, settingsJSON string) (*Policy, error) {
	var p Policy
	err := s.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Where("name = ?", name).First(&p).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			var n int64
			if err := tx.Model(&Policy{}).Where("is_default = ?", true).Count(&n).Error; err != nil {
				return wrap(err, "save policy")
			}
			p = Policy{Name: name, Settings: settingsJSON, Version: 1, IsDefault: n == 0}
			return wrap(tx.Create(&p).Error, "save policy")
		case err != nil:
			return wrap(err, "save policy")
		}
		p.Version++
		p.Settings = settingsJSON
		return wrap(tx.Model(&p).Updates(map[string]any{"settings": settingsJSON, "version": p.Version, "updated_at": s.now()}).Error, "save policy")
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// ListPolicies returns every policy.
func (s *Store) ListPolicies(ctx context.Context) ([]Policy, error) {
	var ps []Policy
	err := s.db.WithContext(ctx).Order("id").Find(&ps).Error
	return ps, wrap(err, "list policies")
}

// ListRules returns the device rules in evaluation order.
func (s *Store) ListRules(ctx context.Context) ([]DeviceRule, error) {
	var rs []DeviceRule
	err := s.db.WithContext(ctx).Order("priority, id").Find(&rs).Error
	return rs, wrap(err, "list rules")
}

// CountRules counts the device rules.
func (s *Store) CountRules(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&DeviceRule{}).Count(&n).Error
	return n, wrap(err, "count rules")
}

// AddRule stores a new device rule.
func (s *Store) AddRule(ctx context.Context, r *DeviceRule) error {
	return wrap(s.db.WithContext(ctx).Create(r).Error, "add rule")
}

// UpdateRule replaces a rule's fields.
func (s *Store) UpdateRule(ctx context.Context, r *DeviceRule) error {
	res := s.db.WithContext(ctx).Model(&DeviceRule{}).Where("id = ?", r.ID).Updates(map[string]any{
		"priority": r.Priority, "field": r.Field, "match": r.Match, "pattern": r.Pattern,
		"action": r.Action, "description": r.Description, "enabled": r.Enabled, "updated_at": s.now(),
	})
	if res.Error != nil {
		return wrap(res.Error, "update rule")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("rule %d: %w", r.ID, ErrNotFound)
	}
	return nil
}

// DeleteRule removes a device rule.
func (s *Store) DeleteRule(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Delete(&DeviceRule{}, id)
	if res.Error != nil {
		return wrap(res.Error, "delete rule")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("rule %d: %w", id, ErrNotFound)
	}
	return nil
}

// Setting returns an organisation setting, or def when it is not set.
func (s *Store) Setting(ctx context.Context, key, def string) (string, error) {
	var st OrgSetting
	err := s.db.WithContext(ctx).Where("key = ?", key).First(&st).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return def, nil
	}
	if err != nil {
		return def, wrap(err, "setting "+key)
	}
	return st.Value, nil
}

// SetSetting stores an organisation setting.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	st := OrgSetting{Key: key, Value: value, UpdatedAt: s.now()}
	return wrap(s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"}),
	}).Create(&st).Error, "set setting "+key)
}

// Audit appends an event to the hash-chained audit log. Appends are
// serialised (the previous row is read under the write lock) so the chain
// has no forks.
func (s *Store) Audit(ctx context.Context, e *AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	return s.tx(ctx, func(tx *gorm.DB) error {
		if s.dialect == "postgres" {
			// One appender at a time across all nodes.
			if err := tx.Exec("SELECT pg_advisory_xact_lock(4242)").Error; err != nil {
				return wrap(err, "audit lock")
			}
		}
		var prev AuditEvent
		err := tx.Select("hash").Order("id DESC").Limit(1).Find(&prev).Error
		if err != nil {
			return wrap(err, "audit")
		}
		e.PrevHash = prev.Hash
		e.Hash = auditHash(e)
		return wrap(tx.Create(e).Error, "audit")
	})
}

func auditHash(e *AuditEvent) string {
	h := sha256.New()
	for _, f := range []string{
		e.PrevHash, e.At.Format(time.RFC3339Nano), e.Actor, e.ActorIP, e.Action, e.TargetType, e.Target,
		optID(e.UserID), optID(e.DevicePK), e.Outcome, e.Detail,
	} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func optID(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

// AuditFilter selects audit events. Empty fields match all.
type AuditFilter struct {
	Action   string
	Actor    string
	UserID   int64
	DevicePK int64
	Since    *time.Time
	BeforeID int64 // keyset paging, newest first
	Limit    int
}

// ListAudit returns audit events matching f, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := s.db.WithContext(ctx).Model(&AuditEvent{})
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.DevicePK != 0 {
		q = q.Where("device_pk = ?", f.DevicePK)
	}
	if f.Since != nil {
		q = q.Where("at >= ?", *f.Since)
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	var out []AuditEvent
	err := q.Order("id DESC").Limit(limit).Find(&out).Error
	return out, wrap(err, "list audit")
}

// VerifyAuditChain recomputes the hash chain and returns the id of the first
// event that does not match, or 0 when the chain is intact.
func (s *Store) VerifyAuditChain(ctx context.Context) (int64, error) {
	prev := ""
	var bad int64
	var batch []AuditEvent
	err := s.db.WithContext(ctx).Order("id").FindInBatches(&batch, 1000, func(tx *gorm.DB, _ int) error {
		for i := range batch {
			e := &batch[i]
			if e.PrevHash != prev || auditHash(e) != e.Hash {
				bad = e.ID
				return errStopBatches
			}
			prev = e.Hash
		}
		return nil
	}).Error
	if err != nil && !errors.Is(err, errStopBatches) {
		return 0, wrap(err, "verify audit")
	}
	return bad, nil
}

var errStopBatches = errors.New("stop")
