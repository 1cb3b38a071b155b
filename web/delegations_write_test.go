package web

import (
	"context"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/governance"
	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
	"airlock/store/storetest"
)

const diaryPW = "diary-keeper-2026"

// diaryEnv is a server whose governance service manages calendars for
// delegates, its meeting mail going through a delivery service with the
// rules, as in serve.
type diaryEnv struct {
	*testEnv
	gov                          *governance.Service
	meetings                     *scheduling.Service
	mail                         *delivery.Service
	consultant, pa, colleague    *store.User
	readOnly, mailOnly, stranger *store.User
}

func newDiaryEnv(t *testing.T, st *store.Store) *diaryEnv {
	t.Helper()
	ctx := context.Background()
	e := &diaryEnv{testEnv: newEnv(t, st)}
	e.gov = &governance.Service{Store: st, Hostname: "mail.example.nhs.uk"}
	e.mail = &delivery.Service{Store: st, Hostname: "mail.example.nhs.uk", Rules: &governance.Rules{Service: e.gov}}
	e.meetings = &scheduling.Service{Store: st, Mail: e.mail}
	e.gov.Meetings = e.meetings
	e.Web.d.Delegations = e.gov
	e.consultant = e.addUser("consultant@example.nhs.uk", diaryPW, store.RoleUser)
	e.pa = e.addUser("pa@example.nhs.uk", diaryPW, store.RoleUser)
	e.colleague = e.addUser("colleague@example.nhs.uk", diaryPW, store.RoleUser)
	e.readOnly = e.addUser("reader@example.nhs.uk", diaryPW, store.RoleUser)
	e.mailOnly = e.addUser("secretary@example.nhs.uk", diaryPW, store.RoleUser)
	e.stranger = e.addUser("other@example.nhs.uk", diaryPW, store.RoleUser)
	self := governance.Actor{UserID: e.consultant.ID, Name: e.consultant.Email}
	for _, g := range []struct {
		who               *store.User
		scope, permission string
	}{
		{e.pa, store.ScopeCalendar, store.PermissionSendOnBehalf},
		{e.readOnly, store.ScopeCalendar, store.PermissionRead},
		{e.mailOnly, store.ScopeMail, store.PermissionSendOnBehalf},
	} {
		if err := e.gov.GrantDelegate(ctx, self, e.consultant, g.who, g.scope, g.permission); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// items lists the live items of a user's folder of type ft.
func (e *diaryEnv) items(u *store.User, ft store.FolderType) []store.Item {
	e.t.Helper()
	ctx := context.Background()
	f, err := e.Store.FolderByType(ctx, u.ID, ft)
	if err != nil {
		e.t.Fatal(err)
	}
	its, err := e.Store.ListItems(ctx, u.ID, f.ID, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return its
}

func (e *diaryEnv) event(it store.Item) pim.Event {
	e.t.Helper()
	var ev pim.Event
	if err := ev.FromItem(&it); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// header reads the From and Sender of a stored message.
func (e *diaryEnv) header(u *store.User, it store.Item) (from, sender string) {
	e.t.Helper()
	raw, err := e.Store.Blob(context.Background(), u.ID, it.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		e.t.Fatal(err)
	}
	f, _ := mail.ParseAddress(m.Header.Get("From"))
	s, _ := mail.ParseAddress(m.Header.Get("Sender"))
	if f != nil {
		from = f.Address
	}
	if s != nil {
		sender = s.Address
	}
	return from, sender
}

func (e *diaryEnv) signIn(u *store.User) *browser {
	e.t.Helper()
	b := e.browser()
	if r := b.login(u.Email, diaryPW); r.Code != http.StatusSeeOther {
		e.t.Fatalf("login %s: HTTP %d", u.Email, r.Code)
	}
	return b
}

func meetingForm(uid, summary string, start time.Time, attendees ...string) url.Values {
	loc, _ := time.LoadLocation("Europe/London")
	return url.Values{"uid": {uid}, "summary": {summary}, "location": {"Outpatients B"}, "tz": {"Europe/London"},
		"start": {start.In(loc).Format(formTime)}, "end": {start.Add(time.Hour).In(loc).Format(formTime)},
		"attendees": {strings.Join(attendees, ", ")}}
}

// A PA who manages a consultant's diary books a meeting with a colleague:
// it is in the consultant's calendar as their meeting, and the colleague
// gets the request From the consultant with Sender the PA (and the
// meeting in their calendar); the PA then moves it, and cancels it.
func TestDelegateManagesDiary(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newDiaryEnv(t, st)
		phone, calID, key := e.ownerPhone(t)
		pa := e.signIn(e.pa)
		if list := pa.get("/account/delegations"); !strings.Contains(list.Body, diaryPath(e.consultant.Email)) {
			t.Fatalf("no link to manage the diary:\n%s", list.Body)
		}
		page := diaryPath(e.consultant.Email)
		base := "/account/delegations/" + url.PathEscape(e.consultant.Email)
		start := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

		r := pa.postForm(page, base+"/events", meetingForm("", "Theatre list review", start, e.colleague.Email))
		if r.Code != http.StatusSeeOther {
			t.Fatalf("add: HTTP %d\n%s", r.Code, r.Body)
		}
		cal := e.items(e.consultant, store.FolderCalendar)
		if len(cal) != 1 {
			t.Fatalf("owner's calendar: %d items", len(cal))
		}
		ev := e.event(cal[0])
		if ev.Summary != "Theatre list review" || !ev.Start.Equal(start) || ev.Organizer.Email != e.consultant.Email ||
			ev.MeetingStatus != pim.MeetingOrganizer || len(ev.Attendees) != 1 || ev.Attendees[0].Email != e.colleague.Email {
			t.Fatalf("owner's meeting: %+v", ev)
		}
		inbox := e.items(e.colleague, store.FolderInbox)
		if len(inbox) != 1 || inbox[0].MessageClass != "IPM.Schedule.Meeting.Request" {
			t.Fatalf("colleague's Inbox: %+v", inbox)
		}
		if from, sender := e.header(e.colleague, inbox[0]); from != e.consultant.Email || sender != e.pa.Email {
			t.Fatalf("request From %q Sender %q", from, sender)
		}
		if c := e.items(e.colleague, store.FolderCalendar); len(c) != 1 || e.event(c[0]).UID != ev.UID {
			t.Fatalf("colleague's calendar: %+v", c)
		}
		// The owner's phone gets it at its next Sync.
		res := phone.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>`+key+`</AirSync:SyncKey><AirSync:CollectionId>`+calID+
			`</AirSync:CollectionId><AirSync:GetChanges/></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
		if add := res.Find("AirSync:Collections/AirSync:Collection/AirSync:Commands/AirSync:Add/AirSync:ApplicationData/Calendar:Subject"); add == nil || add.Text() != "Theatre list review" {
			t.Fatalf("the owner's phone did not get the meeting:\n%s", res.XML())
		}

		// A calendar grant is not a mail grant: plain mail From the owner
		// goes out From the PA.
		plain := "From: " + e.consultant.Email + "\r\nTo: " + e.colleague.Email + "\r\nSubject: Not a meeting\r\n\r\nHello.\r\n"
		if _, err := e.mail.Submit(context.Background(), delivery.Submission{User: e.pa, MIME: []byte(plain)}); err != nil {
			t.Fatal(err)
		}
		inbox = e.items(e.colleague, store.FolderInbox)
		if from, sender := e.header(e.colleague, inbox[len(inbox)-1]); len(inbox) != 2 || from != e.pa.Email || sender != "" {
			t.Fatalf("plain mail by a calendar delegate: From %q Sender %q", from, sender)
		}

		// Moved an hour later: the owner's copy changes and the colleague
		// gets the update, again on behalf.
		later := start.Add(time.Hour)
		if r := pa.postForm(page+"?edit="+url.QueryEscape(ev.UID), base+"/events", meetingForm(ev.UID, "Theatre list review", later, e.colleague.Email)); r.Code != http.StatusSeeOther {
			t.Fatalf("change: HTTP %d\n%s", r.Code, r.Body)
		}
		moved := e.event(e.items(e.consultant, store.FolderCalendar)[0])
		if !moved.Start.Equal(later) || moved.UID != ev.UID || moved.Sequence <= ev.Sequence {
			t.Fatalf("after the change: start %v uid %s sequence %d", moved.Start, moved.UID, moved.Sequence)
		}
		inbox = e.items(e.colleague, store.FolderInbox)
		if len(inbox) != 3 {
			t.Fatalf("colleague's Inbox after the change: %d", len(inbox))
		}
		if c := e.items(e.colleague, store.FolderCalendar); len(c) != 1 || !e.event(c[0]).Start.Equal(later) {
			t.Fatalf("colleague's calendar after the change: %+v", c)
		}

		// Cancelled: gone from both calendars, a cancellation on behalf.
		if r := pa.postForm(page, base+"/events/cancel", url.Values{"uid": {ev.UID}}); r.Code != http.StatusSeeOther {
			t.Fatalf("cancel: HTTP %d\n%s", r.Code, r.Body)
		}
		if n, m := len(e.items(e.consultant, store.FolderCalendar)), len(e.items(e.colleague, store.FolderCalendar)); n != 0 || m != 0 {
			t.Fatalf("after the cancellation: owner %d, colleague %d", n, m)
		}
		inbox = e.items(e.colleague, store.FolderInbox)
		last := inbox[len(inbox)-1]
		if from, sender := e.header(e.colleague, last); len(inbox) != 4 || from != e.consultant.Email || sender != e.pa.Email || !strings.Contains(last.Subject, "Cancel") {
			t.Fatalf("cancellation: %d messages, %q From %q Sender %q", len(inbox), last.Subject, from, sender)
		}

		// Bad input: a clear 400, nothing stored.
		bad := meetingForm("", "Bad", start, "not an address")
		if r := pa.postForm(page, base+"/events", bad); r.Code != http.StatusBadRequest {
			t.Fatalf("bad attendee: HTTP %d", r.Code)
		}
		bad = meetingForm("", "Backwards", start)
		bad.Set("end", start.Add(-time.Hour).Format(formTime))
		if r := pa.postForm(page, base+"/events", bad); r.Code != http.StatusBadRequest {
			t.Fatalf("end before start: HTTP %d", r.Code)
		}
		if n := len(e.items(e.consultant, store.FolderCalendar)); n != 0 {
			t.Fatalf("bad input stored %d items", n)
		}

		// Audited with both people.
		evs, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "delegate.calendar_write", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, a := range evs {
			if a.Outcome == "success" && a.Actor == e.pa.Email && a.Target == e.consultant.Email {
				got++
			}
		}
		if got != 3 {
			t.Fatalf("%d successful writes audited, want 3: %+v", got, evs)
		}

		// The owner sees on /my who holds which rights.
		my := e.signIn(e.consultant).get("/account")
		for _, want := range []string{e.pa.Email, "answer meetings on your behalf", e.readOnly.Email, "read only", e.mailOnly.Email, "send mail on your behalf"} {
			if !strings.Contains(my.Body, want) {
				t.Fatalf("/account does not show %q", want)
			}
		}
	})
}

// A colleague invites the consultant; the PA accepts the request in the
// consultant's Inbox on their behalf: the colleague's copy shows the
// consultant accepted, and the reply is From the consultant, Sender the PA.
func TestDelegateAnswersMeetingRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newDiaryEnv(t, st)
		start := time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)
		mtg := pim.Event{Summary: "M&M meeting", Start: start, End: start.Add(time.Hour), BusyStatus: pim.BusyBusy,
			Organizer: pim.Person{Email: e.colleague.Email}, MeetingStatus: pim.MeetingOrganizer, ResponseRequested: true,
			Attendees: []pim.Attendee{{Email: e.consultant.Email, Type: pim.AttendeeRequired, Status: pim.StatusNotResponded}}}
		cal, err := st.FolderByType(ctx, e.colleague.ID, store.FolderCalendar)
		if err != nil {
			t.Fatal(err)
		}
		it, err := mtg.ToItem(e.colleague.ID, cal.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddItem(ctx, it, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.meetings.Organized(ctx, e.colleague, nil, &mtg); err != nil {
			t.Fatal(err)
		}
		reqs := e.items(e.consultant, store.FolderInbox)
		if len(reqs) != 1 || reqs[0].MessageClass != "IPM.Schedule.Meeting.Request" {
			t.Fatalf("consultant's Inbox: %+v", reqs)
		}
		page := diaryPath(e.consultant.Email)
		respond := "/account/delegations/" + url.PathEscape(e.consultant.Email) + "/requests/" + strconv.FormatInt(reqs[0].ID, 10) + "/respond"

		pa := e.signIn(e.pa)
		if p := pa.get(page); p.Code != http.StatusOK || !strings.Contains(p.Body, "M&amp;M meeting") || !strings.Contains(p.Body, "/requests/"+strconv.FormatInt(reqs[0].ID, 10)) {
			t.Fatalf("diary page: HTTP %d\n%s", p.Code, p.Body)
		}
		if r := pa.postForm(page, respond, url.Values{"response": {"maybe"}}); r.Code != http.StatusBadRequest {
			t.Fatalf("unknown answer: HTTP %d", r.Code)
		}
		if r := pa.postForm(page, respond, url.Values{"response": {"accept"}}); r.Code != http.StatusSeeOther {
			t.Fatalf("accept: HTTP %d\n%s", r.Code, r.Body)
		}
		org := e.event(e.items(e.colleague, store.FolderCalendar)[0])
		if len(org.Attendees) != 1 || org.Attendees[0].Status != pim.StatusAccepted {
			t.Fatalf("organizer's attendee list: %+v", org.Attendees)
		}
		replies := e.items(e.colleague, store.FolderInbox)
		if len(replies) != 1 {
			t.Fatalf("organizer's Inbox: %d", len(replies))
		}
		if from, sender := e.header(e.colleague, replies[0]); from != e.consultant.Email || sender != e.pa.Email {
			t.Fatalf("reply From %q Sender %q", from, sender)
		}
		mine := e.items(e.consultant, store.FolderCalendar)
		if len(mine) != 1 || e.event(mine[0]).ResponseType != pim.ResponseAccepted {
			t.Fatalf("consultant's calendar: %+v", mine)
		}
		if left := e.items(e.consultant, store.FolderInbox); len(left) != 0 {
			t.Fatalf("the answered request is still in the Inbox: %+v", left)
		}
		// Someone else's meeting can be answered, not changed or cancelled.
		base := "/account/delegations/" + url.PathEscape(e.consultant.Email)
		if r := pa.postForm(page, base+"/events/cancel", url.Values{"uid": {e.event(mine[0]).UID}}); r.Code != http.StatusConflict {
			t.Fatalf("cancelling the colleague's meeting: HTTP %d", r.Code)
		}
		if r := pa.postForm(page, base+"/events", meetingForm(e.event(mine[0]).UID, "Hijacked", start)); r.Code != http.StatusConflict {
			t.Fatalf("changing the colleague's meeting: HTTP %d", r.Code)
		}
		if n := len(e.items(e.consultant, store.FolderCalendar)); n != 1 || e.event(e.items(e.consultant, store.FolderCalendar)[0]).Summary != "M&M meeting" {
			t.Fatal("the colleague's meeting was changed")
		}
		if !e.audited("delegate.calendar_write", "success") {
			t.Fatal("the answer is not audited")
		}
	})
}

