package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"airlock/internal/password"
	"airlock/internal/server"
	"airlock/store"
)

// serve wires IMAP and submission (internal networks only) and the SMS
// gateway: a desktop client logs in over IMAP, sends to an SMS address
// through submission, and the provider receives it.
func TestRunWiresIMAPSubmissionAndSMS(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "airlock.db")
	got := make(chan string, 1)
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ To, Text string }
		json.NewDecoder(r.Body).Decode(&m)
		got <- m.To + " " + m.Text
	}))
	defer provider.Close()
	cfg := server.Config{DB: db, Listen: "127.0.0.1:0", PlainHTTP: true, Hostname: "airlock.test", Domain: "example.nhs.uk", DataDir: dir}
	cfg.IMAPListen, cfg.SubmissionListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.InternalNetworks = "127.0.0.1/32"
	cfg.SMSWebhook = provider.URL

	st, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := password.Hash("pw-123456", password.Default)
	if err := st.CreateUser(context.Background(), &store.User{Email: "alice@example.nhs.uk", DisplayName: "Alice", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, slog.New(slog.DiscardHandler), out) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	}()
	var imapAddr, subAddr string
	for deadline := time.Now().Add(20 * time.Second); imapAddr == "" || subAddr == ""; {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", out.b.String())
		}
		select {
		case err := <-done:
			t.Fatalf("Run: %v\n%s", err, out.b.String())
		case <-time.After(20 * time.Millisecond):
		}
		imapAddr = out.find(regexp.MustCompile(`imap listening on (\S+)`))
		subAddr = out.find(regexp.MustCompile(`submission listening on (\S+)`))
	}
	insecure := &tls.Config{InsecureSkipVerify: true} // the generated certificate
	c, err := imapclient.DialTLS(imapAddr, &imapclient.Options{TLSConfig: insecure})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.nhs.uk", "pw-123456").Wait(); err != nil {
		t.Fatalf("IMAP login: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	s, err := smtp.DialStartTLS(subAddr, insecure)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Auth(sasl.NewPlainClient("", "alice@example.nhs.uk", "pw-123456")); err != nil {
		t.Fatal(err)
	}
	if err := s.SendMail("alice@example.nhs.uk", []string{"+447700900123@sms.example.nhs.uk"}, strings.NewReader("From: alice@example.nhs.uk\r\nTo: +447700900123@sms.example.nhs.uk\r\nSubject: Clinic\r\n\r\nClinic moved to room 4.\r\n")); err != nil {
		t.Fatalf("submission to an SMS address: %v", err)
	}
	select {
	case m := <-got:
		if m != "+447700900123 Clinic moved to room 4." {
			t.Fatalf("provider got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the SMS did not reach the provider")
	}
}
