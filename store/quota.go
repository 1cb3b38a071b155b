package store

// Mailbox quotas by service level.
//
// users.quota_used is adjusted in the same transaction as every item add or
// delete (items.go). A write that must respect a quota runs through
// SubmitGoverned, DeliverGoverned or AddItemWithinQuota: the usual writes
// first, then, still inside the transaction, enforceQuota reads each
// recipient's usage against their level and rolls everything back if one is
// over. The read comes after the "UPDATE users SET quota_used = ..." of the
// same transaction, which holds that user's row lock (PostgreSQL) or the
// database write lock (SQLite, BEGIN IMMEDIATE) until commit: a concurrent
// delivery to the same user waits at its own UPDATE and then sees this one's
// committed total. Two deliveries can therefore never both pass the check
// and together end over the quota, and a refused one leaves nothing behind
// (no item, no blob, no counter bump, no change notification).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"gorm.io/gorm"
)

// MaxQuota bounds a level's quota (1 PiB), so that usage arithmetic in SQL
// never overflows a BIGINT.
const MaxQuota = int64(1) << 50

// ErrQuotaExceeded is wrapped by *QuotaError.
var ErrQuotaExceeded = errors.New("store: mailbox quota exceeded")

// QuotaError says whose mailbox a write would have taken over its quota.
type QuotaError struct {
	UserID int64
	Used   int64 // usage the write would have reached (or has now)
	Limit  int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("user %d: mailbox at %d of %d bytes: %v", e.UserID, e.Used, e.Limit, ErrQuotaExceeded)
}

// Unwrap makes errors.Is(err, ErrQuotaExceeded) true.
func (e *QuotaError) Unwrap() error { return ErrQuotaExceeded }

// Quota is a user's usage and limit; Limit 0 means no limit (no service
// level, or a level without a quota).
type Quota struct {
	UserID int64
	Used   int64
	Limit  int64
	Level  string
}

// Fits reports whether size more bytes stay within the limit.
func (q Quota) Fits(size int64) bool { return q.Limit <= 0 || q.Used+size <= q.Limit }

// Percent is the usage in percent of the limit (0 without a limit).
func (q Quota) Percent() float64 {
	if q.Limit <= 0 {
		return 0
	}
	return float64(q.Used) * 100 / float64(q.Limit)
}

type quotaRow struct {
	UserID int64
	Used   int64
	Limit  int64
	Level  string
}

func quotaQuery(db *gorm.DB) *gorm.DB {
	return db.Table("users u").
		Select("u.id AS user_id, u.quota_used AS used, COALESCE(l.quota_bytes, 0) AS \"limit\", COALESCE(l.name, '') AS level").
		Joins("LEFT JOIN service_levels l ON l.id = u.service_level_id")
}

// QuotaOf returns a user's usage and limit.
func (s *Store) QuotaOf(ctx context.Context, userID int64) (Quota, error) {
	var r quotaRow
	res := quotaQuery(s.db.WithContext(ctx)).Where("u.id = ?", userID).Limit(1).Scan(&r)
	if res.Error != nil {
		return Quota{}, wrap(res.Error, "quota")
	}
	if res.RowsAffected == 0 {
		return Quota{}, fmt.Errorf("quota of user %d: %w", userID, ErrNotFound)
	}
	return Quota(r), nil
}

// enforceQuota fails with a *QuotaError if one of the users is over their
// limit, as seen inside tx after its writes.
func enforceQuota(tx *gorm.DB, userIDs []int64) error {
	if len(userIDs) == 0 {
		return nil
	}
	var rows []quotaRow
	err := quotaQuery(tx).Where("u.id IN ? AND l.quota_bytes > 0 AND u.quota_used > l.quota_bytes", userIDs).
		Order("u.id").Scan(&rows).Error
	if err != nil {
		return wrap(err, "check quota")
	}
	if len(rows) > 0 {
		return &QuotaError{UserID: rows[0].UserID, Used: rows[0].Used, Limit: rows[0].Limit}
	}
	return nil
}

// Governed is what the health-service rules add to a write, in its
// transaction.
type Governed struct {
	// Enforce lists the users whose quota the write must respect; see the
	// file comment.
	Enforce []int64
	// Notices are delivered in the same transaction and are not held to
	// any quota (bounces, hold notices): a full mailbox still hears why.
	Notices []Delivery
	// Held, when not nil, is stored for an admin to release or drop.
	Held *HeldMail
	// SMS are queued for the SMS gateway.
	SMS []SMSMessage
	// Fax are queued for the fax gateway (fax.go).
	Fax []FaxMessage
	// Outbound are queued for the relay (reports to remote senders).
	Outbound []*OutboundMail
}

