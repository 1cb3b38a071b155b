package fax_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/fax"
	"airlock/governance"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

var _ governance.FaxRouter = (*fax.Gateway)(nil)

const domain = "fax.example.nhs.uk"

// pdf and tiff are the smallest files the gateway accepts as each type.
var (
	pdf  = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	tiff = []byte("II*\x00\x08\x00\x00\x00\x00\x00")
)

// provider is a fake fax provider on a loopback port: it records what it
// gets, drops a repeat of an idempotency key it already took, and answers
// with the status set for a number (200 otherwise).
type provider struct {
	mu     sync.Mutex
	got    []fax.Fax
	keys   []string
	auth   []string
	taken  map[string]bool
	status map[string]int
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var f fax.Fax
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := r.Header.Get("Idempotency-Key")
	p.keys = append(p.keys, key)
	p.auth = append(p.auth, r.Header.Get("Authorization"))
	if code := p.status[f.To]; code != 0 {
		http.Error(w, "refused", code)
		return
	}
	if p.taken[key] {
		w.Write([]byte(`{"duplicate":true}`))
		return
	}
	p.taken[key] = true
	p.got = append(p.got, f)
	w.Write([]byte(`{"id":"f1"}`))
}

func (p *provider) faxes() []fax.Fax {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]fax.Fax(nil), p.got...)
}

// env is a delivery service with the rules and a fax gateway whose
// provider is a fake on a loopback port.
type env struct {
	st   *store.Store
	p    *provider
	gw   *fax.Gateway
	svc  *delivery.Service
	now  time.Time
	user *store.User
}

func newEnv(t *testing.T, st *store.Store) *env {
	e := &env{st: st, p: &provider{taken: map[string]bool{}, status: map[string]int{}}, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	hs := httptest.NewServer(e.p)
	t.Cleanup(hs.Close)
	clock := func() time.Time { return e.now }
	e.gw = (&fax.Gateway{Store: st, Provider: &fax.Webhook{URL: hs.URL, Token: "fax-s3cret"}, Addresses: fax.Addresses{Domain: domain},
		Hostname: "mail.example.nhs.uk", MaxAttempts: 3, Now: clock}).Init()
	g := &governance.Service{Store: st, Hostname: "mail.example.nhs.uk", Now: clock}
	e.svc = &delivery.Service{Store: st, Hostname: "mail.example.nhs.uk", Rules: &governance.Rules{Service: g, Fax: e.gw}}
	e.user = &store.User{Email: "alice@example.nhs.uk", DisplayName: "Alice"}
	if err := st.CreateUser(ctx, e.user); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e.gw.PanicsRecovered.Load() != 0 {
			t.Error("panics in the fax gateway")
		}
	})
	return e
}

// mime is a message to the recipients with the text and files.
func mime(t *testing.T, to, subject, text string, files ...message.File) []byte {
	t.Helper()
	return mimeHTML(t, to, subject, text, "", files...)
}

