package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"airlock/delivery"
	"airlock/delivery/deliverytest"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

const simple = "From: Someone <someone@elsewhere.example>\r\nTo: alice@example.nhs.uk\r\nSubject: Results\r\nMessage-ID: <r1@elsewhere.example>\r\nDate: Mon, 10 Jun 2024 10:00:00 +0000\r\n\r\nThe results are in.\r\n"

func addUser(t testing.TB, st *store.Store, email string) *store.User {
	t.Helper()
	u := &store.User{Email: email, DisplayName: strings.Split(email, "@")[0]}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

func folder(t testing.TB, st *store.Store, u *store.User, ft store.FolderType) *store.Folder {
	t.Helper()
	f, err := st.FolderByType(ctx, u.ID, ft)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func items(t testing.TB, st *store.Store, u *store.User, ft store.FolderType) []store.Item {
	t.Helper()
	its, err := st.ListItems(ctx, u.ID, folder(t, st, u, ft).ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return its
}

func blob(t testing.TB, st *store.Store, it store.Item) []byte {
	t.Helper()
	b, err := st.Blob(ctx, it.UserID, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listen starts SMTP and LMTP listeners on loopback.
func listen(t testing.TB, svc *delivery.Service, cfg delivery.ListenerConfig) (smtpAddr, lmtpAddr string, l *delivery.Listeners) {
	t.Helper()
	l = delivery.NewListeners(svc, cfg, nil)
	s, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go l.ServeSMTP(s)
	go l.ServeLMTP(m)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(ctx)
		if n := l.PanicsRecovered.Load(); n != 0 {
			t.Errorf("%d panics recovered in SMTP sessions", n)
		}
	})
	return s.Addr().String(), m.Addr().String(), l
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestSMTPDeliversOnceToLocalUsersAndRefusesUnknown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		alice := addUser(t, st, "alice@example.nhs.uk")
		bob := addUser(t, st, "bob@example.nhs.uk")
		if err := st.AddAlias(ctx, bob.ID, "ward7@example.nhs.uk"); err != nil {
			t.Fatal(err)
		}
		svc := &delivery.Service{Store: st, Hostname: "mx.example.nhs.uk"}
		addr, _, l := listen(t, svc, delivery.ListenerConfig{})

		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("someone@elsewhere.example", nil); err != nil {
			t.Fatal(err)
		}
		for _, rc := range []string{"alice@example.nhs.uk", "WARD7@example.nhs.uk", "bob@example.nhs.uk"} {
			if err := c.Rcpt(rc, nil); err != nil {
				t.Fatalf("RCPT %s: %v", rc, err)
			}
		}
		err = c.Rcpt("nobody@example.nhs.uk", nil)
		if code := smtpCode(err); code != 550 || !strings.Contains(err.Error(), "No such user") {
			t.Fatalf("unknown recipient: %v, want 550 5.1.1", err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(simple))
		if err := w.Close(); err != nil {
			t.Fatalf("DATA: %v", err)
		}
		c.Quit()

		ai, bi := items(t, st, alice, store.FolderInbox), items(t, st, bob, store.FolderInbox)
		if len(ai) != 1 || len(bi) != 1 {
			t.Fatalf("alice has %d, bob %d (alias and address: one copy); want 1 and 1", len(ai), len(bi))
		}
		if ai[0].BlobID == nil || bi[0].BlobID == nil || *ai[0].BlobID != *bi[0].BlobID {
			t.Fatal("the raw message is not stored once for both recipients")
		}
		if ai[0].Subject != "Results" || ai[0].Preview == "" {
			t.Fatalf("summary not parsed: %+v", ai[0])
		}
		raw := blob(t, st, ai[0])
		if !bytes.HasPrefix(raw, []byte("Received: from ")) || !bytes.Contains(raw, []byte("by mx.example.nhs.uk (Airlock) with ESMTP")) {
			t.Fatalf("no Received field on top:\n%s", raw[:200])
		}
		if bytes.Contains(raw[:300], []byte("for <")) {
			t.Fatal("Received names a recipient of a message with several")
		}
		if !bytes.HasSuffix(raw, []byte(simple)) {
			t.Fatal("the message was altered below the Received field")
		}
		if l.Delivered.Load() != 1 {
			t.Fatalf("delivered counter %d", l.Delivered.Load())
		}
	})
}

func TestSMTPOversizedMessageIsRefusedAndNothingStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		alice := addUser(t, st, "alice@example.nhs.uk")
		svc := &delivery.Service{Store: st}
		addr, lmtpAddr, _ := listen(t, svc, delivery.ListenerConfig{MaxMessageSize: 4096})
		big := simple + strings.Repeat("x", 80) + "\r\n"
		big = strings.Repeat(big, 60) // ~10 KB

		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Announced size over the limit: refused at MAIL.
		if err := c.Mail("a@elsewhere.example", &smtp.MailOptions{Size: 10000}); smtpCode(err) != 552 {
			t.Fatalf("MAIL SIZE=10000: %v, want 552", err)
		}
		// Unannounced: refused after DATA.
		if err := c.Mail("a@elsewhere.example", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("alice@example.nhs.uk", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(big))
		if err := w.Close(); smtpCode(err) != 552 {
			t.Fatalf("oversized DATA: %v, want 552", err)
		}
		// Same over LMTP.
		conn, err := net.Dial("tcp", lmtpAddr)
		if err != nil {
			t.Fatal(err)
		}
		lc := smtp.NewClientLMTP(conn)
		defer lc.Close()
		if err := lc.Mail("a@elsewhere.example", nil); err != nil {
			t.Fatal(err)
		}
		if err := lc.Rcpt("alice@example.nhs.uk", nil); err != nil {
			t.Fatal(err)
		}
		lw, err := lc.Data()
		if err != nil {
			t.Fatal(err)
		}
		lw.Write([]byte(big))
		if err := lw.Close(); err == nil || !strings.Contains(err.Error(), "552") {
			t.Fatalf("oversized LMTP DATA: %v, want 552", err)
		}
		if n := len(items(t, st, alice, store.FolderInbox)); n != 0 {
			t.Fatalf("%d items stored from refused messages", n)
		}
	})
}

