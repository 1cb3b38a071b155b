package sms_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"airlock/delivery"
	"airlock/governance"
	"airlock/sms"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

var _ governance.SMSRouter = (*sms.Gateway)(nil)

func TestAddresses(t *testing.T) {
	a := sms.Addresses{Domain: "sms.example.nhs.uk"}
	for addr, want := range map[string]string{
		"+447700900123@sms.example.nhs.uk": "+447700900123", "+44 7700-900123@SMS.example.nhs.uk": "+447700900123",
		"447700900123@sms.example.nhs.uk": "", "+447700900123@example.nhs.uk": "", "+44abc@sms.example.nhs.uk": "", "+0123456789@sms.example.nhs.uk": "",
	} {
		got, ok := a.Number(addr)
		if got != want || ok != (want != "") {
			t.Errorf("Number(%q) = %q %v", addr, got, ok)
		}
	}
	if err := sms.CheckURL("http://provider.example/send"); err == nil {
		t.Error("plain http to a remote provider accepted")
	}
}

// provider is a fake SMS provider: it records what it gets and answers
// with the status set for a number (200 otherwise).
type provider struct {
	mu     sync.Mutex
	got    []sms.Message
	auth   []string
	status map[string]int
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m sms.Message
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, m)
	p.auth = append(p.auth, r.Header.Get("Authorization"))
	if code := p.status[m.To]; code != 0 {
		http.Error(w, "refused", code)
		return
	}
	w.Write([]byte(`{"id":"abc"}`))
}

func inbox(t *testing.T, st *store.Store, u *store.User) []store.Item {
	t.Helper()
	f, _ := st.FolderByType(ctx, u.ID, store.FolderInbox)
	its, err := st.ListItems(ctx, u.ID, f.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return its
}

func TestMailToSMSReachesTheProviderAndFailuresBounce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		p := &provider{status: map[string]int{"+447700900999": 400, "+447700900555": 503}}
		hs := httptest.NewServer(p)
		defer hs.Close()
		now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		gw := (&sms.Gateway{Store: st, Provider: &sms.Webhook{URL: hs.URL, Token: "s3cret"}, Addresses: sms.Addresses{Domain: "sms.example.nhs.uk"},
			Hostname: "mail.example.nhs.uk", MaxAttempts: 2, Now: func() time.Time { return now }}).Init()
		g := &governance.Service{Store: st, Hostname: "mail.example.nhs.uk", Now: func() time.Time { return now }}
		svc := &delivery.Service{Store: st, Hostname: "mail.example.nhs.uk", Rules: &governance.Rules{Service: g, SMS: gw}}
		alice := &store.User{Email: "alice@example.nhs.uk", DisplayName: "Alice"}
		if err := st.CreateUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		send := func(to, subject, body string) *delivery.Result {
			t.Helper()
			res, err := svc.Submit(ctx, delivery.Submission{User: alice, SaveInSent: true,
				MIME: []byte("To: " + to + "\r\nSubject: " + subject + "\r\n\r\n" + body + "\r\n")})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		// No relay is configured: SMS needs none.
		res := send("+447700900123@sms.example.nhs.uk", "Appointment", "Your appointment is at 10:30 on Tuesday.\r\n\r\n> earlier text\r\n-- \r\nAlice, Outpatients")
		if len(res.SMS) != 1 || len(res.Remote) != 0 {
			t.Fatalf("result: %+v", res)
		}
		if n, err := gw.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("run: %d %v", n, err)
		}
		if len(p.got) != 1 || p.got[0].To != "+447700900123" || p.got[0].Text != "Your appointment is at 10:30 on Tuesday." || p.got[0].Ref == "" || p.auth[0] != "Bearer s3cret" {
			t.Fatalf("provider got %+v (auth %v)", p.got, p.auth)
		}
		if out, _ := st.SMSOutbox(ctx); len(out) != 0 {
			t.Fatalf("outbox after success: %+v", out)
		}
		if n := len(inbox(t, st, alice)); n != 0 {
			t.Fatalf("%d notices after success (NotifySuccess is off)", n)
		}

		// The provider refuses a number: the sender gets a bounce, once.
		send("+447700900999@sms.example.nhs.uk", "Results ready", "Please call the clinic.")
		gw.RunOnce(ctx)
		gw.RunOnce(ctx)
		its := inbox(t, st, alice)
		if len(its) != 1 || !strings.HasPrefix(its[0].Subject, "Undeliverable (SMS)") {
			t.Fatalf("sender's inbox after a refusal: %+v", its)
		}
		raw, _ := st.Blob(ctx, alice.ID, its[0].ID)
		if !strings.Contains(string(raw), "+447700900999@sms.example.nhs.uk") || !strings.Contains(string(raw), "400") {
			t.Fatalf("bounce:\n%s", raw)
		}

		// A provider that keeps failing: retried, then bounced.
		send("+447700900555@sms.example.nhs.uk", "Reminder", "Fasting from midnight.")
		gw.RunOnce(ctx)
		if out, _ := st.SMSOutbox(ctx); len(out) != 1 || out[0].Attempts != 1 {
			t.Fatalf("after a temporary failure: %+v", out)
		}
		if n := len(inbox(t, st, alice)); n != 1 {
			t.Fatalf("bounced before giving up: %d", n)
		}
		now = now.Add(time.Hour)
		gw.RunOnce(ctx)
		if out, _ := st.SMSOutbox(ctx); len(out) != 0 {
			t.Fatalf("outbox after giving up: %+v", out)
		}
		if n := len(inbox(t, st, alice)); n != 2 {
			t.Fatalf("%d notices after giving up", n)
		}

		// Sensitive mail is never sent by SMS.
		before := len(p.got)
		send("+447700900123@sms.example.nhs.uk", "[secure] HIV result", "Negative.")
		gw.RunOnce(ctx)
		its = inbox(t, st, alice)
		if len(p.got) != before || !strings.HasPrefix(its[len(its)-1].Subject, "Not sent by SMS") {
			t.Fatalf("sensitive SMS: provider %d, last notice %q", len(p.got)-before, its[len(its)-1].Subject)
		}
		if gw.PanicsRecovered.Load() != 0 {
			t.Fatal("panics")
		}
	})
}

// Mail from outside to an SMS address is refused: no open SMS relay.
func TestSMSAddressesRefusedWithoutAuth(t *testing.T) {
	st := storetest.OpenSQLite(t)
	gw := (&sms.Gateway{Store: st, Provider: &sms.Webhook{URL: "http://127.0.0.1:1"}, Addresses: sms.Addresses{Domain: "sms.example.nhs.uk"}}).Init()
	svc := &delivery.Service{Store: st, Hostname: "mx.example.nhs.uk", Rules: &governance.Rules{Service: &governance.Service{Store: st}, SMS: gw}}
	l := delivery.NewListeners(svc, delivery.ListenerConfig{}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go l.ServeSMTP(ln)
	defer l.Shutdown(ctx)
	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("spam@elsewhere.example", nil); err != nil {
		t.Fatal(err)
	}
	var se *smtp.SMTPError
	if err := c.Rcpt("+447700900123@sms.example.nhs.uk", nil); !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("unauthenticated RCPT to an SMS address: %v", err)
	}
}