func mimeHTML(t *testing.T, to, subject, text, html string, files ...message.File) []byte {
	t.Helper()
	var h gomail.Header
	h.SetAddressList("To", []*gomail.Address{{Address: to}})
	h.SetSubject(subject)
	raw, err := message.Compose(h, text, html, files)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (e *env) submit(t *testing.T, raw []byte) *delivery.Result {
	t.Helper()
	res, err := e.svc.Submit(ctx, delivery.Submission{User: e.user, SaveInSent: true, MIME: raw})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func folder(t *testing.T, st *store.Store, u *store.User, ft store.FolderType) []store.Item {
	t.Helper()
	f, _ := st.FolderByType(ctx, u.ID, ft)
	its, err := st.ListItems(ctx, u.ID, f.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return its
}

// sentStatus is the fax status of the newest Sent Items item.
func (e *env) sentStatus(t *testing.T) store.FaxProps {
	t.Helper()
	its := folder(t, e.st, e.user, store.FolderSentItems)
	if len(its) == 0 {
		t.Fatal("nothing in Sent Items")
	}
	return store.FaxPropsOf(&its[len(its)-1])
}

func TestContent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []message.File
		text  string
		html  string
		docs  int
		err   string
	}{
		{"pdf", []message.File{{Name: "letter.pdf", ContentType: "application/pdf", Data: pdf}}, "Cover", "", 1, ""},
		{"tiff by name", []message.File{{Name: "scan.TIF", ContentType: "application/octet-stream", Data: tiff}}, "", "", 1, ""},
		{"pdf and tiff", []message.File{{Name: "a.pdf", ContentType: "application/pdf", Data: pdf}, {Name: "b.tiff", ContentType: "image/tiff", Data: tiff}}, "", "", 2, ""},
		{"word", []message.File{{Name: "letter.docx", ContentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Data: []byte("PK")}}, "x", "", 0, `only PDF and TIFF files can be faxed, not "letter.docx"`},
		{"not really a pdf", []message.File{{Name: "x.pdf", ContentType: "application/pdf", Data: []byte("<html>")}}, "x", "", 0, "only PDF and TIFF"},
		{"inline picture left out", []message.File{{Name: "logo.png", ContentType: "image/png", Inline: true, ContentID: "logo", Data: []byte("\x89PNG")}}, "Text", `<p>Text<img src="cid:logo"></p>`, 0, ""},
		{"empty", nil, "", "", 0, "nothing to fax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := mimeHTML(t, "+442079460018@"+domain, "s", tc.text, tc.html, tc.files...)
			if tc.html != "" {
				raw = relatedPicture(tc.text, tc.html)
			}
			text, docs, err := fax.Content(raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(docs) != tc.docs || text != tc.text {
				t.Fatalf("text %q docs %d err %v", text, len(docs), err)
			}
		})
	}
}

// relatedPicture is an HTML mail with a picture in its body, as mail
// clients write it (multipart/related, the picture inline).
func relatedPicture(text, html string) []byte {
	return []byte("To: +442079460018@" + domain + "\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=R\r\n\r\n" +
		"--R\r\nContent-Type: multipart/alternative; boundary=A\r\n\r\n" +
		"--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n--A\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--A--\r\n" +
		"--R\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=logo.png\r\nContent-Id: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n--R--\r\n")
}

// A mail with a PDF to a fax address reaches the provider with the number,
// the text and the PDF's bytes, once; the sender's Sent Items copy goes
// from queued to sent.
func TestMailToFaxReachesTheProvider(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		res := e.submit(t, mime(t, "+44 20 7946 0018@"+domain, "Discharge letter", "Please see the letter attached.",
			message.File{Name: "letter.pdf", ContentType: "application/pdf", Data: pdf}))
		if len(res.Fax) != 1 || len(res.Remote) != 0 {
			t.Fatalf("result %+v", res)
		}
		if p := e.sentStatus(t); p.Overall() != store.FaxQueued || p.Fax[0].To != "+442079460018" {
			t.Fatalf("status before sending: %+v", p)
		}
		if n, err := e.gw.RunOnce(ctx); n != 1 || err != nil {
			t.Fatalf("run: %d %v", n, err)
		}
		got := e.p.faxes()
		if len(got) != 1 || got[0].To != "+442079460018" || got[0].Text != "Please see the letter attached." || got[0].Subject != "Discharge letter" ||
			len(got[0].Documents) != 1 || !bytes.Equal(got[0].Documents[0].Data, pdf) || got[0].Documents[0].ContentType != "application/pdf" {
			t.Fatalf("provider got %+v", got)
		}
		if e.p.auth[0] != "Bearer fax-s3cret" || e.p.keys[0] == "" || e.p.keys[0] != got[0].Ref {
			t.Fatalf("auth %q key %q ref %q", e.p.auth[0], e.p.keys[0], got[0].Ref)
		}
		if p := e.sentStatus(t); p.Overall() != store.FaxSent {
			t.Fatalf("status after sending: %+v", p)
		}
		if out, _ := st.FaxOutbox(ctx); len(out) != 0 {
			t.Fatalf("outbox: %+v", out)
		}
		if n := len(folder(t, st, e.user, store.FolderInbox)); n != 0 {
			t.Fatalf("%d reports after a success", n)
		}
	})
}

