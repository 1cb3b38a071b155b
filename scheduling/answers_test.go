package scheduling_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
	"airlock/store/storetest"
)

// TestCounterAndOccurrenceITIP: a COUNTER carries the proposal as DTSTART
// and the meeting's times as X-MS-OLK-ORIGINALSTART/END, and reads back
// as the meeting with the proposal on its attendee; a reply about one
// occurrence carries RECURRENCE-ID and no RRULE and reads back as that
// occurrence.
func TestCounterAndOccurrenceITIP(t *testing.T) {
	start := time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC)
	prop := start.Add(2 * time.Hour)
	inst := start.AddDate(0, 0, 7)
	cases := []struct {
		name, method string
		ev           pim.Event
		contains     []string
		absent       []string
		check        func(t *testing.T, e *pim.Event)
	}{
		{
			name: "counter", method: pim.MethodCounter,
			ev: pim.Event{UID: "m@test", Summary: "Handover", Start: start, End: start.Add(time.Hour), TimeZone: "Europe/London",
				Organizer: pim.Person{Email: "ada@example.nhs.uk"},
				Attendees: []pim.Attendee{{Email: "bob@example.nhs.uk", Status: pim.StatusTentative, ProposedStart: prop, ProposedEnd: prop.Add(time.Hour)}}},
			contains: []string{"METHOD:COUNTER", "X-MS-OLK-ORIGINALSTART", "Subject: New Time Proposed: Handover", "DTSTART;TZID=Europe/London:20260610T160000"},
			check: func(t *testing.T, e *pim.Event) {
				a := e.Attendees[0]
				if !e.Start.Equal(start) || !a.ProposedStart.Equal(prop) || !a.ProposedEnd.Equal(prop.Add(time.Hour)) || a.Status != pim.StatusTentative {
					t.Fatalf("counter read back: start %v proposal %v-%v status %d", e.Start, a.ProposedStart, a.ProposedEnd, a.Status)
				}
			},
		},
		{
			name: "occurrence reply", method: pim.MethodReply,
			ev: pim.Event{UID: "s@test", Summary: "Ward round", Start: inst, End: inst.Add(time.Hour), RecurrenceID: inst,
				Organizer: pim.Person{Email: "ada@example.nhs.uk"}, Attendees: []pim.Attendee{{Email: "bob@example.nhs.uk", Status: pim.StatusAccepted}}},
			contains: []string{"RECURRENCE-ID:20260617T130000Z", "METHOD:REPLY"},
			absent:   []string{"RRULE"},
			check: func(t *testing.T, e *pim.Event) {
				if !e.RecurrenceID.Equal(inst) || e.RRule != "" || e.Attendees[0].Status != pim.StatusAccepted {
					t.Fatalf("occurrence reply read back: %+v", e)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := scheduling.Compose("Bob", "bob@example.nhs.uk", []string{"ada@example.nhs.uk"}, c.method, &c.ev, "")
			if err != nil {
				t.Fatal(err)
			}
			unfolded := strings.ReplaceAll(string(raw), "\r\n ", "")
			for _, s := range c.contains {
				if !strings.Contains(unfolded, s) {
					t.Fatalf("no %q in\n%s", s, raw)
				}
			}
			ics := string(scheduling.CalendarPart(raw))
			for _, s := range c.absent {
				if strings.Contains(ics, s) {
					t.Fatalf("%q in\n%s", s, ics)
				}
			}
			m, e, err := pim.ParseITIP([]byte(ics))
			if err != nil || m != c.method || len(e.Attendees) != 1 {
				t.Fatalf("parse: %s %v %+v", m, err, e)
			}
			c.check(t, e)
		})
	}
	// A COUNTER without a proposal cannot be written.
	noProp := cases[0].ev
	noProp.Attendees = []pim.Attendee{{Email: "bob@example.nhs.uk"}}
	if _, err := scheduling.Compose("Bob", "bob@example.nhs.uk", nil, pim.MethodCounter, &noProp, ""); err == nil {
		t.Fatal("COUNTER without a proposed time was written")
	}
}