func TestSMTPMalformedMessageIsRefused(t *testing.T) {
	st := storetest.OpenSQLite(t)
	alice := addUser(t, st, "alice@example.nhs.uk")
	addr, _, _ := listen(t, &delivery.Service{Store: st}, delivery.ListenerConfig{})
	err := sendPlain(addr, "a@elsewhere.example", []string{"alice@example.nhs.uk"}, "\x00\x01binary garbage\r\n")
	if smtpCode(err) != 554 {
		t.Fatalf("garbage DATA: %v, want 554 5.6.0", err)
	}
	if n := len(items(t, st, alice, store.FolderInbox)); n != 0 {
		t.Fatalf("%d items stored", n)
	}
}

func TestLMTPDeliversWithPerRecipientReplies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		alice := addUser(t, st, "alice@example.nhs.uk")
		_, lmtpAddr, _ := listen(t, &delivery.Service{Store: st, Hostname: "mx.test"}, delivery.ListenerConfig{})
		conn, err := net.Dial("tcp", lmtpAddr)
		if err != nil {
			t.Fatal(err)
		}
		c := smtp.NewClientLMTP(conn)
		defer c.Close()
		if err := c.Mail("a@elsewhere.example", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("alice@example.nhs.uk", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("ghost@example.nhs.uk", nil); smtpCode(err) != 550 {
			t.Fatalf("unknown LMTP recipient: %v, want 550", err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(simple))
		resp, err := w.CloseWithLMTPResponse()
		if err != nil {
			t.Fatalf("LMTP DATA: %v", err)
		}
		if len(resp) != 1 || resp["alice@example.nhs.uk"] == nil {
			t.Fatalf("LMTP replies %v", resp)
		}
		its := items(t, st, alice, store.FolderInbox)
		if len(its) != 1 {
			t.Fatalf("alice has %d items", len(its))
		}
		raw := blob(t, st, its[0])
		if !bytes.Contains(raw[:300], []byte("with LMTP")) || !bytes.Contains(raw[:300], []byte("for <alice@example.nhs.uk>")) {
			t.Fatalf("Received field:\n%s", raw[:300])
		}
	})
}