// isDSN checks that the sender's Inbox has a delivery status notification
// for the fax address, naming why.
func isDSN(t *testing.T, st *store.Store, u *store.User, addr, why string) {
	t.Helper()
	its := folder(t, st, u, store.FolderInbox)
	if len(its) != 1 || !strings.HasPrefix(its[0].Subject, "Undeliverable") {
		t.Fatalf("inbox: %+v", its)
	}
	raw, _ := st.Blob(ctx, u.ID, its[0].ID)
	for _, want := range []string{"multipart/report; report-type=delivery-status", "Final-Recipient: rfc822; " + addr, "Action: failed", why} {
		if !strings.Contains(string(raw), want) {
			t.Fatalf("bounce lacks %q:\n%s", want, raw)
		}
	}
}

// A 4xx is final at once: one call, a bounce, the copy failed.
func TestFaxRefusedBounces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.p.status["+442079460099"] = http.StatusUnprocessableEntity
		addr := "+442079460099@" + domain
		e.submit(t, mime(t, addr, "Referral", "Referral attached.", message.File{Name: "r.pdf", ContentType: "application/pdf", Data: pdf}))
		e.gw.RunOnce(ctx)
		e.now = e.now.Add(24 * time.Hour)
		e.gw.RunOnce(ctx)
		if len(e.p.keys) != 1 {
			t.Fatalf("%d calls for a refused fax", len(e.p.keys))
		}
		isDSN(t, st, e.user, addr, "422")
		if p := e.sentStatus(t); p.Overall() != store.FaxFailed || !strings.Contains(p.Fax[0].Detail, "422") {
			t.Fatalf("status: %+v", p)
		}
	})
}

// A 5xx is retried with backoff, with the same idempotency key, until the
// attempts run out; then a bounce and failed.
func TestFaxRetriesThenBounces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.p.status["+442079460055"] = http.StatusServiceUnavailable
		addr := "+442079460055@" + domain
		e.submit(t, mime(t, addr, "Results", "Results attached.", message.File{Name: "r.pdf", ContentType: "application/pdf", Data: pdf}))
		e.gw.RunOnce(ctx)
		out, _ := st.FaxOutbox(ctx)
		if len(out) != 1 || out[0].Attempts != 1 || out[0].StartedAt != nil || !out[0].NextAttempt.Equal(e.now.Add(time.Minute)) {
			t.Fatalf("after a 503: %+v", out)
		}
		if p := e.sentStatus(t); p.Overall() != store.FaxQueued {
			t.Fatalf("status while retrying: %+v", p)
		}
		e.gw.RunOnce(ctx) // not due yet
		if len(e.p.keys) != 1 {
			t.Fatalf("retried before the backoff: %d calls", len(e.p.keys))
		}
		e.now = e.now.Add(time.Minute)
		e.gw.RunOnce(ctx)
		e.now = e.now.Add(2 * time.Minute)
		e.gw.RunOnce(ctx)
		if len(e.p.keys) != 3 || e.p.keys[0] != e.p.keys[2] {
			t.Fatalf("calls %v", e.p.keys)
		}
		isDSN(t, st, e.user, addr, "gave up after 3 attempts")
		if p := e.sentStatus(t); p.Overall() != store.FaxFailed {
			t.Fatalf("status: %+v", p)
		}
		if out, _ := st.FaxOutbox(ctx); len(out) != 0 {
			t.Fatalf("outbox: %+v", out)
		}
	})
}

// A worker that dies after calling the provider leaves the row marked; the
// next claim sends the same key, and the provider keeps one fax.
func TestFaxNeverTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.submit(t, mime(t, "+442079460018@"+domain, "Letter", "Text"))
		// The first worker: claims, marks, calls, and dies before settling.
		m, err := st.ClaimFax(ctx, e.now, e.gw.Lease)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.MarkFaxStarted(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		first := e.gw.Ref(m)
		if err := e.gw.Provider.Send(ctx, fax.Fax{To: m.ToNumber, Ref: first, Text: "Text"}); err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(e.gw.Lease + time.Second)
		if n, _ := e.gw.RunOnce(ctx); n != 1 || e.gw.InDoubt.Load() != 1 {
			t.Fatalf("run %d, in doubt %d", n, e.gw.InDoubt.Load())
		}
		if len(e.p.keys) != 2 || e.p.keys[1] != first || len(e.p.faxes()) != 1 {
			t.Fatalf("keys %v, faxes %d", e.p.keys, len(e.p.faxes()))
		}
		if p := e.sentStatus(t); p.Overall() != store.FaxSent {
			t.Fatalf("status: %+v", p)
		}
	})
}

