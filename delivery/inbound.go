package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"airlock/internal/authguard"
	"airlock/store"
)

// ListenerConfig configures the SMTP and LMTP listeners.
type ListenerConfig struct {
	// Hostname is announced in the greeting and written in Received.
	Hostname string
	// MaxMessageSize is announced with SIZE and enforced while reading
	// DATA (552 5.3.4); default DefaultMaxMessageSize.
	MaxMessageSize int64
	// MaxRecipients per message; default 100.
	MaxRecipients int
	// ReadTimeout and WriteTimeout per command; default 5 min.
	ReadTimeout, WriteTimeout time.Duration
	// TLSConfig, when set, is offered with STARTTLS on the SMTP listener.
	TLSConfig *tls.Config
	// Authenticate, when set, enables AUTH PLAIN on the SMTP listener
	// (over TLS only). An authenticated client may send to any address
	// (submission); anyone else may send only to local users.
	Authenticate func(ctx context.Context, username, password, ip string) (*store.User, error)
	// AuthFrom, when set, limits AUTH to clients whose address it accepts
	// (the internal networks), so that submission cannot bypass the rule
	// that only internal networks may submit. Others may still deliver to
	// local users without AUTH.
	AuthFrom func(ip string) bool
	// Internal, when set, says whether a client's address is on an
	// internal network: only such clients (and authenticated ones) may
	// send mail that claims the organisation's domains (spoof.go). Nil:
	// no address is internal.
	Internal func(ip string) bool
	// OwnDomains are the organisation's domains besides those of its
	// users' addresses (the mail domain, the host name).
	OwnDomains []string
}

// Listeners serves SMTP and LMTP for a Service.
type Listeners struct {
	svc  *Service
	cfg  ListenerConfig
	log  *slog.Logger
	smtp *smtp.Server
	lmtp *smtp.Server
	// ctx is cancelled by Shutdown: store calls of sessions stop.
	ctx    context.Context
	cancel context.CancelFunc

	// own answers which domains are the organisation's (spoof.go).
	own ownDomains

	// Delivered counts messages stored; Rejected counts refused commands.
	Delivered, Rejected, PanicsRecovered atomic.Int64
}

// NewListeners prepares the listeners; Serve them with ServeSMTP and
// ServeLMTP.
func NewListeners(svc *Service, cfg ListenerConfig, log *slog.Logger) *Listeners {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 100
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Minute
	}
	if cfg.Hostname == "" {
		cfg.Hostname = svc.hostname()
	}
	l := &Listeners{svc: svc, cfg: cfg, log: log}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.smtp = l.newServer(false)
	l.lmtp = l.newServer(true)
	return l
}

func (l *Listeners) newServer(lmtp bool) *smtp.Server {
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{l: l, conn: c, lmtp: lmtp}, nil
	}))
	s.LMTP = lmtp
	s.Domain = l.cfg.Hostname
	s.MaxMessageBytes = l.cfg.MaxMessageSize
	s.MaxRecipients = l.cfg.MaxRecipients
	s.ReadTimeout = l.cfg.ReadTimeout
	s.WriteTimeout = l.cfg.WriteTimeout
	s.EnableSMTPUTF8 = true
	s.ErrorLog = slogPrinter{l.log}
	if !lmtp {
		s.TLSConfig = l.cfg.TLSConfig
	}
	return s
}

// ServeSMTP accepts SMTP connections on ln until Shutdown.
func (l *Listeners) ServeSMTP(ln net.Listener) error { return serve(l.smtp, ln) }

// ServeLMTP accepts LMTP connections on ln until Shutdown.
func (l *Listeners) ServeLMTP(ln net.Listener) error { return serve(l.lmtp, ln) }

func serve(s *smtp.Server, ln net.Listener) error {
	err := s.Serve(ln)
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets sessions finish until ctx ends, then
// closes them.
func (l *Listeners) Shutdown(ctx context.Context) error {
	errS := l.smtp.Shutdown(ctx)
	errL := l.lmtp.Shutdown(ctx)
	l.cancel()
	l.smtp.Close()
	l.lmtp.Close()
	if errS != nil && !errors.Is(errS, smtp.ErrServerClosed) {
		return errS
	}
	if errL != nil && !errors.Is(errL, smtp.ErrServerClosed) {
		return errL
	}
	return nil
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.log.Warn("smtp: " + fmt.Sprintf(format, v...))
}
func (p slogPrinter) Println(v ...any) { p.log.Warn("smtp: " + fmt.Sprint(v...)) }

// SMTP replies the sessions give.
var (
	errNoSuchUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errNotOurs    = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address is not yours"}
	errTempFail   = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
	errMalformed  = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message is malformed"}
	errNoRelayFor = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying to remote addresses is not configured"}
	errTooMany    = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
)

// session is one SMTP or LMTP conversation.
type session struct {
	l    *Listeners
	conn *smtp.Conn
	lmtp bool
	user *store.User // after AUTH

	from   string
	locals []*store.User
	addrs  []string // accepted recipient addresses, as given
	remote []string
}

func (s *session) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.l.ctx, 2*time.Minute)
}

func (s *session) Reset() {
	s.from, s.locals, s.addrs, s.remote = "", nil, nil, nil
}

func (s *session) Logout() error { return nil }

func (s *session) authOffered() bool {
	if s.lmtp || s.l.cfg.Authenticate == nil {
		return false
	}
	return s.l.cfg.AuthFrom == nil || s.l.cfg.AuthFrom(remoteIP(s.conn))
}

