package activesync

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
)

// calendarCodec is the Calendar class of Sync (MS-ASCAL 2.2.2), 12.0 to
// 16.1, on top of pim.Event.
//
// Times: StartTime and EndTime are instants (UTC on the wire); Timezone is
// the event's zone as an EAS TimeZone blob (timezone.go), resolved to an
// IANA zone for recurrence expansion. The blob a device sent is kept and
// sent back while the zone is unchanged, so every device reads it as it was
// written. An all-day event is stored as dates (midnight UTC, see pim) and
// sent as midnight in its zone.
//
// Recurrence (MS-ASCAL 2.2.2.37) is stored as an RRULE (recurrence.go);
// exceptions are pim.Exceptions. Up to 14.1 a device sends the whole list
// of Exceptions with every change; from 16.0 it sends none and instead
// changes or deletes one occurrence with airsyncbase:InstanceId beside the
// ServerId (MS-ASCAL 2.2.2.22, MS-ASAIRS 2.2.2.25), and every element it
// leaves out of a Change keeps its value ("ghosted", MS-ASCAL 3.1.5.3).
//
// From 16.0 an event carries files (AirSyncBase:Attachments), kept as the
// item's attachments (calendar_attachments.go).
//
// Bad input fails the item only (Sync Status 6): an invalid Timezone blob,
// a Recurrence that cannot be stored (Until before the start...), an
// InstanceId that is not an occurrence of the series.
type calendarCodec struct{}

// calTime is MS-ASDTYPE 2.7.2 Compact DateTime, which MS-ASCAL uses for
// StartTime, EndTime, DtStamp, Until, ExceptionStartTime and InstanceId.
const calTime = "20060102T150405Z"

// maxEventRecipients bounds the attendees of one event.
const maxEventRecipients = 500

