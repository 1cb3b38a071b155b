package activesync

import (
	"net/http"
	"sync"
	"time"

	"airlock/store"
)

// Request admission: what one device or one account may have in flight on
// this node, and how much request body they may hold in memory at once.
//
// A slot is taken after the gate (the account and the device are known)
// and before the body is read, so that refused requests never buffer their
// bodies. It is given back when the request ends, or as soon as it starts
// to wait as push (a held Ping or a Sync with Wait): a device holds one
// such request, which its next Ping or Sync ends (pushState.arrive), so a
// held request never keeps the device's next one out.

// Default admission limits, per node.
const (
	DefaultMaxSmallBody     = 256 << 10
	DefaultMaxPerDevice     = 4
	DefaultMaxPerUser       = 8
	DefaultBodyTimeout      = 30 * time.Second
	DefaultMinBodyRate      = 32 << 10 // bytes per second
	retryAfterBusy          = "30"     // seconds, sent with 503
	defaultUserBodyFactor   = 2        // MaxUserBody = 2 * MaxBody
	maxTrackedAdmissionKeys = 1 << 20  // sanity bound on the maps
)

// admission counts requests and body bytes in flight per device and per
// account.
type admission struct {
	mu        sync.Mutex
	lim       *Limits
	perDevice map[int64]int
	perUser   map[int64]int
	userBytes map[int64]int64
}

func newAdmission(lim *Limits) *admission {
	return &admission{lim: lim, perDevice: map[int64]int{}, perUser: map[int64]int{}, userBytes: map[int64]int64{}}
}

// acquire takes a slot for a request of userID on devicePK that may read
// up to bodyBytes. It returns the function that gives the slot back
// (idempotent), or nil when a limit is reached.
func (a *admission) acquire(userID, devicePK, bodyBytes int64) func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.perDevice[devicePK] >= a.lim.MaxPerDevice || a.perUser[userID] >= a.lim.MaxPerUser ||
		a.userBytes[userID]+bodyBytes > a.lim.MaxUserBody || len(a.perDevice) >= maxTrackedAdmissionKeys {
		return nil
	}
	a.perDevice[devicePK]++
	a.perUser[userID]++
	a.userBytes[userID] += bodyBytes
	var once sync.Once
	return func() { once.Do(func() { a.release(userID, devicePK, bodyBytes) }) }
}

func (a *admission) release(userID, devicePK, bodyBytes int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.perDevice[devicePK]--; a.perDevice[devicePK] <= 0 {
		delete(a.perDevice, devicePK)
	}
	if a.perUser[userID]--; a.perUser[userID] <= 0 {
		delete(a.perUser, userID)
	}
	if a.userBytes[userID] -= bodyBytes; a.userBytes[userID] <= 0 {
		delete(a.userBytes, userID)
	}
}

// errTooManyInFlight refuses a request over the in-flight limits: HTTP 503 with
// Retry-After (MS-ASHTTP 2.2.2.2), and for 14.0+ Status 111
// (ServerErrorRetryLater, MS-ASCMD 2.2.2).
func errTooManyInFlight(reason string) *Error {
	return &Error{HTTP: http.StatusServiceUnavailable, Status: StatusServerErrorRetryLater, Reason: reason, RetryAfter: retryAfterBusy}
}

// bodyLimit is the most body a command may send. Only the commands that
// carry mail and attachments get the large limit, and only for a device
// that is allowed: a device waiting for approval (or refused) sends small
// bodies whatever the command.
func (h *Handler) bodyLimit(req *Request, cmd *Command) int64 {
	if cmd.LargeBody && req.Access.State == store.DeviceAllowed {
		return h.limits.MaxBody
	}
	return h.limits.MaxSmallBody
}

// bodyDeadline is how long a body of n bytes may take to arrive: the base
// timeout plus n at the minimum rate. A client that trickles its body is
// cut off; the deadline covers only the body, never a held request's wait
// (net/http clears the read deadline once the body is read).
func (h *Handler) bodyDeadline(n int64) time.Time {
	d := h.limits.BodyTimeout + time.Duration(n/h.limits.MinBodyRate)*time.Second
	return time.Now().Add(d)
}

// leaveInFlight gives the request's admission slot back early: the
// request is about to wait as push.
func (r *Request) leaveInFlight() {
	if r.release != nil {
		r.release()
	}
}

// RequestsInFlight returns how many admitted requests this node is
// reading or running now, held Pings and Syncs with Wait not counted.
func (h *Handler) RequestsInFlight() int {
	h.inflight.mu.Lock()
	defer h.inflight.mu.Unlock()
	n := 0
	for _, c := range h.inflight.perDevice {
		n += c
	}
	return n
}
