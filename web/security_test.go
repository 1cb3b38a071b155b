package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"airlock/store"
	"airlock/store/storetest"
)

func counterValue(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// mint signs claims with the server's own key (or another) and algorithm.
func mint(t *testing.T, e *testEnv, u *store.User, aud string, method jwt.SigningMethod, key any, edit func(*claims)) string {
	t.Helper()
	now := time.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, Subject: strconv.FormatInt(u.ID, 10), Audience: jwt.ClaimStrings{aud},
			ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Second)), IssuedAt: jwt.NewNumericDate(now)},
		Email: u.Email, Role: string(u.Role),
	}
	if edit != nil {
		edit(&c)
	}
	if key == nil {
		k, err := e.Web.keys.get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	tok, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// cookieRequest asks for path with the session cookie set to tok.
func (e *testEnv) cookieRequest(t *testing.T, path, tok string) *resp {
	t.Helper()
	b := e.browser()
	req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
	return b.do(req)
}

func TestBadTokensRefusedAndAudited(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	admin := e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
	good := mint(t, e, admin, audienceDashboard, jwt.SigningMethodHS256, nil, nil)
	if p := e.cookieRequest(t, "/admin", good); p.Code != 200 {
		t.Fatalf("control: a valid token should open the dashboard, got %d %s", p.Code, p.Location)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, Subject: strconv.FormatInt(admin.ID, 10), Audience: jwt.ClaimStrings{audienceDashboard},
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)), NotBefore: jwt.NewNumericDate(time.Now()), IssuedAt: jwt.NewNumericDate(time.Now())},
		Role: "admin"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		tok      string
		apiValid bool // the token is good for the API (only the cookie must refuse it)
	}{
		{name: "forged (other key)", tok: mint(t, e, admin, audienceDashboard, jwt.SigningMethodHS256, []byte("0123456789abcdef0123456789abcdef"), nil)},
		{name: "alg none", tok: none},
		{name: "alg HS512 with the right key", tok: mint(t, e, admin, audienceDashboard, jwt.SigningMethodHS512, nil, nil)},
		{name: "expired", tok: mint(t, e, admin, audienceDashboard, jwt.SigningMethodHS256, nil, func(c *claims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
		})},
		{name: "not yet valid", tok: mint(t, e, admin, audienceDashboard, jwt.SigningMethodHS256, nil, func(c *claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) })},
		{name: "wrong audience (API token as cookie)", tok: mint(t, e, admin, audienceAPI, jwt.SigningMethodHS256, nil, nil), apiValid: true},
		{name: "no expiry", tok: mint(t, e, admin, audienceDashboard, jwt.SigningMethodHS256, nil, func(c *claims) { c.ExpiresAt = nil })},
		{name: "wrong issuer", tok: mint(t, e, admin, audienceDashboard, jwt.SigningMethodHS256, nil, func(c *claims) { c.Issuer = "evil" })},
		{name: "role claim lies", tok: mint(t, e, e.addUser("u@example.nhs.uk", "user-pass-1", store.RoleUser), audienceDashboard, jwt.SigningMethodHS256, nil, func(c *claims) { c.Role = "admin" })},
		{name: "garbage", tok: "not.a.jwt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.countAudit("auth.session_rejected")
			p := e.cookieRequest(t, "/admin", tc.tok)
			if p.Code != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
				t.Fatalf("dashboard: got HTTP %d to %q, want a redirect to sign-in", p.Code, p.Location)
			}
			if e.countAudit("auth.session_rejected") != before+1 {
				t.Errorf("dashboard refusal not audited")
			}
			if tc.apiValid {
				return
			}
			before = e.countAudit("auth.token_rejected")
			code, _ := e.api("GET", "/api/v1/devices", tc.tok, nil)
			if code != http.StatusUnauthorized {
				t.Fatalf("API: HTTP %d, want 401", code)
			}
			if e.countAudit("auth.token_rejected") != before+1 {
				t.Errorf("API refusal not audited")
			}
		})
	}
	t.Run("dashboard cookie as bearer", func(t *testing.T) {
		code, _ := e.api("GET", "/api/v1/devices", good, nil)
		if code != http.StatusUnauthorized {
			t.Fatalf("HTTP %d, want 401", code)
		}
	})
}

