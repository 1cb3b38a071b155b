// Package connlimit caps how many connections one remote address may hold
// open on a listener, so that a single client cannot take every connection
// the server can hold (slow bodies, idle keep-alives).
//
// Implementation notes: the listener counts open connections per address
// (IPv4-mapped addresses counted as IPv4) and closes a connection over the
// cap as soon as it is accepted, before a byte is read or written. A
// connection gives its place back when it is closed, by whoever closes it:
// net/http, or the EAS handler that took a held Ping's connection over. The
// connections it returns keep the socket's syscall.Conn and CloseWrite, so
// the held-Ping watcher and net/http's lingering close work as before.
//
// One address may be many clients: a hospital behind one NAT address, or a
// proxy or load balancer in front of the server (then every connection
// comes from it, and the cap belongs on the proxy).
package connlimit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// Listener passes on connections while their address holds fewer than Max.
type Listener struct {
	net.Listener
	// Max is the most connections one address may hold open; 0 or less
	// means no cap.
	Max int
	// Refused is called (on the accepting goroutine: keep it short) for
	// each connection closed for being over the cap.
	Refused func(addr netip.Addr)
	// Count of refused connections.
	Count atomic.Int64

	mu   sync.Mutex
	open map[netip.Addr]int
}

// Accept returns the next connection whose address is under the cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.Max <= 0 {
			return c, nil
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil { // not an IP connection (a test pipe): no address to count
			return c, nil
		}
		addr := ap.Addr().Unmap()
		if l.take(addr) {
			return &conn{Conn: c, release: func() { l.give(addr) }}, nil
		}
		c.Close()
		l.Count.Add(1)
		if l.Refused != nil {
			l.Refused(addr)
		}
	}
}

// Open returns how many connections addr holds open now.
func (l *Listener) Open(addr netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[addr.Unmap()]
}

func (l *Listener) take(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open = map[netip.Addr]int{}
	}
	if l.open[addr] >= l.Max {
		return false
	}
	l.open[addr]++
	return true
}

func (l *Listener) give(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[addr]--; l.open[addr] <= 0 {
		delete(l.open, addr)
	}
}

// conn gives its address's place back once, when closed.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

var errNoSyscallConn = errors.New("connlimit: connection has no file descriptor")

// SyscallConn exposes the socket, for the held-Ping watcher (epoll).
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}

// CloseWrite half-closes the socket, as net/http does before closing a
// connection whose request it refused.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
