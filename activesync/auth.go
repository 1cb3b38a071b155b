package activesync

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"airlock/internal/authguard"
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
// address; the counters live in the store so that every node, and every
// entry point (web, IMAP, SMTP), enforces the same ones.
type LockoutPolicy = authguard.Policy

// DefaultLockout locks an account for 15 minutes after 10 failures in 15
// minutes, and an address after 50.
var DefaultLockout = authguard.DefaultPolicy

// Auditor records security events; devices.Service implements it.
type Auditor interface {
	AuditAuth(ctx context.Context, login, ip, outcome, detail string)
}

// BasicAuth authenticates HTTP Basic credentials against the store,
// through the node's authguard.Guard.
type BasicAuth struct {
	Store *store.Store
	// Guard checks the password (lockout, bounded verification, audit).
	// Nil: one is made from Store, Lockout, MaxVerifying and VerifyWait.
	Guard   *authguard.Guard
	Lockout LockoutPolicy
	Audit   Auditor
	// CacheTTL is how long a verified password is trusted without running
	// argon2id again. EAS clients send credentials on every request (every
	// Ping), so without the cache each would cost ~20 ms of CPU.
	CacheTTL time.Duration

	// MaxVerifying and VerifyWait, when set, give this authenticator's
	// Guard a verifier of its own (tests); otherwise it shares the
	// process's (authguard.Shared), the one bound on argon2id memory.
	MaxVerifying int
	VerifyWait   time.Duration

	once   sync.Once
	secret []byte
	mu     sync.Mutex
	cache  map[string]cacheEntry
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
		if a.Guard == nil {
			a.Guard = &authguard.Guard{Store: a.Store, Policy: a.Lockout}
			if a.MaxVerifying > 0 || a.VerifyWait > 0 {
				n, wait := a.MaxVerifying, a.VerifyWait
				if n <= 0 {
					n = authguard.DefaultSlots()
				}
				if wait <= 0 {
					wait = 10 * time.Second
				}
				a.Guard.Verifier = authguard.NewVerifier(n, wait)
			}
			a.Guard.Init()
		}
		a.Lockout = a.Guard.Policy
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
	trusted := false
	user, err := a.Guard.Do(ctx, authguard.Request{
		Action: "auth", Login: login, Password: pw, IP: ip,
		// A User= parameter naming someone else is refused: credentials
		// are one user's, and never reach another mailbox.
		Mailbox: q.User,
		// Credentials verified recently on this same device skip the
		// lockout: a guesser who locked the account cannot cut off the
		// owner's phones that already work, while any other device must
		// pass the lock.
		Trusted: func(u *store.User) bool {
			trusted = a.cached(login, pw, q.DeviceID, u)
			return trusted
		},
	})
	switch {
	case errors.Is(err, authguard.ErrLoginTooLong):
		return nil, httpError(http.StatusBadRequest, "login too long", err)
	case errors.Is(err, authguard.ErrFailed), errors.Is(err, authguard.ErrLocked):
		return nil, unauthorized(err.Error())
	case err != nil:
		return nil, errRetryLater(err)
	}
	if !trusted {
		a.remember(login, pw, q.DeviceID, user)
	}
	if user.Disabled {
		a.audit(ctx, user.Email, ip, "disabled", "correct password for a disabled account")
		return user, statusError(StatusAccountDisabled, http.StatusForbidden, "account disabled", ErrAccountDisabled)
	}
	return user, nil
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
