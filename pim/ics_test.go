package pim

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func lines(s string) string {
	return strings.ReplaceAll(strings.TrimPrefix(s, "\n"), "\n", "\r\n")
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

var icsSample = lines(`
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN
BEGIN:VTIMEZONE
TZID:GMT Standard Time
BEGIN:STANDARD
DTSTART:16011028T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
TZOFFSETFROM:+0100
TZOFFSETTO:-0000
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:mdt-weekly@example.nhs.uk
DTSTAMP:20240101T090000Z
DTSTART;TZID=GMT Standard Time:20240109T130000
DTEND;TZID=GMT Standard Time:20240109T140000
RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20241231T235959Z
EXDATE;TZID=GMT Standard Time:20240116T130000,20240123T130000
SUMMARY:Cardiology MDT
LOCATION:Seminar Room 2\, Level 3
DESCRIPTION:Agenda:\n1. New referrals\n2. Echo results
ORGANIZER;CN="Patel, Amira":mailto:amira.patel@example.nhs.uk
ATTENDEE;CN=James O'Connor;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:james.oconnor@example.nhs.uk
ATTENDEE;CN=Priya Nair;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:priya.nair@example.nhs.uk
ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION:mailto:seminar2@example.nhs.uk
CLASS:CONFIDENTIAL
CATEGORIES:MDT,Cardiology
X-MICROSOFT-CDO-BUSYSTATUS:BUSY
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Reminder
TRIGGER:-PT15M
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:mdt-weekly@example.nhs.uk
RECURRENCE-ID;TZID=GMT Standard Time:20240130T130000
DTSTAMP:20240101T090000Z
DTSTART;TZID=GMT Standard Time:20240130T150000
DTEND;TZID=GMT Standard Time:20240130T160000
SUMMARY:Cardiology MDT
LOCATION:Boardroom
END:VEVENT
BEGIN:VEVENT
UID:mdt-weekly@example.nhs.uk
RECURRENCE-ID;TZID=GMT Standard Time:20240206T130000
DTSTAMP:20240101T090000Z
DTSTART;TZID=GMT Standard Time:20240206T130000
STATUS:CANCELLED
END:VEVENT
BEGIN:VEVENT
UID:leave-2024@example.nhs.uk
DTSTAMP:20240101T090000Z
DTSTART;VALUE=DATE:20240812
DTEND;VALUE=DATE:20240817
SUMMARY:Annual leave
TRANSP:TRANSPARENT
END:VEVENT
BEGIN:VEVENT
UID:broken-1@example.nhs.uk
DTSTAMP:20240101T090000Z
DTSTART:2024-13-45
SUMMARY:Bad date
END:VEVENT
BEGIN:VEVENT
UID:paris@example.fr
DTSTART;TZID=/mozilla.org/20050126_1/Europe/Paris:20240715T090000
DURATION:PT90M
SUMMARY:Congress session
END:VEVENT
BEGIN:VEVENT
UID:nostart@example.nhs.uk
SUMMARY:No start
END:VEVENT
BEGIN:VEVENT
UID:orphan@example.nhs.uk
RECURRENCE-ID:20240101T100000Z
DTSTART:20240101T110000Z
SUMMARY:Orphan
END:VEVENT
BEGIN:VEVENT
UID:badzone@example.nhs.uk
DTSTART;TZID=Mars/Olympus_Mons:20240101T100000
SUMMARY:Nowhere
END:VEVENT
BEGIN:VTODO
UID:todo-1@example.nhs.uk
DTSTAMP:20240101T090000Z
SUMMARY:Sign clinic letters
DESCRIPTION:Twelve letters in the tray
DUE:20240105T170000Z
PRIORITY:1
STATUS:NEEDS-ACTION
CATEGORIES:Admin
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Reminder
TRIGGER;VALUE=DATE-TIME:20240105T090000Z
END:VALARM
END:VTODO
BEGIN:VTODO
UID:todo-2@example.nhs.uk
DTSTAMP:20240101T090000Z
STATUS:COMPLETED
COMPLETED:20240102T100000Z
END:VTODO
END:VCALENDAR
`)

func TestParseICS(t *testing.T) {
	events, tasks, errs := ParseICS(strings.NewReader(icsSample))

	wantErrs := []struct {
		index  int
		uid    string
		reason string
	}{
		{5, "broken-1@example.nhs.uk", "DTSTART"},
		{7, "nostart@example.nhs.uk", "no DTSTART"},
		{9, "badzone@example.nhs.uk", "unknown time zone"},
		{11, "", "VTODO has no SUMMARY"},
		{8, "orphan@example.nhs.uk", "without its recurring master"},
	}
	if len(errs) != len(wantErrs) {
		t.Fatalf("errors = %v, want %d", errs, len(wantErrs))
	}
	for i, w := range wantErrs {
		var ee *EntryError
		if !errors.As(errs[i], &ee) || ee.Index != w.index || !strings.Contains(ee.Error(), w.reason) {
			t.Errorf("error %d = %v, want entry %d with %q", i, errs[i], w.index, w.reason)
			continue
		}
		if w.uid != "" && ee.UID != w.uid {
			t.Errorf("error %d UID = %q, want %q", i, ee.UID, w.uid)
		}
	}
	if e := errs[3].(*EntryError); e.UID != "todo-2@example.nhs.uk" {
		t.Errorf("UID of a VTODO without SUMMARY = %q", e.UID)
	}

	if len(events) != 3 {
		t.Fatalf("events = %d, want 3: %+v", len(events), events)
	}
	fifteen := 15
	mdt := Event{
		UID: "mdt-weekly@example.nhs.uk", Summary: "Cardiology MDT", Location: "Seminar Room 2, Level 3",
		Description: "Agenda:\n1. New referrals\n2. Echo results",
		Start:       mustTime(t, "2024-01-09T13:00:00Z"), End: mustTime(t, "2024-01-09T14:00:00Z"),
		TimeZone:  "Europe/London",
		Organizer: Person{Name: "Patel, Amira", Email: "amira.patel@example.nhs.uk"},
		Attendees: []Attendee{
			{Name: "James O'Connor", Email: "james.oconnor@example.nhs.uk", Type: AttendeeRequired, Status: StatusAccepted},
			{Name: "Priya Nair", Email: "priya.nair@example.nhs.uk", Type: AttendeeOptional, Status: StatusTentative},
			{Email: "seminar2@example.nhs.uk", Type: AttendeeResource, Status: StatusNotResponded},
		},
		Sensitivity: SensitivityConfidential, BusyStatus: BusyBusy, Reminder: &fifteen,
		Categories: []string{"MDT", "Cardiology"},
		RRule:      "FREQ=WEEKLY;BYDAY=TU;UNTIL=20241231T235959Z",
		ExDates:    []time.Time{mustTime(t, "2024-01-16T13:00:00Z"), mustTime(t, "2024-01-23T13:00:00Z")},
		Exceptions: []Exception{
			{RecurrenceID: mustTime(t, "2024-01-30T13:00:00Z"), Start: mustTime(t, "2024-01-30T15:00:00Z"), End: mustTime(t, "2024-01-30T16:00:00Z"), Location: "Boardroom"},
			{RecurrenceID: mustTime(t, "2024-02-06T13:00:00Z"), Deleted: true},
		},
		MeetingStatus: MeetingReceived,
		DtStamp:       mustTime(t, "2024-01-01T09:00:00Z"),
	}
	if !reflect.DeepEqual(events[0], mdt) {
		t.Errorf("weekly MDT\n got %+v\nwant %+v", events[0], mdt)
	}
	leave := events[1]
	if !leave.AllDay || !leave.Start.Equal(mustTime(t, "2024-08-12T00:00:00Z")) || !leave.End.Equal(mustTime(t, "2024-08-17T00:00:00Z")) ||
		leave.BusyStatus != BusyFree || leave.TimeZone != "" || leave.MeetingStatus != MeetingNone {
		t.Errorf("all-day leave = %+v", leave)
	}
	paris := events[2]
	// 09:00 CEST is 07:00 UTC; DURATION gives the end.
	if paris.TimeZone != "Europe/Paris" || !paris.Start.Equal(mustTime(t, "2024-07-15T07:00:00Z")) || !paris.End.Equal(mustTime(t, "2024-07-15T08:30:00Z")) {
		t.Errorf("vendor TZID event = %+v", paris)
	}

	if len(tasks) != 1 {
		t.Fatalf("tasks = %+v", tasks)
	}
	due, rem := mustTime(t, "2024-01-05T17:00:00Z"), mustTime(t, "2024-01-05T09:00:00Z")
	wantTask := Task{UID: "todo-1@example.nhs.uk", Subject: "Sign clinic letters", Body: "Twelve letters in the tray",
		Due: &due, Importance: ImportanceHigh, Categories: []string{"Admin"}, Reminder: &rem}
	if !reflect.DeepEqual(tasks[0], wantTask) {
		t.Errorf("task\n got %+v\nwant %+v", tasks[0], wantTask)
	}
}

func TestParseICSStructure(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		events     int
		errIndexes []int
		reason     string
	}{
		{"not a calendar", "hello\r\nworld\r\n", 0, []int{0}, "not a iCalendar file"},
		{"empty", "", 0, []int{0}, "not a iCalendar file"},
		{"missing END before next event", lines(`
BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
DTSTART:20240101T100000Z
BEGIN:VEVENT
UID:b
DTSTART:20240102T100000Z
END:VEVENT
END:VCALENDAR
`), 1, []int{1}, "VEVENT not closed"},
		{"truncated file", lines(`
BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
DTSTART:20240101T100000Z
END:VEVENT
BEGIN:VEVENT
UID:b
DTSTART:2024
`), 1, []int{2}, "not closed"},
		{"malformed line", lines(`
BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
DTSTART;TZID="broken:20240101T100000
END:VEVENT
BEGIN:VEVENT
UID:b
DTSTART:20240102T100000Z
END:VEVENT
END:VCALENDAR
`), 1, []int{1}, ""},
		{"two calendars, BOM, LF only", "\xef\xbb\xbfBEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20240101T100000Z\nEND:VEVENT\nEND:VCALENDAR\nBEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:b\nDTSTART:20240101T100000Z\nEND:VEVENT\nEND:VCALENDAR\n", 2, nil, ""},
		{"bad RRULE", lines(`
BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
DTSTART:20240101T100000Z
RRULE:FREQ=FORTNIGHTLY
END:VEVENT
END:VCALENDAR
`), 0, []int{1}, "RRULE"},
		{"end before start", lines(`
BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
DTSTART:20240101T100000Z
DTEND:20240101T090000Z
END:VEVENT
END:VCALENDAR
`), 0, []int{1}, "before DTSTART"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			events, _, errs := ParseICS(strings.NewReader(tc.in))
			if len(events) != tc.events {
				t.Errorf("events = %d, want %d", len(events), tc.events)
			}
			if len(errs) != len(tc.errIndexes) {
				t.Fatalf("errors = %v, want entries %v", errs, tc.errIndexes)
			}
			for i, idx := range tc.errIndexes {
				var ee *EntryError
				if !errors.As(errs[i], &ee) || ee.Index != idx || !strings.Contains(ee.Error(), tc.reason) {
					t.Errorf("error %v, want entry %d with %q", errs[i], idx, tc.reason)
				}
			}
		})
	}
}

