package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"airlock/internal/password"
	"airlock/internal/server"
	"airlock/store"
)

// runWith starts Run on a fresh SQLite database holding alice and waits for
// the banner lines named by want ("Airlock" for HTTPS, "SMTP", ...), returning their
// addresses; the server stops at the end of the test.
func runWith(t *testing.T, cfg server.Config, want ...string) (map[string]string, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	cfg.DB, cfg.DataDir = filepath.Join(dir, "airlock.db"), dir
	cfg.Listen, cfg.Hostname, cfg.Domain = "127.0.0.1:0", "mx.example.nhs.uk", "example.nhs.uk"
	st, err := store.Open(context.Background(), cfg.DB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, _ := password.Hash("pw-123456", password.Default)
	if err := st.CreateUser(context.Background(), &store.User{Email: "alice@example.nhs.uk", DisplayName: "Alice", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, slog.New(slog.DiscardHandler), out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	addrs := map[string]string{}
	for deadline := time.Now().Add(20 * time.Second); len(addrs) < len(want); {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", out.b.String())
		}
		select {
		case err := <-done:
			t.Fatalf("Run: %v\n%s", err, out.b.String())
		case <-time.After(20 * time.Millisecond):
		}
		for _, w := range want {
			re := regexp.MustCompile(regexp.QuoteMeta(w) + ` listening on (?:https?://)?(\S+)`)
			if a := out.find(re); a != "" {
				addrs[w] = a
			}
		}
	}
	return addrs, st
}

var (
	cbcOnly = &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	}}
	aeadTLS12 = &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
)

// TLS 1.2 offers only forward-secret AEAD suites on every TLS listener
// (HTTPS, SMTP STARTTLS, IMAP, submission): a client offering only CBC
// suites (or static RSA key exchange) fails the handshake; a TLS 1.2
// client with the usual suites connects with GCM or ChaCha20-Poly1305.
func TestTLSOffersOnlyAEADSuites(t *testing.T) {
	var cfg server.Config
	cfg.SMTPListen, cfg.IMAPListen, cfg.SubmissionListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	addrs, _ := runWith(t, cfg, "Airlock", "SMTP", "imap", "submission")

	handshake := func(name string, tc *tls.Config) (tls.ConnectionState, error) {
		if name == "SMTP" || name == "submission" {
			return startTLS(addrs[name], tc)
		}
		c, err := tls.Dial("tcp", addrs[name], tc)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}
	aead := map[uint16]bool{}
	for _, s := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		aead[s] = true
	}
	for _, name := range []string{"Airlock", "SMTP", "imap", "submission"} {
		t.Run(name, func(t *testing.T) {
			if _, err := handshake(name, cbcOnly); err == nil {
				t.Fatal("handshake with CBC suites only succeeded")
			}
			st, err := handshake(name, aeadTLS12)
			if err != nil {
				t.Fatalf("TLS 1.2 with AEAD suites: %v", err)
			}
			if !aead[st.CipherSuite] {
				t.Fatalf("negotiated %s", tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
}

// The LMTP listener takes connections from the internal networks only
// (closed before the greeting, and audited), and port 25 refuses a message
// from outside that claims the organisation's domain, as serve wires them.
func TestLMTPListenerRefusesNonInternalAddresses(t *testing.T) {
	var cfg server.Config
	cfg.PlainHTTP = true
	cfg.SMTPListen, cfg.LMTPListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.InternalNetworks = "10.0.0.0/8" // the test client, 127.0.0.1, is outside
	addrs, st := runWith(t, cfg, "SMTP", "LMTP")

	c, err := net.Dial("tcp", addrs["LMTP"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Fatalf("LMTP from outside the internal networks: read %q, %v; want closed before the greeting", b, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "lmtp.refused"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("refused LMTP connection not audited")
		}
		time.Sleep(20 * time.Millisecond)
	}

	s, err := smtp.Dial(addrs["SMTP"])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.SendMail("alice@example.nhs.uk", []string{"alice@example.nhs.uk"}, strings.NewReader("From: alice@example.nhs.uk\r\nSubject: Payroll\r\n\r\nPlease update my bank details.\r\n"))
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 {
		t.Fatalf("spoofed internal sender from outside: %v, want 550", err)
	}
}

// Slow request bodies, as serve wires it (through the web stack): a body
// trickled a byte at a time is cut off at its deadline, and one address
// may hold at most MaxConnsPerAddress connections to the HTTPS listener.
func TestSlowRequestBodiesWired(t *testing.T) {
	var cfg server.Config
	cfg.PlainHTTP = true
	cfg.MaxConnsPerAddress = 2
	cfg.BodyTimeout = 200 * time.Millisecond
	addrs, _ := runWith(t, cfg, "Airlock")

	slow, err := net.Dial("tcp", addrs["Airlock"])
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(slow, "POST /Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceId=d&DeviceType=t HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(slow); err != nil {
		t.Fatalf("a trickled body held the connection: %v", err)
	}
	slow.Close()
	for range 2 {
		c, err := net.Dial("tcp", addrs["Airlock"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "POST /Microsoft-Server-ActiveSync?Cmd=Sync HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	c, err := net.Dial("tcp", addrs["Airlock"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Fatalf("a third connection from one address was served: %.40q", b)
	}
}

// startTLS speaks SMTP up to STARTTLS and runs the handshake itself, so
// that its error is seen (a client's lazy handshake would hide it).
func startTLS(addr string, tc *tls.Config) (tls.ConnectionState, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return tls.ConnectionState{}, err
	}
	for _, cmd := range []string{"EHLO client.test", "STARTTLS"} {
		code := 250
		if cmd == "STARTTLS" {
			code = 220
		}
		if err := tp.PrintfLine("%s", cmd); err != nil {
			return tls.ConnectionState{}, err
		}
		if _, _, err := tp.ReadResponse(code); err != nil {
			return tls.ConnectionState{}, err
		}
	}
	c := tls.Client(conn, tc)
	if err := c.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.ConnectionState(), nil
}