func (s *Store) governIn(tx *gorm.DB, g Governed) error {
	if err := enforceQuota(tx, g.Enforce); err != nil {
		return err
	}
	for _, n := range g.Notices {
		if err := deliverIn(tx, n); err != nil {
			return err
		}
	}
	if g.Held != nil {
		g.Held.ID = 0
		if g.Held.CreatedAt.IsZero() {
			g.Held.CreatedAt = s.now()
		}
		if err := tx.Create(g.Held).Error; err != nil {
			return wrap(err, "hold mail")
		}
	}
	for _, m := range g.Outbound {
		if err := enqueue(tx, m, s.now()); err != nil {
			return err
		}
	}
	for i := range g.SMS {
		m := &g.SMS[i]
		m.ID, m.Attempts = 0, 0
		if m.NextAttempt.IsZero() {
			m.NextAttempt = s.now()
		}
		m.NextAttempt = m.NextAttempt.UTC()
		if m.Item != nil { // the sender's SMS item (sms_items.go)
			if m.Item.FolderID == 0 {
				var f Folder
				if err := tx.Select("id").Where("user_id = ? AND type = ? AND deleted = ?", m.Item.UserID, FolderSentItems, false).First(&f).Error; err != nil {
					return wrap(err, "sms item: sent items")
				}
				m.Item.FolderID = f.ID
			}
			if err := addItem(tx, m.Item, m.ItemRaw, 0); err != nil {
				return err
			}
			m.ItemID = &m.Item.ID
		}
		if err := tx.Create(m).Error; err != nil {
			return wrap(err, "queue sms")
		}
	}
	for i := range g.Fax {
		if err := queueFax(tx, &g.Fax[i], s.now()); err != nil {
			return err
		}
	}
	return nil
}

// SubmitGoverned is Submit with g in the same transaction: all of it or
// nothing. A quota failure is a *QuotaError.
func (s *Store) SubmitGoverned(ctx context.Context, sub Submission, g Governed) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.submitIn(tx, sub); err != nil {
			return err
		}
		return s.governIn(tx, g)
	})
}

// DeliverGoverned is Deliver with g in the same transaction.
func (s *Store) DeliverGoverned(ctx context.Context, d Delivery, g Governed) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if len(d.Items) > 0 {
			if err := deliverIn(tx, d); err != nil {
				return err
			}
		}
		return s.governIn(tx, g)
	})
}

// AddItemWithinQuota is AddItem refused (with a *QuotaError, nothing
// stored) when it would take the user over their quota.
func (s *Store) AddItemWithinQuota(ctx context.Context, it *Item, raw []byte) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := addItem(tx, it, raw, 0); err != nil {
			return err
		}
		return enforceQuota(tx, []int64{it.UserID})
	})
}

// Service levels.

// ServiceLevelByName returns one level (names compare case-insensitively).
func (s *Store) ServiceLevelByName(ctx context.Context, name string) (*ServiceLevel, error) {
	var l ServiceLevel
	err := s.db.WithContext(ctx).Where("lower(name) = ?", strings.ToLower(strings.TrimSpace(name))).First(&l).Error
	if err != nil {
		return nil, wrap(err, "service level "+name)
	}
	return &l, nil
}

// CreateServiceLevel adds a level; quota 0 means no limit.
func (s *Store) CreateServiceLevel(ctx context.Context, name string, quota int64) (*ServiceLevel, error) {
	name = strings.TrimSpace(name)
	if name == "" || quota < 0 || quota > MaxQuota {
		return nil, fmt.Errorf("service level: a name and a quota from 0 to %d bytes are required", MaxQuota)
	}
	if _, err := s.ServiceLevelByName(ctx, name); err == nil {
		return nil, fmt.Errorf("service level %q: %w", name, ErrConflict)
	}
	now := s.now()
	l := ServiceLevel{Name: name, QuotaBytes: quota, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(&l).Error; err != nil {
		return nil, wrap(err, "create service level")
	}
	return &l, nil
}

// SetServiceLevelQuota changes a level's quota. Warnings of users now
// below 90% are cleared, so they are warned again on the next crossing.
func (s *Store) SetServiceLevelQuota(ctx context.Context, levelID, quota int64) error {
	if quota < 0 || quota > MaxQuota {
		return fmt.Errorf("quota %d: must be from 0 to %d bytes", quota, MaxQuota)
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&ServiceLevel{}).Where("id = ?", levelID).Updates(map[string]any{"quota_bytes": quota, "updated_at": s.now()})
		if res.Error != nil {
			return wrap(res.Error, "set quota")
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("service level %d: %w", levelID, ErrNotFound)
		}
		return clearWarningsBelow(tx)
	})
}