func TestParseICSWithoutUIDIsStable(t *testing.T) {
	in := lines(`
BEGIN:VCALENDAR
BEGIN:VEVENT
DTSTART:20240101T100000Z
SUMMARY:No UID
END:VEVENT
END:VCALENDAR
`)
	a, _, _ := ParseICS(strings.NewReader(in))
	b, _, _ := ParseICS(strings.NewReader(in))
	if len(a) != 1 || a[0].UID == "" || a[0].UID != b[0].UID {
		t.Fatalf("derived UIDs %v / %v", a, b)
	}
}

func TestWriteICSRoundTrip(t *testing.T) {
	events, tasks, errs := ParseICS(strings.NewReader(icsSample))
	if len(events) != 3 || len(tasks) != 1 || len(errs) != 5 {
		t.Fatalf("setup: %d events %d tasks %v", len(events), len(tasks), errs)
	}
	var buf bytes.Buffer
	if err := WriteICS(&buf, events, tasks); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"BEGIN:VTIMEZONE", "TZID:Europe/London", "BYMONTH=3;BYDAY=-1SU", "BYMONTH=10;BYDAY=-1SU", "TZID=Europe/London:20240109T130000", "RECURRENCE-ID;TZID=Europe/London:20240130T130000", "DTSTART;VALUE=DATE:20240812"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	events2, tasks2, errs2 := ParseICS(strings.NewReader(out))
	if len(errs2) != 0 {
		t.Fatalf("re-parse errors: %v\n%s", errs2, out)
	}
	// The deleted exception travels as an EXDATE, so it comes back among the
	// ExDates; fold it back before comparing.
	for i := range events2 {
		if events2[i].UID == "mdt-weekly@example.nhs.uk" {
			e := &events2[i]
			if len(e.ExDates) != 3 {
				t.Fatalf("ExDates = %v", e.ExDates)
			}
			e.Exceptions = append(e.Exceptions, Exception{RecurrenceID: e.ExDates[2], Deleted: true})
			e.ExDates = e.ExDates[:2]
		}
	}
	// An event without DTSTAMP is written with the time of writing.
	for i := range events {
		if events[i].DtStamp.IsZero() && time.Since(events2[i].DtStamp) < time.Minute {
			events[i].DtStamp = events2[i].DtStamp
		}
	}
	if !reflect.DeepEqual(events, events2) {
		t.Errorf("round trip\n got %+v\nwant %+v", events2, events)
	}
	if !reflect.DeepEqual(tasks, tasks2) {
		t.Errorf("tasks round trip\n got %+v\nwant %+v", tasks2, tasks)
	}
}