// Everyone but a delegate with calendar send on behalf is refused alike,
// with nothing stored and nothing sent; a revocation takes effect at the
// next request.
func TestDelegateDiaryRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newDiaryEnv(t, st)
		start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		base := "/account/delegations/" + url.PathEscape(e.consultant.Email)
		var refusal string
		for _, c := range []struct {
			name string
			who  *store.User
			base string
		}{
			{"read-only delegate", e.readOnly, base},
			{"mail-only delegate", e.mailOnly, base},
			{"no grant", e.stranger, base},
			{"the owner through the delegate path", e.consultant, base},
			{"unknown owner", e.pa, "/account/delegations/" + url.PathEscape("nobody@example.nhs.uk")},
		} {
			b := e.signIn(c.who)
			if r := b.get(c.base + "/diary"); r.Code != http.StatusForbidden {
				t.Errorf("%s: diary page HTTP %d", c.name, r.Code)
			}
			r := b.postForm("/account", c.base+"/events", meetingForm("", "Sneaky", start, e.colleague.Email))
			if r.Code != http.StatusForbidden {
				t.Errorf("%s: add HTTP %d", c.name, r.Code)
			}
			if got := mainOf(r.Body); refusal == "" {
				refusal = got
			} else if got != refusal {
				t.Errorf("%s: a different refusal:\n%s\n%s", c.name, got, refusal)
			}
			if r := b.postForm("/account", c.base+"/requests/1/respond", url.Values{"response": {"accept"}}); r.Code != http.StatusForbidden {
				t.Errorf("%s: respond HTTP %d", c.name, r.Code)
			}
		}
		if n, m := len(e.items(e.consultant, store.FolderCalendar)), len(e.items(e.colleague, store.FolderInbox)); n != 0 || m != 0 {
			t.Fatalf("refused posts stored %d events and sent %d messages", n, m)
		}
		if !e.audited("delegate.calendar_write", "denied") {
			t.Fatal("refusals are not audited")
		}

		// A post without the form's CSRF token is refused too.
		pa := e.signIn(e.pa)
		if r := pa.post(base+"/events", meetingForm("", "No token", start)); r.Code != http.StatusForbidden && r.Code != http.StatusBadRequest {
			t.Fatalf("no CSRF token: HTTP %d", r.Code)
		}

		// The PA may, until the grant goes; the page already open is no use
		// after that.
		page := diaryPath(e.consultant.Email)
		if r := pa.postForm(page, base+"/events", meetingForm("", "Clinic", start)); r.Code != http.StatusSeeOther {
			t.Fatalf("granted add: HTTP %d\n%s", r.Code, r.Body)
		}
		open := pa.get(page)
		self := governance.Actor{UserID: e.consultant.ID, Name: e.consultant.Email}
		if err := e.gov.RevokeDelegate(context.Background(), self, e.consultant, e.pa, store.ScopeCalendar); err != nil {
			t.Fatal(err)
		}
		form := meetingForm("", "After revocation", start)
		form.Set("_csrf", open.csrf(t))
		if r := pa.post(base+"/events", form); r.Code != http.StatusForbidden {
			t.Fatalf("after revocation: HTTP %d", r.Code)
		}
		if n := len(e.items(e.consultant, store.FolderCalendar)); n != 1 {
			t.Fatalf("owner's calendar after revocation: %d items", n)
		}
		if r := pa.get(page); r.Code != http.StatusForbidden {
			t.Fatalf("diary page after revocation: HTTP %d", r.Code)
		}
	})
}

