package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"airlock/oof"
	"airlock/store"
	"airlock/store/storetest"
)

// TestAccountMovedFromMy: /my's addresses redirect to their /account ones
// (forms with 308, so the post is repeated there); the calendar file a
// subscribing app fetches is still served at the old address.
// Every setting a member of staff keeps is reachable from /account, even
// those that live beside the page they change (signature, time zone).
func TestAccountLinksEverySetting(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	u := e.addUser("settings@example.nhs.uk", "settings-pass-1", store.RoleUser)
	b := e.browser()
	b.login(u.Email, "settings-pass-1")
	page := b.get("/account")
	for _, href := range []string{"#password", "#oof", "#devices", "#delegates", "/account/totp", "/mail/signature", "/diary/settings"} {
		if !strings.Contains(page.Body, `href="`+href+`"`) {
			t.Errorf("/account has no link to %s", href)
		}
		if strings.HasPrefix(href, "/") {
			if r := b.get(href); r.Code != http.StatusOK {
				t.Errorf("%s: HTTP %d", href, r.Code)
			}
		}
	}
}

func TestAccountMovedFromMy(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	u := e.addUser("moved@example.nhs.uk", "moved-pass-1", store.RoleUser)
	b := e.browser()
	b.login(u.Email, "moved-pass-1")
	for _, c := range []struct {
		method, from, to string
		code             int
	}{
		{"GET", "/my", "/account", http.StatusMovedPermanently},
		{"GET", "/my/", "/account", http.StatusMovedPermanently},
		{"GET", "/my/devices/3/wipe", "/account/devices/3/wipe", http.StatusMovedPermanently},
		{"GET", "/my/delegations", "/account/delegations", http.StatusMovedPermanently},
		{"GET", "/my/delegations/a%40b.nhs.uk/diary?edit=x", "/account/delegations/a%40b.nhs.uk/diary?edit=x", http.StatusMovedPermanently},
		{"POST", "/my/delegates", "/account/delegates", http.StatusPermanentRedirect},
		{"POST", "/my/devices/3/wipe", "/account/devices/3/wipe", http.StatusPermanentRedirect},
	} {
		var r *resp
		if c.method == "POST" {
			r = b.postForm("/account", c.from, nil) // a form rendered before the move
		} else {
			r = b.get(c.from)
		}
		if r.Code != c.code || r.Location != c.to {
			t.Errorf("%s %s: HTTP %d to %q, want %d to %q", c.method, c.from, r.Code, r.Location, c.code, c.to)
		}
	}
	if r := b.get("/my/delegations/nobody%40example.nhs.uk/calendar.ics"); r.Code == http.StatusMovedPermanently {
		t.Error("the old calendar address redirects; subscribed apps may not follow")
	}
	if r := b.get("/account"); r.Code != 200 || !strings.Contains(r.Body, `href="/account" aria-current="page"`) {
		t.Errorf("/account: HTTP %d, or not marked in the navigation", r.Code)
	}
}

