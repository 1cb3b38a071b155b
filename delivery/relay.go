package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"airlock/store"
)

// RelayConfig configures the outbound relay (the smarthost).
type RelayConfig struct {
	// Addr is the smarthost's host:port; empty means no relay (remote
	// recipients are refused at submission, see Service.RemoteAllowed).
	Addr string
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN, only ever over TLS unless StartTLS is explicitly disabled.
	Username, Password string
	// DisableStartTLS allows a relay without STARTTLS (tests, a relay on
	// the same host). By default STARTTLS is required and a relay that
	// does not offer it gets nothing.
	DisableStartTLS bool
	// TLSConfig verifies the relay; nil uses the system roots and the
	// host name from Addr.
	TLSConfig *tls.Config
	// Hostname is sent in EHLO and used in bounces.
	Hostname string
	// MaxAttempts before a temporary failure becomes permanent (and
	// bounces); default 12 (with the default backoff, about a day and a
	// half).
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait after a temporary failure:
	// MinBackoff doubled each attempt, at most MaxBackoff. Defaults 1 min
	// and 4 h.
	MinBackoff, MaxBackoff time.Duration
	// Lease is how long a claimed message is hidden from other workers;
	// default 10 min. It must exceed one delivery attempt.
	Lease time.Duration
	// PollInterval is how often the queue is looked at without a Kick (to
	// pick up work queued on other nodes); default 30 s.
	PollInterval time.Duration
	// Timeout bounds one SMTP command; default 2 min.
	Timeout time.Duration
	// ClientIDRetention is how long SendMail ClientIds are remembered;
	// default 7 days. The worker prunes older ones hourly.
	ClientIDRetention time.Duration
}

func (c *RelayConfig) defaults() {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 12
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Minute
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(4*time.Hour, c.MinBackoff)
	}
	if c.Lease <= 0 {
		c.Lease = 10 * time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.ClientIDRetention <= 0 {
		c.ClientIDRetention = 7 * 24 * time.Hour
	}
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
}

// Relay drains the outbound queue into the smarthost. Run it on every node;
// the queue's leases keep the workers from sending a message twice.
type Relay struct {
	cfg  RelayConfig
	st   *store.Store
	log  *slog.Logger
	kick chan struct{}
	now  func() time.Time

	// Counters for metrics and tests. InDoubt counts attempts on a message
	// whose previous attempt was interrupted after DATA began (a crash): the
	// relay may already have had it, so this one may be a duplicate.
	Sent, Deferred, Bounced, PanicsRecovered, InDoubt atomic.Int64
}

// NewRelay returns a relay worker for st's queue.
func NewRelay(st *store.Store, cfg RelayConfig, log *slog.Logger) *Relay {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{cfg: cfg, st: st, log: log, kick: make(chan struct{}, 1), now: func() time.Time { return time.Now().UTC() }}
}

