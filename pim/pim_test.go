package pim

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"airlock/store"
)

func TestEventItemRoundTrip(t *testing.T) {
	events, _, _ := ParseICS(strings.NewReader(icsSample))
	for _, e := range events {
		it, err := e.ToItem(7, 9)
		if err != nil {
			t.Fatalf("%s: %v", e.UID, err)
		}
		if it.UserID != 7 || it.FolderID != 9 || it.Class != store.ClassCalendar || it.UID != e.UID || it.Subject != e.Summary ||
			!it.StartTime.Equal(e.Start) {
			t.Errorf("%s: item columns %+v", e.UID, it)
		}
		var back Event
		if err := back.FromItem(it); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Errorf("round trip\n got %+v\nwant %+v", back, e)
		}
	}
}

func TestEventSeriesEnd(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	start := time.Date(2024, 1, 9, 13, 0, 0, 0, london)
	tests := []struct {
		name  string
		rrule string
		exc   []Exception
		want  time.Time
	}{
		{"single", "", nil, start.Add(time.Hour)},
		// Ten Tuesdays from 9 January: the last is 12 March, 13:00 GMT.
		{"count", "FREQ=WEEKLY;COUNT=10", nil, time.Date(2024, 3, 12, 14, 0, 0, 0, time.UTC)},
		// DST: six monthly occurrences end on 9 June at 13:00 BST = 12:00 UTC.
		{"count across DST keeps local time", "FREQ=MONTHLY;COUNT=6", nil, time.Date(2024, 6, 9, 13, 0, 0, 0, time.UTC)},
		{"until", "FREQ=DAILY;UNTIL=20240131T235959Z", nil, time.Date(2024, 2, 1, 0, 59, 59, 0, time.UTC)},
		{"forever", "FREQ=WEEKLY;BYDAY=TU", nil, SeriesForever},
		{"exception moved past the end", "FREQ=WEEKLY;COUNT=2", []Exception{{RecurrenceID: start.AddDate(0, 0, 7), Start: start.AddDate(0, 1, 0), End: start.AddDate(0, 1, 0).Add(time.Hour)}}, start.AddDate(0, 1, 0).Add(time.Hour).UTC()},
	}
	for _, tc := range tests {
		e := Event{UID: "u", Start: start, End: start.Add(time.Hour), TimeZone: "Europe/London", RRule: tc.rrule, Exceptions: tc.exc}
		it, err := e.ToItem(1, 1)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !it.EndTime.Equal(tc.want) {
			t.Errorf("%s: EndTime = %v, want %v", tc.name, it.EndTime, tc.want)
		}
	}
}

func TestToItemValidation(t *testing.T) {
	now := time.Now()
	earlier := now.Add(-time.Hour)
	tests := []struct {
		name string
		item interface {
			ToItem(int64, int64) (*store.Item, error)
		}
		reason string
	}{
		{"event without start", &Event{UID: "a"}, "no start time"},
		{"event ending early", &Event{UID: "a", Start: now, End: earlier}, "ends before it starts"},
		{"event with bad rrule", &Event{UID: "a", Start: now, End: now, RRule: "FREQ=SOMETIMES"}, "RRULE"},
		{"nameless contact", &Contact{Notes: "who?"}, "no name"},
		{"task without subject", &Task{Body: "x"}, "no subject"},
		{"task due before start", &Task{Subject: "x", Start: &now, Due: &earlier}, "due before"},
		{"task with bad rrule", &Task{Subject: "x", RRule: "FREQ=WEEKLY;BYDAY=XX"}, "RRULE"},
		{"empty note", &Note{}, "neither subject nor body"},
	}
	for _, tc := range tests {
		_, err := tc.item.ToItem(1, 1)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: err = %v, want ErrInvalid with %q", tc.name, err, tc.reason)
		}
	}
}