func (e *testEnv) countAudit(action string) int {
	e.t.Helper()
	evs, err := e.Store.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 10000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(evs)
}

func TestUserTokenOnAdminRoutes(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("user@example.nhs.uk", "user-pass-1", store.RoleUser)
	tok := e.token("user@example.nhs.uk", "user-pass-1")
	if code, _ := e.api("GET", "/api/v1/me/devices", tok, nil); code != 200 {
		t.Fatalf("control: a user token should reach /me/devices, got %d", code)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/devices"}, {"GET", "/api/v1/rules"}, {"PUT", "/api/v1/policy"}, {"GET", "/api/v1/audit"},
		{"GET", "/api/v1/users"}, {"POST", "/api/v1/devices/1/allow"}, {"POST", "/api/v1/rules/preview"},
	} {
		before := e.countAudit("auth.forbidden")
		code, _ := e.api(r.method, r.path, tok, map[string]any{})
		if code != http.StatusForbidden {
			t.Errorf("%s %s with a user token: HTTP %d, want 403", r.method, r.path, code)
		}
		if e.countAudit("auth.forbidden") != before+1 {
			t.Errorf("%s %s: refusal not audited", r.method, r.path)
		}
	}
	// The dashboard refuses a user session the same way.
	b := e.browser()
	if p := b.login("user@example.nhs.uk", "user-pass-1"); p.Location != "/mail" {
		t.Fatalf("user login lands on %q, want /mail", p.Location)
	}
	before := e.countAudit("auth.forbidden")
	if p := b.get("/admin/devices"); p.Code != http.StatusForbidden {
		t.Fatalf("user session on /admin/devices: HTTP %d, want 403", p.Code)
	}
	if e.countAudit("auth.forbidden") != before+1 {
		t.Error("dashboard refusal not audited")
	}
}

