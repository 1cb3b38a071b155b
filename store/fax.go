package store

// The fax outbox: mail to a fax address (+442079460018@fax.example.nhs.uk)
// becomes a row here, in the same transaction as the sender's copy; the fax
// gateway (package fax) claims rows with a lease, like the SMS outbox
// (sms.go) and the relay queue (outbound.go). The delivery status of each
// number is kept on the sender's Sent Items copy, in its Props (FaxProps).

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"airlock/migrations"
)

// FaxMessage is one fax waiting for the fax provider.
type FaxMessage struct {
	ID        int64
	UserID    *int64 // the sender, told of the outcome; nil once deleted
	Sender    string // the sender's address (the bounce goes to it)
	Address   string // the mail address written
	ToNumber  string // E.164
	Data      []byte `gorm:"serializer:sealed"` // the whole message; sealed at rest
	Subject   string `gorm:"serializer:sealed"`
	MessageID string
	Attempts  int
	// NextAttempt is when the row is due; while a worker holds it, the end
	// of its lease.
	NextAttempt time.Time
	// StartedAt is set (MarkFaxStarted) just before the provider is
	// called and cleared when the attempt is settled: a claimed row that
	// still has it was interrupted mid-call, and the provider may have it.
	StartedAt *time.Time
	LastError string
	CreatedAt time.Time
	// ItemID is the sender's Sent Items copy, which carries the status;
	// nil for a submission without one (SMTP submission).
	ItemID *int64
	// SentItem, when set on a row given to SubmitGoverned, is that copy
	// (stored in the same transaction; its id is known only then).
	SentItem *Item `gorm:"-"`
}

// TableName maps FaxMessage to its table.
func (FaxMessage) TableName() string { return "fax_outbox" }

// Delivery states of one fax (FaxStatus.Status).
const (
	FaxQueued = "queued" // waiting for the provider
	FaxSent   = "sent"   // the provider took it
	FaxFailed = "failed" // refused, or given up; Detail says why
)

