package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"airlock/migrations"
)

// ErrClientIDUsed is returned by Submit when the user already sent a message
// with the same ClientId (MS-ASCMD 2.2.3.28.1): a device resending after a
// lost response. It wraps ErrConflict.
var ErrClientIDUsed = fmt.Errorf("client id already used: %w", ErrConflict)

// OutboundMail is a message waiting in the queue for the relay.
type OutboundMail struct {
	ID          int64
	UserID      *int64 // the sender, who gets any bounce; nil once deleted
	MailFrom    string
	RcptTo      string // envelope recipients, one per line
	Data        []byte `gorm:"serializer:sealed"` // sealed at rest (keys.go)
	Attempts    int
	NextAttempt time.Time
	LastError   string
	CreatedAt   time.Time
	// DataStartedAt is set (MarkOutboundData) just before the relay worker
	// sends DATA and cleared when the attempt is settled. A claimed message
	// that still has it was interrupted after DATA began: the relay may
	// already have it.
	DataStartedAt *time.Time
}

// TableName maps OutboundMail to its table.
func (OutboundMail) TableName() string { return "outbound_queue" }

// Recipients returns the envelope recipients.
func (m *OutboundMail) Recipients() []string {
	var out []string
	for _, r := range strings.Split(m.RcptTo, "\n") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// Submission is one message a user sends: local copies (the local
// recipients' Inboxes, the sender's Sent Items) sharing one blob, and the
// remote recipients queued for the relay.
type Submission struct {
	UserID int64
	// ClientID, when not empty, is recorded for the user; a second
	// submission with the same id fails with ErrClientIDUsed and stores
	// nothing.
	ClientID string
	// Resend, when not nil, is recorded the same way for a submission
	// without a ClientId (EAS 12.x, resend.go); a repeat within its window
	// fails with ErrResent and stores nothing.
	Resend   *Resend
	Raw      []byte
	Items    []*Item       // local copies; their blob is Raw, stored once
	Outbound *OutboundMail // nil when no recipient is remote
}

// Submit stores a submission in one transaction: the ClientId, every local
// copy and the queue entry, or nothing at all.
func (s *Store) Submit(ctx context.Context, sub Submission) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return s.submitIn(tx, sub) })
}

// submitIn is Submit inside tx; SubmitGoverned (quota.go, health-service rules) adds its
// checks to the same transaction.
func (s *Store) submitIn(tx *gorm.DB, sub Submission) error {
	if sub.ClientID != "" {
		res := tx.Exec("INSERT INTO sent_client_ids (user_id, client_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			sub.UserID, sub.ClientID, s.now())
		if res.Error != nil {
			return wrap(res.Error, "record client id")
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("submit %q: %w", sub.ClientID, ErrClientIDUsed)
		}
	}
	if sub.Resend != nil {
		if err := recordResend(tx, sub.Resend, s.now()); err != nil {
			return err
		}
	}
	if len(sub.Items) > 0 {
		blobID, err := newMailBlob(tx, sub.Raw, sub.Items...) // bodies.go
		if err != nil {
			return err
		}
		for _, it := range sub.Items {
			it.Size = int64(len(sub.Raw))
			if err := addItem(tx, it, nil, blobID); err != nil {
				return err
			}
		}
	}
	if sub.Outbound != nil {
		return enqueue(tx, sub.Outbound, s.now())
	}
	return nil
}

// Enqueue puts a message in the relay queue, due now.
func (s *Store) Enqueue(ctx context.Context, m *OutboundMail) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return enqueue(tx, m, s.now()) })
}

func enqueue(tx *gorm.DB, m *OutboundMail, now time.Time) error {
	if m.RcptTo == "" || len(m.Data) == 0 {
		return fmt.Errorf("enqueue: no recipients or no data")
	}
	m.ID, m.Attempts, m.DataStartedAt = 0, 0, nil
	if m.NextAttempt.IsZero() {
		m.NextAttempt = now
	}
	m.NextAttempt = m.NextAttempt.UTC()
	return wrap(tx.Create(m).Error, "enqueue")
}

