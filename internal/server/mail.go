package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"airlock/delivery"
	"airlock/internal/authguard"
	"airlock/internal/netallow"
	"airlock/push"
	"airlock/store"
)

// MailConfig is the push and mail-flow part of Config.
type MailConfig struct {
	// SMTPListen and LMTPListen are HOST:PORT addresses for incoming mail;
	// empty disables the listener. The SMTP listener takes mail for local
	// users only, unless the client authenticates (AUTH PLAIN after
	// STARTTLS, with the server's certificate).
	SMTPListen, LMTPListen string
	// RelayHost is the smarthost (HOST:PORT) for mail to other domains;
	// empty means such mail is refused when a device sends it.
	RelayHost string
	// RelayUser and RelayPassword authenticate to the smarthost.
	RelayUser, RelayPassword string
	// RelayDisableStartTLS lets the smarthost connection go without
	// STARTTLS (a relay on the same host, tests). The zero value requires
	// STARTTLS, so a Config built in code is safe by default; the CLI flag
	// is --relay-starttls=false.
	RelayDisableStartTLS bool
	// MaxMessageSize bounds a message in and out; default 25 MiB.
	MaxMessageSize int64
	// HeartbeatMin and HeartbeatMax bound Ping's HeartbeatInterval;
	// defaults 60 s and 3540 s. A proxy in front must allow idle requests
	// longer than HeartbeatMax.
	HeartbeatMin, HeartbeatMax time.Duration
}

func (c *Config) mailDefaults() {
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = delivery.DefaultMaxMessageSize
	}
	if c.HeartbeatMin == 0 {
		c.HeartbeatMin = 60 * time.Second
	}
	if c.HeartbeatMax == 0 {
		c.HeartbeatMax = 3540 * time.Second
	}
}

func (c *Config) mailValidate() error {
	for flag, addr := range map[string]string{"--smtp-listen": c.SMTPListen, "--lmtp-listen": c.LMTPListen, "--relay": c.RelayHost} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q: want HOST:PORT", flag, addr)
		}
	}
	if c.MaxMessageSize < 1024 {
		return fmt.Errorf("--max-message-size %d: too small", c.MaxMessageSize)
	}
	if c.HeartbeatMin < time.Second || c.HeartbeatMax < c.HeartbeatMin {
		return fmt.Errorf("--heartbeat-min %v / --heartbeat-max %v: want 1s <= min <= max", c.HeartbeatMin, c.HeartbeatMax)
	}
	if c.RelayUser != "" && c.RelayHost == "" {
		return errors.New("--relay-user needs --relay")
	}
	return nil
}

// mailParts are the running push and mail-flow pieces.
type mailParts struct {
	broker  *push.Broker
	svc     *delivery.Service
	relay   *delivery.Relay
	ln      *delivery.Listeners
	stops   []func()
	audits  []*netallow.Auditor
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	log     *slog.Logger
	closers []net.Listener
}

