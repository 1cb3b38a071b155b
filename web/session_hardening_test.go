package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"airlock/internal/password"
	"airlock/store"
	"airlock/store/storetest"
)

// cookieOf returns the value of the named cookie in b's jar.
func (b *browser) cookieOf(t *testing.T, name string) string {
	t.Helper()
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// rawPost posts a form with exactly the cookies given, as a forging page
// or a cookie-tossing sibling host would arrange.
func (e *testEnv) rawPost(t *testing.T, path string, form url.Values, cookies ...*http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return e.browser().do(req).Code
}

// An attacker's own cookie and token pair, planted in the victim's
// browser next to the victim's session, must not carry a form.
func TestCSRFTokenBoundToSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
		e.addUser("mallory@example.nhs.uk", "mallory-pass-1", store.RoleUser)
		victim := e.browser()
		victim.login("admin@example.nhs.uk", "admin-pass-1")
		victimSession := &http.Cookie{Name: sessionCookie, Value: victim.cookieOf(t, sessionCookie)}

		// Pair 1: the attacker's anonymous pre-session cookie and token.
		anon := e.browser()
		anonToken := anon.get("/login").csrf(t)
		anonCookie := &http.Cookie{Name: csrfCookie, Value: anon.cookieOf(t, csrfCookie)}
		// Pair 2: the attacker's own signed-in session's token.
		mallory := e.browser()
		mallory.login("mallory@example.nhs.uk", "mallory-pass-1")
		malloryToken := mallory.get("/account").csrf(t)

		form := func(tok string) url.Values { return url.Values{"default": {"allow"}, "_csrf": {tok}} }
		for name, code := range map[string]int{
			"anonymous pair planted":      e.rawPost(t, "/admin/rules/default", form(anonToken), victimSession, anonCookie),
			"attacker's session token":    e.rawPost(t, "/admin/rules/default", form(malloryToken), victimSession, anonCookie),
			"token of another session id": e.rawPost(t, "/admin/rules/default", form(malloryToken), victimSession),
		} {
			if code != http.StatusForbidden {
				t.Errorf("%s: HTTP %d, want 403", name, code)
			}
		}
		if v, _ := st.Setting(context.Background(), "default_access", ""); v == "allow" {
			t.Fatal("a forged form changed the default access")
		}
		// Control: the victim's own token, from their own page, works.
		if p := victim.postForm("/admin/rules", "/admin/rules/default", url.Values{"default": {"block"}}); p.Code != http.StatusSeeOther {
			t.Fatalf("own token: HTTP %d", p.Code)
		}
	})
}

// Over HTTPS every dashboard cookie is __Host-: Secure, Path=/, no Domain.
func TestCSRFCookiesUseHostPrefix(t *testing.T) {
	st := storetest.OpenSQLite(t)
	w := NewServer(Deps{Store: st, Secure: true, Hostname: "mail.example.nhs.uk", Log: testLogger(t)})
	h, err := password.Hash("admin-pass-1", fastHash)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(context.Background(), &store.User{Email: "admin@example.nhs.uk", PasswordHash: h, Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	// Password-only admins, as in newEnv: the cookies are under test here.
	if err := st.SetSetting(context.Background(), settingTOTPRequired, "false"); err != nil {
		t.Fatal(err)
	}
	do := func(req *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, req)
		return rec.Result()
	}
	res := do(httptest.NewRequest("GET", "https://mail.example.nhs.uk/login", nil))
	body := new(strings.Builder)
	if _, err := io.Copy(body, res.Body); err != nil {
		t.Fatal(err)
	}
	tok := csrfRE.FindStringSubmatch(body.String())
	jar := map[string]*http.Cookie{}
	check := func(res *http.Response) {
		for _, c := range res.Cookies() {
			if !strings.HasPrefix(c.Name, hostPrefix) || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("cookie %s: Secure=%v Path=%q Domain=%q HttpOnly=%v SameSite=%v; want __Host-, Secure, Path=/, no Domain, HttpOnly, Strict", c.Name, c.Secure, c.Path, c.Domain, c.HttpOnly, c.SameSite)
			}
			jar[c.Name] = c
		}
	}
	check(res)
	if tok == nil || jar[hostPrefix+csrfCookie] == nil {
		t.Fatalf("no token or no %s cookie on the sign-in page", hostPrefix+csrfCookie)
	}
	form := url.Values{"_csrf": {tok[1]}, "login": {"admin@example.nhs.uk"}, "password": {"admin-pass-1"}}
	req := httptest.NewRequest("POST", "https://mail.example.nhs.uk/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(jar[hostPrefix+csrfCookie])
	res = do(req)
	check(res)
	sess := jar[hostPrefix+sessionCookie]
	if res.StatusCode != http.StatusSeeOther || sess == nil {
		t.Fatalf("sign-in: HTTP %d, session cookie %v", res.StatusCode, sess)
	}
	req = httptest.NewRequest("GET", "https://mail.example.nhs.uk/admin", nil)
	req.AddCookie(sess)
	if res := do(req); res.StatusCode != 200 {
		t.Fatalf("dashboard with the __Host- session: HTTP %d", res.StatusCode)
	}
	// The bare name, which a sibling host could set, is ignored.
	req = httptest.NewRequest("GET", "https://mail.example.nhs.uk/admin", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess.Value})
	if res := do(req); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("dashboard with a bare-named session cookie: HTTP %d, want redirect to sign-in", res.StatusCode)
	}
}

