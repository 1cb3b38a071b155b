package activesync

import (
	"context"
	"time"
)

// Supersession of Syncs held as push (MS-ASCMD 3.1.5.4: Sync with Wait or
// HeartbeatInterval).
//
// A device has one long-held request outstanding. A held Sync takes the
// device's slot in pushState exactly as a held Ping does (pushState.hold),
// so the same mechanism ends it: a newer Ping or Sync of the device on this
// node (pushState.arrive), or on another node over PostgreSQL
// (ping_crossnode.go), or the server's shutdown (EndHeldRequests). The
// device's other commands, and another device of the user, end nothing.
//
// The ended Sync is answered as if its interval had run out, which is what
// Exchange does for a Sync whose wait is cut short: the empty Sync response
// (MS-ASCMD 2.2.1.21.2, 12.1+), or for 12.0 the collections with Status 1
// and the keys the device sent. Nothing is computed or committed after the
// supersession: the last pass before the wait found nothing to send and
// wrote nothing, so the device's keys stay the newest ones and a device that
// never reads the answer loses nothing. A change that wakes the Sync at the
// same moment as the newer request may still be committed and sent; that is
// the ordinary lost-response case, which the previous key's replay covers.

// syncHold is the device's slot taken by a Sync waiting for changes.
type syncHold struct {
	p        *pushState
	devicePK int64
	hp       *heldPing // nil: a newer request had already arrived
}

// holdSync takes the device's slot for a Sync about to wait.
func (h *Handler) holdSync(r *Request) *syncHold {
	r.leaveInFlight() // a held Sync does not count (inflight.go)
	return &syncHold{p: h.push, devicePK: r.Device.ID, hp: h.push.hold(r.Device.ID, r.arrival)}
}

// release gives the slot back (idempotent; nil-safe).
func (s *syncHold) release() {
	if s != nil && s.hp != nil {
		s.p.release(s.devicePK, s.hp)
	}
}

// waitSync blocks until one of the Sync's collections changes (changed), d
// passes or the device goes away (neither), or the Sync is superseded by a
// newer request of the device or the server shuts down (ended). Without a
// notifier changes is nil and only time or supersession ends the wait.
func waitSync(ctx context.Context, changes <-chan int64, d time.Duration, s *syncHold) (changed, ended bool) {
	if s.hp == nil {
		return false, true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case _, ok := <-changes:
		return ok, false
	case <-s.hp.done:
		return false, true
	case <-s.p.stop:
		return false, true
	case <-t.C:
		return false, false
	case <-ctx.Done():
		return false, false
	}
}

// HeldRequests returns how many requests this handler holds now for a
// device's slot: Pings and Syncs with Wait or HeartbeatInterval.
func (h *Handler) HeldRequests() int {
	h.push.mu.Lock()
	defer h.push.mu.Unlock()
	return len(h.push.held)
}