// eventZone is the location an event's times are shown in.
func eventZone(e *pim.Event) *time.Location {
	if e.TimeZone != "" {
		if loc, err := pim.ResolveTimeZone(e.TimeZone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// timeZoneBlob is the Timezone value for an event: the device's own blob
// while it still stands for the event's zone, else one built from the
// zone's rules (the current year's for a series, the event's own year for
// a single event).
func timeZoneBlob(e *pim.Event, loc *time.Location) string {
	year := time.Now().Year()
	if e.RRule == "" {
		year = e.Start.In(loc).Year()
	}
	if e.EASTimeZone != "" {
		if tz, err := DecodeTimeZone(e.EASTimeZone); err == nil && tz.Resolve(year).Name == pim.CanonicalZone(e.TimeZone) {
			return e.EASTimeZone
		}
	}
	return TimeZoneFor(loc, year).Encode()
}

// wireTimes returns the start and end as sent: all-day dates become
// midnight in the event's zone.
func wireTimes(start, end time.Time, allDay bool, loc *time.Location) (time.Time, time.Time) {
	if !allDay {
		return start, end
	}
	at := func(t time.Time) time.Time {
		u := t.UTC()
		return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, loc)
	}
	return at(start), at(end)
}

// dateOfLocal is the inverse: the local date of t in loc as midnight UTC.
func dateOfLocal(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	// A device in another zone than the event's may send 23:00 for
	// midnight; round to the nearest day.
	if l.Hour() >= 12 {
		l = l.AddDate(0, 0, 1)
	}
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
}

func compact(t time.Time) string { return t.UTC().Format(calTime) }

func (calendarCodec) write(app *etree.Element, it *store.Item, _ []byte, _ bool, o renderOpts) {
	var e pim.Event
	if err := e.FromItem(it); err != nil {
		e = pim.Event{Summary: it.Subject, UID: it.UID}
		if it.StartTime != nil {
			e.Start = *it.StartTime
		}
		e.End = e.Start
	}
	writeEvent(app, &e, it, o)
}

// writeEvent renders an event's MS-ASCAL elements, in the order Exchange
// writes them.
func writeEvent(app *etree.Element, e *pim.Event, it *store.Item, o renderOpts) {
	v := o.Version
	loc := eventZone(e)
	start, end := wireTimes(e.Start, e.End, e.AllDay, loc)
	add(app, "Calendar:Timezone", timeZoneBlob(e, loc))
	add(app, "Calendar:AllDayEvent", boolText(e.AllDay))
	pimBody(app, e.Description, o)
	add(app, "Calendar:BusyStatus", itoa(e.BusyStatus))
	if e.Organizer.Email != "" {
		add(app, "Calendar:OrganizerName", firstNonEmpty(e.Organizer.Name, e.Organizer.Email))
		add(app, "Calendar:OrganizerEmail", e.Organizer.Email)
	}
	stamp := e.DtStamp
	if stamp.IsZero() && it != nil {
		stamp = it.UpdatedAt
	}
	if stamp.IsZero() {
		stamp = time.Now()
	}
	add(app, "Calendar:DtStamp", compact(stamp))
	add(app, "Calendar:EndTime", compact(end))
	writeLocation(app, e.Location, v)
	if e.Reminder != nil {
		add(app, "Calendar:Reminder", itoa(*e.Reminder))
	}
	add(app, "Calendar:Sensitivity", itoa(e.Sensitivity))
	add(app, "Calendar:Subject", e.Summary)
	add(app, "Calendar:StartTime", compact(start))
	add(app, "Calendar:UID", e.UID)
	add(app, "Calendar:MeetingStatus", itoa(e.MeetingStatus))
	writeAttendees(app, e.Attendees, v)
	cats := app.CreateElement("Calendar:Categories")
	for _, c := range e.Categories {
		add(cats, "Calendar:Category", c)
	}
	if e.RRule != "" {
		r, err := RecurrenceFromRRule(e.RRule, e.Start, e.Zone())
		if err == nil {
			r.CalendarType, r.IsLeapMonth = e.RecurCalendarType, e.RecurIsLeapMonth
			r.write(app, "Calendar", v)
			writeExceptions(app, e, loc, o)
		}
		// A rule EAS cannot express (imported FREQ=HOURLY...) goes as its
		// first occurrence only; the device cannot show the rest.
	}
	if v >= V140 {
		if e.MeetingStatus != pim.MeetingNone {
			add(app, "Calendar:ResponseRequested", boolText(e.ResponseRequested))
		}
		if !e.AppointmentReplyTime.IsZero() {
			add(app, "Calendar:AppointmentReplyTime", compact(e.AppointmentReplyTime))
		}
		if e.ResponseType != 0 {
			add(app, "Calendar:ResponseType", itoa(e.ResponseType))
		}
		if e.DisallowNewTimeProposal {
			add(app, "Calendar:DisallowNewTimeProposal", "1")
		}
	}
	if v >= V141 {
		addIf(app, "Calendar:OnlineMeetingConfLink", e.OnlineMeetingConfLink)
		addIf(app, "Calendar:OnlineMeetingExternalLink", e.OnlineMeetingLink)
	}
	if v >= V160 && it != nil && len(it.Attachments) > 0 {
		writeAttachments(app, it.Attachments) // MS-ASCAL 2.2.2.7 (16.0+)
	}
}

// keepAttachments carries the event's files (calendar_attachments.go) to
// its replacement, so that a later attachment edit in the same request
// starts from them.
func keepAttachments(it, cur *store.Item) {
	it.Attachments, it.HasAttachments = cur.Attachments, cur.HasAttachments
}

// writeLocation is Calendar:Location up to 14.1, airsyncbase:Location
// (with DisplayName) from 16.0.
func writeLocation(parent *etree.Element, loc string, v Version) {
	if loc == "" {
		return
	}
	if v >= V160 {
		add(parent.CreateElement("AirSyncBase:Location"), "AirSyncBase:DisplayName", loc)
		return
	}
	add(parent, "Calendar:Location", loc)
}

func writeAttendees(parent *etree.Element, as []pim.Attendee, v Version) {
	if len(as) == 0 {
		return
	}
	el := parent.CreateElement("Calendar:Attendees")
	for _, a := range as {
		at := el.CreateElement("Calendar:Attendee")
		add(at, "Calendar:Email", a.Email)
		add(at, "Calendar:Name", firstNonEmpty(a.Name, a.Email))
		if a.Status != 0 {
			add(at, "Calendar:AttendeeStatus", itoa(a.Status))
		}
		add(at, "Calendar:AttendeeType", itoa(max(a.Type, pim.AttendeeRequired)))
		if v >= V161 && !a.ProposedStart.IsZero() {
			// A new time this attendee proposed (MS-ASCMD 2.2.3.141,
			// MeetingResponse namespace).
			add(at, "MeetingResponse:ProposedStartTime", compact(a.ProposedStart))
			add(at, "MeetingResponse:ProposedEndTime", compact(a.ProposedEnd))
		}
	}
}

// writeExceptions is MS-ASCAL 2.2.2.22 Exceptions: changed and deleted
// occurrences (EXDATEs of imported events as deleted ones). An exception
// is named by ExceptionStartTime up to 14.1 and by airsyncbase:InstanceId
// from 16.0.
func writeExceptions(app *etree.Element, e *pim.Event, loc *time.Location, o renderOpts) {
	all := append([]pim.Exception(nil), e.Exceptions...)
	for _, d := range e.ExDates {
		all = append(all, pim.Exception{RecurrenceID: d, Deleted: true})
	}
	if len(all) == 0 {
		return
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].RecurrenceID.Before(all[j].RecurrenceID) })
	v := o.Version
	exs := app.CreateElement("Calendar:Exceptions")
	dur := e.End.Sub(e.Start)
	for _, x := range all {
		ex := exs.CreateElement("Calendar:Exception")
		if x.Deleted {
			add(ex, "Calendar:Deleted", "1")
		}
		id := x.RecurrenceID
		if e.AllDay {
			id, _ = wireTimes(id, id, true, loc)
		}
		if v >= V160 {
			add(ex, "AirSyncBase:InstanceId", compact(id))
		} else {
			add(ex, "Calendar:ExceptionStartTime", compact(id))
		}
		if x.Deleted {
			continue
		}
		addIf(ex, "Calendar:Subject", x.Summary)
		start, end := x.Start, x.End
		if start.IsZero() {
			start = x.RecurrenceID
		}
		if end.IsZero() {
			end = start.Add(dur)
		}
		allDay := e.AllDay
		if x.AllDay != nil {
			allDay = *x.AllDay
		}
		ws, we := wireTimes(start, end, allDay, loc)
		add(ex, "Calendar:StartTime", compact(ws))
		add(ex, "Calendar:EndTime", compact(we))
		if x.Description != "" {
			pimBody(ex, x.Description, o)
		}
		writeLocation(ex, x.Location, v)
		if len(x.Categories) > 0 {
			cats := ex.CreateElement("Calendar:Categories")
			for _, c := range x.Categories {
				add(cats, "Calendar:Category", c)
			}
		}
		if x.Sensitivity != nil {
			add(ex, "Calendar:Sensitivity", itoa(*x.Sensitivity))
		}
		if x.BusyStatus != nil {
			add(ex, "Calendar:BusyStatus", itoa(*x.BusyStatus))
		}
		if x.AllDay != nil {
			add(ex, "Calendar:AllDayEvent", boolText(*x.AllDay))
		}
		if x.Reminder != nil {
			add(ex, "Calendar:Reminder", itoa(*x.Reminder))
		}
		if !x.DtStamp.IsZero() {
			add(ex, "Calendar:DtStamp", compact(x.DtStamp))
		}
		if x.MeetingStatus != nil {
			add(ex, "Calendar:MeetingStatus", itoa(*x.MeetingStatus))
		}
		writeAttendees(ex, x.Attendees, v)
		if v >= V140 {
			if !x.AppointmentReplyTime.IsZero() {
				add(ex, "Calendar:AppointmentReplyTime", compact(x.AppointmentReplyTime))
			}
			if x.ResponseType != nil {
				add(ex, "Calendar:ResponseType", itoa(*x.ResponseType))
			}
		}
	}
}