// TestIncomingCounterAndOccurrenceReply: an outside attendee's COUNTER
// records their proposal and answer on Ada's meeting; their reply to one
// occurrence of her series records the answer on that occurrence's
// exception only; neither is applied when it does not come from them.
func TestIncomingCounterAndOccurrenceReply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ada := mkUser(t, st, "ada@example.nhs.uk", "Ada")
		s := &scheduling.Service{Store: st}
		guest := "guest@partner.example.org"
		start := time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC)
		cal, _ := st.FolderByType(ctx, ada.ID, store.FolderCalendar)
		mine := pim.Event{UID: "series@test", Summary: "Audit", Start: start, End: start.Add(time.Hour), RRule: "FREQ=WEEKLY;COUNT=4",
			MeetingStatus: pim.MeetingOrganizer, Organizer: pim.Person{Email: ada.Email},
			Attendees: []pim.Attendee{{Email: guest, Type: 1, Status: pim.StatusNotResponded}}}
		it, _ := mine.ToItem(ada.ID, cal.ID)
		if err := st.AddItem(ctx, it, nil); err != nil {
			t.Fatal(err)
		}
		// The COUNTER, first spoofed, then from the guest.
		prop := start.Add(time.Hour)
		counter := mine
		counter.RRule = ""
		counter.Attendees = []pim.Attendee{{Email: guest, Status: pim.StatusDeclined, ProposedStart: prop, ProposedEnd: prop.Add(time.Hour)}}
		raw, _ := scheduling.Compose("Guest", guest, []string{ada.Email}, pim.MethodCounter, &counter, "")
		spoof := []byte(strings.Replace(string(raw), "<"+guest+">", "<mallory@evil.example>", 1))
		if err := s.Incoming(ctx, ada, "mallory@evil.example", spoof); err != nil {
			t.Fatal(err)
		}
		if e := entry(t, st, ada, mine.UID); !e.Attendees[0].ProposedStart.IsZero() {
			t.Fatal("a spoofed COUNTER was recorded")
		}
		if err := s.Incoming(ctx, ada, guest, raw); err != nil {
			t.Fatal(err)
		}
		e := entry(t, st, ada, mine.UID)
		if a := e.Attendees[0]; !a.ProposedStart.Equal(prop) || a.Status != pim.StatusDeclined || !e.Start.Equal(start) {
			t.Fatalf("COUNTER recorded as %+v, meeting at %v", a, e.Start)
		}
		// A reply to the second occurrence.
		inst := start.AddDate(0, 0, 7)
		reply := pim.Event{UID: mine.UID, Summary: "Audit", Start: inst, End: inst.Add(time.Hour), RecurrenceID: inst,
			Organizer: pim.Person{Email: ada.Email}, Attendees: []pim.Attendee{{Email: guest, Status: pim.StatusAccepted}}}
		raw, _ = scheduling.Compose("Guest", guest, []string{ada.Email}, pim.MethodReply, &reply, "")
		if err := s.Incoming(ctx, ada, guest, raw); err != nil {
			t.Fatal(err)
		}
		e = entry(t, st, ada, mine.UID)
		if len(e.Exceptions) != 1 || !e.Exceptions[0].RecurrenceID.Equal(inst) || len(e.Exceptions[0].Attendees) != 1 ||
			e.Exceptions[0].Attendees[0].Status != pim.StatusAccepted || e.Attendees[0].Status != pim.StatusDeclined {
			t.Fatalf("occurrence reply: series %+v exceptions %+v", e.Attendees, e.Exceptions)
		}
	})
}

// TestIncomingOccurrenceRequestLeavesSeries: a remote organizer's REQUEST
// or CANCEL about one occurrence alone (RECURRENCE-ID, no series) does not
// replace or remove the series in the attendee's calendar.
func TestIncomingOccurrenceRequestLeavesSeries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ada := mkUser(t, st, "ada@example.nhs.uk", "Ada")
		s := &scheduling.Service{Store: st}
		lead := "lead@partner.example.org"
		start := time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC)
		series := &pim.Event{UID: "ext-series@partner", Summary: "Joint review", Start: start, End: start.Add(time.Hour), RRule: "FREQ=WEEKLY;COUNT=4",
			BusyStatus: pim.BusyBusy, Organizer: pim.Person{Email: lead}, Attendees: []pim.Attendee{{Email: ada.Email, Type: 1}}}
		raw, _ := scheduling.Compose("Lead", lead, []string{ada.Email}, pim.MethodRequest, series, "")
		if err := s.Incoming(ctx, ada, lead, raw); err != nil {
			t.Fatal(err)
		}
		inst := start.AddDate(0, 0, 7)
		one := *series
		one.RRule, one.RecurrenceID, one.Start, one.End = "", inst, inst.Add(time.Hour), inst.Add(2*time.Hour)
		for _, method := range []string{pim.MethodRequest, pim.MethodCancel} {
			raw, _ := scheduling.Compose("Lead", lead, []string{ada.Email}, method, &one, "")
			if err := s.Incoming(ctx, ada, lead, raw); err != nil {
				t.Fatal(err)
			}
			if e := entry(t, st, ada, series.UID); e == nil || e.RRule != series.RRule || !e.Start.Equal(start) {
				t.Fatalf("after a %s of one occurrence the series is %+v", method, e)
			}
		}
	})
}
