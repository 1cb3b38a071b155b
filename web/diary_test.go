package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock/delivery"
	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
	"airlock/store/storetest"
)

// TestDiaryViewRangeAcrossClockChange: views are whole local days in the
// user's zone, so the week of the spring change is 167 hours and the
// autumn one 169, each day starting at local midnight.
func TestDiaryViewRangeAcrossClockChange(t *testing.T) {
	london, _ := pim.ResolveTimeZone("Europe/London")
	ny, _ := pim.ResolveTimeZone("America/New_York")
	for _, tc := range []struct {
		name, view, date string
		loc              *time.Location
		from, to         string // UTC
		days             int
		hours            float64
	}{
		{"spring week", viewWeek, "2025-03-30", london, "2025-03-24T00:00:00Z", "2025-03-30T23:00:00Z", 7, 167},
		{"spring day", viewDay, "2025-03-30", london, "2025-03-30T00:00:00Z", "2025-03-30T23:00:00Z", 1, 23},
		{"day after the change", viewDay, "2025-03-31", london, "2025-03-30T23:00:00Z", "2025-03-31T23:00:00Z", 1, 24},
		{"autumn work week", viewWorkWeek, "2025-10-23", london, "2025-10-19T23:00:00Z", "2025-10-24T23:00:00Z", 5, 120},
		{"autumn week", viewWeek, "2025-10-26", london, "2025-10-19T23:00:00Z", "2025-10-27T00:00:00Z", 7, 169},
		{"autumn day", viewDay, "2025-10-26", london, "2025-10-25T23:00:00Z", "2025-10-27T00:00:00Z", 1, 25},
		{"march month", viewMonth, "2025-03-15", london, "2025-02-24T00:00:00Z", "2025-04-06T23:00:00Z", 42, 42*24 - 1},
		{"another zone", viewWeek, "2025-03-10", ny, "2025-03-10T04:00:00Z", "2025-03-17T04:00:00Z", 7, 168},
		{"the american change", viewWeek, "2025-03-09", ny, "2025-03-03T05:00:00Z", "2025-03-10T04:00:00Z", 7, 167},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := time.ParseInLocation(time.DateOnly, tc.date, tc.loc)
			from, to, days := viewRange(tc.view, d, tc.loc)
			if got := from.UTC().Format(time.RFC3339); got != tc.from {
				t.Errorf("from %s, want %s", got, tc.from)
			}
			if got := to.UTC().Format(time.RFC3339); got != tc.to {
				t.Errorf("to %s, want %s", got, tc.to)
			}
			if len(days) != tc.days || to.Sub(from).Hours() != tc.hours {
				t.Errorf("%d days, %v hours; want %d, %v", len(days), to.Sub(from).Hours(), tc.days, tc.hours)
			}
			for _, day := range days {
				if day.Hour() != 0 || day.Minute() != 0 {
					t.Errorf("day %v does not start at local midnight", day)
				}
			}
		})
	}
}

// diaryWebEnv is a server whose diary sends meeting mail.
type diaryWebEnv struct {
	*testEnv
	alice, bob *store.User
}

const diaryWebPW = "diary-Passw0rd"

func newDiaryWebEnv(t *testing.T, st *store.Store) *diaryWebEnv {
	e := &diaryWebEnv{testEnv: newEnv(t, st)}
	e.Web.d.Meetings = &scheduling.Service{Store: st, Mail: &delivery.Service{Store: st, Hostname: "mail.example.nhs.uk"}}
	e.alice = e.addUser("alice@example.nhs.uk", diaryWebPW, store.RoleUser)
	e.bob = e.addUser("bob@example.nhs.uk", diaryWebPW, store.RoleUser)
	return e
}

func (e *diaryWebEnv) signIn(t *testing.T, u *store.User) *browser {
	b := e.browser()
	if r := b.login(u.Email, diaryWebPW); r.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: HTTP %d", r.Code)
	}
	return b
}