func TestFormWithoutCSRFRefused(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
	b := e.browser()
	b.login("admin@example.nhs.uk", "admin-pass-1")
	if p := b.get("/admin"); p.Code != 200 {
		t.Fatalf("control: admin overview HTTP %d", p.Code)
	}
	before := e.countAudit("csrf.rejected")
	p := b.post("/admin/rules/default", url.Values{"default": {"allow"}})
	if p.Code != http.StatusForbidden {
		t.Fatalf("post without token: HTTP %d, want 403", p.Code)
	}
	p = b.post("/admin/rules/default", url.Values{"default": {"allow"}, "_csrf": {"forged-token-value"}})
	if p.Code != http.StatusForbidden {
		t.Fatalf("post with a wrong token: HTTP %d, want 403", p.Code)
	}
	req, _ := http.NewRequest("POST", e.URL+"/admin/rules/default", strings.NewReader("default=allow"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := b.do(req); p.Code != http.StatusForbidden {
		t.Fatalf("cross-site post: HTTP %d, want 403", p.Code)
	}
	if got := e.countAudit("csrf.rejected"); got != before+3 {
		t.Errorf("%d CSRF refusals audited, want 3", got-before)
	}
	if v, _ := e.Store.Setting(context.Background(), "default_access", ""); v != "quarantine" {
		t.Fatalf("default access changed to %q by a forged form", v)
	}
	// Control: with the token the same form works.
	if p := b.postForm("/admin/rules", "/admin/rules/default", url.Values{"default": {"block"}}); p.Code != http.StatusSeeOther {
		t.Fatalf("post with token: HTTP %d", p.Code)
	}
	if v, _ := e.Store.Setting(context.Background(), "default_access", ""); v != "block" {
		t.Fatalf("default access %q after a valid form, want block", v)
	}
}

// addDevice stores a device for a user directly.
func (e *testEnv) addDevice(u *store.User, d store.Device) *store.Device {
	e.t.Helper()
	d.UserID = u.ID
	if d.DeviceID == "" {
		d.DeviceID = "DEV" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if d.DeviceType == "" {
		d.DeviceType = "iPhone"
	}
	dev, _, err := e.Store.EnsureDevice(context.Background(), &d)
	if err != nil {
		e.t.Fatal(err)
	}
	return dev
}

func TestCrossUserWipeRefused(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	alice := e.addUser("alice@example.nhs.uk", "alice-pass-1", store.RoleUser)
	bob := e.addUser("bob@example.nhs.uk", "bob-pass-1", store.RoleUser)
	bobs := e.addDevice(bob, store.Device{State: store.DeviceAllowed, Model: "iPhone3,1"})
	alices := e.addDevice(alice, store.Device{State: store.DeviceAllowed, Model: "iPhone3,1"})

	b := e.browser()
	b.login("alice@example.nhs.uk", "alice-pass-1")
	id := strconv.FormatInt(bobs.ID, 10)
	if p := b.get("/account/devices/" + id + "/wipe"); p.Code != http.StatusNotFound {
		t.Fatalf("confirmation page for another user's device: HTTP %d, want 404", p.Code)
	}
	before := e.countAudit("device.wipe")
	p := b.postForm("/account", "/account/devices/"+id+"/wipe", url.Values{"confirm": {"yes"}, "type": {"full"}})
	if p.Code != http.StatusNotFound {
		t.Fatalf("wipe another user's device: HTTP %d, want 404", p.Code)
	}
	if e.countAudit("device.wipe") != before+1 || !e.audited("device.wipe", "forbidden") {
		t.Error("cross-user wipe not audited as forbidden")
	}
	// And through the API.
	tok := e.token("alice@example.nhs.uk", "alice-pass-1")
	if code, _ := e.api("POST", "/api/v1/me/devices/"+id+"/wipe", tok, map[string]any{}); code != http.StatusNotFound {
		t.Fatalf("API cross-user wipe: HTTP %d, want 404", code)
	}
	if e.countAudit("device.wipe") != before+2 {
		t.Error("API cross-user wipe not audited")
	}
	got, _ := e.Store.DeviceByID(context.Background(), bobs.ID)
	if got.State != store.DeviceAllowed || got.WipeType != "" {
		t.Fatalf("bob's device changed: %s %q", got.State, got.WipeType)
	}
	// Control: alice can wipe her own, after confirming.
	if p := b.postForm("/account", "/account/devices/"+strconv.FormatInt(alices.ID, 10)+"/wipe", url.Values{"type": {"full"}}); p.Code != http.StatusSeeOther {
		t.Fatalf("unconfirmed wipe: HTTP %d", p.Code)
	}
	if d, _ := e.Store.DeviceByID(context.Background(), alices.ID); d.State == store.DeviceWipePending {
		t.Fatal("wipe requested without the confirmation box")
	}
	b.postForm("/account", "/account/devices/"+strconv.FormatInt(alices.ID, 10)+"/wipe", url.Values{"type": {"full"}, "confirm": {"yes"}})
	if d, _ := e.Store.DeviceByID(context.Background(), alices.ID); d.State != store.DeviceWipePending {
		t.Fatalf("own wipe: state %s", d.State)
	}
}

func TestLogoutAndRoleChangeRevoke(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	admin := e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
	b := e.browser()
	b.login("admin@example.nhs.uk", "admin-pass-1")
	u, _ := url.Parse(e.URL)
	var tok string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			tok = c.Value
		}
	}
	if tok == "" {
		t.Fatal("no session cookie after sign-in")
	}
	apiTok := e.token("admin@example.nhs.uk", "admin-pass-1")
	if p := b.postForm("/admin", "/logout", nil); p.Code != http.StatusSeeOther {
		t.Fatalf("logout: HTTP %d", p.Code)
	}
	if p := e.cookieRequest(t, "/admin", tok); p.Code != http.StatusSeeOther {
		t.Fatalf("token after logout: HTTP %d, want redirect", p.Code)
	}
	if code, _ := e.api("GET", "/api/v1/devices", apiTok, nil); code != http.StatusUnauthorized {
		t.Fatalf("API token after logout: HTTP %d, want 401", code)
	}
	if !e.audited("auth.logout", "") {
		t.Error("logout not audited")
	}

	// Role change, made anywhere (here: the store, as the CLI does).
	b.login("admin@example.nhs.uk", "admin-pass-1")
	if p := b.get("/admin"); p.Code != 200 {
		t.Fatalf("admin again: HTTP %d", p.Code)
	}
	if err := e.Store.SetUserRole(context.Background(), admin.ID, store.RoleUser); err != nil {
		t.Fatal(err)
	}
	before := e.countAudit("auth.session_rejected")
	if p := b.get("/admin"); p.Code != http.StatusSeeOther {
		t.Fatalf("after demotion: HTTP %d, want redirect to sign-in", p.Code)
	}
	if e.countAudit("auth.session_rejected") != before+1 {
		t.Error("revoked session not audited")
	}
}

func TestAdminTOTP(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	ctx := context.Background()
	e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
	if err := e.Store.SetSetting(ctx, settingTOTPRequired, "true"); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	p := b.login("admin@example.nhs.uk", "admin-pass-1")
	if !strings.HasPrefix(p.Location, "/account/totp") {
		t.Fatalf("admin without a second factor lands on %q, want enrolment", p.Location)
	}
	if p := b.get("/admin"); p.Code != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/account/totp") {
		t.Fatalf("/admin before enrolment: HTTP %d %q", p.Code, p.Location)
	}
	if code, _ := e.api("POST", "/api/v1/token", "", map[string]string{"username": "admin@example.nhs.uk", "password": "admin-pass-1"}); code != http.StatusForbidden {
		t.Fatalf("API token before enrolment: HTTP %d, want 403", code)
	}
	enrol := b.get("/account/totp")
	secret := regexpFind(t, `<code>([A-Z2-7]+)</code>`, enrol.Body)
	code, _ := totp.GenerateCodeCustom(secret, time.Now(), totpOpts)
	if p := b.post("/account/totp", url.Values{"_csrf": {enrol.csrf(t)}, "code": {code}}); p.Code != http.StatusSeeOther || p.Location != "/admin" {
		t.Fatalf("enrol: HTTP %d %q", p.Code, p.Location)
	}
	if p := b.get("/admin"); p.Code != 200 {
		t.Fatalf("/admin after enrolment: HTTP %d", p.Code)
	}
	// The same code cannot be used twice.
	b2 := e.browser()
	if p := b2.login("admin@example.nhs.uk", "admin-pass-1"); !strings.HasPrefix(p.Location, "/login/totp") {
		t.Fatalf("second sign-in lands on %q, want the code prompt", p.Location)
	}
	f := b2.get("/login/totp")
	if p := b2.post("/login/totp", url.Values{"_csrf": {f.csrf(t)}, "code": {code}}); p.Code != http.StatusUnauthorized {
		t.Fatalf("replayed code: HTTP %d, want 401", p.Code)
	}
	if p := b2.get("/admin"); p.Code != http.StatusSeeOther {
		t.Fatalf("/admin without the code: HTTP %d", p.Code)
	}
	next, _ := totp.GenerateCodeCustom(secret, time.Now().Add(30*time.Second), totpOpts)
	if code2, out := e.api("POST", "/api/v1/token", "", map[string]string{"username": "admin@example.nhs.uk", "password": "admin-pass-1", "totp": next}); code2 != 200 {
		t.Fatalf("API token with a code: HTTP %d %v", code2, out)
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("victim@example.nhs.uk", "right-pass-1", store.RoleUser)
	b := e.browser()
	var last *resp
	// The account's limit is the one every entry point shares
	// (authguard.DefaultPolicy): 10 failures, then locked.
	for i := 0; i < 11; i++ {
		last = b.login("victim@example.nhs.uk", "wrong")
	}
	if last.Code != http.StatusTooManyRequests {
		t.Fatalf("after 11 failures: HTTP %d, want 429", last.Code)
	}
	// Even the right password waits now: the account is locked.
	if p := b.login("victim@example.nhs.uk", "right-pass-1"); p.Code != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: HTTP %d, want 429", p.Code)
	}
	e.Web.guard.Flush(context.Background())
	if !e.audited("auth.web_login", "locked") || !e.audited("auth.web_login", "failure") {
		t.Error("failures and rate limiting not audited")
	}
}

