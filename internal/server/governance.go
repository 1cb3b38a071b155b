package server

// Health-service rules: the governance service and its hooks in
// mail delivery, the break-glass sweeper, the SMS and fax gateways, and the IMAP and
// SMTP submission listeners that only internal networks may reach.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"airlock/delivery"
	"airlock/fax"
	"airlock/governance"
	"airlock/imapgw"
	"airlock/internal/authguard"
	"airlock/internal/netallow"
	"airlock/scheduling"
	"airlock/sms"
	"airlock/store"
)

// GovernanceConfig is the issue-9 part of Config.
type GovernanceConfig struct {
	// IMAPListen is HOST:PORT for IMAP with implicit TLS (the 993 style);
	// IMAPStartTLSListen for IMAP with STARTTLS (143 style, LOGIN
	// disabled until TLS). Empty: off.
	IMAPListen, IMAPStartTLSListen string
	// SubmissionListen is HOST:PORT for SMTP submission (587 style:
	// STARTTLS, then AUTH PLAIN). Empty: off.
	SubmissionListen string
	// InternalNetworks are the only networks IMAP and submission accept
	// connections from (comma-separated CIDR prefixes). Default
	// 127.0.0.1/32,::1/128.
	InternalNetworks string
	// SMSWebhook is the SMS provider's URL (https, or http to localhost);
	// empty: no SMS. SMSDomain is the SMS address domain; default "sms."
	// + Domain. SMSToken is sent as a bearer token.
	SMSWebhook, SMSDomain, SMSToken string
	// SMSNotifySuccess also tells senders when the provider took an SMS.
	SMSNotifySuccess bool
	// FaxWebhook is the fax provider's URL (https, or http to localhost);
	// empty: no fax. FaxDomain is the fax address domain; default "fax."
	// + Domain. FaxToken is sent as a bearer token.
	FaxWebhook, FaxDomain, FaxToken string

	internalNets []netip.Prefix
}

func (c *Config) governanceDefaults() {
	if c.InternalNetworks == "" {
		c.InternalNetworks = "127.0.0.1/32,::1/128"
	}
	if c.SMSDomain == "" && c.SMSWebhook != "" {
		c.SMSDomain = "sms." + c.Domain
	}
	if c.FaxDomain == "" && c.FaxWebhook != "" {
		c.FaxDomain = "fax." + c.Domain
	}
}

// smsDomain is where SMS items write numbers as addresses: the gateway's
// domain, or "sms." + Domain when there is no gateway.
func smsDomain(c Config) string {
	if c.SMSDomain != "" {
		return c.SMSDomain
	}
	return "sms." + c.Domain
}

func (c *Config) governanceValidate() error {
	for flag, addr := range map[string]string{"--imap-listen": c.IMAPListen, "--imap-starttls-listen": c.IMAPStartTLSListen, "--submission-listen": c.SubmissionListen} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q: want HOST:PORT", flag, addr)
		}
	}
	nets, err := netallow.ParseList(c.InternalNetworks)
	if err != nil {
		return fmt.Errorf("--internal-networks: %w", err)
	}
	c.internalNets = nets
	if c.SMSWebhook != "" {
		if err := sms.CheckURL(c.SMSWebhook); err != nil {
			return fmt.Errorf("--sms-webhook: %w", err)
		}
	}
	if c.FaxWebhook != "" {
		if err := fax.CheckURL(c.FaxWebhook); err != nil {
			return fmt.Errorf("--fax-webhook: %w", err)
		}
	}
	return nil
}

// governanceParts are the running issue-9 pieces.
type governanceParts struct {
	svc   *governance.Service
	rules *governance.Rules
	sms   *sms.Gateway
	fax   *fax.Gateway
	imap  *imapgw.Server
	sub   *delivery.Listeners

	auditors []*netallow.Auditor
	closers  []net.Listener
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	log      *slog.Logger
}

// newGovernance builds the rules (before the mail service, which calls
// them) and starts the break-glass sweeper and the SMS gateway.
func newGovernance(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger, out io.Writer) *governanceParts {
	g := &governanceParts{log: log}
	g.svc = &governance.Service{Store: st, Hostname: cfg.Hostname, Log: log}
	g.rules = &governance.Rules{Service: g.svc}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel = cancel
	if cfg.SMSWebhook != "" {
		g.sms = (&sms.Gateway{
			Store: st, Provider: &sms.Webhook{URL: cfg.SMSWebhook, Token: cfg.SMSToken},
			Addresses: sms.Addresses{Domain: cfg.SMSDomain}, Hostname: cfg.Hostname, Log: log, NotifySuccess: cfg.SMSNotifySuccess,
		}).Init()
		g.rules.SMS = g.sms
		goRecover(&g.wg, g.log, "sms gateway", func() { g.sms.Run(runCtx) })
		fmt.Fprintf(out, "SMS: mail to +<number>@%s goes to the SMS provider\n", cfg.SMSDomain)
	}
	if cfg.FaxWebhook != "" {
		g.fax = (&fax.Gateway{
			Store: st, Provider: &fax.Webhook{URL: cfg.FaxWebhook, Token: cfg.FaxToken},
			Addresses: fax.Addresses{Domain: cfg.FaxDomain}, Hostname: cfg.Hostname, Log: log,
		}).Init()
		g.rules.Fax = g.fax
		goRecover(&g.wg, g.log, "fax gateway", func() { g.fax.Run(runCtx) })
		fmt.Fprintf(out, "Fax: mail to +<number>@%s goes to the fax provider\n", cfg.FaxDomain)
	}
	goRecover(&g.wg, g.log, "break-glass sweeper", func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			if _, err := g.svc.Sweep(runCtx); err != nil && runCtx.Err() == nil {
				log.Warn("break-glass sweep", "err", err)
			}
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
		}
	})
	return g
}

