package activesync

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/teambition/rrule-go"
)

// Recurrence is an EAS recurrence pattern: MS-ASCAL 2.2.2.37 Recurrence
// (calendar), MS-ASTASK 2.2.2.18 Recurrence (tasks, with Start, Regenerate
// and DeadOccur) and MS-ASEMAIL 2.2.2.62 Recurrence (meeting requests).
// The store keeps the pattern as an RFC 5545 RRULE; RRule and
// RecurrenceFromRRule convert.
type Recurrence struct {
	Type        int       // MS-ASCAL 2.2.2.45 Type: RecurDaily..RecurYearlyNth
	Interval    int       // 0 is 1
	Until       time.Time // zero: none
	Occurrences int       // 0: none
	DayOfWeek   int       // bitmask, DaySunday..DaySaturday
	DayOfMonth  int
	WeekOfMonth int // 1-4, 5 is the last
	MonthOfYear int
	// CalendarType (MS-ASCAL 2.2.2.11): 0 default, 1 Gregorian, others
	// for localised and lunar calendars. Kept and echoed; dates are
	// computed on the Gregorian calendar.
	CalendarType int
	IsLeapMonth  bool
	// FirstDayOfWeek (MS-ASCAL 2.2.2.23, 14.1+): 0 Sunday .. 6 Saturday,
	// -1 when absent. It is RFC 5545's WKST.
	FirstDayOfWeek int

	// Tasks only (MS-ASTASK 2.2.2.18).
	Start      time.Time
	Regenerate bool
	DeadOccur  bool
}

// Recurrence types (MS-ASCAL 2.2.2.45 Type).
const (
	RecurDaily      = 0
	RecurWeekly     = 1
	RecurMonthly    = 2 // on DayOfMonth
	RecurMonthlyNth = 3 // on the WeekOfMonth-th DayOfWeek
	RecurYearly     = 5 // on DayOfMonth of MonthOfYear
	RecurYearlyNth  = 6 // on the WeekOfMonth-th DayOfWeek of MonthOfYear
)

// DayOfWeek bits (MS-ASCAL 2.2.2.18 DayOfWeek).
const (
	DaySunday    = 1
	DayMonday    = 2
	DayTuesday   = 4
	DayWednesday = 8
	DayThursday  = 16
	DayFriday    = 32
	DaySaturday  = 64
)

// ErrInvalidRecurrence is matched (errors.Is) by every *RecurrenceError.
var ErrInvalidRecurrence = errors.New("eas: invalid Recurrence")

// RecurrenceError says why a recurrence cannot be stored or sent. From a
// device it fails the item (Sync Status 6); for a stored RRULE with no EAS
// form (FREQ=HOURLY, BYWEEKNO...) it means the series cannot be described
// to a device.
type RecurrenceError struct {
	Reason string
}

func (e *RecurrenceError) Error() string     { return "eas: invalid Recurrence: " + e.Reason }
func (e *RecurrenceError) Is(err error) bool { return err == ErrInvalidRecurrence }

func recErr(format string, args ...any) error {
	return &RecurrenceError{Reason: fmt.Sprintf(format, args...)}
}

// parseRecurrence reads a Recurrence element of page ("Calendar", "Tasks"
// or "Email"; the Email page keeps CalendarType, IsLeapMonth and
// FirstDayOfWeek in Email2).
func parseRecurrence(el *etree.Element, page string) (Recurrence, error) {
	r := Recurrence{FirstDayOfWeek: -1}
	extra := page
	if page == "Email" {
		extra = "Email2"
	}
	num := func(p, name string, dst *int, lo, hi int) error {
		s := text(el, p+":"+name)
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return recErr("%s %q", name, s)
		}
		*dst = n
		return nil
	}
	if text(el, page+":Type") == "" {
		return r, recErr("no Type")
	}
	for _, f := range []struct {
		p, name string
		dst     *int
		lo, hi  int
	}{
		{page, "Type", &r.Type, 0, 6}, {page, "Interval", &r.Interval, 0, 999},
		{page, "Occurrences", &r.Occurrences, 0, 999}, {page, "DayOfWeek", &r.DayOfWeek, 0, 127},
		{page, "DayOfMonth", &r.DayOfMonth, 0, 31}, {page, "WeekOfMonth", &r.WeekOfMonth, 0, 5},
		{page, "MonthOfYear", &r.MonthOfYear, 0, 12}, {extra, "CalendarType", &r.CalendarType, 0, 20},
		{extra, "FirstDayOfWeek", &r.FirstDayOfWeek, 0, 6},
	} {
		if err := num(f.p, f.name, f.dst, f.lo, f.hi); err != nil {
			return r, err
		}
	}
	if r.Type == 4 {
		return r, recErr("Type 4 does not exist")
	}
	r.IsLeapMonth = text(el, extra+":IsLeapMonth") == "1"
	if s := text(el, page+":Until"); s != "" {
		t, ok := parseEASTime(s)
		if !ok {
			return r, recErr("Until %q", s)
		}
		r.Until = t
	}
	if page == "Tasks" {
		if s := text(el, "Tasks:Start"); s != "" {
			t, ok := parseEASTime(s)
			if !ok {
				return r, recErr("Start %q", s)
			}
			r.Start = t
		}
		r.Regenerate = text(el, "Tasks:Regenerate") == "1"
		r.DeadOccur = text(el, "Tasks:DeadOccur") == "1"
	}
	return r, nil
}