// Without AUTH the SMTP listener takes local recipients only; with AUTH
// (over STARTTLS) a user submits to anyone, From is forced to them and the
// relay gets the remote part.
func TestSMTPIsNoOpenRelayButTakesAuthenticatedSubmission(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		alice := addUser(t, st, "alice@example.nhs.uk")
		bob := addUser(t, st, "bob@example.nhs.uk")
		relay := deliverytest.Start(t, deliverytest.Options{TLS: true})
		r := delivery.NewRelay(st, delivery.RelayConfig{Addr: relay.Addr, TLSConfig: relay.ClientTLS, Hostname: "mx.test"}, nil)
		svc := &delivery.Service{Store: st, Hostname: "mx.test", Relay: r}
		cert, pool := deliverytest.SelfSigned(t)
		addr, _, _ := listen(t, svc, delivery.ListenerConfig{
			TLSConfig: tlsServer(cert),
			Authenticate: func(ctx context.Context, user, pw, ip string) (*store.User, error) {
				if user == "alice@example.nhs.uk" && pw == "pw" {
					return alice, nil
				}
				return nil, errors.New("bad")
			},
		})

		// Anonymous relay attempt.
		err := sendPlain(addr, "spammer@elsewhere.example", []string{"victim@elsewhere.example"}, simple)
		if smtpCode(err) != 550 {
			t.Fatalf("anonymous relay: %v, want 550", err)
		}
		if q, _ := st.OutboundQueue(ctx); len(q) != 0 {
			t.Fatalf("anonymous mail queued for the relay: %d", len(q))
		}

		c, err := smtp.DialStartTLS(addr, tlsClient(pool))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.nhs.uk", "wrong")); smtpCode(err) != 535 {
			t.Fatalf("bad password: %v, want 535", err)
		}
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.nhs.uk", "pw")); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("bob@example.nhs.uk", nil); smtpCode(err) != 553 {
			t.Fatalf("MAIL FROM someone else: %v, want 553", err)
		}
		if err := c.Mail("alice@example.nhs.uk", nil); err != nil {
			t.Fatal(err)
		}
		for _, rc := range []string{"bob@example.nhs.uk", "colleague@other-trust.example"} {
			if err := c.Rcpt(rc, nil); err != nil {
				t.Fatalf("RCPT %s: %v", rc, err)
			}
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "From: The Boss <boss@example.nhs.uk>\r\nTo: bob@example.nhs.uk, colleague@other-trust.example\r\nSubject: Rota\r\n\r\nRota attached.\r\n")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		c.Quit()

		if n := len(items(t, st, bob, store.FolderInbox)); n != 1 {
			t.Fatalf("bob has %d", n)
		}
		if _, err := r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		got := relay.Wait(1, 5*time.Second)
		if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "colleague@other-trust.example" || !got[0].TLS {
			t.Fatalf("relay got %+v", got)
		}
		if !bytes.Contains(got[0].Data, []byte("From: \"alice\" <alice@example.nhs.uk>")) || bytes.Contains(got[0].Data, []byte("boss@")) {
			t.Fatalf("From not forced to the authenticated user:\n%s", got[0].Data)
		}
	})
}

func submit(t *testing.T, svc *delivery.Service, u *store.User, clientID, mime string) (*delivery.Result, error) {
	t.Helper()
	return svc.Submit(ctx, delivery.Submission{User: u, ClientID: clientID, MIME: []byte(mime), SaveInSent: true, RemoteAddr: "192.0.2.1"})
}

