// Package authguard is the one gate every password and second-factor
// check passes through: ActiveSync, the web sign-in, the API token
// endpoint, autodiscover, IMAP and SMTP submission. It resolves the login
// to its account, charges the attempt to the account's and the address's
// counters in the store (shared by all nodes) before verifying, verifies
// within one process-wide bound, and audits failures in summary.
//
// # Implementation notes
//
// Counters are keyed on what the login resolves to, never on the text as
// typed: "acct:<id>" for an account (so "DOMAIN\user", the bare local part,
// any letter case and every alias share one counter), "name:<local part>"
// for a login that names no account (so an attacker inventing aliases of an
// unknown name still meets a limit), and "ip:<address>" (IPv6 by /64) for
// the source. An attempt is reserved, as a failure, in one transaction
// before argon2id runs (store.ReserveAuthAttempt), and given back on
// success; so however many attempts arrive at once, no more than the limit
// are ever verified. A locked key refuses without verifying.
//
// Unknown accounts, the EAS User= mismatch and a real wrong password do
// the same work: the same lookups, one reservation, one verification (the
// dummy hash for an unknown account), through the same bounded Verifier.
//
// Logins longer than MaxLogin bytes (RFC 5321's 320-byte address limit)
// are refused before any lookup, log or audit. Failure rows are summarised:
// one row per source, account, action and outcome per minute, then one row
// with the count (summary.go). Sweep expires old counters.
package authguard

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"airlock/store"
)

// MaxLogin is the longest login accepted: an email address is at most 320
// bytes (RFC 5321 4.5.3.1: 64 for the local part, 255 for the domain).
const MaxLogin = 320

// MaxPassword is the longest password verified; longer ones fail as wrong
// (no password that long can be set, see password.Check).
const MaxPassword = 1024

// Errors a Check returns; anything else wraps store.ErrUnavailable.
var (
	// ErrFailed is every failed sign-in: unknown account, wrong password,
	// User= naming someone else.
	ErrFailed = errors.New("the login or password is not right")
	// ErrLocked is a refusal without verifying: the account or the
	// address has too many recent failures. Unknown names lock too, so
	// it says nothing about whether the account exists.
	ErrLocked = errors.New("too many failed attempts; try again later")
	// ErrLoginTooLong refuses a login over MaxLogin bytes.
	ErrLoginTooLong = errors.New("the login is too long")
)

// Policy bounds password guessing, per account and per client address.
type Policy struct {
	Window       time.Duration // failures are counted within this window
	UserLimit    int           // failures per account before it locks
	AddressLimit int           // failures per client address before it locks
	Lockout      time.Duration // how long a lock lasts
	// Delay is slept before answering a failure, slowing a guesser on one
	// connection without costing the server a goroutine for long.
	Delay time.Duration
}

// DefaultPolicy locks an account for 15 minutes after 10 failures in 15
// minutes, and an address after 50 (NCSC: throttle or lock after a small
// number of failed attempts, rather than impose complex passwords).
var DefaultPolicy = Policy{Window: 15 * time.Minute, UserLimit: 10, AddressLimit: 50, Lockout: 15 * time.Minute, Delay: 500 * time.Millisecond}

// Guard checks credentials. One Guard serves every entry point of a node;
// the zero value is not usable: set Store and call Init, or use New.
type Guard struct {
	Store    *store.Store
	Policy   Policy
	Verifier *Verifier // nil: the process's Shared verifier
	Log      *slog.Logger

	sum     *summariser
	lookups atomic.Int64 // accounts looked up (tests: equal work on every path)
}

// New returns a guard with the default policy and the shared verifier.
func New(st *store.Store, log *slog.Logger) *Guard {
	g := &Guard{Store: st, Log: log}
	g.Init()
	return g
}

// Init fills in defaults; call it after setting fields, before use.
func (g *Guard) Init() {
	if g.Policy == (Policy{}) {
		g.Policy = DefaultPolicy
	}
	if g.Verifier == nil {
		g.Verifier = Shared()
	}
	if g.Log == nil {
		g.Log = slog.New(slog.DiscardHandler)
	}
	g.sum = &summariser{period: time.Minute, max: 10000, now: time.Now, write: g.writeAudit, open: map[summaryKey]*summaryEntry{}}
}