// A Word file is refused before anything is queued, with the reason; so is
// sensitive mail.
func TestFaxRefusesOtherTypesAndSensitiveMail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		res := e.submit(t, mime(t, "+442079460018@"+domain, "Letter", "See attached",
			message.File{Name: "letter.docx", ContentType: "application/msword", Data: []byte("PK")}))
		if out, _ := st.FaxOutbox(ctx); len(out) != 0 || len(res.Fax) != 1 {
			t.Fatalf("outbox %+v result %+v", out, res)
		}
		its := folder(t, st, e.user, store.FolderInbox)
		raw, _ := st.Blob(ctx, e.user.ID, its[0].ID)
		if len(its) != 1 || !strings.HasPrefix(its[0].Subject, "Not faxed") || !strings.Contains(string(raw), `only PDF and TIFF files can be faxed, not "letter.docx"`) {
			t.Fatalf("notice %+v\n%s", its, raw)
		}
		e.submit(t, mime(t, "+442079460018@"+domain, "[secure] Results", "Positive."))
		if out, _ := st.FaxOutbox(ctx); len(out) != 0 {
			t.Fatal("sensitive mail queued for fax")
		}
	})
}

// Mail from outside to a fax address is refused: no open fax relay.
func TestFaxAddressesRefusedWithoutAuth(t *testing.T) {
	st := storetest.OpenSQLite(t)
	e := newEnv(t, st)
	l := delivery.NewListeners(e.svc, delivery.ListenerConfig{}, nil)
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
	if err := c.Rcpt("+442079460018@"+domain, nil); !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("unauthenticated RCPT to a fax address: %v", err)
	}
}

// A phone's SendMail to a fax address is faxed (no relay is configured:
// fax needs none), with its PDF.
func TestFaxFromPhone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		srv := eastest.StartServerWith(t, st, eastest.ServerOptions{Mail: e.svc})
		srv.AddUser(t, "bob@example.nhs.uk", "correct horse battery")
		bob, _ := st.UserByAddress(ctx, "bob@example.nhs.uk")
		e.user = bob
		d := eastest.NewDevice(t, srv.URL, eastest.Profile{Name: "iPhoneFax", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100",
			Version: "14.1", Model: "iPhone14,7", OS: "iOS 16.1"}, "bob@example.nhs.uk", "correct horse battery")
		d.CheckWithLibwbxml = false
		d.Provision(1)
		raw := mime(t, "+442079460018@"+domain, "Fax from my phone", "Letter attached.", message.File{Name: "scan.pdf", ContentType: "application/pdf", Data: pdf})
		d.Do("SendMail", "<ComposeMail:SendMail><ComposeMail:ClientId>F1</ComposeMail:ClientId><ComposeMail:SaveInSentItems/><ComposeMail:Mime>"+
			base64.StdEncoding.EncodeToString(raw)+"</ComposeMail:Mime></ComposeMail:SendMail>").Expect(200, "", "")
		e.gw.RunOnce(ctx)
		got := e.p.faxes()
		if len(got) != 1 || got[0].To != "+442079460018" || len(got[0].Documents) != 1 || !bytes.Equal(got[0].Documents[0].Data, pdf) {
			t.Fatalf("provider got %+v", got)
		}
		if p := e.sentStatus(t); p.Overall() != store.FaxSent {
			t.Fatalf("status on the phone's Sent Items copy: %+v", p)
		}
	})
}

func TestCheckURL(t *testing.T) {
	for u, ok := range map[string]bool{"https://fax.example/send": true, "http://127.0.0.1:8080/fax": true, "http://fax.example/send": false, "fax.example": false} {
		if err := fax.CheckURL(u); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}
}
