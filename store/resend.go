package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrResent is returned by Submit when the device already sent the same
// message (the same Resend fingerprint) within its window: an EAS 12.x
// device resending after a lost response. Nothing was stored. It wraps
// ErrConflict.
var ErrResent = fmt.Errorf("message already sent from this device: %w", ErrConflict)

// Resend identifies a submission that has no ClientId (EAS 12.x SendMail,
// SmartReply, SmartForward): the device and a fingerprint of what it sent.
// A second submission with the same key before the window ends fails with
// ErrResent; after it, the same key is a new message.
type Resend struct {
	DevicePK    int64
	Fingerprint string
	Window      time.Duration
}

// recordResend claims the key inside the submission's transaction. A row
// whose window has ended is taken over, so an expired key never blocks a
// new message. Two identical requests racing are serialised by the primary
// key: the second waits for the first to commit and then sees its row.
func recordResend(tx *gorm.DB, r *Resend, now time.Time) error {
	if r.Fingerprint == "" || r.Window <= 0 {
		return fmt.Errorf("record resend: empty key or window")
	}
	res := tx.Exec(`INSERT INTO compose_resends (device_pk, fingerprint, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (device_pk, fingerprint) DO UPDATE SET expires_at = excluded.expires_at
		WHERE compose_resends.expires_at <= ?`,
		r.DevicePK, r.Fingerprint, now.Add(r.Window).UTC(), now.UTC())
	if res.Error != nil {
		return wrap(res.Error, "record resend")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("submit from device %d: %w", r.DevicePK, ErrResent)
	}
	return nil
}

// PruneResends forgets resend keys whose window has ended.
func (s *Store) PruneResends(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Exec("DELETE FROM compose_resends WHERE expires_at <= ?", s.now().UTC())
	return res.RowsAffected, wrap(res.Error, "prune resends")
}