// Kick makes the worker look at the queue now (after a submission).
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run works the queue until ctx is done.
func (r *Relay) Run(ctx context.Context) error {
	lastPrune := time.Time{}
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("relay queue", "err", err)
		}
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			if n, err := r.st.PruneClientIDs(ctx, r.now().Add(-r.cfg.ClientIDRetention)); err != nil {
				r.log.Warn("prune client ids", "err", err)
			} else if n > 0 {
				r.log.Debug("pruned client ids", "n", n)
			}
			if n, err := r.st.PruneResends(ctx); err != nil {
				r.log.Warn("prune resend keys", "err", err)
			} else if n > 0 {
				r.log.Debug("pruned resend keys", "n", n)
			}
		}
		wait := r.cfg.PollInterval
		if due, err := r.st.NextOutboundDue(ctx); err == nil {
			wait = min(wait, max(due.Sub(r.now()), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-r.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// RunOnce attempts every message due now and returns how many it
// attempted.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	n := 0
	// Only what is due at the start: a message deferred in this run waits
	// for its backoff, even a short one.
	start := r.now()
	for ctx.Err() == nil {
		m, err := r.st.ClaimOutbound(ctx, start, r.cfg.Lease)
		if errors.Is(err, store.ErrNotFound) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if err := r.attempt(ctx, m); err != nil {
			r.log.Error("relay attempt", "queue_id", m.ID, "err", err)
		}
	}
	return n, ctx.Err()
}

// outcome is what the relay said about each recipient.
type outcome struct {
	accepted []string
	perm     map[string]string // recipient -> diagnostic
	temp     map[string]string
}

func (r *Relay) attempt(ctx context.Context, m *store.OutboundMail) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.PanicsRecovered.Add(1)
			r.log.Error("panic in relay", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	rcpts := m.Recipients()
	if m.DataStartedAt != nil {
		// The last attempt began DATA and was never settled: the worker
		// died (or lost the database) between DATA and recording the
		// outcome. The relay may have the message; RFC 5321 6.1 prefers a
		// duplicate to a loss, so it goes again, with the same bytes and
		// Message-ID, by which the far side can spot the duplicate.
		r.InDoubt.Add(1)
		r.log.Warn("relay: previous attempt interrupted after DATA; sending again, possibly a duplicate",
			"queue_id", m.ID, "attempt", m.Attempts, "data_started_at", *m.DataStartedAt)
	}
	data := withMessageID(m, r.cfg.Hostname)
	// Recorded (and committed) before DATA, so that a crash from here to
	// the settlement is known as "perhaps sent" to the next attempt.
	beforeData := func() error { return r.st.MarkOutboundData(ctx, m.ID) }
	o := r.send(ctx, m.MailFrom, rcpts, data, beforeData)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the lease brings it back
	}
	st := store.Settlement{ID: m.ID}
	var lastErr []string
	for _, rc := range rcpts {
		if d, ok := o.temp[rc]; ok {
			if m.Attempts >= r.cfg.MaxAttempts {
				o.perm[rc] = fmt.Sprintf("gave up after %d attempts; last error: %s", m.Attempts, d)
				continue
			}
			st.Remaining = append(st.Remaining, rc)
			lastErr = append(lastErr, rc+": "+d)
		}
	}
	if len(st.Remaining) > 0 {
		st.NextAttempt = r.now().Add(r.backoff(m.Attempts))
		st.LastError = truncate(strings.Join(lastErr, "; "), 1000)
		r.Deferred.Add(1)
	}
	if len(o.accepted) > 0 {
		r.Sent.Add(1)
	}
	if len(o.perm) > 0 {
		bounce, err := r.bounceFor(ctx, m, o.perm)
		if err != nil {
			r.log.Error("cannot build bounce; the sender will not be told", "queue_id", m.ID, "err", err)
		}
		st.Bounce = bounce
		r.Bounced.Add(1)
	}
	r.log.Info("relay attempt", "queue_id", m.ID, "attempt", m.Attempts, "accepted", len(o.accepted), "failed", len(o.perm), "deferred", len(st.Remaining))
	return r.settle(ctx, m, st)
}

// settle records the attempt's outcome. The relay has answered, so an
// outcome lost now is a duplicate later: while the lease is ours (no other
// worker can have taken the message) a database that is briefly away is
// waited for, with backoff, rather than left to the lease's expiry.
func (r *Relay) settle(ctx context.Context, m *store.OutboundMail, st store.Settlement) error {
	// Stop a tenth of the lease before it ends, so that another worker's
	// claim never overlaps our settlement.
	until := m.NextAttempt.Add(-r.cfg.Lease / 10)
	wait := 50 * time.Millisecond
	for {
		err := r.st.SettleOutbound(ctx, st)
		if err == nil || !errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil || r.now().Add(wait).After(until) {
			return err
		}
		r.log.Warn("relay: cannot record the outcome yet; retrying", "queue_id", m.ID, "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func (r *Relay) backoff(attempts int) time.Duration {
	d := r.cfg.MinBackoff
	for i := 1; i < attempts && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.cfg.MaxBackoff)
}

// send runs one SMTP transaction with the relay. Every recipient ends in
// exactly one of accepted, perm or temp. beforeData runs once the relay has
// taken at least one recipient, just before DATA; if it fails, DATA is not
// sent and every recipient is a temporary failure.
func (r *Relay) send(ctx context.Context, from string, rcpts []string, data []byte, beforeData func() error) outcome {
	o := outcome{perm: map[string]string{}, temp: map[string]string{}}
	all := func(err error) outcome {
		target, diag := o.temp, describe(err)
		if permanent(err) {
			target = o.perm
		}
		for _, rc := range rcpts {
			if _, done := o.perm[rc]; !done {
				target[rc] = diag
			}
		}
		o.accepted = nil
		return o
	}
	if r.cfg.Addr == "" {
		return all(errors.New("no relay configured"))
	}
	c, err := r.dial(ctx)
	if err != nil {
		return all(err)
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return all(err)
	}
	for _, rc := range rcpts {
		err := c.Rcpt(rc, nil)
		switch {
		case err == nil:
			o.accepted = append(o.accepted, rc)
		case permanent(err):
			o.perm[rc] = describe(err)
		default:
			o.temp[rc] = describe(err)
		}
	}
	if len(o.accepted) == 0 {
		c.Quit()
		return o
	}
	if err := beforeData(); err != nil {
		c.Quit()
		return all(tempError{fmt.Errorf("recording the attempt: %w", err)})
	}
	w, err := c.Data()
	if err == nil {
		_, err = w.Write(data)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		accepted := o.accepted
		o.accepted = nil
		target := o.temp
		if permanent(err) {
			target = o.perm
		}
		for _, rc := range accepted {
			target[rc] = describe(err)
		}
		return o
	}
	c.Quit()
	return o
}

// dial connects, says EHLO, secures the connection and authenticates.
func (r *Relay) dial(ctx context.Context) (*smtp.Client, error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", r.cfg.Addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	var c *smtp.Client
	if r.cfg.DisableStartTLS {
		c = smtp.NewClient(conn)
	} else {
		tc := r.cfg.TLSConfig.Clone()
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(r.cfg.Addr)
		}
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
		if c, err = smtp.NewClientStartTLS(conn, tc); err != nil {
			stop()
			conn.Close()
			return nil, fmt.Errorf("STARTTLS with the relay: %w", err)
		}
	}
	c.CommandTimeout = r.cfg.Timeout
	c.SubmissionTimeout = r.cfg.Timeout
	fail := func(err error) (*smtp.Client, error) {
		stop()
		c.Close()
		return nil, err
	}
	if err := c.Hello(r.cfg.Hostname); err != nil {
		return fail(err)
	}
	if r.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", r.cfg.Username, r.cfg.Password)); err != nil {
			// A refused login is our configuration, not the message's
			// fault: keep the mail and retry.
			return fail(tempError{fmt.Errorf("AUTH with the relay: %w", err)})
		}
	}
	return c, nil
}