// TestDeviceStringsEscaped: model, user agent and friendly name come from
// the device and must never reach a page as markup.
func TestDeviceStringsEscaped(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
	u := e.addUser("user@example.nhs.uk", "user-pass-1", store.RoleUser)
	evil := `<script>alert(1)</script>`
	dev := e.addDevice(u, store.Device{DeviceType: `"><svg onload=alert(2)>`, State: store.DeviceQuarantined, Model: evil, UserAgent: `<img src=x onerror=alert(3)>`,
		FriendlyName: `<b>phone</b>`, StateReason: `<i>reason</i>`, Evidence: `["<u>evidence</u>"]`, OS: "javascript:alert(4)"})
	b := e.browser()
	b.login("admin@example.nhs.uk", "admin-pass-1")
	for _, path := range []string{"/admin", "/admin/quarantine", "/admin/devices", "/admin/devices/" + strconv.FormatInt(dev.ID, 10), "/admin/users/" + strconv.FormatInt(u.ID, 10)} {
		p := b.get(path)
		if p.Code != 200 {
			t.Fatalf("%s: HTTP %d", path, p.Code)
		}
		for _, raw := range []string{"<script>alert", "<svg onload", "<img src=x", "<b>phone", "<i>reason", "<u>evidence"} {
			if strings.Contains(p.Body, raw) {
				t.Errorf("%s contains unescaped %q", path, raw)
			}
		}
		if !strings.Contains(p.Body, "&lt;") {
			t.Errorf("%s: expected escaped device strings", path)
		}
	}
	ub := e.browser()
	ub.login("user@example.nhs.uk", "user-pass-1")
	if p := ub.get("/account"); strings.Contains(p.Body, "<script>alert") || strings.Contains(p.Body, "<i>reason") {
		t.Error("/account shows device strings unescaped")
	}
}