// startMail starts the change notifier, the relay worker and the SMTP/LMTP
// listeners. tc, when not nil, is offered with STARTTLS on SMTP.
// rules, when not nil, are the health-service rules.
func startMail(ctx context.Context, cfg Config, st *store.Store, guard *authguard.Guard, tc *tls.Config, log *slog.Logger, out io.Writer, rules delivery.Rules) (*mailParts, error) {
	m := &mailParts{log: log}
	broker, stopBroker, err := push.Attach(ctx, st, log)
	if err != nil {
		return nil, err
	}
	m.broker = broker
	m.stops = append(m.stops, stopBroker)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.relay = delivery.NewRelay(st, delivery.RelayConfig{
		Addr: cfg.RelayHost, Username: cfg.RelayUser, Password: cfg.RelayPassword,
		DisableStartTLS: cfg.RelayDisableStartTLS, Hostname: cfg.Hostname,
	}, log)
	m.svc = &delivery.Service{Store: st, Hostname: cfg.Hostname, Log: log, Relay: m.relay, MaxMessageSize: cfg.MaxMessageSize, Rules: rules}
	m.svc.Delivered = afterDelivery(st, m.svc, log)
	goRecover(&m.wg, m.log, "relay queue", func() { m.relay.Run(runCtx) })

	nets, err := netallow.ParseList(cfg.InternalNetworks)
	if err != nil {
		return nil, fmt.Errorf("--internal-networks: %w", err)
	}
	lc := delivery.ListenerConfig{Hostname: cfg.Hostname, MaxMessageSize: cfg.MaxMessageSize, TLSConfig: tc,
		// Only the internal networks may send as the organisation without
		// signing in (delivery/spoof.go).
		Internal: internalAddr(nets), OwnDomains: []string{cfg.Domain, cfg.Hostname, smsDomain(cfg)}}
	if tc != nil {
		lc.Authenticate = mailAuthenticator(guard, "auth.smtp")
		// Submission is for the internal networks only (as on the
		// submission listener); from elsewhere port 25 takes mail for
		// local users and nothing more.
		lc.AuthFrom = internalAddr(nets)
	}
	m.ln = delivery.NewListeners(m.svc, lc, log)
	for _, l := range []struct {
		name, addr string
		serve      func(net.Listener) error
	}{{"SMTP", cfg.SMTPListen, m.ln.ServeSMTP}, {"LMTP", cfg.LMTPListen, m.ln.ServeLMTP}} {
		if l.addr == "" {
			continue
		}
		nl, err := net.Listen("tcp", l.addr)
		if err != nil {
			m.stop(context.Background())
			return nil, fmt.Errorf("%s listen on %s: %w", l.name, l.addr, err)
		}
		m.closers = append(m.closers, nl)
		if l.name == "LMTP" {
			// LMTP is for the MTA in front: the internal networks only,
			// as for IMAP and submission.
			a := netallow.NewAuditor(st, "lmtp", log)
			m.audits = append(m.audits, a)
			fmt.Fprintf(out, "%s listening on %s (internal networks only: %s)\n", l.name, nl.Addr(), cfg.InternalNetworks)
			nl = &netallow.Listener{Listener: nl, Nets: nets, Refused: a.Refused}
		} else {
			fmt.Fprintf(out, "%s listening on %s\n", l.name, nl.Addr())
			nl = capPerAddress(nl, cfg, "smtp", log)
		}
		serve := l.serve
		name := l.name
		goRecover(&m.wg, m.log, name+" listener", func() {
			if err := serve(nl); err != nil {
				log.Error(name+" listener stopped", "err", err)
			}
		})
	}
	if cfg.RelayHost != "" {
		fmt.Fprintf(out, "Relaying to %s (STARTTLS required: %v)\n", cfg.RelayHost, !cfg.RelayDisableStartTLS)
		if cfg.RelayDisableStartTLS {
			log.Warn("relay without STARTTLS: mail (and any relay password) crosses the network in the clear")
		}
	}
	return m, nil
}

// stop ends the listeners (letting sessions finish until ctx ends), the
// relay worker and the notifier, and waits for them.
func (m *mailParts) stop(ctx context.Context) {
	if m.ln != nil {
		m.ln.Shutdown(ctx)
	}
	for _, l := range m.closers {
		l.Close()
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	for _, s := range m.stops {
		s()
	}
	for _, a := range m.audits {
		a.Close()
	}
}

// mailAuthenticator checks SMTP AUTH and IMAP LOGIN credentials through
// the node's guard: the same counters (by account and by address), lockout
// and bounded verifier as ActiveSync and the web.
func mailAuthenticator(g *authguard.Guard, action string) func(ctx context.Context, login, pw, ip string) (*store.User, error) {
	return func(ctx context.Context, login, pw, ip string) (*store.User, error) {
		u, err := g.Check(ctx, action, login, pw, ip)
		if err != nil {
			return nil, err
		}
		if u.Disabled {
			return nil, errors.New("account disabled")
		}
		return u, nil
	}
}
