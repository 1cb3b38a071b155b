package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

// sessionSetCookie returns the session cookie a response sets, or nil.
func sessionSetCookie(r *resp) *http.Cookie {
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			return ck
		}
	}
	return nil
}

// TestSharedComputerIdleTimeout: on a shared computer the session cookie
// has no Max-Age, and ten minutes without a click end the session (every
// click renews it; a renewal after the idle time is refused); a normal
// session on the same timeline lives on, in a cookie that persists until
// its token expires. The clock is the server's, injected.
func TestSharedComputerIdleTimeout(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	e.Web.d.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	wait := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	const pw = "ward-pass-1"
	u := e.addUser("ward@example.nhs.uk", pw, store.RoleUser)

	signIn := func(shared bool) *browser {
		b := e.browser()
		form := url.Values{"_csrf": {b.get("/login").csrf(t)}, "login": {u.Email}, "password": {pw}}
		if shared {
			form.Set("shared", "yes")
		}
		r := b.post("/login", form)
		ck := sessionSetCookie(r)
		if r.Code != http.StatusSeeOther || ck == nil {
			t.Fatalf("sign-in: HTTP %d", r.Code)
		}
		switch {
		case shared && (ck.MaxAge != 0 || strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age")):
			t.Fatalf("shared computer: a persistent cookie: %s", r.Header.Get("Set-Cookie"))
		case !shared && ck.MaxAge <= 0:
			t.Fatalf("normal session: no Max-Age: %s", r.Header.Get("Set-Cookie"))
		}
		return b
	}
	signedIn := func(b *browser) bool {
		r := b.get("/account")
		return r.Code == http.StatusOK
	}
	shared, normal := signIn(true), signIn(false)
	for _, step := range []struct {
		idle           time.Duration
		shared, normal bool
	}{
		{9 * time.Minute, true, true},   // a click within the idle time renews
		{9 * time.Minute, true, true},   // and again: 18 minutes in all
		{11 * time.Minute, false, true}, // 11 idle minutes end the shared session only
	} {
		wait(step.idle)
		if got := signedIn(shared); got != step.shared {
			t.Fatalf("shared computer after %v idle: signed in %v, want %v", step.idle, got, step.shared)
		}
		if got := signedIn(normal); got != step.normal {
			t.Fatalf("normal session after %v idle: signed in %v, want %v", step.idle, got, step.normal)
		}
	}
	if r := shared.get("/mail"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
		t.Fatalf("the idle shared session goes to sign-in: HTTP %d to %q", r.Code, r.Location)
	}

	// The live stream does not keep a shared session alive.
	b := signIn(true)
	wait(6 * time.Minute)
	req, _ := http.NewRequest(http.MethodGet, b.base+"/mail", nil)
	req.Header.Set("X-Airlock-Background", "1")
	if r := b.do(req); sessionSetCookie(r) != nil {
		t.Fatal("a background request renewed the shared session")
	}
	wait(5 * time.Minute)
	if signedIn(b) {
		t.Fatal("background requests kept the shared session alive")
	}
	if !strings.Contains(e.browser().get("/login").Body, "This is a shared computer") {
		t.Fatal("the sign-in form has no shared-computer choice")
	}
}

// TestLogsHoldNoQueryStrings: what the web layer logs about a request
// names its path, never its query string, where words could travel.
func TestLogsHoldNoQueryStrings(t *testing.T) {
	st := storetest.OpenSQLite(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	e := newEnv(t, st)
	e.Web.log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	u := e.addUser("quiet@example.nhs.uk", "quiet-pass-1", store.RoleUser)
	b := e.browser()
	b.login(u.Email, "quiet-pass-1")
	b.post("/mail/1/2/flag?q=haemoglobin", url.Values{}) // refused: no CSRF token
	b.get("/admin/users?search=haemoglobin")             // refused: not an administrator
	e.browser().get("/mail/1?q=haemoglobin")             // not signed in
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "request refused") {
		t.Fatalf("nothing was logged:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "haemoglobin") {
		t.Fatalf("a query string reached the log:\n%s", buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
