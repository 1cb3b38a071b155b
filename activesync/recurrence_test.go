package activesync

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/teambition/rrule-go"

	"airlock/activesync/wbxml"
	"airlock/pim"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestRecurrenceRRule maps each EAS recurrence type to its RRULE and back.
func TestRecurrenceRRule(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	// Thursday 19 March 2026, 09:00 London.
	start := time.Date(2026, 3, 19, 9, 0, 0, 0, london)
	until := time.Date(2026, 6, 30, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		r     Recurrence
		rrule string
		// back is the pattern read back from the RRULE when it differs
		// from r (defaults filled in).
		back *Recurrence
	}{
		{"daily", Recurrence{Type: RecurDaily, Interval: 1, FirstDayOfWeek: -1}, "FREQ=DAILY", nil},
		{"every 3 days, 10 times", Recurrence{Type: RecurDaily, Interval: 3, Occurrences: 10, FirstDayOfWeek: -1}, "FREQ=DAILY;INTERVAL=3;COUNT=10", nil},
		{"weekly on Tue and Thu until", Recurrence{Type: RecurWeekly, Interval: 1, Until: until, DayOfWeek: DayTuesday | DayThursday, FirstDayOfWeek: -1},
			"FREQ=WEEKLY;UNTIL=20260630T080000Z;BYDAY=TU,TH", nil},
		{"weekly, weekday from the start", Recurrence{Type: RecurWeekly, Interval: 2, FirstDayOfWeek: -1}, "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH",
			&Recurrence{Type: RecurWeekly, Interval: 2, DayOfWeek: DayThursday, FirstDayOfWeek: -1}},
		{"every weekday, week starts Monday", Recurrence{Type: RecurWeekly, Interval: 1, DayOfWeek: 62, FirstDayOfWeek: 1}, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;WKST=MO", nil},
		{"week starts Sunday", Recurrence{Type: RecurWeekly, Interval: 1, DayOfWeek: DayMonday, FirstDayOfWeek: 0}, "FREQ=WEEKLY;WKST=SU;BYDAY=MO", nil},
		{"monthly on the 15th", Recurrence{Type: RecurMonthly, Interval: 1, DayOfMonth: 15, FirstDayOfWeek: -1}, "FREQ=MONTHLY;BYMONTHDAY=15", nil},
		{"monthly on the 31st or the last day", Recurrence{Type: RecurMonthly, Interval: 1, DayOfMonth: 31, FirstDayOfWeek: -1},
			"FREQ=MONTHLY;BYSETPOS=-1;BYMONTHDAY=28,29,30,31", nil},
		{"monthly on the 30th or the last day", Recurrence{Type: RecurMonthly, Interval: 1, DayOfMonth: 30, FirstDayOfWeek: -1},
			"FREQ=MONTHLY;BYSETPOS=-1;BYMONTHDAY=28,29,30", nil},
		{"monthly, second Tuesday", Recurrence{Type: RecurMonthlyNth, Interval: 1, WeekOfMonth: 2, DayOfWeek: DayTuesday, FirstDayOfWeek: -1}, "FREQ=MONTHLY;BYDAY=+2TU", nil},
		{"monthly, last Friday", Recurrence{Type: RecurMonthlyNth, Interval: 1, WeekOfMonth: 5, DayOfWeek: DayFriday, FirstDayOfWeek: -1}, "FREQ=MONTHLY;BYDAY=-1FR", nil},
		{"monthly, last weekday", Recurrence{Type: RecurMonthlyNth, Interval: 1, WeekOfMonth: 5, DayOfWeek: 62, FirstDayOfWeek: -1}, "FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR", nil},
		{"every 3 months, first day", Recurrence{Type: RecurMonthlyNth, Interval: 3, WeekOfMonth: 1, DayOfWeek: 127, FirstDayOfWeek: -1}, "FREQ=MONTHLY;INTERVAL=3;BYSETPOS=1;BYDAY=SU,MO,TU,WE,TH,FR,SA", nil},
		{"yearly on 19 March", Recurrence{Type: RecurYearly, Interval: 1, DayOfMonth: 19, MonthOfYear: 3, FirstDayOfWeek: -1}, "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=19", nil},
		{"yearly, fourth Thursday of November", Recurrence{Type: RecurYearlyNth, Interval: 1, WeekOfMonth: 4, DayOfWeek: DayThursday, MonthOfYear: 11, FirstDayOfWeek: -1}, "FREQ=YEARLY;BYMONTH=11;BYDAY=+4TH", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.r.RRule(start, london)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.rrule {
				t.Errorf("RRULE %q, want %q", got, c.rrule)
			}
			back, err := RecurrenceFromRRule(got, start, london)
			if err != nil {
				t.Fatal(err)
			}
			want := c.r
			if c.back != nil {
				want = *c.back
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("back %+v\nwant %+v", back, want)
			}
		})
	}
}