// mainOf is the page's own part, without the header that names the
// signed-in user.
func mainOf(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if i := strings.Index(body, "</main>"); i >= 0 {
		body = body[:i]
	}
	return body
}

// ownerPhone is the consultant's phone, its calendar synced: the folder's
// id and the sync key.
func (e *diaryEnv) ownerPhone(t *testing.T) (*eastest.Device, string, string) {
	t.Helper()
	d := eastest.NewDevice(t, e.URL, eastest.Profile{Name: "iPhoneDiary", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "14.1", Model: "iPhone14,7", OS: "iOS 16.1"},
		e.consultant.Email, diaryPW)
	d.CheckWithLibwbxml = false
	d.Provision(1)
	res := d.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	calID := ""
	if ch := res.Find("FolderHierarchy:Changes"); ch != nil {
		for _, add := range ch.SelectElements("Add") {
			if ty := add.SelectElement("Type"); ty != nil && ty.Text() == "8" {
				calID = add.SelectElement("ServerId").Text()
			}
		}
	}
	if calID == "" {
		t.Fatalf("the owner's phone has no calendar:\n%s", res.XML())
	}
	res = d.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>0</AirSync:SyncKey><AirSync:CollectionId>`+calID+`</AirSync:CollectionId></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
	key := res.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey")
	if key == "" || key == "0" {
		t.Fatalf("initial calendar sync:\n%s", res.XML())
	}
	return d, calID, key
}