// write renders the pattern as a Recurrence element on page, with the
// elements v knows.
func (r Recurrence) write(parent *etree.Element, page string, v Version) {
	el := parent.CreateElement(page + ":Recurrence")
	extra := page
	if page == "Email" {
		extra = "Email2"
	}
	add(el, page+":Type", itoa(r.Type))
	if page == "Tasks" && !r.Start.IsZero() {
		add(el, "Tasks:Start", formatTime(r.Start))
	}
	if !r.Until.IsZero() {
		if page == "Calendar" {
			add(el, "Calendar:Until", r.Until.UTC().Format(calTime))
		} else {
			add(el, page+":Until", formatTime(r.Until))
		}
	}
	if r.Occurrences > 0 {
		add(el, page+":Occurrences", itoa(r.Occurrences))
	}
	add(el, page+":Interval", itoa(max(r.Interval, 1)))
	if r.DayOfWeek != 0 {
		add(el, page+":DayOfWeek", itoa(r.DayOfWeek))
	}
	if r.DayOfMonth != 0 {
		add(el, page+":DayOfMonth", itoa(r.DayOfMonth))
	}
	if r.WeekOfMonth != 0 {
		add(el, page+":WeekOfMonth", itoa(r.WeekOfMonth))
	}
	if r.MonthOfYear != 0 {
		add(el, page+":MonthOfYear", itoa(r.MonthOfYear))
	}
	if page == "Tasks" {
		add(el, "Tasks:Regenerate", boolText(r.Regenerate))
		add(el, "Tasks:DeadOccur", boolText(r.DeadOccur))
	}
	if v >= V140 {
		add(el, extra+":CalendarType", itoa(r.CalendarType))
		add(el, extra+":IsLeapMonth", boolText(r.IsLeapMonth))
	}
	if v >= V141 && r.FirstDayOfWeek >= 0 {
		add(el, extra+":FirstDayOfWeek", itoa(r.FirstDayOfWeek))
	}
}

// rruleDays are the rrule-go weekdays in EAS bit order (Sunday first).
var rruleDays = []rrule.Weekday{rrule.SU, rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA}

func dayBit(d time.Weekday) int { return 1 << uint(d) }

// weekdaysOf turns a DayOfWeek mask into rrule weekdays, each with n.
func weekdaysOf(mask, n int) []rrule.Weekday {
	var out []rrule.Weekday
	for i, d := range rruleDays {
		if mask&(1<<uint(i)) != 0 {
			if n != 0 {
				d = d.Nth(n)
			}
			out = append(out, d)
		}
	}
	return out
}

// maskOf is the inverse of weekdaysOf (the n are ignored).
func maskOf(days []rrule.Weekday) int {
	m := 0
	for _, d := range days {
		// rrule-go numbers Monday 0 .. Sunday 6.
		m |= dayBit(time.Weekday((d.Day() + 1) % 7))
	}
	return m
}