// ClaimOutbound takes the most overdue queued message and leases it: its
// next attempt moves to now+lease and its attempt count goes up, so that no
// other worker (on any node) takes it meanwhile, and a worker that dies
// holding it only delays it. ErrNotFound means nothing is due.
func (s *Store) ClaimOutbound(ctx context.Context, now time.Time, lease time.Duration) (*OutboundMail, error) {
	var m OutboundMail
	err := s.tx(ctx, func(tx *gorm.DB) error {
		q := tx.Where("next_attempt <= ?", now.UTC()).Order("next_attempt, id").Limit(1)
		if s.dialect == migrations.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Find(&m).Error; err != nil {
			return wrap(err, "claim outbound")
		}
		if m.ID == 0 {
			return fmt.Errorf("claim outbound: nothing due: %w", ErrNotFound)
		}
		m.Attempts++
		m.NextAttempt = now.Add(lease).UTC()
		return wrap(tx.Model(&OutboundMail{}).Where("id = ?", m.ID).
			Updates(map[string]any{"attempts": m.Attempts, "next_attempt": m.NextAttempt}).Error, "claim outbound")
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// MarkOutboundData records that the relay worker is about to send DATA for
// a message it claimed. It is committed before DATA goes out, so that after
// a crash the next claim can tell "certainly not sent" from "perhaps sent"
// (OutboundMail.DataStartedAt).
func (s *Store) MarkOutboundData(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Model(&OutboundMail{}).Where("id = ?", id).Update("data_started_at", s.now().UTC())
	if res.Error != nil {
		return wrap(res.Error, "mark outbound data")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("mark outbound data: message %d: %w", id, ErrNotFound)
	}
	return nil
}

// NextOutboundDue returns when the earliest queued message is due, or
// ErrNotFound for an empty queue.
func (s *Store) NextOutboundDue(ctx context.Context) (time.Time, error) {
	var m OutboundMail
	err := s.db.WithContext(ctx).Select("id", "next_attempt").Order("next_attempt").Limit(1).Find(&m).Error
	if err != nil {
		return time.Time{}, wrap(err, "next outbound")
	}
	if m.ID == 0 {
		return time.Time{}, fmt.Errorf("next outbound: queue empty: %w", ErrNotFound)
	}
	return m.NextAttempt, nil
}

// Settlement is the outcome of one relay attempt on a queued message.
type Settlement struct {
	ID int64
	// Remaining are the recipients still to try; none removes the message
	// from the queue.
	Remaining   []string
	NextAttempt time.Time
	LastError   string
	// Bounce, when not nil, is delivered (the sender's copy of a delivery
	// status notification) in the same transaction, so the sender hears of
	// a failure exactly once.
	Bounce *Delivery
}

// SettleOutbound records a relay attempt in one transaction: the message
// leaves the queue or waits for its next attempt with fewer recipients, and
// any bounce is delivered. A message another worker settled meanwhile is
// left alone (and no bounce goes out twice).
func (s *Store) SettleOutbound(ctx context.Context, st Settlement) error {
	// wrap: a connection lost at BEGIN or COMMIT is ErrUnavailable too, so
	// the relay knows to try again rather than leave it to the lease.
	return wrap(s.tx(ctx, func(tx *gorm.DB) error {
		var res *gorm.DB
		if len(st.Remaining) == 0 {
			res = tx.Delete(&OutboundMail{}, st.ID)
		} else {
			res = tx.Model(&OutboundMail{}).Where("id = ?", st.ID).Updates(map[string]any{
				"rcpt_to": strings.Join(st.Remaining, "\n"), "next_attempt": st.NextAttempt.UTC(), "last_error": st.LastError,
				"data_started_at": nil, // the attempt's outcome is known: the remaining recipients do not have it
			})
		}
		if res.Error != nil {
			return wrap(res.Error, "settle outbound")
		}
		if res.RowsAffected == 0 || st.Bounce == nil {
			return nil
		}
		blobID, err := newMailBlob(tx, st.Bounce.Raw, st.Bounce.Items...) // bodies.go
		if err != nil {
			return err
		}
		for _, it := range st.Bounce.Items {
			it.Size = int64(len(st.Bounce.Raw))
			if err := addItem(tx, it, nil, blobID); err != nil {
				return err
			}
		}
		return nil
	}), "settle outbound")
}

// OutboundQueue lists the queued messages (without their data), oldest
// first, for the admin view and tests.
func (s *Store) OutboundQueue(ctx context.Context) ([]OutboundMail, error) {
	var out []OutboundMail
	err := s.db.WithContext(ctx).Omit("data").Order("id").Find(&out).Error
	return out, wrap(err, "outbound queue")
}

// PruneClientIDs forgets ClientIds recorded before the given time.
func (s *Store) PruneClientIDs(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Exec("DELETE FROM sent_client_ids WHERE created_at < ?", before.UTC())
	return res.RowsAffected, wrap(res.Error, "prune client ids")
}
