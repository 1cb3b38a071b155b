package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// grantCount counts the audit entries of action with outcome.
func (e *diaryEnv) grantCount(action, outcome string) int {
	e.t.Helper()
	evs, err := e.Store.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Outcome == outcome {
			n++
		}
	}
	return n
}

func (e *diaryEnv) delegatesOf(u *store.User) []store.Delegate {
	e.t.Helper()
	ds, err := e.Store.DelegatesOf(context.Background(), u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// A consultant gives a colleague the management of their diary from /my:
// the colleague can open it at once; the consultant ends it from /my and
// the colleague's next request is refused. Refusals store nothing, say why,
// and are audited like the grants.
func TestOwnerGrantsAndRevokesFromMy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newDiaryEnv(t, st)
		ctx := context.Background()
		gone := e.addUser("left@example.nhs.uk", diaryPW, store.RoleUser)
		if err := st.SetUserDisabled(ctx, gone.ID, true); err != nil {
			t.Fatal(err)
		}
		owner := e.signIn(e.consultant)
		newPA := e.signIn(e.colleague)
		diary := diaryPath(e.consultant.Email)
		before := len(e.delegatesOf(e.consultant))

		if r := newPA.get(diary); r.Code != http.StatusForbidden {
			t.Fatalf("diary before the grant: HTTP %d", r.Code)
		}
		if my := owner.get("/account"); !strings.Contains(my.Body, `action="/account/delegates"`) {
			t.Fatalf("/account has no form to give access:\n%s", mainOf(my.Body))
		}

		// Refused: nothing stored, a clear message, an audit entry.
		for _, tc := range []struct {
			name, delegate, scope, permission, want string
		}{
			{"oneself", e.consultant.Email, store.ScopeCalendar, store.PermissionSendOnBehalf, "you cannot be your own delegate"},
			{"unknown address", "nobody@example.nhs.uk", store.ScopeCalendar, store.PermissionRead, "is not a colleague in the directory"},
			{"disabled colleague", gone.Email, store.ScopeMail, store.PermissionRead, "is not a colleague in the directory"},
			{"no address", "", store.ScopeMail, store.PermissionRead, "is not a colleague in the directory"},
			{"unknown scope", e.colleague.Email, "contacts", store.PermissionRead, "choose mail or calendar"},
			{"unknown permission", e.colleague.Email, store.ScopeMail, "admin", "choose mail or calendar"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				failures := e.grantCount("delegate.grant", "failure")
				r := owner.postForm("/account", "/account/delegates", url.Values{"delegate": {tc.delegate}, "scope": {tc.scope}, "permission": {tc.permission}})
				if r.Code != http.StatusSeeOther {
					t.Fatalf("HTTP %d\n%s", r.Code, r.Body)
				}
				if my := owner.get("/account"); !strings.Contains(my.Body, tc.want) {
					t.Fatalf("no %q on /my:\n%s", tc.want, mainOf(my.Body))
				}
				if n := len(e.delegatesOf(e.consultant)); n != before {
					t.Fatalf("%d grants stored, want %d", n-before, 0)
				}
				if n := e.grantCount("delegate.grant", "failure"); n != failures+1 {
					t.Fatalf("%d failures audited, want 1", n-failures)
				}
			})
		}

		// A post without the form's token is refused.
		form := url.Values{"delegate": {e.colleague.Email}, "scope": {store.ScopeCalendar}, "permission": {store.PermissionSendOnBehalf}}
		if r := owner.post("/account/delegates", form); r.Code != http.StatusForbidden && r.Code != http.StatusBadRequest {
			t.Fatalf("no CSRF token: HTTP %d", r.Code)
		}
		if n := len(e.delegatesOf(e.consultant)); n != before {
			t.Fatalf("a post without a token stored %d grants", n-before)
		}

		// Granted: stored as the owner's own grant, shown on /my.
		if r := owner.postForm("/account", "/account/delegates", form); r.Code != http.StatusSeeOther || r.Location != "/account#delegates" {
			t.Fatalf("grant: HTTP %d to %q\n%s", r.Code, r.Location, r.Body)
		}
		g, err := st.DelegateGrant(ctx, e.consultant.ID, e.colleague.ID, store.ScopeCalendar)
		if err != nil || g.Permission != store.PermissionSendOnBehalf || g.GrantedBy != e.consultant.Email {
			t.Fatalf("stored grant: %+v, %v", g, err)
		}
		if my := mainOf(owner.get("/account").Body); !strings.Contains(my, "may now read, and add, change, cancel and answer meetings") ||
			!strings.Contains(my, `name="delegate" value="`+e.colleague.Email+`"`) {
			t.Fatalf("/account after the grant:\n%s", my)
		}
		if e.grantCount("delegate.grant", "success") != 4 { // three by newDiaryEnv
			t.Fatal("the grant is not audited")
		}
		if r := newPA.get(diary); r.Code != http.StatusOK {
			t.Fatalf("diary after the grant: HTTP %d", r.Code)
		}
		open := newPA.get(diary)

		// Revoked from /my: the next request is refused.
		revoke := url.Values{"delegate": {e.colleague.Email}, "scope": {store.ScopeCalendar}}
		if r := owner.postForm("/account", "/account/delegates/revoke", revoke); r.Code != http.StatusSeeOther {
			t.Fatalf("revoke: HTTP %d\n%s", r.Code, r.Body)
		}
		if r := newPA.get(diary); r.Code != http.StatusForbidden {
			t.Fatalf("diary after the revocation: HTTP %d", r.Code)
		}
		add := meetingForm("", "After revocation", e.consultant.CreatedAt)
		add.Set("_csrf", open.csrf(t))
		if r := newPA.post("/account/delegations/"+url.PathEscape(e.consultant.Email)+"/events", add); r.Code != http.StatusForbidden {
			t.Fatalf("add after the revocation: HTTP %d", r.Code)
		}
		if _, err := st.DelegateGrant(ctx, e.consultant.ID, e.colleague.ID, store.ScopeCalendar); err == nil {
			t.Fatal("the grant is still stored")
		}
		if my := mainOf(owner.get("/account").Body); !strings.Contains(my, "no longer has access to your calendar") {
			t.Fatalf("/account after the revocation:\n%s", my)
		}

		// Ending what is not granted, or someone unknown: one answer,
		// nothing else revoked, audited.
		for _, addr := range []string{e.colleague.Email, "nobody@example.nhs.uk"} {
			failures := e.grantCount("delegate.revoke", "failure")
			if r := owner.postForm("/account", "/account/delegates/revoke", url.Values{"delegate": {addr}, "scope": {store.ScopeCalendar}}); r.Code != http.StatusSeeOther {
				t.Fatalf("revoke %s again: HTTP %d", addr, r.Code)
			}
			if my := owner.get("/account").Body; !strings.Contains(my, "Nothing was changed") {
				t.Fatalf("revoke %s again:\n%s", addr, mainOf(my))
			}
			if e.grantCount("delegate.revoke", "failure") != failures+1 {
				t.Fatalf("revoking %s again is not audited", addr)
			}
		}
		if n := len(e.delegatesOf(e.consultant)); n != before {
			t.Fatalf("%d grants left, want %d", n, before)
		}

		// The audit names the owner as actor and their mailbox as target.
		evs, err := st.ListAudit(ctx, store.AuditFilter{Action: "delegate.revoke", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ok bool
		for _, ev := range evs {
			if ev.Outcome == "success" && ev.Actor == e.consultant.Email && ev.Target == e.consultant.Email &&
				ev.Detail == e.colleague.Email+": "+store.ScopeCalendar && ev.ActorIP != "" {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("no audited revocation by the owner: %+v", evs)
		}
	})
}
