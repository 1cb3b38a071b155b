package server

// Transport limits: what one client address, device or account may hold
// of the server's connections, requests and memory.

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"airlock/activesync"
	"airlock/internal/connlimit"
	"airlock/internal/netallow"
)

// TransportConfig bounds connections and request bodies.
type TransportConfig struct {
	// MaxConnsPerAddress caps the connections one client address may hold
	// open on the HTTPS and SMTP listeners; default 1000, negative: no
	// cap. A whole site behind one NAT address shares it (each phone
	// holds a Ping and sometimes a second request), and behind a proxy or
	// load balancer every connection comes from the proxy: raise it, or
	// turn it off and cap at the proxy.
	MaxConnsPerAddress int
	// BodyTimeout is how long a request body may take to arrive, plus one
	// second per 32 KiB of its length; default 30 s. It never limits the
	// wait of a held Ping or Sync.
	BodyTimeout time.Duration
	// MaxRequestsPerDevice and MaxRequestsPerUser cap the EAS requests in
	// flight on a node, held Pings and Syncs with Wait not counted;
	// defaults 4 and 8.
	MaxRequestsPerDevice, MaxRequestsPerUser int
}

// webReadTimeout bounds reading a whole request (head and body) outside
// ActiveSync, which sets each body's deadline itself: the dashboard's forms
// and uploads are small.
const webReadTimeout = 2 * time.Minute

func (c *Config) transportDefaults() {
	if c.MaxConnsPerAddress == 0 {
		c.MaxConnsPerAddress = 1000
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = activesync.DefaultBodyTimeout
	}
}

func (c *Config) transportValidate() error {
	if c.MaxRequestsPerDevice < 0 || c.MaxRequestsPerUser < 0 {
		return fmt.Errorf("--max-requests-per-device %d / --max-requests-per-user %d: want 0 (default) or more", c.MaxRequestsPerDevice, c.MaxRequestsPerUser)
	}
	return nil
}

// easLimits are the ActiveSync handler's limits from the configuration.
func easLimits(c Config) activesync.Limits {
	return activesync.Limits{BodyTimeout: c.BodyTimeout, MaxPerDevice: c.MaxRequestsPerDevice, MaxPerUser: c.MaxRequestsPerUser}
}

// capPerAddress wraps ln in the per-address connection cap, logging
// refusals at most once a minute.
func capPerAddress(ln net.Listener, c Config, service string, log *slog.Logger) net.Listener {
	if c.MaxConnsPerAddress < 0 {
		return ln
	}
	var mu sync.Mutex
	var last time.Time
	missed := 0
	return &connlimit.Listener{Listener: ln, Max: c.MaxConnsPerAddress, Refused: func(addr netip.Addr) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Minute {
			missed++
			return
		}
		log.Warn(service+": connection refused: too many open from one address", "remote", addr.String(), "max", c.MaxConnsPerAddress, "others_since_last", missed)
		last, missed = time.Now(), 0
	}}
}

// internalAddr reports whether a client address string is on one of the
// internal networks.
func internalAddr(nets []netip.Prefix) func(ip string) bool {
	return func(ip string) bool {
		addr, err := netip.ParseAddr(ip)
		return err == nil && netallow.Allowed(addr.Unmap(), nets)
	}
}
