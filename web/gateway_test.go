package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"airlock/fax"
	"airlock/governance"
	"airlock/sms"
	"airlock/store"
	"airlock/store/storetest"
)

const (
	smsDomain = "sms.example.nhs.uk"
	faxDomain = "fax.example.nhs.uk"
)

// samplePDF is the smallest file the fax gateway takes as a PDF.
var samplePDF = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

// fakeProvider is an SMS or fax provider on a loopback port: it records
// the JSON bodies it gets and answers with the status set for a number.
type fakeProvider struct {
	mu     sync.Mutex
	sms    []sms.Message
	faxes  []fax.Fax
	status map[string]int
}

func (p *fakeProvider) handler(isFax bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		var to string
		if isFax {
			var f fax.Fax
			if json.NewDecoder(r.Body).Decode(&f) != nil || r.Header.Get("Idempotency-Key") != f.Ref {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			p.faxes, to = append(p.faxes, f), f.To
		} else {
			var m sms.Message
			if json.NewDecoder(r.Body).Decode(&m) != nil {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			p.sms, to = append(p.sms, m), m.To
		}
		if code := p.status[to]; code != 0 {
			http.Error(w, "refused by the test", code)
			return
		}
		w.Write([]byte(`{"id":"1"}`))
	})
}

// gatewayEnv is a compose environment with the SMS and fax gateways
// configured as serve wires them, their providers fakes on loopback.
type gatewayEnv struct {
	*composeEnv
	p       *fakeProvider
	smsGW   *sms.Gateway
	faxGW   *fax.Gateway
	later   time.Duration // the gateways' clock runs this far ahead
	user    *store.User
	browser *browser
}

func newGatewayEnv(t *testing.T, st *store.Store) *gatewayEnv {
	t.Helper()
	e := &gatewayEnv{composeEnv: newComposeEnv(t, st), p: &fakeProvider{status: map[string]int{}}}
	smsSrv := httptest.NewServer(e.p.handler(false))
	faxSrv := httptest.NewServer(e.p.handler(true))
	t.Cleanup(smsSrv.Close)
	t.Cleanup(faxSrv.Close)
	clock := func() time.Time { return time.Now().UTC().Add(e.later) }
	e.smsGW = (&sms.Gateway{Store: st, Provider: &sms.Webhook{URL: smsSrv.URL}, Addresses: sms.Addresses{Domain: smsDomain},
		Hostname: "mail.example.nhs.uk", Now: clock}).Init()
	e.faxGW = (&fax.Gateway{Store: st, Provider: &fax.Webhook{URL: faxSrv.URL}, Addresses: fax.Addresses{Domain: faxDomain},
		Hostname: "mail.example.nhs.uk", MaxAttempts: 2, Now: clock}).Init()
	rules := e.mail.Rules.(*governance.Rules)
	rules.SMS, rules.Fax = e.smsGW, e.faxGW
	e.Web.d.SMSDomain, e.Web.d.FaxDomain = smsDomain, faxDomain
	e.Web.e = e.Web.routes() // the pages exist only with the gateways
	e.user = e.addUser("alice@example.nhs.uk", composePW, store.RoleUser)
	e.browser = e.testEnv.browser()
	e.browser.login("alice@example.nhs.uk", composePW)
	return e
}

// postMultipart posts a form with files, with the token of the page.
func (b *browser) postMultipart(path string, form url.Values, files []upload) *resp {
	b.t.Helper()
	page := b.get(path)
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("_csrf", page.csrf(b.t))
	for k, vs := range form {
		for _, v := range vs {
			w.WriteField(k, v)
		}
	}
	for _, f := range files {
		pw, _ := w.CreatePart(map[string][]string{
			"Content-Disposition": {fmt.Sprintf(`form-data; name="attach"; filename=%q`, f.name)},
			"Content-Type":        {f.contentType}})
		pw.Write(f.data)
	}
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return b.do(req)
}