func TestResolveTimeZone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Europe/London", "Europe/London"},
		{"GMT Standard Time", "Europe/London"},
		{"W. Europe Standard Time", "Europe/Berlin"},
		{"/mozilla.org/20050126_1/Europe/London", "Europe/London"},
		{"/softwarestudio.org/Olson_20011030_5/America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"},
		{`"America/New_York"`, "America/New_York"},
		{"", "UTC"},
		{"Mars/Olympus_Mons", ""},
	}
	for _, tc := range tests {
		loc, err := ResolveTimeZone(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: resolved to %v, want an error", tc.in, loc)
		case tc.want != "" && (err != nil || loc.String() != tc.want):
			t.Errorf("%q: %v, %v; want %s", tc.in, loc, err, tc.want)
		}
	}
}

func TestVTimezone(t *testing.T) {
	tests := []struct {
		zone  string
		parts []string
	}{
		{"Europe/London", []string{"BEGIN:DAYLIGHT", "DTSTART:20240331T010000", "TZOFFSETFROM:+0000", "TZOFFSETTO:+0100", "TZNAME:BST", "BYMONTH=3;BYDAY=-1SU", "BEGIN:STANDARD", "DTSTART:20241027T020000", "BYMONTH=10;BYDAY=-1SU"}},
		{"America/New_York", []string{"DTSTART:20240310T020000", "BYMONTH=3;BYDAY=2SU", "TZOFFSETTO:-0400", "DTSTART:20241103T020000", "BYMONTH=11;BYDAY=1SU"}},
		{"Asia/Kolkata", []string{"BEGIN:STANDARD", "TZOFFSETFROM:+0530", "TZOFFSETTO:+0530"}},
	}
	for _, tc := range tests {
		loc, _ := time.LoadLocation(tc.zone)
		events := []Event{{UID: "x", Start: time.Date(2024, 6, 1, 9, 0, 0, 0, loc), End: time.Date(2024, 6, 1, 10, 0, 0, 0, loc), TimeZone: tc.zone}}
		var buf bytes.Buffer
		if err := WriteICS(&buf, events, nil); err != nil {
			t.Fatal(err)
		}
		for _, p := range tc.parts {
			if !strings.Contains(buf.String(), p) {
				t.Errorf("%s: no %q in\n%s", tc.zone, p, buf.String())
			}
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"PT15M", 15 * time.Minute, false},
		{"-PT15M", -15 * time.Minute, false},
		{"P1D", 24 * time.Hour, false},
		{"P1W", 7 * 24 * time.Hour, false},
		{"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second, false},
		{"+PT1H", time.Hour, false},
		{"P", 0, true},
		{"PT", 0, true},
		{"15M", 0, true},
	}
	for _, tc := range tests {
		got, err := parseDuration(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// Regression: go-ical panicked on a parameter without a value; the entry is
// reported and the next one kept.
func TestParseICSParamWithoutValue(t *testing.T) {
	in := "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;X=\nEND:VEVENT\nBEGIN:VEVENT\nUID:ok\nDTSTART:20240101T100000Z\nEND:VEVENT\nEND:VCALENDAR\n"
	events, _, errs := ParseICS(strings.NewReader(in))
	if len(events) != 1 || events[0].UID != "ok" || len(errs) != 1 || !strings.Contains(errs[0].Error(), "entry 1: malformed content line") {
		t.Fatalf("events %+v, errors %v", events, errs)
	}
}