// RRule turns the pattern into an RFC 5545 RRULE for a series starting at
// start, whose wall-clock times are in loc (for the defaults taken from
// the start: the weekday of a weekly series, the day of a monthly one).
// Outlook semantics are kept: a monthly or yearly series on day 29, 30 or
// 31 falls on the last day of shorter months (BYMONTHDAY with BYSETPOS=-1),
// where a plain BYMONTHDAY would skip them.
//
// An Until before start, a pattern without the fields its Type needs, or
// an impossible date (31 April) is a *RecurrenceError.
func (r Recurrence) RRule(start time.Time, loc *time.Location) (string, error) {
	if loc == nil {
		loc = time.UTC
	}
	local := start.In(loc)
	o := rrule.ROption{Interval: max(r.Interval, 1)}
	if o.Interval == 1 {
		o.Interval = 0 // the default; keeps the text short
	}
	if !r.Until.IsZero() {
		// Until is the start of the last occurrence or later; a date-only
		// Until (midnight) before the start time of that day still
		// includes the day, so compare dates when it is midnight.
		if r.Until.Before(start) && !(isMidnight(r.Until) && !r.Until.Before(dateOf(start.UTC()))) {
			return "", recErr("Until %s is before the start %s", r.Until.UTC().Format(calTime), start.UTC().Format(calTime))
		}
		o.Until = r.Until.UTC()
		if isMidnight(r.Until) && r.Until.Before(start) {
			o.Until = start.UTC()
		}
	} else if r.Occurrences > 0 {
		o.Count = r.Occurrences
	}
	if r.FirstDayOfWeek >= 0 && r.FirstDayOfWeek <= 6 {
		o.Wkst = rruleDays[r.FirstDayOfWeek]
	}
	days := r.DayOfWeek
	switch r.Type {
	case RecurDaily:
		o.Freq = rrule.DAILY
		if days != 0 && days != 127 {
			o.Byweekday = weekdaysOf(days, 0)
		}
	case RecurWeekly:
		o.Freq = rrule.WEEKLY
		if days == 0 {
			days = dayBit(local.Weekday())
		}
		o.Byweekday = weekdaysOf(days, 0)
	case RecurMonthly, RecurYearly:
		o.Freq = rrule.MONTHLY
		if r.Type == RecurYearly {
			o.Freq = rrule.YEARLY
			m := r.MonthOfYear
			if m == 0 {
				m = int(local.Month())
			}
			o.Bymonth = []int{m}
		}
		d := r.DayOfMonth
		if d == 0 {
			d = local.Day()
		}
		if r.Type == RecurYearly {
			if limit := daysIn(time.Month(o.Bymonth[0]), 2000); d > limit { // 2000: a leap year
				return "", recErr("day %d of month %d", d, o.Bymonth[0])
			}
		}
		if d >= 29 {
			// Day 29-31: the last day of a shorter month.
			for x := 28; x <= d; x++ {
				o.Bymonthday = append(o.Bymonthday, x)
			}
			o.Bysetpos = []int{-1}
		} else {
			o.Bymonthday = []int{d}
		}
	case RecurMonthlyNth, RecurYearlyNth:
		o.Freq = rrule.MONTHLY
		if r.Type == RecurYearlyNth {
			o.Freq = rrule.YEARLY
			m := r.MonthOfYear
			if m == 0 {
				m = int(local.Month())
			}
			o.Bymonth = []int{m}
		}
		if days == 0 {
			days = dayBit(local.Weekday())
		}
		n := r.WeekOfMonth
		if n == 0 {
			n = (local.Day()-1)/7 + 1
		}
		if n == 5 {
			n = -1
		}
		if single(days) {
			o.Byweekday = weekdaysOf(days, n)
		} else {
			// "The last weekday": the n-th of the set of days.
			o.Byweekday = weekdaysOf(days, 0)
			o.Bysetpos = []int{n}
		}
	default:
		return "", recErr("Type %d", r.Type)
	}
	if _, err := rrule.NewRRule(withStart(o, local)); err != nil {
		return "", recErr("%v", err)
	}
	s := o.RRuleString()
	if r.FirstDayOfWeek == 1 {
		s += ";WKST=MO" // rrule-go leaves out its default; keep what the device said
	}
	return s, nil
}

func withStart(o rrule.ROption, start time.Time) rrule.ROption {
	o.Dtstart = start
	return o
}

func single(mask int) bool { return mask != 0 && mask&(mask-1) == 0 }

func isMidnight(t time.Time) bool {
	u := t.UTC()
	return u.Hour() == 0 && u.Minute() == 0 && u.Second() == 0
}

func dateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// RecurrenceFromRRule describes an RRULE (as pim keeps it) as an EAS
// pattern, for a series starting at start in loc. Rules EAS cannot express
// (sub-daily frequencies, BYWEEKNO, BYYEARDAY, several months or month
// days, BYHOUR...) are a *RecurrenceError.
func RecurrenceFromRRule(rule string, start time.Time, loc *time.Location) (Recurrence, error) {
	if loc == nil {
		loc = time.UTC
	}
	r := Recurrence{FirstDayOfWeek: -1}
	o, err := rrule.StrToROptionInLocation(rule, loc)
	if err != nil {
		return r, recErr("RRULE %q: %v", rule, err)
	}
	if len(o.Byyearday) > 0 || len(o.Byweekno) > 0 || len(o.Byhour) > 0 || len(o.Byminute) > 0 ||
		len(o.Bysecond) > 0 || len(o.Byeaster) > 0 {
		return r, recErr("RRULE %q has parts EAS cannot express", rule)
	}
	local := start.In(loc)
	r.Interval = max(o.Interval, 1)
	r.Occurrences = o.Count
	if !o.Until.IsZero() {
		r.Until = o.Until.UTC()
	}
	if rule != "" && strings.Contains(strings.ToUpper(rule), "WKST=") {
		r.FirstDayOfWeek = (o.Wkst.Day() + 1) % 7
	}
	nth := 0   // the n of BYDAY or BYSETPOS
	mask := 0  // DayOfWeek
	plain := 0 // BYDAY entries without n
	for _, d := range o.Byweekday {
		if d.N() != 0 {
			if nth != 0 && nth != d.N() {
				return r, recErr("RRULE %q: several week numbers", rule)
			}
			nth = d.N()
		} else {
			plain++
		}
	}
	mask = maskOf(o.Byweekday)
	if len(o.Bysetpos) > 1 {
		return r, recErr("RRULE %q: several BYSETPOS", rule)
	}
	setpos := 0
	if len(o.Bysetpos) == 1 {
		setpos = o.Bysetpos[0]
	}
	week := func(n int) (int, error) {
		switch {
		case n >= 1 && n <= 4:
			return n, nil
		case n == -1:
			return 5, nil
		}
		return 0, recErr("RRULE %q: week %d has no EAS form", rule, n)
	}
	// lastDay recognises Outlook's "day 29-31 or the last" (BYMONTHDAY
	// 28..d with BYSETPOS -1) and BYMONTHDAY=-1 (the last day: 31).
	monthDay := func() (int, error) {
		md := o.Bymonthday
		switch {
		case len(md) == 0:
			return local.Day(), nil
		case len(md) == 1 && md[0] == -1:
			return 31, nil
		case len(md) == 1 && md[0] > 0 && setpos == 0:
			return md[0], nil
		case setpos == -1 && len(md) >= 2:
			s := append([]int(nil), md...)
			sort.Ints(s)
			if s[0] == 28 && s[len(s)-1] <= 31 && s[len(s)-1]-s[0] == len(s)-1 {
				return s[len(s)-1], nil
			}
		}
		return 0, recErr("RRULE %q: month days %v have no EAS form", rule, md)
	}
	if len(o.Bymonth) > 1 {
		return r, recErr("RRULE %q: several months", rule)
	}
	switch o.Freq {
	case rrule.DAILY:
		r.Type = RecurDaily
		if len(o.Bymonth) > 0 || len(o.Bymonthday) > 0 || nth != 0 || setpos != 0 {
			return r, recErr("RRULE %q has no EAS form", rule)
		}
		if mask != 0 && mask != 127 {
			if r.Interval != 1 {
				return r, recErr("RRULE %q: every %d days on some weekdays", rule, r.Interval)
			}
			// Every day on some weekdays is a weekly series on them.
			r.Type, r.DayOfWeek = RecurWeekly, mask
		}
	case rrule.WEEKLY:
		r.Type = RecurWeekly
		if len(o.Bymonth) > 0 || len(o.Bymonthday) > 0 || nth != 0 || setpos != 0 {
			return r, recErr("RRULE %q has no EAS form", rule)
		}
		r.DayOfWeek = mask
		if mask == 0 {
			r.DayOfWeek = dayBit(local.Weekday())
		}
	case rrule.MONTHLY, rrule.YEARLY:
		yearly := o.Freq == rrule.YEARLY
		if !yearly && len(o.Bymonth) > 0 {
			return r, recErr("RRULE %q: monthly in some months only", rule)
		}
		if yearly {
			r.MonthOfYear = int(local.Month())
			if len(o.Bymonth) == 1 {
				r.MonthOfYear = o.Bymonth[0]
			}
		}
		if len(o.Byweekday) > 0 {
			if len(o.Bymonthday) > 0 {
				return r, recErr("RRULE %q: both month days and weekdays", rule)
			}
			n := nth
			switch {
			case nth != 0 && plain == 0 && len(o.Byweekday) == 1 && setpos == 0:
			case nth == 0 && setpos != 0:
				n = setpos
			default:
				return r, recErr("RRULE %q has no EAS form", rule)
			}
			w, err := week(n)
			if err != nil {
				return r, err
			}
			r.Type, r.WeekOfMonth, r.DayOfWeek = RecurMonthlyNth, w, mask
			if yearly {
				r.Type = RecurYearlyNth
			}
			break
		}
		d, err := monthDay()
		if err != nil {
			return r, err
		}
		r.Type, r.DayOfMonth = RecurMonthly, d
		if yearly {
			r.Type = RecurYearly
		}
	default:
		return r, recErr("RRULE %q: frequency %s has no EAS form", rule, o.Freq)
	}
	if r.Interval == 0 {
		r.Interval = 1
	}
	return r, nil
}
