// Package netallow restricts a listener to configured networks: a
// connection from any other address is closed as soon as it is accepted,
// before a byte is read or written, and reported. IMAP and SMTP submission
// are served only to the organisation's internal networks this way.
package netallow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"airlock/store"
)

// ParseList reads a comma-separated list of CIDR prefixes or bare
// addresses ("10.0.0.0/8,127.0.0.1").
func ParseList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q: not an address or CIDR prefix", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q: not an address or CIDR prefix", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, errors.New("empty network list")
	}
	return out, nil
}

// Allowed reports whether addr is inside one of the prefixes.
func Allowed(addr netip.Addr, nets []netip.Prefix) bool {
	addr = addr.Unmap()
	for _, p := range nets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Listener passes on the connections from allowed networks only.
type Listener struct {
	net.Listener
	Nets []netip.Prefix
	// Refused is called (on the accepting goroutine: keep it short) for
	// each connection closed.
	Refused func(addr netip.Addr)
	// Count of refused connections.
	Count atomic.Int64
}

// Accept returns the next connection from an allowed address.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err == nil && Allowed(ap.Addr(), l.Nets) {
			return c, nil
		}
		c.Close()
		l.Count.Add(1)
		if l.Refused != nil {
			l.Refused(ap.Addr().Unmap())
		}
	}
}

// Auditor records refused connections in the audit log off the accept
// path: one event per address per Window (with the count of the others),
// written by one goroutine, so a flood can neither stall accepting nor
// fill the log.
type Auditor struct {
	st      *store.Store
	service string
	log     *slog.Logger
	window  time.Duration
	ch      chan netip.Addr
	done    chan struct{}

	mu   sync.Mutex
	seen map[netip.Addr]*seen
	// Dropped counts refusals not audited because the queue was full.
	Dropped atomic.Int64
}

type seen struct {
	at     time.Time
	missed int
}

// NewAuditor starts an auditor for service ("imap", "submission"); Close
// stops it.
func NewAuditor(st *store.Store, service string, log *slog.Logger) *Auditor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Auditor{st: st, service: service, log: log, window: time.Minute, ch: make(chan netip.Addr, 256), done: make(chan struct{}), seen: map[netip.Addr]*seen{}}
	go a.run()
	return a
}

// Refused queues one refusal; use it as Listener.Refused.
func (a *Auditor) Refused(addr netip.Addr) {
	select {
	case a.ch <- addr:
	default:
		a.Dropped.Add(1)
	}
}

// Close stops the auditor once the queue is written.
func (a *Auditor) Close() {
	close(a.ch)
	<-a.done
}

func (a *Auditor) run() {
	defer close(a.done)
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("panic in refusal auditor", "panic", p)
		}
	}()
	for addr := range a.ch {
		now := time.Now()
		a.mu.Lock()
		s := a.seen[addr]
		if s != nil && now.Sub(s.at) < a.window {
			s.missed++
			a.mu.Unlock()
			continue
		}
		missed := 0
		if s != nil {
			missed = s.missed
		}
		if len(a.seen) > 10000 {
			clear(a.seen)
		}
		a.seen[addr] = &seen{at: now}
		a.mu.Unlock()
		detail := "connection from outside the internal networks closed"
		if missed > 0 {
			detail += fmt.Sprintf(" (%d more from this address not recorded)", missed)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := a.st.Audit(ctx, &store.AuditEvent{Actor: "anonymous", ActorIP: addr.String(), Action: a.service + ".refused", TargetType: "listener", Target: a.service, Outcome: "denied", Detail: detail})
		cancel()
		if err != nil {
			a.log.Error("audit refused connection", "err", err)
		}
		a.log.Warn(a.service+": connection refused: not an internal network", "remote", addr.String())
	}
}