// has reports whether a direct child is present (for ghosted elements).
func has(el *etree.Element, name string) bool { return child(el, name) != nil }

// optInt reads an integer child; absent gives (0, false); malformed is
// an error.
func optInt(el *etree.Element, name string, lo, hi int) (int, bool, error) {
	s := text(el, name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, false, fmt.Errorf("%w: %s %q", errConversion, name, s)
	}
	return n, true, nil
}

// calTimeOf reads a compact (or full) EAS date-time child.
func calTimeOf(el *etree.Element, name string) (time.Time, bool, error) {
	s := text(el, name)
	if s == "" {
		return time.Time{}, false, nil
	}
	t, ok := parseEASTime(s)
	if !ok {
		return time.Time{}, false, fmt.Errorf("%w: %s %q", errConversion, name, s)
	}
	return t, true, nil
}

func readAttendees(el *etree.Element) ([]pim.Attendee, error) {
	var out []pim.Attendee
	for i, a := range children(el, "Calendar:Attendee") {
		if i >= maxEventRecipients {
			return nil, fmt.Errorf("%w: more than %d attendees", errConversion, maxEventRecipients)
		}
		at := pim.Attendee{Email: strings.TrimSpace(text(a, "Calendar:Email")), Name: text(a, "Calendar:Name"), Type: pim.AttendeeRequired}
		if at.Email == "" {
			continue
		}
		var err error
		if n, ok, e := optInt(a, "Calendar:AttendeeType", 1, 3); e != nil {
			return nil, e
		} else if ok {
			at.Type = n
		}
		if at.Status, _, err = optInt(a, "Calendar:AttendeeStatus", 0, 5); err != nil {
			return nil, err
		}
		out = append(out, at)
	}
	return out, nil
}

