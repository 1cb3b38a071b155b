package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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
// has no forks. With an audit key (Options.AuditKey) each row's hash is an
// HMAC-SHA256 under it; without one, a legacy unkeyed SHA-256, which is
// refused once the chain has keyed rows, so a writer without the key
// cannot extend (or quietly downgrade) a keyed chain.
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
		if s.auditKey == nil && keyedHash(prev.Hash) {
			return ErrAuditKeyRequired
		}
		e.PrevHash = prev.Hash
		e.Hash = s.eventHash(e)
		return wrap(tx.Create(e).Error, "audit")
	})
}

// ErrAuditKeyRequired: the audit chain is keyed and this store was opened
// without the key.
var ErrAuditKeyRequired = errors.New("store: the audit log is keyed and no audit key was given")

// keyedPrefix marks a row hashed with the audit key.
const keyedPrefix = "hmac-sha256:"

func keyedHash(h string) bool { return strings.HasPrefix(h, keyedPrefix) }

// eventHash is the row's keyed hash, or the legacy one without a key.
func (s *Store) eventHash(e *AuditEvent) string {
	if s.auditKey == nil {
		return auditHash(e)
	}
	return keyedPrefix + hex.EncodeToString(auditMAC(s.auditKey, e))
}

// auditFields feeds the row's fields, each prefixed with its length so
// that no two rows encode alike, to w.
func auditFields(w io.Writer, e *AuditEvent) {
	for _, f := range []string{
		e.PrevHash, e.At.Format(time.RFC3339Nano), e.Actor, e.ActorIP, e.Action, e.TargetType, e.Target,
		optID(e.UserID), optID(e.DevicePK), e.Outcome, e.Detail,
	} {
		w.Write([]byte(strconv.Itoa(len(f))))
		w.Write([]byte{':'})
		w.Write([]byte(f))
	}
}

// auditHash is the legacy, unkeyed hash: anyone can recompute it.
func auditHash(e *AuditEvent) string {
	h := sha256.New()
	auditFields(h, e)
	return hex.EncodeToString(h.Sum(nil))
}

func auditMAC(key []byte, e *AuditEvent) []byte {
	m := hmac.New(sha256.New, key)
	auditFields(m, e)
	return m.Sum(nil)
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

// AuditReport is what VerifyAudit found.
type AuditReport struct {
	Events int64
	// LegacyEvents are the unkeyed rows at the start of the chain, written
	// before the audit key existed; the first keyed row's HMAC covers the
	// last of them, so they cannot change without breaking it.
	LegacyEvents int64
	FirstKeyedID int64
	Head         AuditHead
	// BadID is the first event that does not verify (0: none), and Problem
	// says why.
	BadID   int64
	Problem string
}

// AuditHead is the newest event of the chain.
type AuditHead struct {
	ID   int64
	Hash string
}

// VerifyAudit recomputes the chain: each row must name its predecessor's
// hash, legacy rows may only come before keyed ones, and each hash must
// match (keyed rows under the store's audit key, compared in constant
// time). It needs the key once the chain has keyed rows.
func (s *Store) VerifyAudit(ctx context.Context) (AuditReport, error) {
	var r AuditReport
	prev := ""
	var batch []AuditEvent
	err := s.db.WithContext(ctx).Order("id").FindInBatches(&batch, 1000, func(tx *gorm.DB, _ int) error {
		for i := range batch {
			e := &batch[i]
			if problem, err := s.checkEvent(e, prev, r.FirstKeyedID != 0); err != nil {
				return err
			} else if problem != "" {
				r.BadID, r.Problem = e.ID, problem
				return errStopBatches
			}
			r.Events++
			if keyedHash(e.Hash) {
				if r.FirstKeyedID == 0 {
					r.FirstKeyedID = e.ID
				}
			} else {
				r.LegacyEvents++
			}
			r.Head = AuditHead{ID: e.ID, Hash: e.Hash}
			prev = e.Hash
		}
		return nil
	}).Error
	if err != nil && !errors.Is(err, errStopBatches) {
		if errors.Is(err, ErrAuditKeyRequired) {
			return r, err
		}
		return r, wrap(err, "verify audit")
	}
	return r, nil
}

// checkEvent says what is wrong with e, or "".
func (s *Store) checkEvent(e *AuditEvent, prev string, keyedSeen bool) (string, error) {
	switch {
	case e.PrevHash != prev:
		return "does not follow the event before it (an event was removed or inserted)", nil
	case !keyedHash(e.Hash) && keyedSeen:
		return "unkeyed hash after the keyed chain began (rewritten without the key)", nil
	case !keyedHash(e.Hash):
		if auditHash(e) != e.Hash {
			return "content does not match its hash (edited)", nil
		}
	case s.auditKey == nil:
		return "", ErrAuditKeyRequired
	default:
		got, err := hex.DecodeString(strings.TrimPrefix(e.Hash, keyedPrefix))
		if err != nil || !hmac.Equal(got, auditMAC(s.auditKey, e)) {
			return "content does not match its keyed hash (edited, or hashed with another key)", nil
		}
	}
	return "", nil
}

// VerifyAuditChain recomputes the hash chain and returns the id of the first
// event that does not match, or 0 when the chain is intact.
func (s *Store) VerifyAuditChain(ctx context.Context) (int64, error) {
	r, err := s.VerifyAudit(ctx)
	return r.BadID, err
}

// AuditHeadNow returns the newest event's id and hash (zero when empty).
func (s *Store) AuditHeadNow(ctx context.Context) (AuditHead, error) {
	var e AuditEvent
	err := s.db.WithContext(ctx).Select("id", "hash").Order("id DESC").Limit(1).Find(&e).Error
	return AuditHead{ID: e.ID, Hash: e.Hash}, wrap(err, "audit head")
}

// AuditHashAt returns the hash stored for event id; ErrNotFound if gone.
func (s *Store) AuditHashAt(ctx context.Context, id int64) (string, error) {
	var e AuditEvent
	err := s.db.WithContext(ctx).Select("id", "hash").Where("id = ?", id).First(&e).Error
	return e.Hash, wrap(err, "audit event")
}

var errStopBatches = errors.New("stop")
