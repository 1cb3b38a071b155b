package store

// The SMS outbox: mail to an SMS address becomes a row here, in
// the same transaction as the sender's copy; the SMS gateway claims rows
// with a lease, like the relay queue (outbound.go).

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"airlock/migrations"
)

// SMSMessage is one text message waiting for the SMS provider.
type SMSMessage struct {
	ID          int64
	UserID      *int64 // the sender, told of failure; nil once deleted
	Sender      string // the sender's address
	Address     string // the mail address written (+447700900123@sms.example.nhs.uk)
	ToNumber    string // E.164
	Body        string `gorm:"serializer:sealed"` // sealed at rest (keys.go)
	Subject     string `gorm:"serializer:sealed"`
	MessageID   string
	Attempts    int
	NextAttempt time.Time
	LastError   string
	CreatedAt   time.Time
	// ItemID is the SMS item kept in the sender's Sent Items, on which the
	// gateway records the delivery status (sms_items.go); nil for none.
	ItemID *int64
	// Item and ItemRaw, when Item is set, are that SMS item and its
	// message, stored with the row (governIn).
	Item    *Item  `gorm:"-"`
	ItemRaw []byte `gorm:"-"`
}

// TableName maps SMSMessage to its table.
func (SMSMessage) TableName() string { return "sms_outbox" }

// ClaimSMS takes the most overdue message and leases it (next attempt at
// now+lease, attempts + 1). ErrNotFound means nothing is due.
func (s *Store) ClaimSMS(ctx context.Context, now time.Time, lease time.Duration) (*SMSMessage, error) {
	var m SMSMessage
	err := s.tx(ctx, func(tx *gorm.DB) error {
		q := tx.Where("next_attempt <= ?", now.UTC()).Order("next_attempt, id").Limit(1)
		if s.dialect == migrations.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Find(&m).Error; err != nil {
			return wrap(err, "claim sms")
		}
		if m.ID == 0 {
			return fmt.Errorf("claim sms: nothing due: %w", ErrNotFound)
		}
		m.Attempts++
		m.NextAttempt = now.Add(lease).UTC()
		return wrap(tx.Model(&SMSMessage{}).Where("id = ?", m.ID).
			Updates(map[string]any{"attempts": m.Attempts, "next_attempt": m.NextAttempt}).Error, "claim sms")
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// SettleSMS records an attempt: with retryAt nil the message leaves the
// outbox, otherwise it waits until retryAt. notice, when not nil, goes to
// the sender in the same transaction, only if this call settled the row (so
// at most once).
func (s *Store) SettleSMS(ctx context.Context, id int64, retryAt *time.Time, lastErr string, notice *Delivery) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var row SMSMessage
		if err := tx.Select("id", "item_id").Where("id = ?", id).Limit(1).Find(&row).Error; err != nil {
			return wrap(err, "settle sms")
		}
		var res *gorm.DB
		if retryAt == nil {
			res = tx.Delete(&SMSMessage{}, id)
		} else {
			res = tx.Model(&SMSMessage{}).Where("id = ?", id).Updates(map[string]any{"next_attempt": retryAt.UTC(), "last_error": lastErr})
		}
		if res.Error != nil {
			return wrap(res.Error, "settle sms")
		}
		if res.RowsAffected == 0 {
			return nil
		}
		if retryAt == nil && row.ItemID != nil { // the delivery status on the SMS item
			st := SMSSent
			if lastErr != "" {
				st = SMSFailed
			}
			if err := setSMSStatus(tx, *row.ItemID, st, lastErr, s.now()); err != nil {
				return err
			}
		}
		if notice == nil {
			return nil
		}
		return deliverIn(tx, *notice)
	})
}

// NextSMSDue returns when the earliest message is due, or ErrNotFound.
func (s *Store) NextSMSDue(ctx context.Context) (time.Time, error) {
	var m SMSMessage
	if err := s.db.WithContext(ctx).Select("id", "next_attempt").Order("next_attempt").Limit(1).Find(&m).Error; err != nil {
		return time.Time{}, wrap(err, "next sms")
	}
	if m.ID == 0 {
		return time.Time{}, fmt.Errorf("next sms: outbox empty: %w", ErrNotFound)
	}
	return m.NextAttempt, nil
}

// SMSOutbox lists the waiting messages, oldest first.
func (s *Store) SMSOutbox(ctx context.Context) ([]SMSMessage, error) {
	var out []SMSMessage
	err := s.db.WithContext(ctx).Order("id").Find(&out).Error
	return out, wrap(err, "sms outbox")
}