func TestSubmitLocalRemoteSentBccAndClientID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		alice := addUser(t, st, "alice@example.nhs.uk")
		bob := addUser(t, st, "bob@example.nhs.uk")
		carol := addUser(t, st, "carol@example.nhs.uk")
		relay := deliverytest.Start(t, deliverytest.Options{})
		r := delivery.NewRelay(st, delivery.RelayConfig{Addr: relay.Addr, DisableStartTLS: true}, nil)
		svc := &delivery.Service{Store: st, Hostname: "mx.test", Relay: r}

		mime := "From: Mallory <mallory@evil.example>\r\nTo: bob@example.nhs.uk, far@other.example\r\nBcc: carol@example.nhs.uk\r\nSubject: Handover\r\n\r\nBed 4 needs review.\r\n"
		res, err := submit(t, svc, alice, "CID-1", mime)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Local) != 2 || len(res.Remote) != 1 {
			t.Fatalf("result %+v", res)
		}
		bi, ci, sent := items(t, st, bob, store.FolderInbox), items(t, st, carol, store.FolderInbox), items(t, st, alice, store.FolderSentItems)
		if len(bi) != 1 || len(ci) != 1 || len(sent) != 1 {
			t.Fatalf("bob %d, carol (Bcc) %d, alice's Sent Items %d; want 1 each", len(bi), len(ci), len(sent))
		}
		if !sent[0].Read || *sent[0].BlobID != *bi[0].BlobID {
			t.Fatal("Sent Items copy unread or not sharing the blob")
		}
		raw := blob(t, st, bi[0])
		if bytes.Contains(raw, []byte("Bcc")) || bytes.Contains(raw, []byte("mallory")) {
			t.Fatalf("Bcc kept or From not forced:\n%s", raw)
		}
		if !strings.Contains(bi[0].FromAddr, "alice@example.nhs.uk") {
			t.Fatalf("From = %q", bi[0].FromAddr)
		}
		q, _ := st.OutboundQueue(ctx)
		if len(q) != 1 || q[0].RcptTo != "far@other.example" || q[0].MailFrom != "alice@example.nhs.uk" {
			t.Fatalf("queue %+v", q)
		}

		// A resend with the same ClientId: refused, nothing twice.
		if _, err := submit(t, svc, alice, "CID-1", mime); !errors.Is(err, delivery.ErrAlreadySent) {
			t.Fatalf("resend: %v, want ErrAlreadySent", err)
		}
		if n := len(items(t, st, bob, store.FolderInbox)); n != 1 {
			t.Fatalf("bob has %d after the resend", n)
		}
		if q, _ := st.OutboundQueue(ctx); len(q) != 1 {
			t.Fatalf("queue has %d after the resend", len(q))
		}
		// Another user may use the same ClientId.
		if _, err := submit(t, svc, bob, "CID-1", "To: alice@example.nhs.uk\r\nSubject: x\r\n\r\nx\r\n"); err != nil {
			t.Fatalf("same ClientId, other user: %v", err)
		}

		// Bad input stores nothing.
		before := len(items(t, st, alice, store.FolderSentItems))
		if _, err := submit(t, svc, alice, "CID-2", "Subject: nobody\r\n\r\nhello\r\n"); !errors.Is(err, delivery.ErrNoRecipients) {
			t.Fatalf("no recipients: %v", err)
		}
		if _, err := submit(t, svc, alice, "CID-3", "\x00\x01\x02 not mail"); !errors.Is(err, delivery.ErrMalformed) {
			t.Fatalf("garbage: %v", err)
		}
		if _, err := submit(t, svc, alice, "CID-4", "To: <<<@@@\r\nSubject: x\r\n\r\nx"); !errors.Is(err, delivery.ErrMalformed) {
			t.Fatalf("bad To: %v", err)
		}
		noRelay := &delivery.Service{Store: st}
		if _, err := submit(t, noRelay, alice, "CID-5", "To: bob@example.nhs.uk, far@other.example\r\nSubject: x\r\n\r\nx"); !errors.Is(err, delivery.ErrNoRelay) {
			t.Fatalf("remote without relay: %v", err)
		}
		if n := len(items(t, st, alice, store.FolderSentItems)); n != before {
			t.Fatal("a refused submission left a Sent Items copy")
		}
		if n := len(items(t, st, bob, store.FolderInbox)); n != 1 {
			t.Fatalf("bob has %d; a refused submission was delivered", n)
		}
		// Remembered ClientIds are forgotten after the retention period.
		if n, err := st.PruneClientIDs(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("pruned %d recent ClientIds (%v)", n, err)
		}
		if n, err := st.PruneClientIDs(ctx, time.Now().Add(time.Hour)); err != nil || n < 2 {
			t.Fatalf("pruned %d old ClientIds (%v)", n, err)
		}
		if _, err := submit(t, svc, alice, "CID-1", "To: bob@example.nhs.uk\r\nSubject: again\r\n\r\nx"); err != nil {
			t.Fatalf("a pruned ClientId: %v", err)
		}
		// The refused ClientIds were not consumed.
		if _, err := submit(t, svc, alice, "CID-5", "To: bob@example.nhs.uk\r\nSubject: x\r\n\r\nx"); err != nil {
			t.Fatalf("ClientId of a refused submission: %v", err)
		}
	})
}