func TestOtherItemsRoundTrip(t *testing.T) {
	due := time.Date(2024, 2, 1, 17, 0, 0, 0, time.UTC)
	contacts, _ := ParseVCF(strings.NewReader(vcfSample))
	c := contacts[0]
	task := Task{UID: "t1", Subject: "Audit", Body: "Q1 audit", Due: &due, Importance: ImportanceHigh, Categories: []string{"Admin"}}
	note := Note{UID: "n1", Body: "Door code 4821\nBack entrance", Categories: []string{"Ward"}}

	it, err := c.ToItem(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if it.Class != store.ClassContacts || it.Subject != "Dr Helen Okafor" || it.UID != "gp-1@example.nhs.uk" || it.Categories != `["GP","Referrers"]` {
		t.Errorf("contact item %+v", it)
	}
	var c2 Contact
	if err := c2.FromItem(it); err != nil || !reflect.DeepEqual(c, c2) {
		t.Errorf("contact round trip: %v\n got %+v\nwant %+v", err, c2, c)
	}

	it, err = task.ToItem(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if it.Class != store.ClassTasks || it.EndTime == nil || !it.EndTime.Equal(due) || it.StartTime != nil || it.Importance != ImportanceHigh {
		t.Errorf("task item %+v", it)
	}
	var t2 Task
	if err := t2.FromItem(it); err != nil || !reflect.DeepEqual(task, t2) {
		t.Errorf("task round trip: %v\n got %+v\nwant %+v", err, t2, task)
	}

	it, err = note.ToItem(1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if it.Class != store.ClassNotes || it.Subject != "Door code 4821" || it.MessageClass != "IPM.StickyNote" || it.Preview != "Door code 4821 Back entrance" {
		t.Errorf("note item %+v", it)
	}
	var n2 Note
	if err := n2.FromItem(it); err != nil || !reflect.DeepEqual(note, n2) {
		t.Errorf("note round trip: %v\n got %+v\nwant %+v", err, n2, note)
	}

	// FromItem refuses another class.
	if err := c2.FromItem(it); !errors.Is(err, ErrInvalid) {
		t.Errorf("contact from a note item: %v", err)
	}
	if err := n2.FromItem(&store.Item{Class: store.ClassNotes, Props: "{"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("broken props: %v", err)
	}
}

func TestToItemGivesUID(t *testing.T) {
	e := Event{Start: time.Now()}
	it, err := e.ToItem(1, 1)
	if err != nil || e.UID == "" || it.UID != e.UID {
		t.Fatalf("UID %q, item UID %q, %v", e.UID, it.UID, err)
	}
	e2 := Event{Start: time.Now()}
	e2.ToItem(1, 1)
	if e2.UID == e.UID {
		t.Error("two generated UIDs are equal")
	}
}

func TestSetOwner(t *testing.T) {
	tests := []struct {
		name   string
		ev     Event
		owner  string
		status int
	}{
		{"appointment", Event{}, "a@x", MeetingNone},
		{"own meeting", Event{Organizer: Person{Email: "A@x"}, Attendees: []Attendee{{Email: "b@x"}}, MeetingStatus: MeetingReceived}, "a@x", MeetingOrganizer},
		{"invited", Event{Organizer: Person{Email: "b@x"}, MeetingStatus: MeetingReceived}, "a@x", MeetingReceived},
		{"own cancelled", Event{Organizer: Person{Email: "a@x"}, MeetingStatus: MeetingCanceledReceived}, "a@x", MeetingCanceledOrganizer},
		{"invited cancelled", Event{Organizer: Person{Email: "b@x"}, MeetingStatus: MeetingCanceledReceived}, "a@x", MeetingCanceledReceived},
	}
	for _, tc := range tests {
		tc.ev.SetOwner(tc.owner)
		if tc.ev.MeetingStatus != tc.status {
			t.Errorf("%s: MeetingStatus = %d, want %d", tc.name, tc.ev.MeetingStatus, tc.status)
		}
	}
}