func TestSMSFromTheWeb(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newGatewayEnv(t, st)
		b := e.browser
		if p := b.get("/sms/compose?to=07700+900123"); p.Code != 200 || !strings.Contains(p.Body, `value="07700 900123"`) {
			t.Fatalf("page: %d", p.Code)
		}
		for _, tc := range []struct{ to, text, want string }{
			{"", "Hello", "Enter a mobile number"},
			{"call me", "Hello", "not a phone number"},
			{"020 7946 0018", "Hello", "not a UK mobile"},
			{"07700 900123", "", "Write the text"},
			{"07700 900123", strings.Repeat("x", 613), "at most 612"},
		} {
			r := b.postForm("/sms/compose", "/sms/compose", url.Values{"to": {tc.to}, "text": {tc.text}})
			if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, tc.want) {
				t.Errorf("%q %d chars: HTTP %d, want %q", tc.to, len(tc.text), r.Code, tc.want)
			}
		}
		r := b.postForm("/sms/compose", "/sms/compose", url.Values{"to": {"07700 900123"}, "text": {"Clinic moved to room 4 today."}})
		if r.Code != http.StatusSeeOther || r.Location != "/sms/compose" {
			t.Fatalf("send: HTTP %d %s", r.Code, r.Location)
		}
		if p := b.get("/sms/compose"); !strings.Contains(p.Body, "&#43;447700900123") || !strings.Contains(p.Body, `badge warn">queued`) {
			t.Fatalf("status before the provider:\n%s", p.Body)
		}
		if n, err := e.smsGW.RunOnce(context.Background()); n != 1 || err != nil {
			t.Fatalf("gateway: %d %v", n, err)
		}
		if len(e.p.sms) != 1 || e.p.sms[0].To != "+447700900123" || e.p.sms[0].Text != "Clinic moved to room 4 today." {
			t.Fatalf("provider got %+v", e.p.sms)
		}
		if p := b.get("/sms/compose"); !strings.Contains(p.Body, `badge ok">sent`) {
			t.Fatalf("status after the provider:\n%s", p.Body)
		}
		if mail := b.get(b.get("/mail").Location); !strings.Contains(mail.Body, `href="/sms/compose"`) || !strings.Contains(mail.Body, `href="/fax/compose"`) {
			t.Error("the mail side bar does not link to the SMS and fax pages")
		}
	})
}

func TestFaxFromTheWeb(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newGatewayEnv(t, st)
		b := e.browser
		r := b.postMultipart("/fax/compose", url.Values{"to": {"020 7946 0018"}, "text": {"Letter attached."}},
			[]upload{{"letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("PK\x03\x04")}})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Only PDF and TIFF files can be faxed, not &#34;letter.docx&#34;") {
			t.Fatalf("a Word file: HTTP %d\n%s", r.Code, r.Body)
		}
		if r := b.postMultipart("/fax/compose", url.Values{"to": {"fax me"}}, nil); r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Enter a fax number") {
			t.Fatalf("a bad number: HTTP %d", r.Code)
		}
		r = b.postMultipart("/fax/compose", url.Values{"to": {"020 7946 0018"}, "subject": {"Discharge letter"}, "text": {"Letter attached."}},
			[]upload{{"letter.pdf", "application/pdf", samplePDF}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("send: HTTP %d\n%s", r.Code, r.Body)
		}
		if p := b.get("/fax/compose"); !strings.Contains(p.Body, "&#43;442079460018") || !strings.Contains(p.Body, `badge warn">queued`) {
			t.Fatalf("status before the provider:\n%s", p.Body)
		}
		e.faxGW.RunOnce(context.Background())
		if len(e.p.faxes) != 1 || e.p.faxes[0].To != "+442079460018" || len(e.p.faxes[0].Documents) != 1 || !bytes.Equal(e.p.faxes[0].Documents[0].Data, samplePDF) {
			t.Fatalf("provider got %+v", e.p.faxes)
		}
		if p := b.get("/fax/compose"); !strings.Contains(p.Body, `badge ok">sent`) {
			t.Fatalf("status after the provider:\n%s", p.Body)
		}
	})
}

// A refused fax (4xx) and one the provider keeps failing (5xx until the
// attempts run out) both bounce to the sender and show failed.
func TestFaxFailureFromTheWebBounces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newGatewayEnv(t, st)
		e.p.status["+442079460099"] = http.StatusBadRequest
		e.p.status["+442079460055"] = http.StatusBadGateway
		for i, to := range []string{"020 7946 0099", "020 7946 0055"} {
			r := e.browser.postMultipart("/fax/compose", url.Values{"to": {to}, "subject": {"Referral"}}, []upload{{"r.pdf", "application/pdf", samplePDF}})
			if r.Code != http.StatusSeeOther {
				t.Fatalf("send: HTTP %d", r.Code)
			}
			e.faxGW.RunOnce(context.Background())
			e.later += time.Hour
			e.faxGW.RunOnce(context.Background())
			inbox := e.items(e.user, store.FolderInbox)
			if len(inbox) != i+1 || !strings.HasPrefix(inbox[i].Subject, "Undeliverable") {
				t.Fatalf("inbox after %s: %+v", to, inbox)
			}
			raw := e.raw(e.user, &inbox[i])
			if !strings.Contains(raw, "report-type=delivery-status") || !strings.Contains(raw, "Action: failed") {
				t.Fatalf("bounce:\n%s", raw)
			}
		}
		p := e.browser.get("/fax/compose")
		if strings.Count(p.Body, `badge bad">failed`) != 2 || !strings.Contains(p.Body, "gave up after 2 attempts") {
			t.Fatalf("status:\n%s", p.Body)
		}
		if len(e.p.faxes) != 3 {
			t.Fatalf("%d calls, want 1 for the 4xx and 2 for the 5xx", len(e.p.faxes))
		}
	})
}