// TestAccountPasswordChange: the current password is required and the
// rules are checked, each error next to its field; a change signs out the
// user's other browser sessions and ends their API tokens, while this
// browser stays signed in; the old password no longer signs in.
func TestAccountPasswordChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		const old, neu = "first-pass-1", "correct horse battery"
		u := e.addUser("clerk@example.nhs.uk", old, store.RoleUser)
		here, other := e.browser(), e.browser()
		here.login(u.Email, old)
		other.login(u.Email, old)
		token := e.token(u.Email, old)

		for _, c := range []struct {
			name                string
			current, new, again string
			want                string
		}{
			{"wrong current", "not-it-at-all", neu, neu, "Your current password is not right."},
			{"no current", "", neu, neu, "Enter your current password."},
			{"too short", old, "short", "short", "Use at least 8 characters."},
			{"a common password", old, "password1234", "password1234", "one of the most common passwords"},
			{"not the same", old, neu, neu + "x", "The two new passwords are not the same."},
			{"the address", old, u.Email, u.Email, "Do not use your email address"},
			{"unchanged", old, old, old, "Choose a password different"},
		} {
			r := here.postForm("/account", "/account/password", url.Values{"current": {c.current}, "new": {c.new}, "confirm": {c.again}})
			if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, c.want) || !strings.Contains(r.Body, `class="field-error"`) {
				t.Fatalf("%s: HTTP %d, want 422 with %q\n%s", c.name, r.Code, c.want, mainOf(r.Body))
			}
		}
		if r := other.get("/account"); r.Code != 200 {
			t.Fatalf("a refused change signed the other browser out: HTTP %d", r.Code)
		}

		r := here.postForm("/account", "/account/password", url.Values{"current": {old}, "new": {neu}, "confirm": {neu}})
		if r.Code != http.StatusSeeOther || r.Location != "/account#password" {
			t.Fatalf("change: HTTP %d to %q\n%s", r.Code, r.Location, mainOf(r.Body))
		}
		if r := here.get("/account"); r.Code != 200 || !strings.Contains(r.Body, "Your password is changed") {
			t.Fatalf("this browser after the change: HTTP %d", r.Code)
		}
		if r := other.get("/mail"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
			t.Fatalf("the other browser after the change: HTTP %d to %q, want sign-in", r.Code, r.Location)
		}
		if code, _ := e.api("GET", "/api/v1/devices", token, nil); code != http.StatusUnauthorized {
			t.Fatalf("the API token after the change: HTTP %d, want 401", code)
		}
		if r := e.browser().login(u.Email, old); r.Code != http.StatusUnauthorized {
			t.Fatalf("the old password signs in: HTTP %d", r.Code)
		}
		if r := e.browser().login(u.Email, neu); r.Code != http.StatusSeeOther {
			t.Fatalf("the new password does not sign in: HTTP %d", r.Code)
		}
		if !e.audited("user.password_changed", "success") {
			t.Error("the change is not audited")
		}
	})
}

// TestAccountOOF: automatic replies set on the web are the settings phones
// read (oof.Load, what EAS Settings Oof Get answers), and come back into
// the form; mistakes are shown next to their fields.
func TestAccountOOF(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		u := e.addUser("away@example.nhs.uk", "away-pass-1", store.RoleUser)
		b := e.browser()
		b.login(u.Email, "away-pass-1")
		ctx := context.Background()

		r := b.postForm("/account", "/account/oof", url.Values{"state": {"between"}, "start": {"2026-07-01T09:00"}, "end": {"2026-06-01T09:00"}, "internal": {""}})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Replies must stop after they start.") || !strings.Contains(r.Body, "Write the reply colleagues get.") {
			t.Fatalf("bad form: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		r = b.postForm("/account", "/account/oof", url.Values{"state": {"between"}, "start": {"2026-07-01T09:00"}, "end": {"2026-07-15T09:00"},
			"internal": {"On leave until 15 July. Urgent: bleep 4412."}, "external_on": {"yes"}, "external": {"On leave until 15 July."}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("save: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		set, _, err := oof.Load(ctx, st, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		// 09:00 in London in July is 08:00 UTC.
		if set.State != oof.StateTimeBased || set.Start.UTC().Hour() != 8 || set.End.Day() != 15 ||
			!set.Internal.Enabled || set.Internal.Body != "On leave until 15 July. Urgent: bleep 4412." ||
			!set.ExternalUnknown.Enabled || !set.ExternalKnown.Enabled || set.ExternalUnknown.Body != "On leave until 15 July." {
			t.Fatalf("stored: %+v", set)
		}
		if p := b.get("/account"); !strings.Contains(p.Body, `value="2026-07-01T09:00"`) || !strings.Contains(p.Body, "bleep 4412") {
			t.Fatal("the form does not show the stored replies")
		}
		b.postForm("/account", "/account/oof", url.Values{"state": {"off"}, "internal": {"On leave until 15 July. Urgent: bleep 4412."}})
		if set, _, _ := oof.Load(ctx, st, u.ID); set.State != oof.StateDisabled || set.Internal.Body == "" {
			t.Fatalf("off keeps the text: %+v", set)
		}
		if !e.audited("user.oof_changed", "success") {
			t.Error("not audited")
		}
	})
}
