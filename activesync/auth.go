package activesync

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"airlock/internal/password"
	"airlock/store"
)

// Authenticator decides who is making a request. The Basic implementation
// checks the store's passwords; an OAuth2 bearer-token one can sit beside it
// behind the same interface.
type Authenticator interface {
	// Authenticate returns the user, or a *Error with HTTP 401 for bad or
	// missing credentials. For a disabled account it returns the user and
	// an error wrapping ErrAccountDisabled, so that the gate can still let a
	// pending remote wipe through.
	Authenticate(ctx context.Context, r *http.Request, q Query) (*store.User, error)
}

// ErrAccountDisabled marks a correct login to a disabled account.
var ErrAccountDisabled = errors.New("account disabled")

// LockoutPolicy bounds password guessing, per account and per client
// address. The counters live in the store so that every node enforces them.
type LockoutPolicy struct {
	Window       time.Duration // failures are counted within this window
	UserLimit    int           // failures per account before it locks
	AddressLimit int           // failures per client address before it locks
	Lockout      time.Duration // how long a lock lasts
	// Delay is slept before answering a failure, slowing a guesser on one
	// connection without costing the server a goroutine for long.
	Delay time.Duration
}

// DefaultLockout locks an account for 15 minutes after 10 failures in 15
// minutes, and an address after 50.
var DefaultLockout = LockoutPolicy{Window: 15 * time.Minute, UserLimit: 10, AddressLimit: 50, Lockout: 15 * time.Minute, Delay: 500 * time.Millisecond}

// Auditor records security events; devices.Service implements it.
type Auditor interface {
	AuditAuth(ctx context.Context, login, ip, outcome, detail string)
}

// BasicAuth authenticates HTTP Basic credentials against the store.
type BasicAuth struct {
	Store   *store.Store
	Lockout LockoutPolicy
	Audit   Auditor
	// CacheTTL is how long a verified password is trusted without running
	// argon2id again. EAS clients send credentials on every request (every
	// Ping), so without the cache each would cost ~20 ms of CPU.
	CacheTTL time.Duration

	// MaxVerifying bounds how many argon2id verifications run at once
	// (each takes 19 MiB); others wait up to VerifyWait, then get "retry
	// later". Without a bound, every device failing over to a node at once
	// verifies at once and the node runs out of memory. Default 2 per CPU.
	MaxVerifying int
	VerifyWait   time.Duration

	once      sync.Once
	verifying chan struct{}
	secret    []byte
	mu        sync.Mutex
	cache     map[string]cacheEntry
}

type cacheEntry struct {
	userID  int64
	hash    string // the stored hash it was verified against
	expires time.Time
}

func (a *BasicAuth) init() {
	a.once.Do(func() {
		a.secret = make([]byte, 32)
		rand.Read(a.secret)
		a.cache = map[string]cacheEntry{}
		if a.CacheTTL == 0 {
			a.CacheTTL = 10 * time.Minute
		}
		if a.Lockout == (LockoutPolicy{}) {
			a.Lockout = DefaultLockout
		}
		if a.MaxVerifying <= 0 {
			a.MaxVerifying = 2 * runtime.NumCPU()
		}
		if a.VerifyWait <= 0 {
			a.VerifyWait = 10 * time.Second
		}
		a.verifying = make(chan struct{}, a.MaxVerifying)
	})
}

func unauthorized(reason string) *Error {
	return httpError(http.StatusUnauthorized, "authentication required", errors.New(reason))
}