// A session kept busy is still ended after its absolute lifetime: 12 hours
// for staff, 8 for administrators.
func TestSessionAbsoluteLifetime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		var offset atomic.Int64
		start := time.Now()
		e.Web.d.Now = func() time.Time { return start.Add(time.Duration(offset.Load())) }
		for _, tc := range []struct {
			email, page string
			role        store.Role
			max         time.Duration
		}{
			{"staff@example.nhs.uk", "/account", store.RoleUser, 12 * time.Hour},
			{"admin@example.nhs.uk", "/admin", store.RoleAdmin, 8 * time.Hour},
		} {
			offset.Store(0)
			e.addUser(tc.email, "session-pass-1", tc.role)
			b := e.browser()
			b.login(tc.email, "session-pass-1")
			var last time.Duration
			for d := time.Duration(0); d < 14*time.Hour; d += 9 * time.Minute {
				offset.Store(int64(d))
				if p := b.get(tc.page); p.Code == 200 {
					last = d
				} else {
					break
				}
			}
			if last > tc.max || last < tc.max-10*time.Minute {
				t.Errorf("%s: an active session lasted %v, want just under %v", tc.role, last, tc.max)
			}
		}
	})
}

// A password changed anywhere (the CLI and the dashboard share the store
// call) ends the user's sessions and API tokens.
func TestPasswordChangeRevokesSessionsAndTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		u := e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
		b := e.browser()
		b.login("admin@example.nhs.uk", "admin-pass-1")
		apiTok := e.token("admin@example.nhs.uk", "admin-pass-1")
		if p := b.get("/admin"); p.Code != 200 {
			t.Fatalf("control: HTTP %d", p.Code)
		}
		h, _ := password.Hash("new-admin-pass-2", fastHash)
		if err := st.SetPasswordHash(context.Background(), u.ID, h); err != nil {
			t.Fatal(err)
		}
		if p := b.get("/admin"); p.Code != http.StatusSeeOther {
			t.Errorf("session after a password change: HTTP %d, want redirect to sign-in", p.Code)
		}
		if code, _ := e.api("GET", "/api/v1/devices", apiTok, nil); code != http.StatusUnauthorized {
			t.Errorf("API token after a password change: HTTP %d, want 401", code)
		}
	})
}

// The main listener, which phones and the internet reach, does not serve
// metrics: not anonymously, not to a signed-in administrator.
func TestMetricsNotOnMainListener(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
	admin := e.browser()
	admin.login("admin@example.nhs.uk", "admin-pass-1")
	for name, b := range map[string]*browser{"anonymous": e.browser(), "admin": admin} {
		for _, path := range []string{"/metrics", "/metrics/", "/Metrics", "/metrics?format=prometheus"} {
			p := b.get(path)
			if p.Code != http.StatusNotFound || strings.Contains(p.Body, "airlock_") {
				t.Errorf("%s GET %s: HTTP %d; want 404 without metrics", name, path, p.Code)
			}
		}
	}
	// The handler itself still works, for the metrics listener.
	srv := httptest.NewServer(e.Web.MetricsHandler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("metrics listener: %v %v", res, err)
	}
	res.Body.Close()
}