func relayFixture(t *testing.T, st *store.Store, o deliverytest.Options, cfg delivery.RelayConfig) (*store.User, *deliverytest.Relay, *delivery.Relay, *delivery.Service) {
	t.Helper()
	alice := addUser(t, st, "alice@example.nhs.uk")
	relay := deliverytest.Start(t, o)
	cfg.Addr = relay.Addr
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = relay.ClientTLS
	}
	cfg.Hostname = "mx.test"
	r := delivery.NewRelay(st, cfg, nil)
	t.Cleanup(func() {
		if n := r.PanicsRecovered.Load(); n != 0 {
			t.Errorf("%d panics recovered in the relay", n)
		}
	})
	return alice, relay, r, &delivery.Service{Store: st, Hostname: "mx.test", Relay: r}
}

func TestRelayUsesStartTLSAndAuthPlain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		alice, relay, r, svc := relayFixture(t, st, deliverytest.Options{TLS: true, Username: "airlock", Password: "s3cret"},
			delivery.RelayConfig{Username: "airlock", Password: "s3cret"})
		if _, err := submit(t, svc, alice, "c1", "To: far@other.example, two@other.example\r\nSubject: Out\r\n\r\nhello\r\n"); err != nil {
			t.Fatal(err)
		}
		if n, err := r.RunOnce(ctx); n != 1 || err != nil {
			t.Fatalf("RunOnce: %d, %v", n, err)
		}
		got := relay.Messages()
		if len(got) != 1 || !got[0].TLS || got[0].Auth != "airlock" || got[0].From != "alice@example.nhs.uk" || len(got[0].To) != 2 {
			t.Fatalf("relay got %+v", got)
		}
		if q, _ := st.OutboundQueue(ctx); len(q) != 0 {
			t.Fatalf("queue not emptied: %+v", q)
		}
	})
}

func TestRelayWithoutStartTLSGetsNothing(t *testing.T) {
	st := storetest.OpenSQLite(t)
	alice, relay, r, svc := relayFixture(t, st, deliverytest.Options{}, delivery.RelayConfig{})
	if _, err := submit(t, svc, alice, "c1", "To: far@other.example\r\nSubject: Out\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	r.RunOnce(ctx)
	if n := len(relay.Messages()); n != 0 {
		t.Fatalf("sent %d messages in the clear", n)
	}
	q, _ := st.OutboundQueue(ctx)
	if len(q) != 1 || !strings.Contains(q[0].LastError, "STARTTLS") || !q[0].NextAttempt.After(time.Now()) {
		t.Fatalf("queue %+v: want the message kept for a later attempt, with the STARTTLS error", q)
	}
	if n := len(items(t, st, alice, store.FolderInbox)); n != 0 {
		t.Fatal("a temporary failure bounced")
	}
}

func TestRelayPermanentFailureBouncesToSenderOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		alice, relay, r, svc := relayFixture(t, st, deliverytest.Options{TLS: true}, delivery.RelayConfig{})
		relay.RejectRcpt("gone@other.example", 550)
		if _, err := submit(t, svc, alice, "c1", "To: gone@other.example, here@other.example\r\nSubject: Clinic letter\r\n\r\nhello\r\n"); err != nil {
			t.Fatal(err)
		}
		r.RunOnce(ctx)
		r.RunOnce(ctx)
		got := relay.Messages()
		if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "here@other.example" {
			t.Fatalf("relay got %+v: want the accepted recipient only", got)
		}
		inbox := items(t, st, alice, store.FolderInbox)
		if len(inbox) != 1 {
			t.Fatalf("alice's Inbox has %d items, want one bounce", len(inbox))
		}
		b := inbox[0]
		if !strings.HasPrefix(b.Subject, "Undeliverable: Clinic letter") || !strings.Contains(b.FromAddr, "MAILER-DAEMON@mx.test") {
			t.Fatalf("bounce %q from %q", b.Subject, b.FromAddr)
		}
		raw := blob(t, st, b)
		for _, want := range []string{"multipart/report; report-type=delivery-status", "Final-Recipient: rfc822; gone@other.example", "Status: 5.1.1", "Action: failed", "text/rfc822-headers"} {
			if !bytes.Contains(raw, []byte(want)) {
				t.Fatalf("bounce lacks %q:\n%s", want, raw)
			}
		}
		if bytes.Contains(raw, []byte("Final-Recipient: rfc822; here@")) {
			t.Fatal("bounce names a recipient that was delivered")
		}
		if q, _ := st.OutboundQueue(ctx); len(q) != 0 {
			t.Fatalf("queue %+v", q)
		}
	})
}