// FaxStatus is where the fax to one number stands.
type FaxStatus struct {
	To     string     `json:"to"` // E.164
	Status string     `json:"status"`
	Detail string     `json:"detail,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

// FaxProps are the fax fields of a sent mail item, as JSON in its Props:
// one status per fax number it was sent to.
type FaxProps struct {
	Fax []FaxStatus `json:"fax,omitempty"`
}

// FaxPropsOf reads a mail item's fax statuses (none for other items).
func FaxPropsOf(it *Item) FaxProps {
	var p FaxProps
	if it.Class == ClassEmail && it.Props != "" {
		json.Unmarshal([]byte(it.Props), &p)
	}
	return p
}

// Overall is the status of the whole item: failed if any number failed,
// queued while any waits, sent when all went; empty with none.
func (p FaxProps) Overall() string {
	out := ""
	for _, f := range p.Fax {
		switch {
		case f.Status == FaxFailed:
			return FaxFailed
		case f.Status == FaxQueued:
			out = FaxQueued
		case out == "":
			out = f.Status
		}
	}
	return out
}

// queueFax stores m inside tx (SubmitGoverned): its Sent Items copy gets
// the status "queued" for the number.
func queueFax(tx *gorm.DB, m *FaxMessage, now time.Time) error {
	m.ID, m.Attempts, m.StartedAt = 0, 0, nil
	if m.NextAttempt.IsZero() {
		m.NextAttempt = now
	}
	m.NextAttempt = m.NextAttempt.UTC()
	if m.SentItem != nil && m.SentItem.ID != 0 {
		m.ItemID = &m.SentItem.ID
	}
	if err := tx.Create(m).Error; err != nil {
		return wrap(err, "queue fax")
	}
	if m.ItemID == nil {
		return nil
	}
	return setFaxStatus(tx, *m.ItemID, m.ToNumber, FaxQueued, "", now)
}

// ClaimFax takes the most overdue fax and leases it (next attempt at
// now+lease, attempts + 1). ErrNotFound means nothing is due.
func (s *Store) ClaimFax(ctx context.Context, now time.Time, lease time.Duration) (*FaxMessage, error) {
	var m FaxMessage
	err := s.tx(ctx, func(tx *gorm.DB) error {
		q := tx.Where("next_attempt <= ?", now.UTC()).Order("next_attempt, id").Limit(1)
		if s.dialect == migrations.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Find(&m).Error; err != nil {
			return wrap(err, "claim fax")
		}
		if m.ID == 0 {
			return fmt.Errorf("claim fax: nothing due: %w", ErrNotFound)
		}
		m.Attempts++
		m.NextAttempt = now.Add(lease).UTC()
		return wrap(tx.Model(&FaxMessage{}).Where("id = ?", m.ID).
			Updates(map[string]any{"attempts": m.Attempts, "next_attempt": m.NextAttempt}).Error, "claim fax")
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// MarkFaxStarted records, and commits, that the provider is about to be
// called for a claimed fax (FaxMessage.StartedAt).
func (s *Store) MarkFaxStarted(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Model(&FaxMessage{}).Where("id = ?", id).Update("started_at", s.now().UTC())
	if res.Error != nil {
		return wrap(res.Error, "mark fax started")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("mark fax started: fax %d: %w", id, ErrNotFound)
	}
	return nil
}

// SettleFax records an attempt: with retryAt nil the fax leaves the outbox
// (sent when lastErr is empty, failed otherwise) and its Sent Items copy
// gets the status; otherwise it waits until retryAt. report, when not nil,
// goes to the sender in the same transaction, only if this call settled
// the row (so at most once).
func (s *Store) SettleFax(ctx context.Context, id int64, retryAt *time.Time, lastErr string, report *Delivery) error {
	return wrap(s.tx(ctx, func(tx *gorm.DB) error {
		var row FaxMessage
		if err := tx.Select("id", "item_id", "to_number").Where("id = ?", id).Limit(1).Find(&row).Error; err != nil {
			return wrap(err, "settle fax")
		}
		var res *gorm.DB
		if retryAt == nil {
			res = tx.Delete(&FaxMessage{}, id)
		} else {
			res = tx.Model(&FaxMessage{}).Where("id = ?", id).
				Updates(map[string]any{"next_attempt": retryAt.UTC(), "last_error": lastErr, "started_at": nil})
		}
		if res.Error != nil {
			return wrap(res.Error, "settle fax")
		}
		if res.RowsAffected == 0 {
			return nil
		}
		if retryAt == nil && row.ItemID != nil {
			st := FaxSent
			if lastErr != "" {
				st = FaxFailed
			}
			if err := setFaxStatus(tx, *row.ItemID, row.ToNumber, st, lastErr, s.now()); err != nil {
				return err
			}
		}
		if report == nil {
			return nil
		}
		return deliverIn(tx, *report)
	}), "settle fax")
}

// setFaxStatus records the status of one number on a sent item inside tx
// and gives the item a new change counter, so the sender's devices and
// open pages see the change. An item deleted meanwhile is left alone.
func setFaxStatus(tx *gorm.DB, itemID int64, number, status, detail string, at time.Time) error {
	var it Item
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ? AND deleted = ?", itemID, false).Limit(1).Find(&it).Error
	if err != nil {
		return wrap(err, "fax status")
	}
	if it.ID == 0 || it.Class != ClassEmail {
		return nil
	}
	at = at.UTC()
	p := FaxPropsOf(&it)
	st := FaxStatus{To: number, Status: status, Detail: detail, At: &at}
	if i := slices.IndexFunc(p.Fax, func(f FaxStatus) bool { return f.To == number }); i >= 0 {
		p.Fax[i] = st
	} else {
		p.Fax = append(p.Fax, st)
	}
	props, err := json.Marshal(p)
	if err != nil {
		return err
	}
	m, err := bumpFolder(tx, it.UserID, it.FolderID, 1)
	if err != nil {
		return err
	}
	return wrap(tx.Model(&Item{}).Where("id = ?", it.ID).
		Updates(map[string]any{"props": string(props), "modseq": m, "updated_at": at}).Error, "fax status")
}

// NextFaxDue returns when the earliest fax is due, or ErrNotFound.
func (s *Store) NextFaxDue(ctx context.Context) (time.Time, error) {
	var m FaxMessage
	if err := s.db.WithContext(ctx).Select("id", "next_attempt").Order("next_attempt").Limit(1).Find(&m).Error; err != nil {
		return time.Time{}, wrap(err, "next fax")
	}
	if m.ID == 0 {
		return time.Time{}, fmt.Errorf("next fax: outbox empty: %w", ErrNotFound)
	}
	return m.NextAttempt, nil
}

// FaxOutbox lists the waiting faxes (without their data), oldest first.
func (s *Store) FaxOutbox(ctx context.Context) ([]FaxMessage, error) {
	var out []FaxMessage
	err := s.db.WithContext(ctx).Omit("data").Order("id").Find(&out).Error
	return out, wrap(err, "fax outbox")
}

// NewestItems returns the newest live items of a folder, newest first (the
// staff web's lists of recent texts and faxes, which read their status
// from Props).
func (s *Store) NewestItems(ctx context.Context, userID, folderID int64, limit int) ([]Item, error) {
	var out []Item
	err := s.db.WithContext(ctx).Where("user_id = ? AND folder_id = ? AND deleted = ?", userID, folderID, false).
		Order("id DESC").Limit(limit).Find(&out).Error
	return out, wrap(err, "newest items")
}
