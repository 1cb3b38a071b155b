// Package deliverytest runs a recording SMTP server on loopback, to stand in
// for the smarthost in tests of the outbound relay.
package deliverytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the relay accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	Auth string // the user name that authenticated, if any
}

// Options shape the relay's behaviour.
type Options struct {
	// TLS offers STARTTLS with a self-signed certificate for 127.0.0.1.
	TLS bool
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
}

// Relay is a running recording SMTP server.
type Relay struct {
	Addr string
	// ClientTLS trusts the relay's certificate (for RelayConfig.TLSConfig).
	ClientTLS *tls.Config

	mu       sync.Mutex
	messages []Message
	rcptErr  map[string]*smtp.SMTPError
	dataErr  *smtp.SMTPError
	arrived  chan struct{}
	onRcpt   func(to string)
	onData   func(Message)
}

// Start runs a relay until the test ends.
func Start(t testing.TB, o Options) *Relay {
	t.Helper()
	r := &Relay{rcptErr: map[string]*smtp.SMTPError{}, arrived: make(chan struct{}, 1000)}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{r: r, c: c, o: o}, nil
	}))
	s.Domain = "relay.test"
	s.ErrorLog = nopLogger{}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if o.TLS {
		cert, pool := SelfSigned(t)
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		r.ClientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return r
}

// RejectRcpt makes RCPT TO addr fail with code (e.g. 550 or 451).
func (r *Relay) RejectRcpt(addr string, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if code == 0 {
		delete(r.rcptErr, addr)
		return
	}
	r.rcptErr[strings.ToLower(addr)] = smtpErr(code)
}

// RejectData makes DATA fail with code; 0 accepts again.
func (r *Relay) RejectData(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dataErr = nil
	if code != 0 {
		r.dataErr = smtpErr(code)
	}
}

func smtpErr(code int) *smtp.SMTPError {
	ec := smtp.EnhancedCode{5, 1, 1}
	msg := "No such user (test relay)"
	if code/100 == 4 {
		ec, msg = smtp.EnhancedCode{4, 2, 0}, "Try again later (test relay)"
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
}

// OnRcpt makes the relay call fn at each RCPT TO, before answering it
// (tests that crash the sender before DATA).
func (r *Relay) OnRcpt(fn func(to string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onRcpt = fn
}

// OnData makes the relay call fn with each message it accepts, once it is
// recorded and before the 250 reply goes out (tests that crash the sender
// between the relay's acceptance and its own bookkeeping).
func (r *Relay) OnData(fn func(Message)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onData = fn
}

// Messages returns what the relay accepted so far.
func (r *Relay) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.messages...)
}

// Wait blocks until n messages arrived or the timeout passes.
func (r *Relay) Wait(n int, timeout time.Duration) []Message {
	deadline := time.After(timeout)
	for {
		if m := r.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-r.arrived:
		case <-deadline:
			return r.Messages()
		}
	}
}

type session struct {
	r    *Relay
	c    *smtp.Conn
	o    Options
	auth string
	msg  Message
}

func (s *session) AuthMechanisms() []string {
	if s.o.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.o.Username || password != s.o.Password {
			return smtp.ErrAuthFailed
		}
		s.auth = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.o.Username != "" && s.auth == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = Message{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	hook := s.r.onRcpt
	s.r.mu.Unlock()
	if hook != nil {
		hook(to)
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if e := s.r.rcptErr[strings.ToLower(to)]; e != nil {
		return e
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(rd io.Reader) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	if s.r.dataErr != nil {
		defer s.r.mu.Unlock()
		return s.r.dataErr
	}
	_, s.msg.TLS = s.c.TLSConnectionState()
	s.msg.Data, s.msg.Auth = data, s.auth
	s.r.messages = append(s.r.messages, s.msg)
	select {
	case s.r.arrived <- struct{}{}:
	default:
	}
	hook, msg := s.r.onData, s.msg
	s.r.mu.Unlock()
	if hook != nil {
		hook(msg)
	}
	return nil
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// SelfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func SelfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool
}