// errAuthTemporary asks the client to try AUTH again later (RFC 4954 454):
// the password verifier or the database is busy.
var errAuthTemporary = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure, try again later"}

func (s *session) AuthMechanisms() []string {
	if !s.authOffered() {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if !s.authOffered() || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		ctx, cancel := s.opCtx()
		defer cancel()
		u, err := s.l.cfg.Authenticate(ctx, username, password, remoteIP(s.conn))
		if errors.Is(err, authguard.ErrBusy) || errors.Is(err, store.ErrUnavailable) {
			return errAuthTemporary
		}
		if err != nil || u == nil || u.Disabled {
			s.l.log.Info("smtp auth failed", "remote", remoteIP(s.conn))
			return smtp.ErrAuthFailed
		}
		s.user = u
		return nil
	}), nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	ctx, cancel := s.opCtx()
	defer cancel()
	if s.user != nil {
		u, err := s.l.svc.Store.UserByAddress(ctx, from)
		if err != nil || u.ID != s.user.ID {
			s.l.Rejected.Add(1)
			return errNotOurs
		}
	}
	if s.external() {
		if own, err := s.claimsOwn(ctx, from); err != nil {
			s.l.log.Error("smtp sender domain lookup", "err", err)
			return errTempFail
		} else if own {
			s.l.Rejected.Add(1)
			s.l.log.Warn("smtp: outside sender claims an own domain", "remote", remoteIP(s.conn), "from", from)
			return errSpoofed
		}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if len(s.addrs)+len(s.remote) >= s.l.cfg.MaxRecipients {
		return errTooMany
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	u, err := s.l.svc.Store.UserByAddress(ctx, to)
	switch {
	case err == nil:
		if se := s.l.svc.rcptQuota(ctx, u, to); se != nil { // a full mailbox (rules.go)
			s.l.Rejected.Add(1)
			return se
		}
		s.addrs = append(s.addrs, to)
		if !slices.ContainsFunc(s.locals, func(x *store.User) bool { return x.ID == u.ID }) {
			s.locals = append(s.locals, u)
		}
		return nil
	case errors.Is(err, store.ErrNotFound) && s.user != nil:
		// Submission by an authenticated user: any address.
		if !s.l.svc.RemoteAllowed() && !s.l.svc.isGateway(to) { // SMS and fax need no relay
			s.l.Rejected.Add(1)
			return errNoRelayFor
		}
		s.remote = append(s.remote, to)
		return nil
	case errors.Is(err, store.ErrNotFound):
		// Not an open relay: without AUTH only local users receive.
		s.l.Rejected.Add(1)
		return errNoSuchUser
	default:
		s.l.log.Error("smtp recipient lookup", "err", err)
		return errTempFail
	}
}

func (s *session) Data(r io.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.l.PanicsRecovered.Add(1)
			s.l.log.Error("panic in smtp delivery", "panic", p, "stack", string(debug.Stack()))
			err = errTempFail
		}
	}()
	data, err := io.ReadAll(r)
	if err != nil {
		// Over the size limit (go-smtp's reader returns ErrDataTooLarge,
		// 552) or the connection broke: nothing is stored.
		s.l.Rejected.Add(1)
		return err
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	if s.external() {
		if own, err := s.claimsOwn(ctx, senderHeaders(data)...); err != nil {
			s.l.log.Error("smtp sender domain lookup", "err", err)
			return errTempFail
		} else if own {
			s.l.Rejected.Add(1)
			s.l.log.Warn("smtp: outside message's From claims an own domain", "remote", remoteIP(s.conn), "envelope", s.from)
			return errSpoofed
		}
	}
	proto := "ESMTP"
	if s.lmtp {
		proto = "LMTP"
	} else if _, isTLS := s.conn.TLSConnectionState(); isTLS {
		proto = "ESMTPS"
	}
	if s.user != nil {
		if proto != "LMTP" {
			proto += "A"
		}
		_, err = s.l.svc.Submit(ctx, Submission{
			User: s.user, MIME: data, Envelope: append(append([]string(nil), s.addrs...), s.remote...),
			Protocol: proto, RemoteAddr: remoteIP(s.conn),
		})
	} else {
		in := Inbound{From: s.from, Recipients: s.locals, Data: data, Helo: s.conn.Hostname(), RemoteAddr: remoteIP(s.conn), Protocol: proto}
		if len(s.addrs) == 1 {
			in.For = s.addrs[0]
		}
		err = s.l.svc.DeliverInbound(ctx, in)
	}
	if se := quotaReply(err); se != nil { // 552 5.2.2 mailbox full (rules.go)
		s.l.Rejected.Add(1)
		return se
	}
	switch {
	case err == nil:
		s.l.Delivered.Add(1)
		return nil
	case errors.Is(err, ErrMalformed):
		s.l.Rejected.Add(1)
		return errMalformed
	case errors.Is(err, ErrTooLarge):
		s.l.Rejected.Add(1)
		return smtp.ErrDataTooLarge
	case errors.Is(err, ErrNoRelay):
		return errNoRelayFor
	}
	s.l.log.Error("smtp delivery failed", "err", err)
	return errTempFail
}

func remoteIP(c *smtp.Conn) string {
	if c == nil || c.Conn() == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(c.Conn().RemoteAddr().String())
	if err != nil {
		return c.Conn().RemoteAddr().String()
	}
	return host
}