func TestRecurrenceInvalid(t *testing.T) {
	start := time.Date(2026, 3, 19, 9, 0, 0, 0, time.UTC)
	bad := map[string]Recurrence{
		"until before start": {Type: RecurWeekly, Until: start.AddDate(0, 0, -7), FirstDayOfWeek: -1},
		"type 4":             {Type: 4, FirstDayOfWeek: -1},
		"type 9":             {Type: 9, FirstDayOfWeek: -1},
		"31 April":           {Type: RecurYearly, DayOfMonth: 31, MonthOfYear: 4, FirstDayOfWeek: -1},
	}
	for name, r := range bad {
		if _, err := r.RRule(start, time.UTC); !errors.Is(err, ErrInvalidRecurrence) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// A date-only Until on the start day includes the start.
	if _, err := (Recurrence{Type: RecurDaily, Until: time.Date(2026, 3, 19, 0, 0, 0, 0, time.UTC), FirstDayOfWeek: -1}).RRule(start, time.UTC); err != nil {
		t.Errorf("Until on the start day: %v", err)
	}
	for _, rule := range []string{"FREQ=HOURLY", "FREQ=YEARLY;BYWEEKNO=20", "FREQ=MONTHLY;BYMONTHDAY=1,15", "FREQ=MONTHLY;BYDAY=1MO,3MO", "FREQ=YEARLY;BYMONTH=1,7", "FREQ=DAILY;BYHOUR=9,17", "nonsense"} {
		if _, err := RecurrenceFromRRule(rule, start, time.UTC); !errors.Is(err, ErrInvalidRecurrence) {
			t.Errorf("%s: err = %v", rule, err)
		}
	}
}

// TestRecurrenceElements parses and writes the XML of each page.
func TestRecurrenceElements(t *testing.T) {
	doc, err := wbxml.ParseXML(strings.NewReader(`<AirSync:ApplicationData>
	<Calendar:Recurrence>
	  <Calendar:Type>1</Calendar:Type><Calendar:Interval>1</Calendar:Interval>
	  <Calendar:Until>20260630T080000Z</Calendar:Until><Calendar:DayOfWeek>20</Calendar:DayOfWeek>
	  <Calendar:CalendarType>1</Calendar:CalendarType><Calendar:FirstDayOfWeek>1</Calendar:FirstDayOfWeek>
	</Calendar:Recurrence></AirSync:ApplicationData>`))
	if err != nil {
		t.Fatal(err)
	}
	el := child(doc.Root(), "Calendar:Recurrence")
	r, err := parseRecurrence(el, "Calendar")
	if err != nil {
		t.Fatal(err)
	}
	want := Recurrence{Type: 1, Interval: 1, Until: time.Date(2026, 6, 30, 8, 0, 0, 0, time.UTC), DayOfWeek: 20, CalendarType: 1, FirstDayOfWeek: 1}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("parsed %+v", r)
	}
	out := etree.NewElement("AirSync:ApplicationData")
	r.write(out, "Calendar", V161)
	again, err := parseRecurrence(child(out, "Calendar:Recurrence"), "Calendar")
	if err != nil || !reflect.DeepEqual(again, r) {
		t.Fatalf("rewritten %+v %v", again, err)
	}
	// 14.0 has no FirstDayOfWeek; 12.1 no CalendarType either.
	out = etree.NewElement("AirSync:ApplicationData")
	r.write(out, "Calendar", V121)
	if child(child(out, "Calendar:Recurrence"), "Calendar:CalendarType") != nil || child(child(out, "Calendar:Recurrence"), "Calendar:FirstDayOfWeek") != nil {
		t.Error("12.1 got 14.x elements")
	}
	for _, bad := range []string{
		`<Calendar:Recurrence><Calendar:Interval>1</Calendar:Interval></Calendar:Recurrence>`,
		`<Calendar:Recurrence><Calendar:Type>7</Calendar:Type></Calendar:Recurrence>`,
		`<Calendar:Recurrence><Calendar:Type>1</Calendar:Type><Calendar:DayOfWeek>128</Calendar:DayOfWeek></Calendar:Recurrence>`,
		`<Calendar:Recurrence><Calendar:Type>1</Calendar:Type><Calendar:Until>soon</Calendar:Until></Calendar:Recurrence>`,
	} {
		d, err := wbxml.ParseXML(strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseRecurrence(d.Root(), "Calendar"); !errors.Is(err, ErrInvalidRecurrence) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

// TestRecurrenceAcrossDST: a weekly Thursday 09:00 meeting in London from
// 12 March 2026 keeps 09:00 local time across the change to BST on 29
// March, and pim's expansion (with one occurrence moved and one deleted)
// agrees with rrule-go's own expansion of the same rule.
func TestRecurrenceAcrossDST(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	start := time.Date(2026, 3, 12, 9, 0, 0, 0, london)
	r := Recurrence{Type: RecurWeekly, Interval: 1, DayOfWeek: DayThursday, Occurrences: 6, FirstDayOfWeek: -1}
	rule, err := r.RRule(start, london)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := rrule.StrToROption(rule)
	if err != nil {
		t.Fatal(err)
	}
	opt.Dtstart = start
	rr, err := rrule.NewRRule(*opt)
	if err != nil {
		t.Fatal(err)
	}
	want := rr.All()
	if len(want) != 6 {
		t.Fatalf("rrule-go: %d occurrences", len(want))
	}
	for _, w := range want {
		if w.In(london).Hour() != 9 {
			t.Fatalf("rrule-go occurrence %s is not at 09:00 London", w)
		}
	}
	// 19 March is 09:00 UTC (GMT), 2 April is 08:00 UTC (BST).
	if !want[1].Equal(time.Date(2026, 3, 19, 9, 0, 0, 0, time.UTC)) || !want[3].Equal(time.Date(2026, 4, 2, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("unexpected instants %v", want)
	}
	e := pim.Event{UID: "dst@test", Summary: "Ward round", Start: start, End: start.Add(time.Hour), TimeZone: "Europe/London", RRule: rule,
		Exceptions: []pim.Exception{
			{RecurrenceID: want[2], Start: want[2].Add(2 * time.Hour), End: want[2].Add(3 * time.Hour), Summary: "Moved"},
			{RecurrenceID: want[4], Deleted: true},
		}}
	got, err := e.Occurrences(start.AddDate(0, 0, -1), start.AddDate(0, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	var starts []time.Time
	for _, o := range got {
		starts = append(starts, o.Start)
	}
	exp := []time.Time{want[0].UTC(), want[1].UTC(), want[2].Add(2 * time.Hour).UTC(), want[3].UTC(), want[5].UTC()}
	if !reflect.DeepEqual(starts, exp) {
		t.Fatalf("pim occurrences %v\nwant %v", starts, exp)
	}
	if got[2].Summary != "Moved" || got[2].Exception == nil {
		t.Errorf("moved occurrence: %+v", got[2])
	}
	if !e.IsOccurrence(want[4]) || e.IsOccurrence(want[4].Add(time.Hour)) {
		t.Error("IsOccurrence")
	}
}