// readCategories reads a Categories container of page.
func readCategories(el *etree.Element, page string) []string {
	return catList(child(el, page+":Categories"), page)
}

// readLocation reads Calendar:Location or, from 16.0, the DisplayName of
// airsyncbase:Location.
func readLocation(el *etree.Element) (string, bool) {
	if l := child(el, "AirSyncBase:Location"); l != nil {
		return text(l, "AirSyncBase:DisplayName"), true
	}
	if has(el, "Calendar:Location") {
		return text(el, "Calendar:Location"), true
	}
	return "", false
}

// parseEvent reads a device's event. cur is the stored event for a Change
// (nil for an Add): from 16.0 what the device leaves out keeps its value;
// before, the Change replaces the event except for what devices are known
// to omit when unchanged (Body, Timezone, UID, the organizer and the
// attendees of a meeting the user was invited to).
func parseEvent(app *etree.Element, cur *pim.Event, o renderOpts) (*pim.Event, error) {
	v := o.Version
	var e pim.Event
	ghost := cur != nil && v >= V160
	switch {
	case ghost:
		e = *cur
	case cur != nil:
		e = pim.Event{UID: cur.UID, Description: cur.Description, TimeZone: cur.TimeZone, EASTimeZone: cur.EASTimeZone,
			Sequence: cur.Sequence, ClientUID: cur.ClientUID}
		if cur.MeetingStatus == pim.MeetingReceived || cur.MeetingStatus == pim.MeetingCanceledReceived {
			e.Organizer, e.Attendees = cur.Organizer, cur.Attendees
		}
	}
	// Timezone.
	if s := text(app, "Calendar:Timezone"); s != "" {
		tz, err := DecodeTimeZone(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errConversion, err)
		}
		year := time.Now().Year()
		if st, ok, _ := calTimeOf(app, "Calendar:StartTime"); ok {
			year = st.Year()
		}
		m := tz.Resolve(year)
		e.TimeZone, e.EASTimeZone = m.Name, tz.Encode()
	}
	loc := eventZone(&e)
	if has(app, "Calendar:AllDayEvent") {
		e.AllDay = text(app, "Calendar:AllDayEvent") == "1"
	}
	start, okS, err := calTimeOf(app, "Calendar:StartTime")
	if err != nil {
		return nil, err
	}
	end, okE, err := calTimeOf(app, "Calendar:EndTime")
	if err != nil {
		return nil, err
	}
	timesChanged := false
	switch {
	case okS && okE:
		timesChanged = true
		if e.AllDay {
			start, end = dateOfLocal(start, loc), dateOfLocal(end, loc)
			if !end.After(start) {
				end = start.AddDate(0, 0, 1)
			}
		}
		if cur != nil && start.Equal(cur.Start) && end.Equal(cur.End) {
			timesChanged = false
		}
		e.Start, e.End = start, end
	case ghost && !okS && !okE:
	default:
		// MS-ASCAL: an event has a start and an end.
		return nil, fmt.Errorf("%w: StartTime and EndTime are required", errConversion)
	}
	if has(app, "Calendar:Subject") || !ghost {
		e.Summary = text(app, "Calendar:Subject")
	}
	if l, ok := readLocation(app); ok || !ghost {
		e.Location = l
	}
	if has(app, "AirSyncBase:Body") {
		e.Description = readBody(app)
	}
	if n, ok, err := optInt(app, "Calendar:Sensitivity", 0, 3); err != nil {
		return nil, err
	} else if ok || !ghost {
		e.Sensitivity = n
	}
	if n, ok, err := optInt(app, "Calendar:BusyStatus", 0, 4); err != nil {
		return nil, err
	} else if ok {
		e.BusyStatus = n
	} else if !ghost {
		e.BusyStatus = pim.BusyBusy // MS-ASCAL 2.2.2.9: absent is busy
	}
	if n, ok, err := optInt(app, "Calendar:Reminder", 0, 1<<30); err != nil {
		return nil, err
	} else if ok {
		e.Reminder = &n
	} else if !ghost {
		e.Reminder = nil
	}
	if has(app, "Calendar:Categories") || !ghost {
		e.Categories = readCategories(app, "Calendar")
	}
	if n, ok, err := optInt(app, "Calendar:MeetingStatus", 0, 15); err != nil {
		return nil, err
	} else if ok {
		e.MeetingStatus = n
	}
	if has(app, "Calendar:OrganizerEmail") {
		e.Organizer = pim.Person{Name: text(app, "Calendar:OrganizerName"), Email: text(app, "Calendar:OrganizerEmail")}
	}
	if has(app, "Calendar:Attendees") {
		if e.Attendees, err = readAttendees(child(app, "Calendar:Attendees")); err != nil {
			return nil, err
		}
	} else if !ghost && !(cur != nil && (cur.MeetingStatus == pim.MeetingReceived || cur.MeetingStatus == pim.MeetingCanceledReceived)) {
		e.Attendees = nil
	}
	if has(app, "Calendar:ResponseRequested") {
		e.ResponseRequested = text(app, "Calendar:ResponseRequested") == "1"
	}
	if n, ok, err := optInt(app, "Calendar:ResponseType", 0, 5); err != nil {
		return nil, err
	} else if ok {
		e.ResponseType = n
	}
	if t, ok, err := calTimeOf(app, "Calendar:AppointmentReplyTime"); err != nil {
		return nil, err
	} else if ok {
		e.AppointmentReplyTime = t
	}
	if has(app, "Calendar:DisallowNewTimeProposal") {
		e.DisallowNewTimeProposal = text(app, "Calendar:DisallowNewTimeProposal") == "1"
	}
	if has(app, "Calendar:OnlineMeetingConfLink") {
		e.OnlineMeetingConfLink = text(app, "Calendar:OnlineMeetingConfLink")
	}
	if has(app, "Calendar:OnlineMeetingExternalLink") {
		e.OnlineMeetingLink = text(app, "Calendar:OnlineMeetingExternalLink")
	}
	if u := text(app, "Calendar:UID"); u != "" && cur == nil {
		e.UID = u
	}
	if cu := text(app, "Calendar:ClientUid"); cu != "" {
		e.ClientUID = cu
		if cur == nil && e.UID == "" {
			e.UID = clientUIDKey(cu) // finds a repeated Add (calendar_clientuid.go)
		}
	}
	if t, ok, err := calTimeOf(app, "Calendar:DtStamp"); err != nil {
		return nil, err
	} else if ok {
		e.DtStamp = t
	} else {
		e.DtStamp = time.Now().UTC()
	}
	// Recurrence.
	oldRule := e.RRule
	if rel := child(app, "Calendar:Recurrence"); rel != nil {
		r, err := parseRecurrence(rel, "Calendar")
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errConversion, err)
		}
		if e.RRule, err = r.RRule(e.Start, e.Zone()); err != nil {
			return nil, fmt.Errorf("%w: %v", errConversion, err)
		}
		e.RecurCalendarType, e.RecurIsLeapMonth = r.CalendarType, r.IsLeapMonth
	} else if !ghost {
		e.RRule, e.RecurCalendarType, e.RecurIsLeapMonth = "", 0, false
	}
	// Exceptions: the whole list up to 14.1; from 16.0 they change through
	// InstanceId, and a new pattern or new times drop them (MS-ASCAL
	// 2.2.2.22).
	if v < V160 {
		e.Exceptions, e.ExDates = nil, nil
		if exs := child(app, "Calendar:Exceptions"); exs != nil && e.RRule != "" {
			for _, x := range children(exs, "Calendar:Exception") {
				ex, err := parseException(x, &e, loc, o)
				if err != nil {
					return nil, err
				}
				e.Exceptions = append(e.Exceptions, ex)
			}
		}
	} else if cur != nil && (e.RRule != oldRule || timesChanged) {
		e.Exceptions, e.ExDates = nil, nil
	}
	if e.RRule == "" {
		e.Exceptions, e.ExDates = nil, nil
	}
	if o.User != nil {
		if len(e.Attendees) > 0 && e.Organizer.Email == "" {
			// A device creating a meeting need not name its owner as the
			// organizer.
			e.Organizer = pim.Person{Name: o.User.DisplayName, Email: o.User.Email}
		}
		e.SetOwner(o.User.Email)
	}
	if e.MeetingStatus == pim.MeetingOrganizer && e.ResponseType == 0 {
		e.ResponseType = pim.ResponseOrganizer
	}
	scheduling.KeepProposals(cur, &e) // a moved meeting answers them
	return &e, nil
}