func TestRelayTemporaryFailureRetriesThenGivesUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		alice, relay, r, svc := relayFixture(t, st, deliverytest.Options{TLS: true},
			delivery.RelayConfig{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
		relay.RejectData(451)
		if _, err := submit(t, svc, alice, "c1", "To: far@other.example\r\nSubject: Retry me\r\n\r\nhello\r\n"); err != nil {
			t.Fatal(err)
		}
		r.RunOnce(ctx)
		q, _ := st.OutboundQueue(ctx)
		if len(q) != 1 || q[0].Attempts != 1 || !strings.Contains(q[0].LastError, "451") {
			t.Fatalf("after a 451: %+v", q)
		}
		// The relay recovers: the next attempt goes through, no bounce.
		relay.RejectData(0)
		time.Sleep(10 * time.Millisecond)
		r.RunOnce(ctx)
		if n := len(relay.Messages()); n != 1 {
			t.Fatalf("relay got %d after recovering", n)
		}
		if n := len(items(t, st, alice, store.FolderInbox)); n != 0 {
			t.Fatal("bounced although the retry succeeded")
		}

		// A relay that never recovers: bounce after MaxAttempts.
		relay.RejectData(451)
		if _, err := submit(t, svc, alice, "c2", "To: far@other.example\r\nSubject: Never\r\n\r\nhello\r\n"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			r.RunOnce(ctx)
			time.Sleep(10 * time.Millisecond)
		}
		inbox := items(t, st, alice, store.FolderInbox)
		if len(inbox) != 1 || !strings.HasPrefix(inbox[0].Subject, "Undeliverable: Never") {
			t.Fatalf("after MaxAttempts: inbox %v", inbox)
		}
		if !bytes.Contains(blob(t, st, inbox[0]), []byte("gave up after 3 attempts")) {
			t.Fatal("bounce does not say it gave up")
		}
		if q, _ := st.OutboundQueue(ctx); len(q) != 0 {
			t.Fatalf("queue %+v", q)
		}
	})
}

// A worker that claimed a message and died leaves it leased: no other
// worker takes it until the lease ends, then one does.
func TestQueueLeaseSurvivesADeadWorker(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		u := addUser(t, st, "alice@example.nhs.uk")
		uid := u.ID
		if err := st.Enqueue(ctx, &store.OutboundMail{UserID: &uid, MailFrom: u.Email, RcptTo: "far@other.example", Data: []byte(simple)}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		m, err := st.ClaimOutbound(ctx, now, time.Minute)
		if err != nil || m.Attempts != 1 {
			t.Fatalf("claim: %+v, %v", m, err)
		}
		if _, err := st.ClaimOutbound(ctx, now.Add(30*time.Second), time.Minute); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second claim within the lease: %v", err)
		}
		m2, err := st.ClaimOutbound(ctx, now.Add(61*time.Second), time.Minute)
		if err != nil || m2.ID != m.ID || m2.Attempts != 2 || !bytes.Equal(m2.Data, []byte(simple)) {
			t.Fatalf("claim after the lease: %+v, %v", m2, err)
		}
	})
}

const withAttachment = "From: pathology@example.nhs.uk\r\nTo: alice@example.nhs.uk\r\nSubject: Results ready\r\nMessage-ID: <orig-1@lab.example>\r\nReferences: <older@lab.example>\r\nDate: Mon, 10 Jun 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find the results attached.\r\n--b1\r\nContent-Type: application/pdf; name=\"results.pdf\"\r\nContent-Disposition: attachment; filename=\"results.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--b1--\r\n"

func original(t *testing.T) (*store.Item, []byte) {
	t.Helper()
	it, err := message.Parse([]byte(withAttachment))
	if err != nil {
		t.Fatal(err)
	}
	return it, []byte(withAttachment)
}