// tempError marks an error as temporary whatever its code.
type tempError struct{ error }

func (e tempError) Unwrap() error { return e.error }

// permanent reports whether the relay refused for good (5xx).
func permanent(err error) bool {
	var t tempError
	if errors.As(err, &t) {
		return false
	}
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500 && se.Code < 600
}

func describe(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		code := fmt.Sprintf("%d", se.Code)
		if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
			code += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
		return truncate(code+" "+oneLine(se.Message), 500)
	}
	return truncate(oneLine(err.Error()), 500)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// bounceFor builds the sender's delivery status notification.
func (r *Relay) bounceFor(ctx context.Context, m *store.OutboundMail, failed map[string]string) (*store.Delivery, error) {
	if m.UserID == nil {
		return nil, errors.New("the sender no longer exists")
	}
	raw, err := buildDSN(dsnInput{
		Hostname: r.cfg.Hostname, Relay: r.cfg.Addr, Sender: m.MailFrom, Arrival: m.CreatedAt,
		Failed: failed, Original: m.Data, Now: r.now(),
	})
	if err != nil {
		return nil, err
	}
	svc := &Service{Store: r.st, Hostname: r.cfg.Hostname}
	parsed, err := parseBounce(raw)
	if err != nil {
		return nil, err
	}
	it, err := svc.copyFor(ctx, parsed, *m.UserID, store.FolderInbox)
	if err != nil {
		return nil, err
	}
	return &store.Delivery{Raw: raw, Items: []*store.Item{it}}, nil
}