func calendarEvents(t *testing.T, st *store.Store, u *store.User) ([]store.Item, []pim.Event) {
	t.Helper()
	ctx := context.Background()
	f, err := st.FolderByType(ctx, u.ID, store.FolderCalendar)
	if err != nil {
		t.Fatal(err)
	}
	items, err := st.ListItems(ctx, u.ID, f.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var es []pim.Event
	for i := range items {
		var e pim.Event
		if err := e.FromItem(&items[i]); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return items, es
}

// TestDiaryRecurrenceWithException: a weekly series made in the web, one
// occurrence moved and another deleted, shows in the week views as the
// phones would expand it; the times typed are read in the user's zone,
// across the clock change.
func TestDiaryRecurrenceWithException(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newDiaryWebEnv(t, st)
		b := e.signIn(t, e.alice)
		form := url.Values{"summary": {"Ward round"}, "location": {"Ward 7"}, "start": {"2025-03-18T09:00"}, "end": {"2025-03-18T10:00"},
			"reminder": {"15"}, "busy": {"2"}, "categories": {"Clinical, Rounds"}, "freq": {"weekly"}, "interval": {"1"}, "days": {"TU"},
			"ends": {"count"}, "count": {"4"}, "body": {"Bring the notes."}}
		if r := b.postForm("/diary/new", "/diary/events", form); r.Code != http.StatusSeeOther {
			t.Fatalf("save: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		items, events := calendarEvents(t, st, e.alice)
		if len(events) != 1 {
			t.Fatalf("%d events", len(events))
		}
		ev := events[0]
		if ev.RRule != "FREQ=WEEKLY;BYDAY=TU;COUNT=4" || ev.TimeZone != "Europe/London" || ev.Reminder == nil || *ev.Reminder != 15 ||
			len(ev.Categories) != 2 || ev.Start.Format(time.RFC3339) != "2025-03-18T09:00:00Z" {
			t.Fatalf("stored: %+v", ev)
		}
		id := strconv.FormatInt(items[0].ID, 10)
		// The second occurrence (25 March, GMT) is moved; the third (1
		// April, BST: 08:00 UTC) is deleted.
		second := time.Date(2025, 3, 25, 9, 0, 0, 0, time.UTC)
		third := time.Date(2025, 4, 1, 8, 0, 0, 0, time.UTC)
		occ := "/diary/events/" + id + "?occ=" + strconv.FormatInt(second.Unix(), 10)
		if r := b.get(occ); r.Code != 200 || !strings.Contains(r.Body, "changing only the occurrence") {
			t.Fatalf("occurrence form: HTTP %d", r.Code)
		}
		move := url.Values{"id": {id}, "occ": {strconv.FormatInt(second.Unix(), 10)}, "summary": {"Ward round (moved)"}, "location": {"Ward 8"},
			"start": {"2025-03-26T14:00"}, "end": {"2025-03-26T15:00"}}
		if r := b.postForm(occ, "/diary/events", move); r.Code != http.StatusSeeOther {
			t.Fatalf("move: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		del := url.Values{"occ": {strconv.FormatInt(third.Unix(), 10)}}
		if r := b.postForm("/diary/events/"+id, "/diary/events/"+id+"/delete", del); r.Code != http.StatusSeeOther {
			t.Fatalf("delete occurrence: HTTP %d", r.Code)
		}
		_, events = calendarEvents(t, st, e.alice)
		if n := len(events[0].Exceptions); n != 2 {
			t.Fatalf("%d exceptions", n)
		}
		occs, _ := events[0].Occurrences(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC))
		var got []string
		for _, o := range occs {
			got = append(got, o.Start.Format(time.RFC3339)+" "+o.Summary)
		}
		want := "2025-03-18T09:00:00Z Ward round|2025-03-26T14:00:00Z Ward round (moved)|2025-04-08T08:00:00Z Ward round"
		if strings.Join(got, "|") != want {
			t.Fatalf("occurrences:\n%s\nwant\n%s", strings.Join(got, "|"), want)
		}
		// The views show the same, in local time.
		for _, tc := range []struct{ date, want, not string }{
			{"2025-03-18", "09:00–10:00", "moved"},
			{"2025-03-26", "14:00–15:00", "xx"},
			{"2025-04-01", "Nothing", "Ward round"},
			{"2025-04-08", "09:00–10:00", "moved"},
		} {
			r := b.get("/diary?view=day&date=" + tc.date)
			body := mainOf(r.Body)
			if r.Code != 200 || !strings.Contains(body, tc.want) || strings.Contains(body, tc.not) {
				t.Errorf("day %s: HTTP %d, want %q, not %q:\n%s", tc.date, r.Code, tc.want, tc.not, body)
			}
		}
		for _, v := range []string{"week", "workweek", "month"} {
			if r := b.get("/diary?view=" + v + "&date=2025-03-26"); r.Code != 200 || !strings.Contains(r.Body, "Ward round (moved)") {
				t.Errorf("%s view: HTTP %d", v, r.Code)
			}
		}
		// Another zone: the same meeting, at New York time.
		if r := b.postForm("/diary/settings", "/diary/settings", url.Values{"zone": {"America/New_York"}}); r.Code != http.StatusSeeOther {
			t.Fatalf("zone: HTTP %d", r.Code)
		}
		if z, _ := st.UserTimeZone(context.Background(), e.alice.ID); z != "America/New_York" {
			t.Fatalf("zone stored: %q", z)
		}
		if r := b.get("/diary?view=day&date=2025-03-18"); !strings.Contains(r.Body, "05:00–06:00") {
			t.Errorf("in New York the round is at 05:00:\n%s", mainOf(r.Body))
		}
		if r := b.postForm("/diary/settings", "/diary/settings", url.Values{"zone": {"Mars/Olympus"}}); r.Code != http.StatusBadRequest {
			t.Errorf("unknown zone: HTTP %d", r.Code)
		}
	})
}

// TestDiaryFormErrors: every error is shown at once, beside its field, and
// nothing is saved.
func TestDiaryFormErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newDiaryWebEnv(t, st)
		b := e.signIn(t, e.alice)
		form := url.Values{"summary": {""}, "start": {"2025-03-18T09:00"}, "end": {"2025-03-18T08:00"}, "freq": {"weekly"}, "ends": {"count"}, "count": {"0"}, "attendees": {"not an address"}}
		r := b.postForm("/diary/new", "/diary/events", form)
		if r.Code != http.StatusBadRequest {
			t.Fatalf("HTTP %d", r.Code)
		}
		for _, want := range []string{"Give a title", "The end cannot be before the start", "from 1 to 999", "is not an email address"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("no %q", want)
			}
		}
		if _, es := calendarEvents(t, st, e.alice); len(es) != 0 {
			t.Fatal("saved despite errors")
		}
	})
}

