package pim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

// iTIP methods (RFC 5546 1.4) Airlock sends and understands.
const (
	MethodRequest = "REQUEST"
	MethodReply   = "REPLY"
	MethodCancel  = "CANCEL"
	// MethodCounter is an attendee's proposal of a new time (RFC 5546
	// 3.2.7).
	MethodCounter = "COUNTER"
)

// Outlook's properties for the meeting's own times in a COUNTER, whose
// DTSTART and DTEND are the proposal.
const (
	propOriginalStart = "X-MS-OLK-ORIGINALSTART"
	propOriginalEnd   = "X-MS-OLK-ORIGINALEND"
)

// WriteITIP writes a meeting message's calendar (RFC 5546): METHOD, the
// event with SEQUENCE and its exceptions. For REQUEST every attendee is
// asked to reply (RSVP=TRUE) and those who have not answered are
// NEEDS-ACTION; for CANCEL the event is STATUS:CANCELLED; for REPLY only
// the attendee who answers (replyFrom) is listed, with their PARTSTAT.
// COUNTER is a REPLY whose DTSTART and DTEND are the attendee's
// ProposedStart and ProposedEnd; the meeting's own times go in Outlook's
// X-MS-OLK-ORIGINALSTART/END. An event with a RecurrenceID speaks of that
// one occurrence (RECURRENCE-ID; the caller leaves out the RRULE).
func WriteITIP(w io.Writer, method string, e *Event, replyFrom string) error {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//Airlock//Airlock//EN")
	cal.Props.SetText(ical.PropMethod, method)
	now := time.Now().UTC()
	loc := time.UTC
	if !e.AllDay && e.TimeZone != "" && e.TimeZone != "UTC" {
		l, err := ResolveTimeZone(e.TimeZone)
		if err != nil {
			return fmt.Errorf("event %q: %v", e.UID, err)
		}
		loc = l
		cal.Children = append(cal.Children, vtimezone(loc, e.Start.In(loc).Year()))
	}
	ev := *e
	switch method {
	case MethodReply, MethodCounter:
		ev.Attendees = nil
		for _, a := range e.Attendees {
			if strings.EqualFold(a.Email, replyFrom) {
				ev.Attendees = []Attendee{a}
			}
		}
		if len(ev.Attendees) == 0 {
			ev.Attendees = []Attendee{{Email: replyFrom, Type: AttendeeRequired}}
		}
		if method == MethodCounter {
			a := ev.Attendees[0]
			if a.ProposedStart.IsZero() || a.ProposedEnd.Before(a.ProposedStart) {
				return fmt.Errorf("event %q: COUNTER without a proposed time", e.UID)
			}
			ev.Start, ev.End = a.ProposedStart, a.ProposedEnd
		}
		ev.Attendees[0].ProposedStart, ev.Attendees[0].ProposedEnd = time.Time{}, time.Time{}
	case MethodCancel:
		ev.MeetingStatus = MeetingCanceledOrganizer
	case MethodRequest:
	default:
		return fmt.Errorf("iTIP method %q", method)
	}
	c := eventComponent(&ev, loc, now)
	if !e.RecurrenceID.IsZero() {
		setTime(c.Props, ical.PropRecurrenceID, e.RecurrenceID, e.AllDay, loc)
	}
	if method == MethodCounter {
		setTime(c.Props, propOriginalStart, e.Start, e.AllDay, loc)
		setTime(c.Props, propOriginalEnd, e.End, e.AllDay, loc)
	}
	setSequence(c.Props, ev.Sequence)
	c.Props.SetDateTime(ical.PropDateTimeStamp, now)
	atts := c.Props.Values(ical.PropAttendee)
	c.Props.Del(ical.PropAttendee)
	for _, p := range atts {
		q := p
		if method == MethodRequest {
			q.Params.Set("RSVP", "TRUE")
			if q.Params.Get(ical.ParamParticipationStatus) == "" {
				q.Params.Set(ical.ParamParticipationStatus, "NEEDS-ACTION")
			}
		}
		c.Props.Add(&q)
	}
	cal.Children = append(cal.Children, c)
	if method != MethodReply && method != MethodCounter {
		for _, x := range e.Exceptions {
			if x.Deleted {
				continue
			}
			xc := exceptionComponent(e, x, loc, now)
			setSequence(xc.Props, ev.Sequence)
			if org := c.Props.Get(ical.PropOrganizer); org != nil {
				xc.Props.Set(org)
			}
			cal.Children = append(cal.Children, xc)
		}
	}
	return ical.NewEncoder(w).Encode(cal)
}

// setSequence writes SEQUENCE as the INTEGER it is (SetText would add
// VALUE=TEXT).
func setSequence(props ical.Props, n int) {
	p := ical.NewProp(ical.PropSequence)
	p.Value = fmt.Sprint(n)
	props.Set(p)
}

var methodRe = regexp.MustCompile(`(?mi)^METHOD:\s*([A-Za-z-]+)\s*$`)