func regexpFind(t *testing.T, expr, s string) string {
	t.Helper()
	m := regexpMust(expr).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no match for %s", expr)
	}
	return m[1]
}

// The second-factor step shares the lockout: an account that ActiveSync
// (or any entry point) locked is refused at the code prompt, and wrong
// codes are counted per account in the store (every node sees them), on a
// counter that a fresh password sign-in does not reset.
func TestLockoutCoversTOTPStep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		u := e.addUser("admin@example.nhs.uk", "admin-pass-12", store.RoleAdmin)
		secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
		if err := st.SetSetting(ctx, settingTOTPSecret+strconv.FormatInt(u.ID, 10), secret); err != nil {
			t.Fatal(err)
		}
		code := func() string { c, _ := totp.GenerateCodeCustom(secret, time.Now(), totpOpts); return c }
		submit := func(b *browser, c string) int {
			f := b.get("/login/totp")
			return b.post("/login/totp", url.Values{"_csrf": {f.csrf(t)}, "code": {c}}).Code
		}
		b := e.browser()
		if p := b.login("admin@example.nhs.uk", "admin-pass-12"); !strings.HasPrefix(p.Location, "/login/totp") {
			t.Fatalf("sign-in lands on %q", p.Location)
		}
		// ActiveSync locks the account (wrong passwords through an alias).
		for i := 0; i < 10; i++ {
			e.Web.guard.Check(ctx, "auth", `EXAMPLE\ADMIN`, "wrong", "192.0.2.7")
		}
		if got := submit(b, code()); got != http.StatusTooManyRequests {
			t.Fatalf("right code for an account EAS locked: HTTP %d, want 429", got)
		}
		st.ClearAuthFailures(ctx, "acct:"+strconv.FormatInt(u.ID, 10))

		// Ten wrong codes lock the second factor, through a new sign-in too.
		for i := 0; i < 10; i++ {
			if got := submit(b, "000000"); got != http.StatusUnauthorized {
				t.Fatalf("wrong code %d: HTTP %d", i, got)
			}
		}
		b2 := e.browser()
		if p := b2.login("admin@example.nhs.uk", "admin-pass-12"); !strings.HasPrefix(p.Location, "/login/totp") {
			t.Fatalf("second sign-in lands on %q", p.Location)
		}
		if got := submit(b2, code()); got != http.StatusTooManyRequests {
			t.Fatalf("right code after 10 wrong ones: HTTP %d, want 429", got)
		}
		if _, err := st.AuthFailures(ctx, "totp:"+strconv.FormatInt(u.ID, 10)); err != nil {
			t.Fatalf("code failures not counted in the store: %v", err)
		}
	})
}