// Authenticate implements Authenticator.
func (a *BasicAuth) Authenticate(ctx context.Context, r *http.Request, q Query) (*store.User, error) {
	a.init()
	login, pw, ok := r.BasicAuth()
	if !ok || login == "" {
		return nil, unauthorized("no credentials")
	}
	ip := clientIP(r)
	userKey := "user:" + strings.ToLower(login)
	ipKey := "ip:" + ip
	user, err := a.Store.UserByLogin(ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, errRetryLater(err)
	}
	if user != nil && q.User != "" {
		// A User= parameter naming someone else is refused: credentials
		// are one user's, and never reach another mailbox.
		other, err := a.Store.UserByLogin(ctx, q.User)
		if err != nil || other.ID != user.ID {
			return nil, a.fail(ctx, login, ip, userKey, ipKey, "User parameter names another account")
		}
	}
	// Credentials verified recently on this same device skip the lockout:
	// a guesser who locked the account cannot cut off the owner's phones
	// that already work, while any other device must pass the lock.
	if user == nil || !a.cached(login, pw, q.DeviceID, user) {
		for _, key := range []string{userKey, ipKey} {
			until, err := a.Store.AuthLockedUntil(ctx, key)
			if err != nil {
				return nil, errRetryLater(err)
			}
			if until != nil {
				a.audit(ctx, login, ip, "locked", key)
				return nil, unauthorized("locked out until " + until.Format(time.RFC3339))
			}
		}
		if user == nil {
			password.VerifyDummy(pw) // same cost as a wrong password: no enumeration
			return nil, a.fail(ctx, login, ip, userKey, ipKey, "unknown user")
		}
		if err := a.verify(ctx, pw, user.PasswordHash); errors.Is(err, errBusy) {
			return nil, errRetryLater(err)
		} else if err != nil {
			return nil, a.fail(ctx, login, ip, userKey, ipKey, "wrong password")
		}
		a.remember(login, pw, q.DeviceID, user)
		a.Store.ClearAuthFailures(ctx, userKey)
	}
	if user.Disabled {
		a.audit(ctx, user.Email, ip, "disabled", "correct password for a disabled account")
		return user, statusError(StatusAccountDisabled, http.StatusForbidden, "account disabled", ErrAccountDisabled)
	}
	return user, nil
}

var errBusy = errors.New("too many password verifications at once")

// verify runs one argon2id verification within the concurrency bound.
func (a *BasicAuth) verify(ctx context.Context, pw, hash string) error {
	t := time.NewTimer(a.VerifyWait)
	defer t.Stop()
	select {
	case a.verifying <- struct{}{}:
	case <-t.C:
		return errBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.verifying }()
	return password.Verify(pw, hash)
}

func (a *BasicAuth) fail(ctx context.Context, login, ip, userKey, ipKey, why string) error {
	_, userLock, err1 := a.Store.RecordAuthFailure(ctx, userKey, a.Lockout.Window, a.Lockout.UserLimit, a.Lockout.Lockout)
	_, ipLock, err2 := a.Store.RecordAuthFailure(ctx, ipKey, a.Lockout.Window, a.Lockout.AddressLimit, a.Lockout.Lockout)
	if err := errors.Join(err1, err2); err != nil {
		return errRetryLater(err)
	}
	outcome := "failure"
	if userLock != nil || ipLock != nil {
		outcome = "lockout"
	}
	a.audit(ctx, login, ip, outcome, why)
	if a.Lockout.Delay > 0 {
		select {
		case <-time.After(a.Lockout.Delay):
		case <-ctx.Done():
		}
	}
	return unauthorized(why)
}

func (a *BasicAuth) audit(ctx context.Context, login, ip, outcome, detail string) {
	if a.Audit != nil {
		a.Audit.AuditAuth(ctx, login, ip, outcome, detail)
	}
}

// cacheKey is an HMAC of the credentials under a per-process secret, so the
// cache never holds a password or anything that could be brute-forced
// offline from a memory dump without the secret.
func (a *BasicAuth) cacheKey(login, pw, deviceID string) string {
	m := hmac.New(sha256.New, a.secret)
	fmt.Fprintf(m, "%d:%s:%d:%s:%s", len(login), strings.ToLower(login), len(deviceID), deviceID, pw)
	return string(m.Sum(nil))
}

func (a *BasicAuth) cached(login, pw, deviceID string, u *store.User) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.cache[a.cacheKey(login, pw, deviceID)]
	// A password change (a new stored hash) invalidates the entry at once.
	return ok && e.userID == u.ID && e.hash == u.PasswordHash && time.Now().Before(e.expires)
}

func (a *BasicAuth) remember(login, pw, deviceID string, u *store.User) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) > 100000 {
		now := time.Now()
		for k, e := range a.cache {
			if now.After(e.expires) {
				delete(a.cache, k)
			}
		}
	}
	a.cache[a.cacheKey(login, pw, deviceID)] = cacheEntry{userID: u.ID, hash: u.PasswordHash, expires: time.Now().Add(a.CacheTTL)}
}