// Request is one sign-in attempt.
type Request struct {
	// Action is the audit action of a failure ("auth" for EAS,
	// "auth.web_login", "auth.imap", ...).
	Action   string
	Login    string
	Password string
	IP       string
	// Mailbox, when set, is a second name the client gave for the account
	// (EAS User=): it must name the same account. It is looked up whether
	// or not the login exists, so both paths cost the same.
	Mailbox string
	// Trusted, when set, reports that these credentials were verified
	// recently for u on this device: they pass without the lock or a new
	// verification, so a guesser cannot cut off phones that already work.
	Trusted func(u *store.User) bool
}

// Check verifies a login and password from ip, audited as action.
func (g *Guard) Check(ctx context.Context, action, login, pw, ip string) (*store.User, error) {
	return g.Do(ctx, Request{Action: action, Login: login, Password: pw, IP: ip})
}

// Do verifies r. It returns the account (possibly disabled: the caller
// decides) or one of ErrFailed, ErrLocked, ErrLoginTooLong, ErrBusy, or a
// store error.
func (g *Guard) Do(ctx context.Context, r Request) (*store.User, error) {
	if len(r.Login) > MaxLogin {
		g.refuseLong(ctx, r)
		return nil, ErrLoginTooLong
	}
	u, err := g.lookup(ctx, r.Login)
	if errors.Is(err, store.ErrNotFound) {
		u = nil
	} else if err != nil {
		return nil, err
	}
	mismatch, err := g.mailboxMismatch(ctx, u, r.Mailbox)
	if err != nil {
		return nil, err
	}
	if u != nil && !mismatch && r.Trusted != nil && r.Trusted(u) {
		return u, nil
	}
	acct := accountKey(u, r.Login)
	res, err := g.reserve(ctx, r.Action, acct, u, r.Login, r.IP)
	if err != nil {
		return nil, err
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	pw := r.Password
	if len(pw) > MaxPassword {
		pw, mismatch = "", true // cannot be right; verify anyway for the same cost
	}
	verr := g.Verifier.Verify(ctx, pw, hash)
	if errors.Is(verr, ErrBusy) || errors.Is(verr, context.Canceled) || errors.Is(verr, context.DeadlineExceeded) {
		// Nothing was verified: the charge goes back.
		g.Store.ReleaseAuthAttempt(context.WithoutCancel(ctx), res)
		return nil, verr
	}
	why := ""
	switch {
	case u == nil:
		why = "unknown user"
	case mismatch:
		why = "User parameter names another account"
	case verr != nil:
		why = "wrong password"
	}
	if why == "" {
		return u, g.Store.ReleaseAuthAttempt(ctx, res, acct)
	}
	return nil, g.fail(ctx, r.Action, u, r.Login, r.IP, res, why)
}

// CheckCode guards a second-factor code for u: the same reservation and
// lock, on a counter of its own ("totp:<id>", cleared only by a right
// code, so a password sign-in cannot reset it) and on the address; an
// account locked for passwords is refused too.
func (g *Guard) CheckCode(ctx context.Context, action string, u *store.User, ip string, check func() (bool, error)) error {
	until, err := g.Store.AuthLockedUntil(ctx, accountKey(u, ""))
	if err != nil {
		return err
	}
	if until != nil {
		g.audit(ctx, action, u, "", ip, "locked", "account locked")
		return ErrLocked
	}
	key := "totp:" + strconv.FormatInt(u.ID, 10)
	res, err := g.reserve(ctx, action, key, u, "", ip)
	if err != nil {
		return err
	}
	ok, err := check()
	if err != nil {
		g.Store.ReleaseAuthAttempt(context.WithoutCancel(ctx), res)
		return err
	}
	if ok {
		return g.Store.ReleaseAuthAttempt(ctx, res, key)
	}
	return g.fail(ctx, action, u, "", ip, res, "wrong code")
}

// reserve charges one attempt to the account key and the address, or
// returns ErrLocked without charging anything.
func (g *Guard) reserve(ctx context.Context, action, acct string, u *store.User, login, ip string) (*store.AuthReservation, error) {
	p := g.Policy
	limits := []store.AuthLimit{{Key: acct, Limit: p.UserLimit}, {Key: addressKey(ip), Limit: p.AddressLimit}}
	res, until, err := g.Store.ReserveAuthAttempt(ctx, limits, p.Window, p.Lockout)
	if err != nil {
		return nil, err
	}
	if until != nil {
		g.audit(ctx, action, u, login, ip, "locked", "locked until "+until.UTC().Format(time.RFC3339))
		return nil, ErrLocked
	}
	return res, nil
}

// fail audits a failed attempt (its charge stays) and slows the answer.
func (g *Guard) fail(ctx context.Context, action string, u *store.User, login, ip string, res *store.AuthReservation, why string) error {
	if len(res.Locking) > 0 {
		// A lock beginning is always its own row: there is at most one
		// per key and lockout period.
		g.writeAudit(ctx, g.event(action, u, login, ip, "lockout", why+"; locked: "+strings.Join(res.Locking, ", ")))
	} else {
		g.audit(ctx, action, u, login, ip, "failure", why)
	}
	if d := g.Policy.Delay; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return ErrFailed
}

// refuseLong audits an over-long login by its length only, as one
// summarised kind per address whatever the lengths.
func (g *Guard) refuseLong(ctx context.Context, r Request) {
	g.audit(ctx, r.Action, nil, "(login too long)", r.IP, "failure", "login of "+strconv.Itoa(len(r.Login))+" bytes")
}

// audit records a failure or refusal through the summariser: per address
// and account, except refusals while locked, which are per address alone
// (a locked address trying a new name each time is still one row a
// minute).
func (g *Guard) audit(ctx context.Context, action string, u *store.User, login, ip, outcome, detail string) {
	e := g.event(action, u, login, ip, outcome, detail)
	account := e.Target
	if outcome == "locked" {
		account = ""
	}
	g.sum.add(ctx, e, account)
}

func (g *Guard) event(action string, u *store.User, login, ip, outcome, detail string) *store.AuditEvent {
	e := &store.AuditEvent{Actor: displayLogin(login), ActorIP: ip, Action: action, TargetType: "user", Outcome: outcome, Detail: detail}
	if u != nil {
		e.Actor, e.UserID = u.Email, &u.ID
	}
	e.Target = e.Actor
	return e
}

func (g *Guard) writeAudit(ctx context.Context, e *store.AuditEvent) {
	if err := g.Store.Audit(context.WithoutCancel(ctx), e); err != nil {
		g.Log.Error("audit", "action", e.Action, "err", err)
	}
}

// Sweep writes the audit summaries whose minute has ended and deletes
// counters older than the window and lockout; the server runs it every
// minute.
func (g *Guard) Sweep(ctx context.Context) error {
	g.sum.flush(ctx, false)
	_, err := g.Store.ExpireAuthFailures(ctx, time.Now().Add(-g.Policy.Window-g.Policy.Lockout))
	return err
}

// Flush writes every pending audit summary (at shutdown).
func (g *Guard) Flush(ctx context.Context) { g.sum.flush(ctx, true) }

func (g *Guard) lookup(ctx context.Context, login string) (*store.User, error) {
	g.lookups.Add(1)
	return g.Store.UserByLogin(ctx, login)
}

// mailboxMismatch looks up the User= name (always, when given) and reports
// whether it names an account other than u.
func (g *Guard) mailboxMismatch(ctx context.Context, u *store.User, mailbox string) (bool, error) {
	if mailbox == "" {
		return false, nil
	}
	if len(mailbox) > MaxLogin {
		return true, nil
	}
	other, err := g.lookup(ctx, mailbox)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	return other == nil || u == nil || other.ID != u.ID, nil
}

// accountKey is the counter of an account, or of the name an unknown
// login gives: lower case, without "DOMAIN\" or "@domain", so that the
// forms of one name share a counter.
func accountKey(u *store.User, login string) string {
	if u != nil {
		return "acct:" + strconv.FormatInt(u.ID, 10)
	}
	return "name:" + NormaliseName(login)
}

// NormaliseName reduces a login to its lower-case local part.
func NormaliseName(login string) string {
	login = strings.ToLower(strings.TrimSpace(login))
	if i := strings.LastIndexByte(login, '\\'); i >= 0 {
		login = login[i+1:]
	}
	if i := strings.LastIndexByte(login, '@'); i >= 0 {
		login = login[:i]
	}
	return login
}

// addressKey is the counter of a client address. An IPv6 client is counted
// by its /64, the smallest block a network hands one customer: otherwise
// one host could take a fresh address per guess.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}

// displayLogin is a login as audited: within MaxLogin (already checked)
// and without control characters that would break a log line.
func displayLogin(login string) string {
	login = strings.TrimSpace(login)
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, login)
}
