package scheduling_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"airlock/delivery"
	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// recorder wraps the real delivery service and keeps what was sent.
type recorder struct {
	svc  *delivery.Service
	sent []delivery.Submission
}

func (r *recorder) Submit(ctx context.Context, sub delivery.Submission) (*delivery.Result, error) {
	r.sent = append(r.sent, sub)
	return r.svc.Submit(ctx, sub)
}

func mkUser(t *testing.T, st *store.Store, email, name string) *store.User {
	t.Helper()
	u := &store.User{Email: email, DisplayName: name}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func entry(t *testing.T, st *store.Store, u *store.User, uid string) *pim.Event {
	t.Helper()
	it, err := st.ItemByUID(context.Background(), u.ID, store.ClassCalendar, uid)
	if err != nil {
		return nil
	}
	var e pim.Event
	if err := e.FromItem(it); err != nil {
		t.Fatal(err)
	}
	return &e
}

func inboxClasses(t *testing.T, st *store.Store, u *store.User) []string {
	t.Helper()
	f, _ := st.FolderByType(context.Background(), u.ID, store.FolderInbox)
	items, _ := st.ListItems(context.Background(), u.ID, f.ID, 0, 100)
	var out []string
	for _, it := range items {
		out = append(out, it.MessageClass+" "+it.Subject)
	}
	return out
}

// TestOrganizerUpdates: a new meeting invites everyone; a change that only
// touches the organizer's reminder mails nobody; a new time re-invites and
// resets an answer; a removed attendee is cancelled; a remote attendee
// without a relay does not stop the local ones; deleting cancels.
func TestOrganizerUpdates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ada := mkUser(t, st, "ada@example.nhs.uk", "Ada")
		bob := mkUser(t, st, "bob@example.nhs.uk", "Bob")
		cat := mkUser(t, st, "cat@example.nhs.uk", "Cat")
		rec := &recorder{svc: &delivery.Service{Store: st, Hostname: "airlock.test"}}
		s := &scheduling.Service{Store: st, Mail: rec}
		start := time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC)
		ev := &pim.Event{UID: "m1@test", Summary: "Handover", Start: start, End: start.Add(time.Hour), BusyStatus: pim.BusyBusy,
			MeetingStatus: pim.MeetingOrganizer, Organizer: pim.Person{Email: ada.Email, Name: "Ada"},
			Attendees: []pim.Attendee{{Email: bob.Email, Type: 1}, {Email: cat.Email, Type: 1}, {Email: "ext@partner.example.org", Type: 2}}}
		if err := s.Organized(ctx, ada, nil, ev); err != nil {
			t.Fatalf("invite: %v", err)
		}
		if got := inboxClasses(t, st, bob); len(got) != 1 || got[0] != "IPM.Schedule.Meeting.Request Handover" {
			t.Fatalf("Bob's inbox: %v", got)
		}
		if b := entry(t, st, bob, "m1@test"); b == nil || b.ResponseType != pim.ResponseNotResponded {
			t.Fatalf("Bob's entry: %+v", b)
		}
		// The remote attendee needed the relay; there is none, so the
		// message went to the local ones only (a second submission).
		if len(rec.sent) != 2 || len(rec.sent[1].Envelope) != 2 {
			t.Fatalf("submissions: %+v", rec.sent)
		}
		// Bob accepts.
		if _, err := s.Respond(ctx, bob, entry(t, st, bob, "m1@test"), scheduling.Answer{Response: scheduling.Accept}); err != nil {
			t.Fatal(err)
		}
		if a := entry(t, st, ada, "m1@test"); a != nil {
			t.Fatal("the organizer's copy is not in the store in this test") // Organized does not write it
		}
		// A reminder change: nobody hears.
		n := len(rec.sent)
		ev2 := *ev
		r := 15
		ev2.Reminder = &r
		if err := s.Organized(ctx, ada, ev, &ev2); err != nil || len(rec.sent) != n {
			t.Fatalf("reminder change mailed: %v %d", err, len(rec.sent)-n)
		}
		if b := entry(t, st, bob, "m1@test"); b.ResponseType != pim.ResponseAccepted {
			t.Fatalf("Bob's answer lost: %+v", b)
		}
		// A new time, and Cat removed: Bob is re-invited (his answer
		// reset), Cat cancelled.
		ev3 := ev2
		ev3.Start, ev3.End = start.Add(2*time.Hour), start.Add(3*time.Hour)
		ev3.Attendees = []pim.Attendee{{Email: bob.Email, Type: 1}}
		ev3.Sequence = 1
		if err := s.Organized(ctx, ada, &ev2, &ev3); err != nil {
			t.Fatal(err)
		}
		b := entry(t, st, bob, "m1@test")
		if b == nil || !b.Start.Equal(ev3.Start) || b.ResponseType != pim.ResponseNotResponded || b.BusyStatus != pim.BusyTentative {
			t.Fatalf("Bob after the move: %+v", b)
		}
		if entry(t, st, cat, "m1@test") != nil {
			t.Fatal("Cat still has the meeting")
		}
		if got := inboxClasses(t, st, cat); !strings.Contains(strings.Join(got, ","), "IPM.Schedule.Meeting.Canceled Canceled: Handover") {
			t.Fatalf("Cat's inbox: %v", got)
		}
		// Deleting the meeting cancels it for Bob.
		if err := s.Organized(ctx, ada, &ev3, nil); err != nil {
			t.Fatal(err)
		}
		if entry(t, st, bob, "m1@test") != nil {
			t.Fatal("Bob still has the cancelled meeting")
		}
		// Not a meeting: nothing happens.
		n = len(rec.sent)
		plain := &pim.Event{UID: "p@test", Summary: "Lunch", Start: start, End: start.Add(time.Hour)}
		if err := s.Organized(ctx, ada, nil, plain); err != nil || len(rec.sent) != n {
			t.Fatal("an appointment was mailed")
		}
	})
}