// parseException reads one Exception (up to 14.1) of series e.
func parseException(x *etree.Element, e *pim.Event, loc *time.Location, o renderOpts) (pim.Exception, error) {
	var ex pim.Exception
	id, ok, err := calTimeOf(x, "Calendar:ExceptionStartTime")
	if err != nil {
		return ex, err
	}
	if !ok {
		if id, ok, err = calTimeOf(x, "AirSyncBase:InstanceId"); err != nil || !ok {
			return ex, fmt.Errorf("%w: an Exception without ExceptionStartTime", errConversion)
		}
	}
	if e.AllDay {
		id = dateOfLocal(id, loc)
	}
	ex.RecurrenceID = id
	if text(x, "Calendar:Deleted") == "1" {
		ex.Deleted = true
		return ex, nil
	}
	return ex, applyExceptionFields(x, &ex, e, loc)
}

// applyExceptionFields copies the fields an Exception (or a 16.x Change
// with InstanceId) carries onto ex; what it leaves out stays as it was.
func applyExceptionFields(x *etree.Element, ex *pim.Exception, e *pim.Event, loc *time.Location) error {
	if has(x, "Calendar:Subject") {
		ex.Summary = text(x, "Calendar:Subject")
	}
	allDay := e.AllDay
	if has(x, "Calendar:AllDayEvent") {
		b := text(x, "Calendar:AllDayEvent") == "1"
		ex.AllDay, allDay = &b, b
	}
	s, okS, err := calTimeOf(x, "Calendar:StartTime")
	if err != nil {
		return err
	}
	en, okE, err := calTimeOf(x, "Calendar:EndTime")
	if err != nil {
		return err
	}
	if okS {
		if allDay {
			s = dateOfLocal(s, loc)
		}
		ex.Start = s
	}
	if okE {
		if allDay {
			en = dateOfLocal(en, loc)
		}
		ex.End = en
	}
	if !ex.Start.IsZero() && !ex.End.IsZero() && ex.End.Before(ex.Start) {
		return fmt.Errorf("%w: an exception ends before it starts", errConversion)
	}
	if l, ok := readLocation(x); ok {
		ex.Location = l
	}
	if has(x, "AirSyncBase:Body") {
		ex.Description = readBody(x)
	}
	if has(x, "Calendar:Categories") {
		ex.Categories = readCategories(x, "Calendar")
	}
	for _, f := range []struct {
		name   string
		dst    **int
		lo, hi int
	}{
		{"Calendar:Sensitivity", &ex.Sensitivity, 0, 3}, {"Calendar:BusyStatus", &ex.BusyStatus, 0, 4},
		{"Calendar:Reminder", &ex.Reminder, 0, 1 << 30}, {"Calendar:MeetingStatus", &ex.MeetingStatus, 0, 15},
		{"Calendar:ResponseType", &ex.ResponseType, 0, 5},
	} {
		n, ok, err := optInt(x, f.name, f.lo, f.hi)
		if err != nil {
			return err
		}
		if ok {
			*f.dst = &n
		}
	}
	if t, ok, err := calTimeOf(x, "Calendar:DtStamp"); err != nil {
		return err
	} else if ok {
		ex.DtStamp = t
	}
	if t, ok, err := calTimeOf(x, "Calendar:AppointmentReplyTime"); err != nil {
		return err
	} else if ok {
		ex.AppointmentReplyTime = t
	}
	if has(x, "Calendar:Attendees") {
		as, err := readAttendees(child(x, "Calendar:Attendees"))
		if err != nil {
			return err
		}
		ex.Attendees = as
	}
	return nil
}

