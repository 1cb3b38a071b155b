package activesync

// Held Pings without net/http.
//
// A Ping that waits inside its handler keeps everything net/http gives a
// request in flight: the connection's 4 KiB read and 4 KiB write buffers,
// the response's 2 KiB buffer, the parsed request and its headers, the
// handler goroutine with a stack grown by the middleware and the command,
// and a second goroutine that watches the connection. That is about 30 KB
// of live memory per Ping, and twice that in RSS once the collector's
// headroom is counted: too much for tens of thousands of idle phones.
//
// So once a Ping has passed its checks and only has to wait, ServeHTTP
// takes the HTTP/1.1 connection over (http.ResponseController.Hijack) and
// returns, which releases all of that. The wait goes on in a small
// goroutine (pingWait.run); a device that goes away (EOF or reset) is
// noticed so a dropped Ping does not leak: on Linux by one epoll instance
// for all held Pings (connwatch_linux.go), elsewhere by a goroutine per
// Ping blocked in a one-byte read. The answer is written by hand with
// "Connection: close": the device opens a new connection for its next
// request, which HTTP/1.1 allows after any response. Over TLS the read
// watches the TCP connection under the TLS one and the answer goes through
// the TLS connection. When the connection cannot be taken over (HTTP/2, a
// ResponseWriter that cannot hijack, PingOptions.KeepInHandler) the Ping
// waits in the handler as before; both paths run the same pingWait.run.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"airlock/activesync/wbxml"
	"airlock/internal/metrics"
)

// detachedWriteTimeout bounds writing a held Ping's answer to a device
// that stopped reading.
const detachedWriteTimeout = 30 * time.Second

// detach takes the connection of r over from net/http and runs the Ping's
// wait on it in its own goroutine. It returns false, having changed
// nothing, when the connection cannot be taken: the caller then waits in
// the handler.
func (h *Handler) detach(w http.ResponseWriter, r *http.Request, pw *pingWait) bool {
	if h.push.opts.KeepInHandler || r.ProtoMajor != 1 {
		return false
	}
	// The headers set so far (MS-Server-ActiveSync) go into the answer.
	var head strings.Builder
	w.Header().Write(&head)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	// Bytes already read past the request mean the device sent something
	// more while it should be waiting: end the Ping at once, as a newer
	// request of the device would. rw's buffers are net/http's, dropped
	// here on purpose.
	pending := rw.Reader.Buffered() > 0
	h.push.detached.Add(1)
	metrics.ActivePings.Inc() // the web layer's count ends when ServeHTTP returns
	go pw.detached(context.WithoutCancel(r.Context()), conn, head.String(), pending)
	return true
}

// detached runs the wait of a Ping whose connection ServeHTTP took over,
// then answers it and closes the connection.
func (pw *pingWait) detached(ctx context.Context, conn net.Conn, head string, pending bool) {
	h := pw.h
	defer h.push.detached.Done()
	defer h.push.leave(pw.devicePK, pw.hp.seq) // ServeHTTP left it to us
	defer metrics.ActivePings.Dec()
	defer conn.Close()
	defer func() {
		if p := recover(); p != nil {
			h.PanicsRecovered.Add(1)
			pw.log.Error("panic in a held Ping", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn() // watch the socket; TLS records are not read any more
	}
	gone := make(chan struct{})
	if pending {
		close(gone)
	} else {
		stop := watchGone(raw, gone)
		defer stop() // before conn.Close, deferred above
	}
	resp := pw.run(ctx, gone)
	conn.SetWriteDeadline(time.Now().Add(detachedWriteTimeout))
	if err := writeDetached(conn, head, resp); err != nil {
		pw.log.Debug("Ping answer not delivered", "err", err)
	}
}

// watchByReading closes gone when the device closes or resets c or sends
// anything (a device waits in silence for its Ping's answer): a goroutine
// blocked in a one-byte read. stop ends the read. watchGone uses it where
// it has nothing lighter (connwatch_linux.go).
func watchByReading(c net.Conn, gone chan struct{}) (stop func()) {
	go func() {
		var b [1]byte
		c.Read(b[:])
		close(gone)
	}()
	return func() { c.SetReadDeadline(time.Unix(1, 0)) }
}

// writeDetached writes resp as net/http would, closing the connection
// after it.
func writeDetached(c net.Conn, head string, resp *Response) error {
	status, ctype := "200 OK", "application/vnd.ms-sync.wbxml"
	body, err := wbxml.Marshal(resp.Doc)
	if err != nil {
		status, ctype, body = "500 Internal Server Error", "text/plain; charset=utf-8", []byte("server error\n")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\n%s", status, head)
	resp.Header.Write(&b)
	fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\nConnection: close\r\n\r\n",
		ctype, len(body), time.Now().UTC().Format(http.TimeFormat))
	b.Write(body)
	_, err = c.Write(b.Bytes())
	return err
}

// WaitHeldRequests waits until every Ping held outside net/http has
// written its answer, or until ctx ends. http.Server.Shutdown does not wait
// for them (it gave their connections up): call this after
// EndHeldRequests, which makes them answer at once.
func (h *Handler) WaitHeldRequests(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		h.push.detached.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
