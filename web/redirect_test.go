package web

import (
	"net/url"
	"strings"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// hostileNext are sign-in "next" values that a browser would follow to
// another site, or that smuggle a scheme or control characters.
var hostileNext = []string{
	"/\t/evil.example/x",
	"/\t\t/evil.example",
	"/\r\n/evil.example",
	"/\n/evil.example",
	"/%09/evil.example",
	"/%0d%0a/evil.example",
	"/%0a/evil.example",
	"/%2f/evil.example",
	"/%2F%2Fevil.example",
	"/%5c/evil.example",
	"/%5Cevil.example",
	"//evil.example",
	"///evil.example",
	"/\\evil.example",
	"/\\/evil.example",
	"\\/evil.example",
	"\\\\evil.example",
	"https://evil.example/",
	"http:evil.example",
	"javascript:alert(1)",
	"JavaScript:alert(1)",
	"data:text/html,<script>alert(1)</script>",
	" /evil.example",
	"/ /evil.example",
	"\t//evil.example",
	"/\x00/evil.example",
	"/%00/evil.example",
	"/\x7f/evil.example",
	"/\u2028/evil.example",
	"/%zz",
	"/\xff/evil.example",
	"evil.example",
	"/login?next=//evil.example",
	"/logout",
}

func TestOpenRedirectNextOnlyLocalPaths(t *testing.T) {
	for _, v := range hostileNext {
		if got := safeNext(v); got != "" {
			t.Errorf("safeNext(%q) = %q, want refused", v, got)
		}
	}
	for _, v := range []string{"/my", "/admin/devices?state=quarantined", "/admin/devices/12#evidence", "/my/devices/3/wipe", "/setup/ios?x=%20y"} {
		if got := safeNext(v); got != v {
			t.Errorf("safeNext(%q) = %q, want it kept", v, got)
		}
	}
}

// The attacker's link signs the victim in through the real form; the
// redirect that follows must stay on this site.
func TestOpenRedirectAfterSignInStaysOnSite(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("staff@example.nhs.uk", "staff-pass-1", store.RoleUser)
	// The first dozen: the sign-in limiter allows 20 attempts per address.
	for _, v := range hostileNext[:12] {
		b := e.browser()
		page := b.get("/login?next=" + url.QueryEscape(v))
		p := b.post("/login", url.Values{"_csrf": {page.csrf(t)}, "login": {"staff@example.nhs.uk"}, "password": {"staff-pass-1"}, "next": {v}})
		if p.Location != "/mail" {
			t.Errorf("next %q: redirected to %q, want /mail", v, p.Location)
		}
		if strings.Contains(page.Body, "evil.example") {
			t.Errorf("next %q: echoed into the sign-in form", v)
		}
	}
}