func (calendarCodec) parseAdd(app *etree.Element, o renderOpts) (*store.Item, []byte, error) {
	e, err := parseEvent(app, nil, o)
	if err != nil {
		return nil, nil, err
	}
	it, err := e.ToItem(0, 0)
	return it, nil, convErr(err)
}

func (calendarCodec) parseChange(app *etree.Element, cur *store.Item, o renderOpts) (store.FlagChange, *store.Item, error) {
	var old pim.Event
	if err := old.FromItem(cur); err != nil {
		return store.FlagChange{}, nil, fmt.Errorf("%w: %v", errConversion, err)
	}
	var e *pim.Event
	if iid := instanceIDOf(app.Parent()); iid != "" && o.Version >= V160 {
		// One occurrence changes (16.0+): the series gets an exception.
		x, err := occurrence(&old, iid)
		if err != nil {
			return store.FlagChange{}, nil, err
		}
		if err := applyExceptionFields(app, x, &old, eventZone(&old)); err != nil {
			return store.FlagChange{}, nil, err
		}
		e = &old
	} else {
		var err error
		if e, err = parseEvent(app, &old, o); err != nil {
			return store.FlagChange{}, nil, err
		}
	}
	e.UID = old.UID
	bumpSequence(cur, e)
	it, err := e.ToItem(cur.UserID, cur.FolderID)
	if err == nil {
		it.ID = cur.ID
		keepAttachments(it, cur)
	}
	return store.FlagChange{}, it, convErr(err)
}

