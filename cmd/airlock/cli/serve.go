package cli

import (
	"context"
	"fmt"
	"strconv"

	"airlock/internal/keyring"
	"airlock/internal/server"
	"airlock/message"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "serve", "serve [--db PATH|postgres://URL] [--listen HOST:PORT] [--hostname NAME] [--plain-http | --tls-cert F --tls-key F] [--demo]")
	var c server.Config
	fs.StringVar(&c.DB, "db", envOr("AIRLOCK_DB", "data/airlock.db"), "database: a SQLite file path or a postgres:// URL ($AIRLOCK_DB)")
	fs.StringVar(&c.Listen, "listen", envOr("AIRLOCK_LISTEN", "127.0.0.1:8443"), "address to listen on; use 0.0.0.0:8443 to let phones in ($AIRLOCK_LISTEN)")
	fs.StringVar(&c.Hostname, "hostname", envOr("AIRLOCK_HOSTNAME", ""), "public host name devices use (default: this machine's name) ($AIRLOCK_HOSTNAME)")
	fs.StringVar(&c.Domain, "domain", envOr("AIRLOCK_DOMAIN", ""), "mail domain (default: the hostname's domain) ($AIRLOCK_DOMAIN)")
	fs.StringVar(&c.DataDir, "data-dir", envOr("AIRLOCK_DATA_DIR", "data"), "directory for the generated certificate, and the master key with PostgreSQL ($AIRLOCK_DATA_DIR)")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", envOr(keyring.EnvKeyFile, ""), "master key file (default master.key beside a SQLite database, or in --data-dir); $"+keyring.EnvKey+", the key itself in base64, takes precedence ($"+keyring.EnvKeyFile+")")
	fs.StringVar(&c.TLSCert, "tls-cert", envOr("AIRLOCK_TLS_CERT", ""), "TLS certificate PEM file ($AIRLOCK_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", envOr("AIRLOCK_TLS_KEY", ""), "TLS key PEM file ($AIRLOCK_TLS_KEY)")
	plain, _ := strconv.ParseBool(envOr("AIRLOCK_PLAIN_HTTP", "false"))
	fs.BoolVar(&c.PlainHTTP, "plain-http", plain, "serve plain HTTP (behind a TLS proxy, or for tests) ($AIRLOCK_PLAIN_HTTP)")
	proxied, _ := strconv.ParseBool(envOr("AIRLOCK_BEHIND_TLS_PROXY", "false"))
	fs.BoolVar(&c.BehindTLSProxy, "behind-tls-proxy", proxied, "with --plain-http: a TLS proxy is in front, so dashboard cookies are Secure and pages send HSTS ($AIRLOCK_BEHIND_TLS_PROXY)")
	demo, _ := strconv.ParseBool(envOr("AIRLOCK_DEMO", "false"))
	fs.BoolVar(&c.Demo, "demo", demo, "seed a demo organisation on first start ($AIRLOCK_DEMO)")
	logLevel := fs.String("log-level", envOr("AIRLOCK_LOG_LEVEL", "info"), "debug, info, warn or error ($AIRLOCK_LOG_LEVEL)")
	finishMail := mailFlags(fs, &c.MailConfig)
	finishGov := governanceFlags(fs, &c.GovernanceConfig) // health-service rules (serve_governance.go)
	finishTransport := transportFlags(fs, &c.TransportConfig)
	webSecurityFlags(fs, &c.WebSecurityConfig) // serve_websec.go
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := finishMail(); err != nil {
		return err
	}
	if err := finishGov(); err != nil {
		return err
	}
	finishTransport()
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return server.Run(ctx, c, newLogger(e.stderr, *logLevel), e.stdout)
}

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "migrate", "migrate [--db DB]")
	db := dbFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	cur, newest, err := st.MigrationVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "schema at version %d of %d (%s)\n", cur, newest, st.Dialect())
	// Render the bodies of mail stored before they were kept rendered, so
	// the first Sync after an upgrade does not parse every message. A
	// running server does the same in the background; either resumes
	// where the other stopped.
	total := 0
	for {
		n, err := st.BackfillBodies(ctx, message.Render, 200)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total > 0 {
		fmt.Fprintf(e.stdout, "rendered the bodies of %d stored messages\n", total)
	}
	return nil
}
