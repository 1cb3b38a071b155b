// Package server wires Airlock's parts into one running process: the store,
// the ActiveSync endpoint, the web dashboard and the mail listeners. The
// airlock binary's serve command fills a Config and calls Run; integration
// tests do the same in-process.
//
// # Implementation notes
//
// Transport limits (transport.go): the HTTPS and SMTP listeners cap the
// connections one address holds (internal/connlimit), LMTP like IMAP and
// submission takes only the internal networks (internal/netallow), TLS 1.2
// offers only forward-secret AEAD suites (tls.go), and net/http's
// ReadTimeout backstops slow bodies outside ActiveSync, which bounds its
// own.
package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"airlock/message"
)

// Config is everything serve needs, validated once by Validate.
type Config struct {
	// DB is a SQLite file path (the embedded default) or a postgres:// URL.
	DB string
	// Listen is the HTTPS (or, with PlainHTTP, HTTP) address. Default
	// 127.0.0.1:8443: loopback until an admin opens it up on purpose.
	Listen string
	// Hostname is the public name devices use; it appears in setup guides,
	// autodiscover answers and the self-signed certificate. Default: the
	// machine's host name.
	Hostname string
	// Domain is the mail domain of the organisation, used by the demo seed
	// and autodiscover. Default: the domain part of Hostname.
	Domain string
	// DataDir keeps files that are not in the database: the generated
	// self-signed certificate, the master key file with PostgreSQL.
	// Default ./data; made 0700.
	DataDir string
	// MasterKeyFile holds the master key that seals secrets and mail at
	// rest (internal/keyring). $AIRLOCK_MASTER_KEY, the key itself, takes
	// precedence. Default: master.key beside a SQLite database, or in
	// DataDir for PostgreSQL; made on a new database's first start.
	MasterKeyFile string
	// TLSCert and TLSKey are PEM files. Without them (and without PlainHTTP)
	// a self-signed certificate is generated in DataDir.
	TLSCert, TLSKey string
	// PlainHTTP serves without TLS, for a TLS-terminating proxy in front or
	// for tests. Devices then send passwords in the clear unless the proxy
	// protects them.
	PlainHTTP bool
	// BehindTLSProxy says a TLS-terminating proxy is in front (with
	// PlainHTTP): browsers still use HTTPS, so the dashboard's cookies get
	// the Secure flag and its pages send HSTS.
	BehindTLSProxy bool
	// Demo seeds a demo organisation on first start.
	Demo bool
	// ShutdownGrace bounds how long in-flight requests (held Pings
	// included) may take to finish at shutdown.
	ShutdownGrace time.Duration
	// MailConfig: SMTP/LMTP listeners, the relay, message size and Ping
	// heartbeat limits (mail.go).
	MailConfig
	// GovernanceConfig: IMAP, submission, internal networks, SMS (health-service rules,
	// governance.go).
	GovernanceConfig
	// TransportConfig: connection and request body limits (transport.go).
	TransportConfig
	// WebSecurityConfig: session lifetimes, the metrics listener
	// (websec.go).
	WebSecurityConfig
}

// Defaults fills unset fields with their documented defaults.
func (c *Config) Defaults() {
	if c.DB == "" {
		c.DB = "data/airlock.db"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8443"
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		c.Hostname = h
	}
	if c.Domain == "" {
		c.Domain = message.DomainOf(c.Hostname)
		if !strings.Contains(c.Domain, ".") {
			// A bare machine name ("localhost") is no mail domain.
			c.Domain = "airlock.local"
		}
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	c.mailDefaults()
	c.governanceDefaults() // health-service rules
	c.transportDefaults()
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT", c.Listen)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("--listen %q: bad port", c.Listen)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.PlainHTTP && c.TLSCert != "" {
		return errors.New("--plain-http and --tls-cert exclude each other")
	}
	if err := c.mailValidate(); err != nil {
		return err
	}
	if err := c.governanceValidate(); err != nil { // health-service rules
		return err
	}
	if err := c.transportValidate(); err != nil {
		return err
	}
	return c.webSecurityValidate()
}