// ErrNoEvent is returned by ParseITIP for a calendar without an event.
var ErrNoEvent = errors.New("pim: no event in the calendar")

// ParseITIP reads a meeting message's calendar: its METHOD (upper case,
// "" when absent) and its event (overrides folded in, as ParseICS does).
// A message about one occurrence (a VEVENT with RECURRENCE-ID and no
// series) gives that occurrence with RecurrenceID set. For a COUNTER the
// event keeps the meeting's own times when the message has them (Outlook's
// X-MS-OLK-ORIGINALSTART/END) and its attendees carry the proposal as
// ProposedStart and ProposedEnd.
func ParseITIP(data []byte) (method string, e *Event, err error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	unfolded := regexp.MustCompile(`\r?\n[ \t]`).ReplaceAll(data, nil)
	if m := methodRe.FindSubmatch(unfolded); m != nil {
		method = strings.ToUpper(string(m[1]))
	}
	events, _, errs := ParseICS(bytes.NewReader(data))
	var first *parsedEvent
	var recID time.Time
	if len(events) == 0 || method == MethodCounter {
		first, recID = firstEvent(data) // a lone occurrence, or the COUNTER's extras
	}
	var ev Event
	switch {
	case len(events) > 0:
		ev = events[0]
	case first != nil && !recID.IsZero():
		ev = first.Event
		ev.RecurrenceID = recID
	case len(errs) > 0:
		return method, nil, errs[0]
	default:
		return method, nil, ErrNoEvent
	}
	if m := sequenceRe.FindSubmatch(unfolded); m != nil {
		fmt.Sscan(string(m[1]), &ev.Sequence)
	}
	if method == MethodCounter {
		for i := range ev.Attendees {
			ev.Attendees[i].ProposedStart, ev.Attendees[i].ProposedEnd = ev.Start, ev.End
		}
		if first != nil && !first.originalStart.IsZero() && !first.originalEnd.Before(first.originalStart) {
			ev.Start, ev.End = first.originalStart, first.originalEnd
		}
	}
	return method, &ev, nil
}

// parsedEvent is one VEVENT read on its own, with the COUNTER extras.
type parsedEvent struct {
	Event
	originalStart, originalEnd time.Time
}

// firstEvent reads the first VEVENT of a calendar by itself (not folded
// into a series), with its RECURRENCE-ID; nil when there is none readable.
func firstEvent(data []byte) (*parsedEvent, time.Time) {
	blocks, err := splitBlocks(string(data), ical.CompCalendar, map[string]bool{ical.CompEvent: true})
	if err != nil {
		return nil, time.Time{}
	}
	for _, b := range blocks {
		if b.index == 0 || b.err != nil {
			continue
		}
		comp, err := decodeBlock(b.text)
		if err != nil {
			return nil, time.Time{}
		}
		ev, recID, err := eventFromComponent(comp, b.text)
		if err != nil {
			return nil, time.Time{}
		}
		pe := &parsedEvent{Event: ev}
		if p := comp.Props.Get(propOriginalStart); p != nil {
			pe.originalStart, _, _, _ = parseTime(p)
		}
		if p := comp.Props.Get(propOriginalEnd); p != nil {
			pe.originalEnd, _, _, _ = parseTime(p)
		}
		return pe, recID
	}
	return nil, time.Time{}
}

var sequenceRe = regexp.MustCompile(`(?mi)^SEQUENCE(?:;[^:\r\n]*)?:\s*(\d+)\s*$`)

// SignificantChange reports whether an organizer's change of a meeting is
// one the attendees must hear about (a new SEQUENCE, RFC 5546 2.1.4): its
// times, pattern, exceptions, place, subject, description or attendees.
// A new reminder or category is the organizer's own business.
func SignificantChange(a, b *Event) bool {
	if a == nil || b == nil {
		return a != b
	}
	if !a.Start.Equal(b.Start) || !a.End.Equal(b.End) || a.AllDay != b.AllDay || a.RRule != b.RRule ||
		a.Summary != b.Summary || a.Location != b.Location || a.Description != b.Description ||
		a.TimeZone != b.TimeZone || len(a.Exceptions) != len(b.Exceptions) || len(a.ExDates) != len(b.ExDates) ||
		len(a.Attendees) != len(b.Attendees) || a.MeetingStatus != b.MeetingStatus {
		return true
	}
	for i := range a.Exceptions {
		x, y := a.Exceptions[i], b.Exceptions[i]
		if !x.RecurrenceID.Equal(y.RecurrenceID) || x.Deleted != y.Deleted || !x.Start.Equal(y.Start) || !x.End.Equal(y.End) ||
			x.Summary != y.Summary || x.Location != y.Location {
			return true
		}
	}
	seen := map[string]bool{}
	for _, at := range a.Attendees {
		seen[strings.ToLower(at.Email)] = true
	}
	for _, at := range b.Attendees {
		if !seen[strings.ToLower(at.Email)] {
			return true
		}
	}
	return false
}