func TestComposeForwardKeepsAttachmentsAndReplyQuotes(t *testing.T) {
	it, raw := original(t)
	device := []byte("To: charles@example.nhs.uk\r\nSubject: FW: Results ready\r\n\r\nFYI, see below.\r\n")

	fw, err := delivery.ComposeSmart(delivery.Smart{Kind: delivery.SmartForward, Device: device, Original: raw, OriginalItem: it})
	if err != nil {
		t.Fatal(err)
	}
	got, err := message.Parse(fw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Attachments) != 1 || got.Attachments[0].FileName != "results.pdf" {
		t.Fatalf("forward attachments %+v", got.Attachments)
	}
	_, _, data, err := message.Part(fw, got.Attachments[0].PartIndex)
	if err != nil || !bytes.HasPrefix(data, []byte("%PDF-1.4")) {
		t.Fatalf("attachment content %q, %v", data, err)
	}
	text, _, _ := message.Bodies(fw)
	if !strings.Contains(text, "FYI, see below.") || !strings.Contains(text, "Please find the results attached.") || !strings.Contains(text, "Forwarded Message") {
		t.Fatalf("forward text:\n%s", text)
	}
	if got.Subject != "FW: Results ready" {
		t.Fatalf("subject %q", got.Subject)
	}

	// ReplaceMime: the device's message as it is, no original attached.
	fw2, err := delivery.ComposeSmart(delivery.Smart{Kind: delivery.SmartForward, Device: device, Original: raw, OriginalItem: it, ReplaceMime: true})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := message.Parse(fw2); len(g.Attachments) != 0 || !bytes.Equal(fw2, device) {
		t.Fatalf("ReplaceMime changed the device's message:\n%s", fw2)
	}

	re, err := delivery.ComposeSmart(delivery.Smart{Kind: delivery.SmartReply, Device: []byte("To: pathology@example.nhs.uk\r\nSubject: RE: Results ready\r\n\r\nThanks, reviewed.\r\n"), Original: raw, OriginalItem: it})
	if err != nil {
		t.Fatal(err)
	}
	rp, _ := message.Parse(re)
	if len(rp.Attachments) != 0 {
		t.Fatal("a reply attached the original's attachments")
	}
	text, _, _ = message.Bodies(re)
	if !strings.Contains(text, "Thanks, reviewed.") || !strings.Contains(text, "> Please find the results attached.") {
		t.Fatalf("reply text:\n%s", text)
	}
	if !bytes.Contains(re, []byte("In-Reply-To: <orig-1@lab.example>")) || !bytes.Contains(re, []byte("<older@lab.example> <orig-1@lab.example>")) {
		t.Fatalf("reply threading headers:\n%s", re[:400])
	}
	if rp.ThreadTopic != it.ThreadTopic || !bytes.Equal(rp.ConversationID, it.ConversationID) {
		t.Fatal("reply is not in the original's conversation")
	}
}

// sendPlain sends one message without TLS (go-smtp's SendMail insists on
// STARTTLS).
func sendPlain(addr, from string, to []string, data string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.SendMail(from, to, strings.NewReader(data))
}

// A client outside the internal networks gets no AUTH on the inbound
// listener: it may deliver to local users, never submit.
func TestSMTPOffersAuthOnlyToInternalNetworks(t *testing.T) {
	st := storetest.OpenSQLite(t)
	alice := addUser(t, st, "alice@example.nhs.uk")
	svc := &delivery.Service{Store: st, Hostname: "mx.test"}
	cert, pool := deliverytest.SelfSigned(t)
	addr, _, _ := listen(t, svc, delivery.ListenerConfig{
		TLSConfig:    tlsServer(cert),
		Authenticate: func(ctx context.Context, user, pw, ip string) (*store.User, error) { return alice, nil },
		AuthFrom:     func(ip string) bool { return ip == "10.1.2.3" }, // the test client is 127.0.0.1
	})
	c, err := smtp.DialStartTLS(addr, tlsClient(pool))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH offered to a client outside the internal networks")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.nhs.uk", "pw")); err == nil {
		t.Fatal("AUTH accepted from outside the internal networks")
	}
}
