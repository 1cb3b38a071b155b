package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"airlock/activesync"
	"airlock/devices"
	"airlock/internal/authguard"
	"airlock/store"
	"airlock/web"
)

// Run starts Airlock with cfg and serves until ctx is cancelled, then shuts
// down gracefully. It writes a short start-up banner (address, certificate
// fingerprint, demo credentials) to out.
func Run(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	auditKey, err := AuditKey(cfg.DataDir, true) // auditkey.go
	if err != nil {
		return err
	}
	keySrc := store.MasterKeySource(cfg.DB, cfg.MasterKeyFile, cfg.DataDir)
	st, err := store.Open(ctx, cfg.DB, store.Options{Logger: log, AuditKey: auditKey, MasterKey: keySrc})
	if err != nil {
		return err
	}
	defer st.Close()
	warnWideModes(log, privateFiles(cfg, st, keySrc)) // atrest.go
	if err := sealExisting(ctx, st, log); err != nil {
		return err
	}

	devs := devices.New(st, log)
	if err := devs.EnsureDefaults(ctx); err != nil {
		return fmt.Errorf("seed default policy and rules: %w", err)
	}
	if err := bootstrap(ctx, st, cfg, out); err != nil {
		return err
	}
	defer backfillSearchText(ctx, st, log)() // mailsearch.go
	defer backfillBodies(ctx, st, log)()     // mailsearch.go

	// The audit chain's head, kept outside the database (auditkey.go).
	defer startAuditAnchor(ctx, st, cfg.DataDir, log)()
	// The certificate serves HTTPS and SMTP's STARTTLS.
	var tc *tls.Config
	var fingerprint string
	if !cfg.PlainHTTP {
		if tc, fingerprint, err = tlsConfig(&cfg); err != nil {
			return err
		}
	}
	// The health-service rules, before the mail service that
	// calls them (governance.go).
	gov := newGovernance(ctx, cfg, st, log, out)
	defer gov.stop(context.Background())
	// One guard for every entry point: EAS, the web, IMAP and SMTP share
	// its lockout and its bound on password verifications.
	guard := authguard.New(st, log)
	stopSweep := sweepAuth(ctx, guard, log)
	defer stopSweep()
	mail, err := startMail(ctx, cfg, st, guard, tc, log, out, gov.rules)
	if err != nil {
		return err
	}
	gov.useMail(st, mail, log) // delegates' meeting mail
	mailStopped := false
	stopMail := func(ctx context.Context) {
		if !mailStopped {
			mailStopped = true
			mail.stop(ctx)
		}
	}
	defer stopMail(context.Background())
	if err := gov.startListeners(cfg, st, mail, guard, govTLS(&cfg, tc), out); err != nil { // health-service rules
		return err
	}
	auth := &activesync.BasicAuth{Store: st, Guard: guard, Audit: devs}
	eas := activesync.New(activesync.Options{
		Store:         st,
		Devices:       devs,
		Authenticator: auth,
		Log:           log,
		Notifier:      mail.broker,
		Mail:          mail.svc,
		Ping:          activesync.PingOptions{MinHeartbeat: cfg.HeartbeatMin, MaxHeartbeat: cfg.HeartbeatMax},
		SMSDomain:     smsDomain(cfg), // SMS items (governance.go)
		Limits:        easLimits(cfg),
	})
	handler := web.NewServer(web.Deps{
		Store: st, Devices: devs, Log: log, Hostname: cfg.Hostname, Domain: cfg.Domain,
		EAS: eas, EASAuth: auth, Guard: guard, Secure: !cfg.PlainHTTP || cfg.BehindTLSProxy,
		Delegations: gov.svc,                                      // delegated calendars
		Mail:        mail.svc, MaxMessageSize: cfg.MaxMessageSize, // the staff web's compose
		Meetings:  gov.svc.Meetings,                        // the staff web's diary
		Changes:   mail.broker,                             // live updates of the mail pages
		SMSDomain: gov.smsPage(), FaxDomain: gov.faxPage(), // texts and faxes from the web

		SessionMaxAge: cfg.SessionMaxAge, AdminSessionMaxAge: cfg.AdminSessionMaxAge, // websec.go
	})
	defer startMetrics(cfg, handler.MetricsHandler(), log, out)() // websec.go

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	ln = capPerAddress(ln, cfg, "https", log)
	scheme := "http"
	if !cfg.PlainHTTP {
		ln = tls.NewListener(ln, tc)
		scheme = "https"
		fmt.Fprintf(out, "TLS certificate SHA-256 fingerprint: %s\n", fingerprint)
	}
	fmt.Fprintf(out, "Airlock listening on %s://%s (hostname %s, database %s)\n", scheme, ln.Addr(), cfg.Hostname, st.Dialect())

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 15 * time.Second,
		// A backstop for slow bodies outside ActiveSync, whose handler
		// sets each body's own deadline. net/http clears the deadline
		// once a body is read, so it never cuts a held request's wait.
		ReadTimeout: webReadTimeout,
		// No WriteTimeout: Ping and Sync with Wait hold a response open for
		// up to an hour; the EAS handler bounds each request itself.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	// Held Pings answer at once (Status 1), so Shutdown need not wait for
	// their heartbeats; then the mail listeners and the relay worker stop.
	eas.EndHeldRequests()
	err = srv.Shutdown(shutdownCtx)
	// Shutdown does not wait for the Pings whose connections the EAS
	// handler took over (activesync/ping_detach.go); they answer now.
	eas.WaitHeldRequests(shutdownCtx)
	stopMail(shutdownCtx)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