// Admin second factor on by default: with no setting stored, an admin who
// signs in with a password is sent to enrol and gets no API token; turning
// the requirement off is an explicit, audited setting.
func TestAdminTOTPRequiredByDefault(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnvDefaults(t, st)
		e.addUser("admin@example.nhs.uk", "admin-pass-12", store.RoleAdmin)
		e.addUser("other@example.nhs.uk", "other-pass-12", store.RoleAdmin)
		b := e.browser()
		if p := b.login("admin@example.nhs.uk", "admin-pass-12"); !strings.HasPrefix(p.Location, "/account/totp") {
			t.Fatalf("admin without a second factor lands on %q, want enrolment", p.Location)
		}
		if p := b.get("/admin"); p.Code != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/account/totp") {
			t.Fatalf("/admin before enrolment: HTTP %d %q", p.Code, p.Location)
		}
		if code, _ := e.api("POST", "/api/v1/token", "", map[string]string{"username": "admin@example.nhs.uk", "password": "admin-pass-12"}); code != http.StatusForbidden {
			t.Fatalf("API token before enrolment: HTTP %d, want 403", code)
		}
		// Enrolled, the admin turns the requirement off: audited.
		enrol := b.get("/account/totp")
		secret := regexpFind(t, `<code>([A-Z2-7]+)</code>`, enrol.Body)
		code, _ := totp.GenerateCodeCustom(secret, time.Now(), totpOpts)
		if p := b.post("/account/totp", url.Values{"_csrf": {enrol.csrf(t)}, "code": {code}}); p.Code != http.StatusSeeOther {
			t.Fatalf("enrol: HTTP %d", p.Code)
		}
		if p := b.postForm("/admin/settings", "/admin/settings", url.Values{"section": {"security"}, "max_devices": {"5"}}); p.Code != http.StatusSeeOther {
			t.Fatalf("settings: HTTP %d", p.Code)
		}
		evs, _ := st.ListAudit(context.Background(), store.AuditFilter{Action: "settings.changed", Limit: 10})
		if len(evs) == 0 || !strings.Contains(evs[0].Detail, "admin_totp_required=false") || evs[0].Actor != "admin@example.nhs.uk" {
			t.Fatalf("turning the second factor off not audited: %+v", evs)
		}
		if p := e.browser().login("other@example.nhs.uk", "other-pass-12"); p.Location != "/admin" {
			t.Fatalf("with the requirement off, an admin lands on %q", p.Location)
		}
	})
}