// ScaleServiceLevels multiplies every level's quota by factor (levels
// without a limit stay so) in one statement, and returns how many levels
// changed.
func (s *Store) ScaleServiceLevels(ctx context.Context, factor float64) (int64, error) {
	if !(factor > 0) || factor > 1000 || math.IsInf(factor, 0) {
		return 0, fmt.Errorf("scale factor %v: want 0 < factor <= 1000", factor)
	}
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var over int64
		if err := tx.Model(&ServiceLevel{}).Where("quota_bytes > ?", int64(float64(MaxQuota)/factor)).Count(&over).Error; err != nil {
			return wrap(err, "scale quotas")
		}
		if over > 0 {
			return fmt.Errorf("scale quotas by %v: a quota would pass the maximum of %d bytes", factor, MaxQuota)
		}
		res := tx.Exec("UPDATE service_levels SET quota_bytes = CAST(ROUND(quota_bytes * ?) AS BIGINT), updated_at = ? WHERE quota_bytes > 0", factor, s.now())
		if res.Error != nil {
			return wrap(res.Error, "scale quotas")
		}
		n = res.RowsAffected
		return clearWarningsBelow(tx)
	})
	return n, err
}

// AssignServiceLevel puts users on a level (nil: none, no limit).
func (s *Store) AssignServiceLevel(ctx context.Context, levelID *int64, userIDs []int64) error {
	if len(userIDs) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id IN ?", userIDs).Updates(map[string]any{"service_level_id": levelID, "updated_at": s.now()})
		if res.Error != nil {
			return wrap(res.Error, "assign service level")
		}
		if res.RowsAffected != int64(len(userIDs)) {
			return fmt.Errorf("assign service level: some users do not exist: %w", ErrNotFound)
		}
		return clearWarningsBelow(tx)
	})
}

// AssignServiceLevelToUnassigned puts every user without a level on one,
// and returns how many.
func (s *Store) AssignServiceLevelToUnassigned(ctx context.Context, levelID int64) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("service_level_id IS NULL").Updates(map[string]any{"service_level_id": levelID, "updated_at": s.now()})
		n = res.RowsAffected
		if res.Error != nil {
			return wrap(res.Error, "assign service level")
		}
		return clearWarningsBelow(tx)
	})
	return n, err
}

// clearWarningsBelow forgets the 90% warning of users now below 90% (or
// without a limit).
func clearWarningsBelow(tx *gorm.DB) error {
	return wrap(tx.Exec(`DELETE FROM quota_warnings WHERE user_id IN (
		SELECT u.id FROM users u LEFT JOIN service_levels l ON l.id = u.service_level_id
		WHERE l.quota_bytes IS NULL OR l.quota_bytes <= 0 OR u.quota_used * 10 < l.quota_bytes * 9)`).Error, "clear quota warnings")
}

// WarnQuota records that the user was warned and delivers the warning, in
// one transaction. It reports false, delivering nothing, when they already
// were (another delivery, on any node, got there first).
func (s *Store) WarnQuota(ctx context.Context, userID int64, at time.Time, warning Delivery) (bool, error) {
	warned := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("INSERT INTO quota_warnings (user_id, warned_at) VALUES (?, ?) ON CONFLICT DO NOTHING", userID, at.UTC())
		if res.Error != nil {
			return wrap(res.Error, "mark quota warning")
		}
		if res.RowsAffected != 1 {
			return nil
		}
		warned = true
		return deliverIn(tx, warning)
	})
	return warned, err
}

// UnmarkQuotaWarned forgets a user's warning (usage went back below 90%).
func (s *Store) UnmarkQuotaWarned(ctx context.Context, userID int64) error {
	return wrap(s.db.WithContext(ctx).Exec("DELETE FROM quota_warnings WHERE user_id = ?", userID).Error, "clear quota warning")
}

// QuotaWarned reports whether the user holds an unanswered 90% warning.
func (s *Store) QuotaWarned(ctx context.Context, userID int64) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Table("quota_warnings").Where("user_id = ?", userID).Count(&n).Error
	return n > 0, wrap(err, "quota warning")
}