// bumpSequence gives an organizer's meeting a new iTIP SEQUENCE when the
// change is one the attendees hear about (RFC 5546 2.1.4).
func bumpSequence(cur *store.Item, e *pim.Event) {
	var orig pim.Event
	if orig.FromItem(cur) != nil || !scheduling.IsOrganized(&orig) {
		return
	}
	if pim.SignificantChange(&orig, e) {
		e.Sequence = orig.Sequence + 1
	}
}

// instanceIDOf returns the airsyncbase:InstanceId of a Change or Delete.
func instanceIDOf(cmd *etree.Element) string {
	if cmd == nil {
		return ""
	}
	return text(cmd, "AirSyncBase:InstanceId")
}

// occurrence returns the exception of e for the occurrence originally at
// iid, adding one if there is none; iid must be an occurrence of the
// series.
func occurrence(e *pim.Event, iid string) (*pim.Exception, error) {
	t, ok := parseEASTime(iid)
	if !ok {
		return nil, fmt.Errorf("%w: InstanceId %q", errConversion, iid)
	}
	if e.RRule == "" {
		return nil, fmt.Errorf("%w: InstanceId on an event that does not recur", errConversion)
	}
	if e.AllDay {
		t = dateOfLocal(t, eventZone(e))
	}
	for i := range e.Exceptions {
		if e.Exceptions[i].RecurrenceID.Equal(t) {
			return &e.Exceptions[i], nil
		}
	}
	if !e.IsOccurrence(t) {
		return nil, fmt.Errorf("%w: InstanceId %s is not an occurrence", errConversion, iid)
	}
	e.Exceptions = append(e.Exceptions, pim.Exception{RecurrenceID: t.UTC()})
	sort.Slice(e.Exceptions, func(i, j int) bool { return e.Exceptions[i].RecurrenceID.Before(e.Exceptions[j].RecurrenceID) })
	for i := range e.Exceptions {
		if e.Exceptions[i].RecurrenceID.Equal(t) {
			return &e.Exceptions[i], nil
		}
	}
	return nil, fmt.Errorf("%w: InstanceId %s", errConversion, iid)
}

// deleteInstance is a 16.x Delete with InstanceId: the occurrence goes,
// the series stays (MS-ASAIRS 2.2.2.25). handled is false for a Delete
// without one.
func (calendarCodec) deleteInstance(cmd *etree.Element, cur *store.Item, o renderOpts) (*store.Item, bool, error) {
	iid := instanceIDOf(cmd)
	if iid == "" || o.Version < V160 {
		return nil, false, nil
	}
	var e pim.Event
	if err := e.FromItem(cur); err != nil {
		return nil, true, fmt.Errorf("%w: %v", errConversion, err)
	}
	x, err := occurrence(&e, iid)
	if err != nil {
		return nil, true, err
	}
	*x = pim.Exception{RecurrenceID: x.RecurrenceID, Deleted: true}
	bumpSequence(cur, &e)
	it, err := e.ToItem(cur.UserID, cur.FolderID)
	if err != nil {
		return nil, true, convErr(err)
	}
	it.ID = cur.ID
	keepAttachments(it, cur)
	return it, true, nil
}
