package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"airlock/governance"
	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

// getBasic fetches path with HTTP Basic credentials (a calendar app's
// subscription).
func (e *testEnv) getBasic(path, user, pw string) *resp {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	b := e.browser()
	return b.do(req)
}

// A consultant's PA, given read access to the consultant's calendar, reads
// the diary from the web (session) and as a subscribed calendar (Basic),
// private appointments masked; anyone else, a mail-only delegate and an
// unknown owner get 403; after revocation the very next fetch is refused.
func TestDelegatedCalendarPA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		gov := &governance.Service{Store: st, Hostname: "mail.example.nhs.uk"}
		e.Web.d.Delegations = gov
		const pw = "diary-keeper-2026"
		consultant := e.addUser("consultant@example.nhs.uk", pw, store.RoleUser)
		pa := e.addUser("pa@example.nhs.uk", pw, store.RoleUser)
		mailOnly := e.addUser("secretary@example.nhs.uk", pw, store.RoleUser)
		e.addUser("other@example.nhs.uk", pw, store.RoleUser)

		cal, err := st.FolderByType(ctx, consultant.ID, store.FolderCalendar)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
		for _, ev := range []pim.Event{
			{UID: "clinic-1", Summary: "Fracture clinic", Location: "Outpatients B", Start: start, End: start.Add(3 * time.Hour), BusyStatus: 2},
			{UID: "private-1", Summary: "Oncology follow-up for J. Smith", Location: "Room 3", Description: "Bring results", Start: start.Add(4 * time.Hour),
				End: start.Add(5 * time.Hour), BusyStatus: 2, Sensitivity: pim.SensitivityPrivate},
		} {
			it, err := ev.ToItem(consultant.ID, cal.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.AddItem(ctx, it, nil); err != nil {
				t.Fatal(err)
			}
		}
		self := governance.Actor{UserID: consultant.ID, Name: consultant.Email}
		if err := gov.GrantDelegate(ctx, self, consultant, mailOnly, store.ScopeMail, store.PermissionSendOnBehalf); err != nil {
			t.Fatal(err)
		}
		path := calendarPath(consultant.Email)

		// Before the grant: refused, for the PA as for anyone.
		if r := e.getBasic(path, pa.Email, pw); r.Code != http.StatusForbidden {
			t.Fatalf("before the grant: HTTP %d", r.Code)
		}
		if err := gov.GrantDelegate(ctx, self, consultant, pa, store.ScopeCalendar, store.PermissionRead); err != nil {
			t.Fatal(err)
		}

		// The PA subscribes with their own credentials.
		r := e.getBasic(path, pa.Email, pw)
		if r.Code != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/calendar") || r.Header.Get("Cache-Control") != "private, no-store" {
			t.Fatalf("PA subscription: HTTP %d %v\n%s", r.Code, r.Header, r.Body)
		}
		events, _, errs := pim.ParseICS(strings.NewReader(r.Body))
		if len(errs) != 0 || len(events) != 2 {
			t.Fatalf("calendar: %d events, errors %v\n%s", len(events), errs, r.Body)
		}
		byUID := map[string]pim.Event{}
		for _, ev := range events {
			byUID[ev.UID] = ev
		}
		if c := byUID["clinic-1"]; c.Summary != "Fracture clinic" || c.Location != "Outpatients B" || !c.Start.Equal(start) {
			t.Fatalf("clinic: %+v", c)
		}
		if p := byUID["private-1"]; p.Summary != "Private appointment" || p.Location != "" || !p.Start.Equal(start.Add(4*time.Hour)) {
			t.Fatalf("private appointment not masked: %+v", p)
		}
		for _, secret := range []string{"J. Smith", "Room 3", "Bring results"} {
			if strings.Contains(r.Body, secret) {
				t.Fatalf("the feed shows %q of a private appointment", secret)
			}
		}

		// From the web, signed in: the list and the file.
		b := e.browser()
		if got := b.login(pa.Email, pw); got.Code != http.StatusSeeOther {
			t.Fatalf("login: HTTP %d", got.Code)
		}
		list := b.get("/account/delegations")
		if list.Code != http.StatusOK || !strings.Contains(list.Body, consultant.Email) || !strings.Contains(list.Body, "calendar.ics") {
			t.Fatalf("/account/delegations: HTTP %d\n%s", list.Code, list.Body)
		}
		if got := b.get(path); got.Code != http.StatusOK || !strings.Contains(got.Body, "Fracture clinic") {
			t.Fatalf("signed-in download: HTTP %d", got.Code)
		}

		// Everyone else is refused alike.
		for _, c := range []struct{ name, user, pw, path string }{
			{"no grant", "other@example.nhs.uk", pw, path},
			{"mail-only delegate", mailOnly.Email, pw, path},
			{"own mailbox through the delegate path", consultant.Email, pw, path},
			{"unknown owner", pa.Email, pw, calendarPath("nobody@example.nhs.uk")},
		} {
			if got := e.getBasic(c.path, c.user, c.pw); got.Code != http.StatusForbidden || strings.Contains(got.Body, "Fracture") {
				t.Errorf("%s: HTTP %d", c.name, got.Code)
			}
		}
		if got := e.getBasic(path, "", ""); got.Code != http.StatusUnauthorized || got.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("no credentials: HTTP %d %v", got.Code, got.Header)
		}
		if got := e.getBasic(path, pa.Email, "wrong"); got.Code != http.StatusUnauthorized {
			t.Errorf("wrong password: HTTP %d", got.Code)
		}

		// Revoked: the next fetch, by either path, is refused.
		if err := gov.RevokeDelegate(ctx, self, consultant, pa, store.ScopeCalendar); err != nil {
			t.Fatal(err)
		}
		if got := e.getBasic(path, pa.Email, pw); got.Code != http.StatusForbidden {
			t.Fatalf("after revocation (subscription): HTTP %d", got.Code)
		}
		if got := b.get(path); got.Code != http.StatusForbidden {
			t.Fatalf("after revocation (signed in): HTTP %d", got.Code)
		}
		if list := b.get("/account/delegations"); strings.Contains(list.Body, consultant.Email) {
			t.Fatal("the revoked calendar is still listed")
		}
		if !e.audited("delegate.calendar_read", "success") || !e.audited("delegate.calendar_read", "denied") {
			t.Fatal("reads and refusals are not audited")
		}
	})
}
