package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AuthLimit is one counter a sign-in attempt is charged to: the account's,
// and the client address's.
type AuthLimit struct {
	Key   string
	Limit int
}

// AuthReservation is an attempt charged in advance by ReserveAuthAttempt.
type AuthReservation struct {
	Keys []string
	// Locking are the keys whose limit this attempt reached: they are
	// locked now, and ReleaseAuthAttempt lifts that lock if the attempt
	// turns out to be a success.
	Locking []string
}

// ReserveAuthAttempt charges one failure to every key before the password
// is verified, in one transaction, so that concurrent guesses cannot all
// pass a lock check made before any of them failed. When any key is locked
// nothing is charged and the lock's end is returned. A key that reaches its
// limit with this attempt locks for lockout; the attempt itself goes on.
// Counts start again after window, unless the key is locked; after a lock
// ends within the window, each further failure locks again at once.
func (s *Store) ReserveAuthAttempt(ctx context.Context, limits []AuthLimit, window, lockout time.Duration) (*AuthReservation, *time.Time, error) {
	// A fixed order: two attempts locking the same keys never deadlock.
	limits = slices.Clone(limits)
	slices.SortFunc(limits, func(a, b AuthLimit) int { return strings.Compare(a.Key, b.Key) })
	limits = slices.CompactFunc(limits, func(a, b AuthLimit) bool { return a.Key == b.Key })
	now := s.now()
	var res *AuthReservation
	var locked *time.Time
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res, locked = nil, nil
		rows := make([]AuthFailure, len(limits))
		for i, l := range limits {
			af, err := lockAuthRow(tx, l.Key, now)
			if err != nil {
				return err
			}
			if af.LockedUntil != nil && now.Before(*af.LockedUntil) {
				locked = af.LockedUntil
				return nil // charge nothing: a locked key refuses at once
			}
			if now.Sub(af.WindowStart) > window {
				af.Failures, af.WindowStart, af.LockedUntil = 0, now, nil
			}
			rows[i] = af
		}
		res = &AuthReservation{}
		for i, l := range limits {
			af := rows[i]
			af.Failures++
			if af.Failures >= l.Limit {
				until := now.Add(lockout)
				af.LockedUntil = &until
				res.Locking = append(res.Locking, l.Key)
			}
			res.Keys = append(res.Keys, l.Key)
			err := tx.Model(&AuthFailure{}).Where("key = ?", l.Key).Updates(map[string]any{
				"failures": af.Failures, "window_start": af.WindowStart, "locked_until": af.LockedUntil,
			}).Error
			if err != nil {
				return wrap(err, "reserve auth attempt")
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return res, locked, nil
}

// lockAuthRow returns key's row, created if missing, locked for update
// until the transaction ends (a row lock on PostgreSQL; SQLite's
// BEGIN IMMEDIATE already holds the database's write lock).
func lockAuthRow(tx *gorm.DB, key string, now time.Time) (AuthFailure, error) {
	af := AuthFailure{Key: key, WindowStart: now}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&af).Error; err != nil {
		return af, wrap(err, "auth failure")
	}
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("key = ?", key).First(&af).Error
	return af, wrap(err, "auth failure")
}

// ReleaseAuthAttempt gives back a reservation after a successful sign-in:
// the keys in clear (the account's) are forgotten, the others (the
// address's) lose the one charge, and a lock this attempt set is lifted.
func (s *Store) ReleaseAuthAttempt(ctx context.Context, r *AuthReservation, clear ...string) error {
	if r == nil {
		return nil
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		for _, key := range r.Keys {
			q := tx.Model(&AuthFailure{}).Where("key = ?", key)
			if slices.Contains(clear, key) {
				if err := q.Delete(&AuthFailure{}).Error; err != nil {
					return wrap(err, "release auth attempt")
				}
				continue
			}
			upd := map[string]any{"failures": gorm.Expr("CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END")}
			if slices.Contains(r.Locking, key) {
				upd["locked_until"] = nil
			}
			if err := q.Updates(upd).Error; err != nil {
				return wrap(err, "release auth attempt")
			}
		}
		return nil
	})
}

// AuthLockedUntil returns when the key's lock ends, or nil if not locked.
func (s *Store) AuthLockedUntil(ctx context.Context, key string) (*time.Time, error) {
	var af AuthFailure
	err := s.db.WithContext(ctx).Where("key = ?", key).Find(&af).Error
	if err != nil {
		return nil, wrap(err, "auth lock")
	}
	if af.LockedUntil != nil && af.LockedUntil.After(s.now()) {
		return af.LockedUntil, nil
	}
	return nil, nil
}

// AuthFailures returns key's counter, or ErrNotFound.
func (s *Store) AuthFailures(ctx context.Context, key string) (*AuthFailure, error) {
	var af AuthFailure
	if err := s.db.WithContext(ctx).Where("key = ?", key).First(&af).Error; err != nil {
		return nil, wrap(err, "auth failures")
	}
	return &af, nil
}

// ClearAuthFailures forgets the failures of key after a successful login.
func (s *Store) ClearAuthFailures(ctx context.Context, key string) error {
	return wrap(s.db.WithContext(ctx).Where("key = ?", key).Delete(&AuthFailure{}).Error, "clear auth failures")
}

// ExpireAuthFailures deletes counters whose window began before cutoff and
// that hold no lock: they would start again at zero anyway. Without it,
// every name a guesser tried would stay in the table for ever.
func (s *Store) ExpireAuthFailures(ctx context.Context, cutoff time.Time) (int64, error) {
	now := s.now()
	r := s.db.WithContext(ctx).Where("window_start < ? AND (locked_until IS NULL OR locked_until < ?)", cutoff.UTC(), now).Delete(&AuthFailure{})
	if r.Error != nil && !errors.Is(r.Error, gorm.ErrRecordNotFound) {
		return 0, wrap(r.Error, "expire auth failures")
	}
	return r.RowsAffected, nil
}