// smsPage and faxPage are the domains the staff web's SMS and fax pages
// write to: those of the configured gateways, empty without one.
func (g *governanceParts) smsPage() string {
	if g.sms == nil {
		return ""
	}
	return g.sms.Domain
}

func (g *governanceParts) faxPage() string {
	if g.fax == nil {
		return ""
	}
	return g.fax.Domain
}

// useMail lets delegates who manage a calendar send its meeting mail
// through the mail service (governance/calendar_write.go).
func (g *governanceParts) useMail(st *store.Store, m *mailParts, log *slog.Logger) {
	g.svc.Meetings = &scheduling.Service{Store: st, Mail: m.svc, Log: log}
}

// startListeners opens IMAP and submission, internal networks only. tc is
// the server's certificate (required).
func (g *governanceParts) startListeners(cfg Config, st *store.Store, mail *mailParts, guard *authguard.Guard, tc *tls.Config, out io.Writer) error {
	if cfg.IMAPListen == "" && cfg.IMAPStartTLSListen == "" && cfg.SubmissionListen == "" {
		return nil
	}
	if tc == nil {
		return errors.New("IMAP and submission need TLS: a certificate (--tls-cert/--tls-key, or the generated one)")
	}
	listen := func(service, addr string) (net.Listener, error) {
		raw, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listen on %s: %w", service, addr, err)
		}
		a := netallow.NewAuditor(st, service, g.log)
		g.auditors = append(g.auditors, a)
		g.closers = append(g.closers, raw)
		fmt.Fprintf(out, "%s listening on %s (internal networks only: %s)\n", service, raw.Addr(), cfg.InternalNetworks)
		return &netallow.Listener{Listener: raw, Nets: cfg.internalNets, Refused: a.Refused}, nil
	}
	if cfg.IMAPListen != "" || cfg.IMAPStartTLSListen != "" {
		g.imap = imapgw.New(imapgw.Config{Store: st, Access: g.svc, Authenticate: mailAuthenticator(guard, "auth.imap"), TLSConfig: tc, Log: g.log})
		if cfg.IMAPListen != "" {
			ln, err := listen("imap", cfg.IMAPListen)
			if err != nil {
				return err
			}
			tl := tls.NewListener(ln, tc)
			goRecover(&g.wg, g.log, "imap listener", func() { g.logStop("imap", g.imap.Serve(tl)) })
		}
		if cfg.IMAPStartTLSListen != "" {
			ln, err := listen("imap", cfg.IMAPStartTLSListen)
			if err != nil {
				return err
			}
			goRecover(&g.wg, g.log, "imap listener", func() { g.logStop("imap", g.imap.Serve(ln)) })
		}
	}
	if cfg.SubmissionListen != "" {
		g.sub = delivery.NewListeners(mail.svc, delivery.ListenerConfig{
			Hostname: cfg.Hostname, MaxMessageSize: cfg.MaxMessageSize, TLSConfig: tc, Authenticate: mailAuthenticator(guard, "auth.submission"),
		}, g.log)
		ln, err := listen("submission", cfg.SubmissionListen)
		if err != nil {
			return err
		}
		goRecover(&g.wg, g.log, "submission listener", func() { g.logStop("submission", g.sub.ServeSMTP(ln)) })
	}
	return nil
}

func (g *governanceParts) logStop(what string, err error) {
	if err != nil {
		g.log.Error(what+" listener stopped", "err", err)
	}
}

// stop closes the listeners and stops the workers.
func (g *governanceParts) stop(ctx context.Context) {
	if g.imap != nil {
		g.imap.Close()
	}
	if g.sub != nil {
		g.sub.Shutdown(ctx)
	}
	for _, l := range g.closers {
		l.Close()
	}
	g.cancel()
	g.wg.Wait()
	for _, a := range g.auditors {
		a.Close()
	}
}

// govTLS is the certificate for IMAP and submission: the server's, or,
// behind a TLS proxy (--plain-http), the configured or generated one.
func govTLS(cfg *Config, tc *tls.Config) *tls.Config {
	if tc != nil || (cfg.IMAPListen == "" && cfg.IMAPStartTLSListen == "" && cfg.SubmissionListen == "") {
		return tc
	}
	c, _, err := tlsConfig(cfg)
	if err != nil {
		return nil
	}
	return c
}

// The consumers' interfaces the governance service fills.
var (
	_ imapgw.Access        = (*governance.Service)(nil)
	_ delivery.Rules       = (*governance.Rules)(nil)
	_ governance.SMSRouter = (*sms.Gateway)(nil)
	_ governance.FaxRouter = (*fax.Gateway)(nil)
)