// TestDiaryMeetingFromTheWeb: a meeting made in the web invites a
// colleague (request in the Inbox, meeting in the calendar); the colleague
// sees the organiser's free/busy in the scheduling view, and answers from
// the request in the web; the organiser's event shows the answer.
func TestDiaryMeetingFromTheWeb(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newDiaryWebEnv(t, st)
		ctx := context.Background()
		a := e.signIn(t, e.alice)
		london, _ := pim.ResolveTimeZone("Europe/London")
		day := time.Now().In(london).AddDate(0, 0, 2)
		start := time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, london)
		form := url.Values{"summary": {"Bed meeting"}, "start": {start.In(london).Format(formTime)}, "end": {start.Add(time.Hour).In(london).Format(formTime)},
			"attendees": {"bob@example.nhs.uk"}, "busy": {"2"}}
		sched := a.postForm("/diary/new", "/diary/schedule", form)
		if sched.Code != 200 || !strings.Contains(sched.Body, "Who is free on") || !strings.Contains(sched.Body, "bob@example.nhs.uk") {
			t.Fatalf("schedule: HTTP %d", sched.Code)
		}
		if r := a.postForm("/diary/new", "/diary/events", form); r.Code != http.StatusSeeOther {
			t.Fatalf("save: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		if _, es := calendarEvents(t, st, e.bob); len(es) != 1 || es[0].MeetingStatus != pim.MeetingReceived {
			t.Fatalf("Bob's calendar: %+v", es)
		}
		inbox, _ := st.FolderByType(ctx, e.bob.ID, store.FolderInbox)
		items, _ := st.ListItems(ctx, e.bob.ID, inbox.ID, 0, 100)
		var req *store.Item
		for i := range items {
			if items[i].MessageClass == meetingRequestClass {
				req = &items[i]
			}
		}
		if req == nil {
			t.Fatal("no request in Bob's Inbox")
		}
		bb := e.signIn(t, e.bob)
		if r := bb.get("/mail/" + strconv.FormatInt(inbox.ID, 10) + "/" + strconv.FormatInt(req.ID, 10)); !strings.Contains(r.Body, "/diary/requests/"+strconv.FormatInt(req.ID, 10)) {
			t.Fatalf("the reading pane offers no answer")
		}
		if r := bb.get("/diary"); !strings.Contains(r.Body, "Meeting requests waiting") {
			t.Fatal("the diary lists no waiting request")
		}
		// Bob's scheduling view shows Alice busy at the meeting's time.
		f2 := url.Values{"summary": {"x"}, "start": {form.Get("start")}, "end": {form.Get("end")}, "attendees": {"alice@example.nhs.uk"}}
		if r := bb.postForm("/diary/new", "/diary/schedule", f2); !strings.Contains(r.Body, `class="fb-busy m"`) {
			t.Fatal("the scheduling view does not show Alice busy at the meeting")
		}
		reqPage := "/diary/requests/" + strconv.FormatInt(req.ID, 10)
		if r := bb.postForm(reqPage, reqPage+"/respond", url.Values{"response": {"accept"}}); r.Code != http.StatusSeeOther {
			t.Fatalf("accept: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		if it, err := st.ItemByID(ctx, e.bob.ID, req.ID); err == nil && it.FolderID == inbox.ID && !it.Deleted {
			t.Error("the answered request is still in the Inbox")
		}
		items2, es := calendarEvents(t, st, e.alice)
		if len(es) != 1 || len(es[0].Attendees) != 1 || es[0].Attendees[0].Status != pim.StatusAccepted {
			t.Fatalf("Alice's meeting: %+v", es)
		}
		if r := a.get("/diary/events/" + strconv.FormatInt(items2[0].ID, 10)); !strings.Contains(r.Body, `answer-accepted">Accepted`) {
			t.Fatalf("the organiser's page does not show the acceptance:\n%s", mainOf(r.Body))
		}
		// Alice cancels: Bob's copy goes, he is told.
		if r := a.postForm("/diary/events/"+strconv.FormatInt(items2[0].ID, 10), "/diary/events/"+strconv.FormatInt(items2[0].ID, 10)+"/delete", nil); r.Code != http.StatusSeeOther {
			t.Fatalf("cancel: HTTP %d", r.Code)
		}
		if _, es := calendarEvents(t, st, e.bob); len(es) != 0 && es[0].MeetingStatus != pim.MeetingCanceledReceived {
			t.Fatalf("Bob's copy after the cancellation: %+v", es)
		}
	})
}