// TestComposeAndParseITIP: the iMIP message a colleague gets parses back
// to the same meeting, method and sequence.
func TestComposeAndParseITIP(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	start := time.Date(2026, 3, 26, 9, 0, 0, 0, london)
	ev := &pim.Event{UID: "series@test", Summary: "Ward round", Start: start, End: start.Add(time.Hour), TimeZone: "Europe/London",
		RRule: "FREQ=WEEKLY;COUNT=4;BYDAY=TH", Sequence: 3, Organizer: pim.Person{Email: "ada@example.nhs.uk", Name: "Ada"},
		Attendees:  []pim.Attendee{{Email: "bob@example.nhs.uk", Type: 1}},
		Exceptions: []pim.Exception{{RecurrenceID: start.AddDate(0, 0, 7).UTC(), Start: start.AddDate(0, 0, 7).Add(time.Hour).UTC(), End: start.AddDate(0, 0, 7).Add(2 * time.Hour).UTC(), Summary: "Moved"}}}
	raw, err := scheduling.Compose("Ada", "ada@example.nhs.uk", []string{"bob@example.nhs.uk"}, pim.MethodRequest, ev, "")
	if err != nil {
		t.Fatal(err)
	}
	ics := scheduling.CalendarPart(raw)
	if ics == nil || !strings.Contains(string(raw), "method=REQUEST") {
		t.Fatalf("no calendar part:\n%s", raw)
	}
	method, got, err := pim.ParseITIP(ics)
	if err != nil || method != pim.MethodRequest {
		t.Fatalf("parse: %s %v", method, err)
	}
	if got.UID != ev.UID || got.Sequence != 3 || got.RRule != ev.RRule || !got.Start.Equal(ev.Start) || got.TimeZone != "Europe/London" ||
		len(got.Exceptions) != 1 || got.Exceptions[0].Summary != "Moved" || got.Organizer.Email != "ada@example.nhs.uk" {
		t.Fatalf("round trip: %+v", got)
	}
	if !strings.Contains(string(ics), "RSVP=TRUE") || !strings.Contains(string(ics), "PARTSTAT=NEEDS-ACTION") {
		t.Fatalf("attendee not asked to reply:\n%s", ics)
	}
	reply, err := scheduling.Compose("Bob", "bob@example.nhs.uk", []string{"ada@example.nhs.uk"}, pim.MethodReply,
		&pim.Event{UID: ev.UID, Summary: ev.Summary, Start: ev.Start, End: ev.End, Organizer: ev.Organizer,
			Attendees: []pim.Attendee{{Email: "bob@example.nhs.uk", Status: pim.StatusDeclined}}}, "Clinic overrun")
	if err != nil {
		t.Fatal(err)
	}
	m, e, err := pim.ParseITIP(scheduling.CalendarPart(reply))
	if err != nil || m != pim.MethodReply || len(e.Attendees) != 1 || e.Attendees[0].Status != pim.StatusDeclined ||
		!strings.Contains(string(reply), "Subject: Declined: Ward round") || !strings.Contains(string(reply), "Clinic overrun") {
		t.Fatalf("reply: %s %+v %v\n%s", m, e, err, reply)
	}
}

