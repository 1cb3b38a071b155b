package pim

import (
	"fmt"
	"sort"
	"time"

	"github.com/teambition/rrule-go"
)

// Occurrence is one instance of an event in a time window.
type Occurrence struct {
	Start, End time.Time
	// RecurrenceID is the instance's original start (the series' pattern
	// time); zero for a non-recurring event.
	RecurrenceID time.Time
	Summary      string
	BusyStatus   int
	// Exception is the change made to this instance, if any.
	Exception *Exception
}

// Zone returns the zone the event's wall-clock times are in: TimeZone,
// or UTC for a floating or all-day event.
func (e *Event) Zone() *time.Location {
	if e.AllDay {
		return time.UTC
	}
	return e.location()
}

// maxOccurrences bounds one expansion, so a minutely rule over centuries
// cannot exhaust memory.
const maxOccurrences = 10000

// Occurrences lists the instances of the event that overlap [from, to),
// in start order: the event itself when it does not recur; otherwise the
// RRULE expanded in the event's zone (so a weekly 09:00 meeting stays at
// 09:00 local across daylight-saving changes), without EXDATEs and deleted
// exceptions, with changed exceptions at their new times (also when they
// were moved into the window from outside it).
func (e *Event) Occurrences(from, to time.Time) ([]Occurrence, error) {
	dur := e.End.Sub(e.Start)
	overlaps := func(s, en time.Time) bool {
		if en.Equal(s) {
			return !s.Before(from) && s.Before(to)
		}
		return s.Before(to) && en.After(from)
	}
	if e.RRule == "" {
		if overlaps(e.Start, e.End) {
			return []Occurrence{{Start: e.Start.UTC(), End: e.End.UTC(), Summary: e.Summary, BusyStatus: e.BusyStatus}}, nil
		}
		return nil, nil
	}
	loc := e.Zone()
	opt, err := rrule.StrToROptionInLocation(e.RRule, loc)
	if err != nil {
		return nil, fmt.Errorf("%w: event %q: RRULE %q: %v", ErrInvalid, e.UID, e.RRule, err)
	}
	opt.Dtstart = e.Start.In(loc)
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, fmt.Errorf("%w: event %q: RRULE %q: %v", ErrInvalid, e.UID, e.RRule, err)
	}
	skip := map[int64]bool{}
	for _, x := range e.ExDates {
		skip[x.Unix()] = true
	}
	changed := map[int64]*Exception{}
	for i := range e.Exceptions {
		x := &e.Exceptions[i]
		if x.Deleted {
			skip[x.RecurrenceID.Unix()] = true
		} else {
			changed[x.RecurrenceID.Unix()] = x
		}
	}
	var out []Occurrence
	// Instances starting up to one duration before the window can still
	// overlap it.
	for _, s := range r.Between(from.Add(-dur-time.Second), to, true) {
		if len(out) >= maxOccurrences {
			break
		}
		key := s.Unix()
		if skip[key] || changed[key] != nil {
			continue
		}
		if overlaps(s, s.Add(dur)) {
			out = append(out, Occurrence{Start: s.UTC(), End: s.Add(dur).UTC(), RecurrenceID: s.UTC(), Summary: e.Summary, BusyStatus: e.BusyStatus})
		}
	}
	for key, x := range changed {
		start, end := x.Start, x.End
		if start.IsZero() {
			start = x.RecurrenceID
		}
		if end.IsZero() {
			end = start.Add(dur)
		}
		if !overlaps(start, end) || skip[key] {
			continue
		}
		o := Occurrence{Start: start.UTC(), End: end.UTC(), RecurrenceID: x.RecurrenceID.UTC(), Summary: e.Summary, BusyStatus: e.BusyStatus, Exception: x}
		if x.Summary != "" {
			o.Summary = x.Summary
		}
		if x.BusyStatus != nil {
			o.BusyStatus = *x.BusyStatus
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// IsOccurrence reports whether t is the original start of an instance of
// the series (before exceptions), for checking an InstanceId a device
// sends.
func (e *Event) IsOccurrence(t time.Time) bool {
	if e.RRule == "" {
		return t.Equal(e.Start)
	}
	loc := e.Zone()
	opt, err := rrule.StrToROptionInLocation(e.RRule, loc)
	if err != nil {
		return false
	}
	opt.Dtstart = e.Start.In(loc)
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return false
	}
	got := r.After(t.Add(-time.Second), true)
	return !got.IsZero() && got.Equal(t)
}
