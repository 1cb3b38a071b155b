package connlimit_test

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"airlock/internal/connlimit"
)

// Per-address connection cap: one address opens connections until the cap;
// the next is closed at once, and a connection closed gives its place back.
// Another address is not affected.
func TestSlowRequestBodiesConnectionCapPerAddress(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &connlimit.Listener{Listener: raw, Max: 3}
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for range 3 {
		dial()
		held = append(held, <-accepted)
	}
	over := dial()
	if !closedByServer(over) {
		t.Fatal("a fourth connection from the address was kept")
	}
	if ln.Count.Load() != 1 || ln.Open(netip.MustParseAddr("127.0.0.1")) != 3 {
		t.Fatalf("refused %d, open %d", ln.Count.Load(), ln.Open(netip.MustParseAddr("127.0.0.1")))
	}
	held[0].Close()
	dial()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("a closed connection did not give its place back")
	}
	// 127.0.0.2 is another address (Linux routes all of 127/8 to lo).
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	defer c.Close()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("another address was refused")
	}
}

// closedByServer reports whether the server closes c within 10 s.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	ne, ok := err.(net.Error)
	return err != nil && !(ok && ne.Timeout())
}

// Under net/http, idle keep-alive connections count, and closing them (the
// server's IdleTimeout, a client going away) frees their places.
func TestSlowRequestBodiesConnectionCapUnderHTTP(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &connlimit.Listener{Listener: raw, Max: 2}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(ln)
	defer srv.Close()
	get := func(c *http.Client) error {
		resp, err := c.Get("http://" + raw.Addr().String() + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	clients := make([]*http.Client, 3)
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}, Timeout: 10 * time.Second}
	}
	for _, c := range clients[:2] {
		if err := get(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := get(clients[2]); err == nil {
		t.Fatal("a third keep-alive connection was served")
	}
	clients[0].CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for ln.Open(netip.MustParseAddr("127.0.0.1")) > 1 {
		if time.Now().After(deadline) {
			t.Fatal("a closed keep-alive connection kept its place")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := get(clients[2]); err != nil {
		t.Fatal(err)
	}
}