// TestIncomingFromOutside: meeting mail from other organisations reaches
// the calendar only when it comes from the person it speaks for.
func TestIncomingFromOutside(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ada := mkUser(t, st, "ada@example.nhs.uk", "Ada")
		s := &scheduling.Service{Store: st}
		start := time.Date(2026, 6, 11, 10, 0, 0, 0, time.UTC)
		remote := &pim.Event{UID: "ext-1@partner", Summary: "Joint review", Start: start, End: start.Add(time.Hour), BusyStatus: pim.BusyBusy,
			Organizer: pim.Person{Email: "lead@partner.example.org"}, Attendees: []pim.Attendee{{Email: ada.Email, Type: 1}}}
		req, _ := scheduling.Compose("Lead", "lead@partner.example.org", []string{ada.Email}, pim.MethodRequest, remote, "")
		// Spoofed: the envelope and From are someone else.
		spoof := []byte(strings.Replace(string(req), "From: \"Lead\" <lead@partner.example.org>", "From: <mallory@evil.example>", 1))
		if err := s.Incoming(ctx, ada, "mallory@evil.example", spoof); err != nil || entry(t, st, ada, remote.UID) != nil {
			t.Fatalf("spoofed request applied: %v", err)
		}
		if err := s.Incoming(ctx, ada, "lead@partner.example.org", req); err != nil {
			t.Fatal(err)
		}
		if e := entry(t, st, ada, remote.UID); e == nil || e.MeetingStatus != pim.MeetingReceived || e.ResponseType != pim.ResponseNotResponded {
			t.Fatalf("remote request: %+v", e)
		}
		cancel, _ := scheduling.Compose("Lead", "lead@partner.example.org", []string{ada.Email}, pim.MethodCancel, remote, "")
		if err := s.Incoming(ctx, ada, "lead@partner.example.org", cancel); err != nil || entry(t, st, ada, remote.UID) != nil {
			t.Fatalf("remote cancel: %v", err)
		}
		// A reply from an outside attendee to Ada's meeting.
		cal, _ := st.FolderByType(ctx, ada.ID, store.FolderCalendar)
		mine := pim.Event{UID: "mine@test", Summary: "Audit", Start: start, End: start.Add(time.Hour), MeetingStatus: pim.MeetingOrganizer,
			Organizer: pim.Person{Email: ada.Email}, Attendees: []pim.Attendee{{Email: "guest@partner.example.org", Type: 1, Status: pim.StatusNotResponded}}}
		it, _ := mine.ToItem(ada.ID, cal.ID)
		if err := st.AddItem(ctx, it, nil); err != nil {
			t.Fatal(err)
		}
		reply := mine
		reply.Attendees = []pim.Attendee{{Email: "guest@partner.example.org", Status: pim.StatusTentative}}
		raw, _ := scheduling.Compose("Guest", "guest@partner.example.org", []string{ada.Email}, pim.MethodReply, &reply, "")
		if err := s.Incoming(ctx, ada, "guest@partner.example.org", raw); err != nil {
			t.Fatal(err)
		}
		if e := entry(t, st, ada, "mine@test"); e.Attendees[0].Status != pim.StatusTentative {
			t.Fatalf("reply not recorded: %+v", e.Attendees)
		}
	})
}
