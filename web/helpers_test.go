package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/devices"
	"airlock/internal/metrics"
	"airlock/internal/password"
	"airlock/policies"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// testEnv is a whole server (EAS, dashboard, API) on a loopback port.
type testEnv struct {
	t      testing.TB
	URL    string
	Store  *store.Store
	Web    *Server
	Devs   *devices.Service
	EAS    *activesync.Handler
	panics float64
}

// fastHash keeps test users cheap to create and to sign in.
var fastHash = password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// newEnv is newEnvDefaults with the admins' second factor turned off, as
// an organisation may (an audited setting): most tests sign admins in with
// a password alone. TestAdminTOTPRequiredByDefault and TestAdminTOTP cover
// the second factor.
func newEnv(t testing.TB, st *store.Store) *testEnv {
	t.Helper()
	e := newEnvDefaults(t, st)
	if err := st.SetSetting(context.Background(), settingTOTPRequired, "false"); err != nil {
		t.Fatal(err)
	}
	return e
}

// newEnvDefaults is a whole server with the organisation's defaults.
func newEnvDefaults(t testing.TB, st *store.Store) *testEnv {
	t.Helper()
	ctx := context.Background()
	devs := devices.New(st, nil)
	devs.ConfigTTL = 0
	if err := devs.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	auth := &activesync.BasicAuth{Store: st, Audit: devs}
	auth.Lockout = activesync.DefaultLockout
	auth.Lockout.Delay = time.Millisecond
	eas := activesync.New(activesync.Options{Store: st, Devices: devs, Authenticator: auth})
	w := NewServer(Deps{Store: st, Devices: devs, EAS: eas, EASAuth: auth, Hostname: "mail.example.nhs.uk", Log: testLogger(t)})
	w.auditRL = newLimiterSet(1000, 1000) // tests count every refusal
	w.guard.Policy.Delay = time.Millisecond
	srv := httptest.NewServer(w)
	env := &testEnv{t: t, URL: srv.URL, Store: st, Web: w, Devs: devs, EAS: eas, panics: counterValue(metrics.PanicsRecovered)}
	t.Cleanup(func() {
		srv.Close()
		if n := eas.PanicsRecovered.Load(); n != 0 {
			t.Errorf("%d panics recovered in the EAS handler", n)
		}
		if d := counterValue(metrics.PanicsRecovered) - env.panics; d != 0 {
			t.Errorf("%v panics recovered in the web layer", d)
		}
	})
	return env
}

func (e *testEnv) addUser(email, pw string, role store.Role) *store.User {
	e.t.Helper()
	h, err := password.Hash(pw, fastHash)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &store.User{Email: email, DisplayName: strings.Split(email, "@")[0], PasswordHash: h, Role: role}
	if err := e.Store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
}

func (e *testEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.URL, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	Code     int
	Body     string
	Header   http.Header
	Location string
}

func (b *browser) do(req *http.Request) *resp {
	b.t.Helper()
	hr, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer hr.Body.Close()
	body, _ := io.ReadAll(hr.Body)
	return &resp{Code: hr.StatusCode, Body: string(body), Header: hr.Header, Location: hr.Header.Get("Location")}
}

func (b *browser) get(path string) *resp {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) *resp {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

// csrf returns the form token of a page.
func (p *resp) csrf(t testing.TB) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no CSRF token in page (HTTP %d)", p.Code)
	}
	return m[1]
}

// login signs in through the form and returns the landing location.
func (b *browser) login(login, pw string) *resp {
	b.t.Helper()
	form := b.get("/login")
	return b.post("/login", url.Values{"_csrf": {form.csrf(b.t)}, "login": {login}, "password": {pw}})
}

// postForm submits a form on path with the token from the page at from.
func (b *browser) postForm(from, path string, form url.Values) *resp {
	b.t.Helper()
	p := b.get(from)
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", p.csrf(b.t))
	return b.post(path, form)
}

// api calls the JSON API with a bearer token.
func (e *testEnv) api(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = strings.NewReader(string(js))
	}
	req, _ := http.NewRequest(method, e.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, out
}

func (e *testEnv) token(user, pw string) string {
	e.t.Helper()
	code, out := e.api("POST", "/api/v1/token", "", map[string]string{"username": user, "password": pw})
	if code != 200 {
		e.t.Fatalf("token: HTTP %d %v", code, out)
	}
	return out["token"].(string)
}

// audited reports whether an audit event with the action (and outcome, if
// not empty) exists.
func (e *testEnv) audited(action, outcome string) bool {
	e.t.Helper()
	evs, err := e.Store.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range evs {
		if outcome == "" || ev.Outcome == outcome {
			return true
		}
	}
	return false
}

// testLogger sends the server's log to the test's, warnings and up.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func regexpMust(expr string) *regexp.Regexp { return regexp.MustCompile(expr) }

var eastestAdmin = devices.Actor{Email: "admin@example.nhs.uk", Admin: true, IP: "127.0.0.1"}

var ruleAllowOutlook = policies.Rule{Priority: 1, Field: policies.FieldType, Match: policies.MatchExact, Pattern: "Outlook", Action: policies.ActionAllow, Description: "Outlook mobile", Enabled: true}
