package web

// Appointments and meetings in the staff web's diary: the form (new, a
// whole series, or one occurrence of it), saving, deleting. A meeting the
// user organises is saved in their calendar and then handed to the
// scheduling package exactly as a phone's Sync does (Organized): attendees
// on this server get the request in their Inbox and the meeting in their
// calendar, remote ones an iMIP message through the relay.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/teambition/rrule-go"

	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
)

// eventForm is the appointment form's values, as typed (times in the
// user's zone) and its errors by field.
type eventForm struct {
	ID                      int64
	Occ                     int64 // an occurrence's original start (Unix), 0 for the whole series
	Summary, Location, Body string
	AllDay                  bool
	Start, End              string // datetime-local values, or dates when AllDay
	Reminder                string // minutes before, "" for none
	Categories              string
	Busy                    int
	Private                 bool
	Freq                    string // "", daily, weekly, monthly, yearly
	Interval                int
	Days                    []string // MO..SU, for weekly
	Ends                    string   // never, count, until
	Count                   int
	Until                   string // a date
	Attendees               string
	Errors                  map[string]string
}

func (f *eventForm) fail(field, msg string) {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = msg
	}
}

// Error is the error of one field, for the template.
func (f *eventForm) Error(field string) string { return f.Errors[field] }

// dayBox is one weekday checkbox.
type dayBox struct {
	Code, Label string
	Checked     bool
}

// WeekDays are the weekday boxes of the weekly pattern.
func (f *eventForm) WeekDays() []dayBox {
	var out []dayBox
	for i, code := range []string{"MO", "TU", "WE", "TH", "FR", "SA", "SU"} {
		out = append(out, dayBox{Code: code, Label: time.Weekday((i + 1) % 7).String(), Checked: slices.Contains(f.Days, code)})
	}
	return out
}

// Reminders are the reminder choices, in minutes.
var reminderChoices = []struct{ Value, Label string }{
	{"", "None"}, {"0", "At the start"}, {"5", "5 minutes before"}, {"15", "15 minutes before"}, {"30", "30 minutes before"},
	{"60", "1 hour before"}, {"120", "2 hours before"}, {"1440", "1 day before"}, {"10080", "1 week before"},
}

var busyChoices = []struct {
	Value int
	Label string
}{{pim.BusyBusy, "Busy"}, {pim.BusyTentative, "Tentative"}, {pim.BusyFree, "Free"}, {pim.BusyOutOfOffice, "Out of office"}, {pim.BusyWorkingElsewhere, "Working elsewhere"}}

type attendeeRow struct {
	Name, Email, Status, Proposed string
}

// eventPage is the event page's data.
type eventPage struct {
	Form       *eventForm
	Zone       string
	Event      *pim.Event // nil for a new one
	When       string
	Occurrence string // the occurrence being changed, in words
	// Editable: the user's own appointment or meeting. Received: a meeting
	// someone else organises, answered, not edited.
	Editable, Received, Cancelled bool
	Organizer                     string
	Answer                        string
	Attendees                     []attendeeRow
	Action                        string // where the answer forms post
	Schedule                      *scheduleGrid
	Reminders                     any
	BusyChoices                   any
	Recurring                     bool
}

// formTimeOf formats an instant for a datetime-local input in loc.
func formTimeOf(t time.Time, loc *time.Location) string { return t.In(loc).Format(formTime) }

// diaryNew shows an empty form: the next whole hour of the date asked
// for (or today), an hour long, with attendees from the directory card.
func (s *Server) diaryNew(c echo.Context) error {
	zone, loc := s.userZone(c.Request().Context(), ident(c).User.ID)
	now := s.d.Now().In(loc)
	start := time.Date(now.Year(), now.Month(), now.Day(), now.Hour()+1, 0, 0, 0, loc)
	if q := c.QueryParam("date"); q != "" {
		if d, err := time.ParseInLocation(time.DateOnly, q, loc); err == nil && !sameDate(d, now) {
			start = time.Date(d.Year(), d.Month(), d.Day(), 9, 0, 0, 0, loc)
		}
	}
	f := &eventForm{Start: start.Format(formTime), End: start.Add(time.Hour).Format(formTime), Reminder: "15", Busy: pim.BusyBusy,
		Interval: 1, Ends: "never", Attendees: strings.TrimSpace(c.QueryParam("attendee"))}
	return s.renderEvent(c, http.StatusOK, &eventPage{Form: f, Zone: zone, Editable: true})
}

func (s *Server) renderEvent(c echo.Context, code int, p *eventPage) error {
	p.Reminders, p.BusyChoices = reminderChoices, busyChoices
	title := "New appointment"
	if p.Event != nil {
		title = nonEmpty(p.Event.Summary, "(no title)")
	}
	return s.render(c, code, "diary_event.html", title, p)
}

// calendarItem loads the user's calendar item named by :id.
func (s *Server) calendarItem(c echo.Context) (*store.Item, *pim.Event, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such appointment.")
	}
	it, err := s.store.ItemByID(c.Request().Context(), ident(c).User.ID, id)
	if err != nil {
		return nil, nil, err
	}
	var e pim.Event
	if it.Class != store.ClassCalendar || e.FromItem(it) != nil {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such appointment.")
	}
	return it, &e, nil
}

// occurrenceParam reads ?occ= (or the form's occ): the original start of
// one occurrence of e, or zero.
func occurrenceParam(c echo.Context, e *pim.Event) (time.Time, error) {
	v := c.QueryParam("occ")
	if c.Request().Method == http.MethodPost {
		v = c.FormValue("occ")
	}
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	t := time.Unix(n, 0).UTC()
	if err != nil || e.RRule == "" || (!e.IsOccurrence(t) && exceptionOf(e, t) == nil) {
		return time.Time{}, echo.NewHTTPError(http.StatusNotFound, "No such occurrence.")
	}
	return t, nil
}

func exceptionOf(e *pim.Event, rid time.Time) *pim.Exception {
	for i := range e.Exceptions {
		if e.Exceptions[i].RecurrenceID.Equal(rid) {
			return &e.Exceptions[i]
		}
	}
	return nil
}

// editable: the user's own appointment or a meeting they organise.
func ownEvent(e *pim.Event) bool {
	return e.MeetingStatus == pim.MeetingNone || e.MeetingStatus == pim.MeetingOrganizer ||
		(e.MeetingStatus == pim.MeetingCanceledOrganizer && len(e.Attendees) == 0)
}

// diaryEvent shows an appointment: its form when the user may change it,
// its details and the answer forms when it is someone else's meeting.
func (s *Server) diaryEvent(c echo.Context) error {
	it, e, err := s.calendarItem(c)
	if err != nil {
		return err
	}
	occ, err := occurrenceParam(c, e)
	if err != nil {
		return err
	}
	zone, loc := s.userZone(c.Request().Context(), ident(c).User.ID)
	return s.renderEvent(c, http.StatusOK, s.eventPageOf(it, e, occ, zone, loc))
}

// eventPageOf fills the page for an event (or one occurrence).
func (s *Server) eventPageOf(it *store.Item, e *pim.Event, occ time.Time, zone string, loc *time.Location) *eventPage {
	f := formOf(e, loc)
	f.ID = it.ID
	start, end, summary, location, body, attendees := e.Start, e.End, e.Summary, e.Location, e.Description, e.Attendees
	x := (*pim.Exception)(nil)
	if !occ.IsZero() {
		f.Occ = occ.Unix()
		start, end = occ, occ.Add(e.End.Sub(e.Start))
		if x = exceptionOf(e, occ); x != nil {
			start, end = nonZeroTime(x.Start, start), nonZeroTime(x.End, end)
			summary, location, body = nonEmpty(x.Summary, summary), nonEmpty(x.Location, location), nonEmpty(x.Description, body)
			if len(x.Attendees) > 0 {
				attendees = x.Attendees
			}
		}
		f.Summary, f.Location, f.Body = summary, location, body
		f.Start, f.End = startEndFields(e.AllDay, start, end, loc)
	}
	p := &eventPage{Form: f, Zone: zone, Event: e, Editable: ownEvent(e), Recurring: e.RRule != "",
		Received:  e.MeetingStatus == pim.MeetingReceived || e.MeetingStatus == pim.MeetingCanceledReceived,
		Cancelled: e.MeetingStatus == pim.MeetingCanceledReceived || e.MeetingStatus == pim.MeetingCanceledOrganizer,
		Organizer: nonEmpty(e.Organizer.Name, e.Organizer.Email),
		Action:    "/diary/events/" + strconv.FormatInt(it.ID, 10) + "/respond"}
	p.When = describeWhen(e.AllDay, start, end, loc)
	if !occ.IsZero() {
		p.Occurrence = describeWhen(e.AllDay, occ, occ.Add(e.End.Sub(e.Start)), loc)
	}
	st, _ := answerSummary(e, x)
	p.Answer = st
	for _, a := range attendees {
		r := attendeeRow{Name: a.Name, Email: a.Email, Status: statusWord(a.Status)}
		if !a.ProposedStart.IsZero() {
			r.Proposed = describeWhen(false, a.ProposedStart, a.ProposedEnd, loc)
		}
		p.Attendees = append(p.Attendees, r)
	}
	return p
}

func nonZeroTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// describeWhen is "Tuesday 4 March 2025, 09:00–10:00".
func describeWhen(allDay bool, start, end time.Time, loc *time.Location) string {
	if allDay {
		s, e := localDate(start, loc), localDate(end, loc).AddDate(0, 0, -1)
		if !e.After(s) {
			return s.Format("Monday 2 January 2006") + ", all day"
		}
		return s.Format("Monday 2 January 2006") + " to " + e.Format("Monday 2 January 2006") + ", all day"
	}
	s, e := start.In(loc), end.In(loc)
	if sameDate(s, e) {
		return s.Format("Monday 2 January 2006, 15:04") + "–" + e.Format("15:04")
	}
	return s.Format("Monday 2 January 2006, 15:04") + " to " + e.Format("Monday 2 January 2006, 15:04")
}

// startEndFields are the form's start and end values: dates (the end
// date inclusive) for an all-day event, local times otherwise.
func startEndFields(allDay bool, start, end time.Time, loc *time.Location) (string, string) {
	if allDay {
		s, e := start.UTC(), end.UTC().AddDate(0, 0, -1)
		if e.Before(s) {
			e = s
		}
		return s.Format(time.DateOnly), e.Format(time.DateOnly)
	}
	return formTimeOf(start, loc), formTimeOf(end, loc)
}

// formOf fills the form from a whole event.
func formOf(e *pim.Event, loc *time.Location) *eventForm {
	f := &eventForm{Summary: e.Summary, Location: e.Location, Body: e.Description, AllDay: e.AllDay, Busy: e.BusyStatus,
		Private:    e.Sensitivity == pim.SensitivityPrivate || e.Sensitivity == pim.SensitivityConfidential,
		Categories: strings.Join(e.Categories, ", "), Interval: 1, Ends: "never"}
	f.Start, f.End = startEndFields(e.AllDay, e.Start, e.End, loc)
	if e.Reminder != nil {
		f.Reminder = strconv.Itoa(*e.Reminder)
	}
	var as []string
	for _, a := range e.Attendees {
		as = append(as, a.Email)
	}
	f.Attendees = strings.Join(as, ", ")
	if e.RRule != "" {
		if opt, err := rrule.StrToROption(e.RRule); err == nil {
			f.Freq = map[rrule.Frequency]string{rrule.DAILY: "daily", rrule.WEEKLY: "weekly", rrule.MONTHLY: "monthly", rrule.YEARLY: "yearly"}[opt.Freq]
			f.Interval = max(opt.Interval, 1)
			for _, d := range opt.Byweekday {
				f.Days = append(f.Days, d.String())
			}
			switch {
			case opt.Count > 0:
				f.Ends, f.Count = "count", opt.Count
			case !opt.Until.IsZero():
				f.Ends, f.Until = "until", opt.Until.In(e.Zone()).Format(time.DateOnly)
			}
		}
	}
	return f
}

// readForm reads the posted form.
func readForm(c echo.Context) *eventForm {
	f := &eventForm{
		Summary: strings.TrimSpace(c.FormValue("summary")), Location: strings.TrimSpace(c.FormValue("location")),
		Body: c.FormValue("body"), AllDay: c.FormValue("allday") == "1", Reminder: c.FormValue("reminder"),
		Categories: c.FormValue("categories"), Private: c.FormValue("private") == "1",
		Freq: c.FormValue("freq"), Ends: nonEmpty(c.FormValue("ends"), "never"), Until: c.FormValue("until"),
		Attendees: c.FormValue("attendees"),
	}
	f.ID, _ = strconv.ParseInt(c.FormValue("id"), 10, 64)
	f.Occ, _ = strconv.ParseInt(c.FormValue("occ"), 10, 64)
	f.Busy, _ = strconv.Atoi(nonEmpty(c.FormValue("busy"), "2"))
	f.Interval, _ = strconv.Atoi(nonEmpty(c.FormValue("interval"), "1"))
	f.Count, _ = strconv.Atoi(c.FormValue("count"))
	if f.AllDay {
		f.Start, f.End = c.FormValue("startdate"), c.FormValue("enddate")
	} else {
		f.Start, f.End = c.FormValue("start"), c.FormValue("end")
	}
	f.Days = c.Request().Form["days"]
	return f
}

// eventTimes reads the form's start and end: instants in loc, or for an
// all-day event the UTC midnights of the first day and of the day after
// the last, as devices store them.
func (f *eventForm) eventTimes(loc *time.Location) (start, end time.Time) {
	if f.AllDay {
		s, err1 := time.Parse(time.DateOnly, f.Start)
		e, err2 := time.Parse(time.DateOnly, nonEmpty(f.End, f.Start))
		if err1 != nil {
			f.fail("start", "Give the first day as a date.")
		}
		if err2 != nil {
			f.fail("end", "Give the last day as a date.")
		}
		if err1 == nil && err2 == nil && e.Before(s) {
			f.fail("end", "The last day cannot be before the first.")
		}
		return s, e.AddDate(0, 0, 1)
	}
	s, err1 := time.ParseInLocation(formTime, f.Start, loc)
	e, err2 := time.ParseInLocation(formTime, f.End, loc)
	if err1 != nil {
		f.fail("start", "Give the start as a date and time.")
	}
	if err2 != nil {
		f.fail("end", "Give the end as a date and time.")
	}
	if err1 == nil && err2 == nil && e.Before(s) {
		f.fail("end", "The end cannot be before the start.")
	}
	return s.UTC(), e.UTC()
}

// rule builds the RRULE of the recurrence fields, "" for none. Weekly
// without days repeats on the start's weekday; monthly and yearly on its
// date.
func (f *eventForm) rule(start time.Time, loc *time.Location) string {
	if f.Freq == "" {
		return ""
	}
	local := start.In(loc)
	parts := []string{}
	switch f.Freq {
	case "daily":
		parts = append(parts, "FREQ=DAILY")
	case "weekly":
		days := []string{}
		for _, d := range []string{"MO", "TU", "WE", "TH", "FR", "SA", "SU"} {
			if slices.Contains(f.Days, d) {
				days = append(days, d)
			}
		}
		if len(days) == 0 {
			days = []string{strings.ToUpper(local.Weekday().String()[:2])}
		}
		parts = append(parts, "FREQ=WEEKLY", "BYDAY="+strings.Join(days, ","))
	case "monthly":
		parts = append(parts, "FREQ=MONTHLY", fmt.Sprintf("BYMONTHDAY=%d", local.Day()))
	case "yearly":
		parts = append(parts, "FREQ=YEARLY", fmt.Sprintf("BYMONTH=%d", local.Month()), fmt.Sprintf("BYMONTHDAY=%d", local.Day()))
	default:
		f.fail("freq", "Choose how it repeats.")
		return ""
	}
	if f.Interval < 1 || f.Interval > 99 {
		f.fail("interval", "Repeat every 1 to 99 periods.")
	} else if f.Interval > 1 {
		parts = append(parts, fmt.Sprintf("INTERVAL=%d", f.Interval))
	}
	switch f.Ends {
	case "count":
		if f.Count < 1 || f.Count > 999 {
			f.fail("count", "Give a number of times from 1 to 999.")
		}
		parts = append(parts, fmt.Sprintf("COUNT=%d", f.Count))
	case "until":
		d, err := time.ParseInLocation(time.DateOnly, f.Until, loc)
		if err != nil || d.Before(time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)) {
			f.fail("until", "Give the last date, on or after the first.")
			break
		}
		end := time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, loc)
		parts = append(parts, "UNTIL="+end.UTC().Format("20060102T150405Z"))
	}
	return strings.Join(parts, ";")
}

// attendeeList reads the attendee addresses (commas, semicolons or lines
// between them), leaving out the user and repeats.
func (f *eventForm) attendeeList(self string) []string {
	var out []string
	for _, a := range strings.FieldsFunc(f.Attendees, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' }) {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		addr, err := mail.ParseAddress(a)
		if err != nil {
			f.fail("attendees", fmt.Sprintf("%q is not an email address.", a))
			continue
		}
		k := store.NormalizeEmail(addr.Address)
		if k != store.NormalizeEmail(self) && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	if len(out) > 100 {
		f.fail("attendees", "At most 100 attendees.")
	}
	return out
}

// apply checks the form and writes it onto e (a copy of the stored event,
// or a new one) as the user's own appointment or meeting.
func (s *Server) apply(ctx context.Context, f *eventForm, u *store.User, before, e *pim.Event, zone string, loc *time.Location) {
	if f.Summary == "" || len(f.Summary) > 255 {
		f.fail("summary", "Give a title of 1 to 255 characters.")
	}
	if len(f.Location) > 255 {
		f.fail("location", "At most 255 characters.")
	}
	if len(f.Body) > 32000 {
		f.fail("body", "At most 32,000 characters.")
	}
	start, end := f.eventTimes(loc)
	e.Summary, e.Location, e.Description = f.Summary, f.Location, f.Body
	e.Start, e.End, e.AllDay, e.TimeZone = start, end, f.AllDay, zone
	e.EASTimeZone = "" // the zone it stood for may have changed
	e.Reminder = nil
	if f.Reminder != "" {
		if m, err := strconv.Atoi(f.Reminder); err == nil && m >= 0 && m <= 40320 {
			e.Reminder = &m
		} else {
			f.fail("reminder", "Choose a reminder from the list.")
		}
	}
	if !slices.ContainsFunc(busyChoices, func(b struct {
		Value int
		Label string
	}) bool {
		return b.Value == f.Busy
	}) {
		f.Busy = pim.BusyBusy
	}
	e.BusyStatus = f.Busy
	e.Sensitivity = pim.SensitivityNormal
	if f.Private {
		e.Sensitivity = pim.SensitivityPrivate
	}
	e.Categories = nil
	for _, cat := range strings.Split(f.Categories, ",") {
		if cat = strings.TrimSpace(cat); cat != "" && !slices.Contains(e.Categories, cat) {
			e.Categories = append(e.Categories, cat)
		}
	}
	e.RRule = f.rule(start, loc)
	if e.RRule == "" {
		e.Exceptions, e.ExDates = nil, nil
	}
	addrs := f.attendeeList(u.Email)
	e.Attendees = nil
	for _, addr := range addrs {
		a := pim.Attendee{Email: addr, Type: pim.AttendeeRequired, Status: pim.StatusNotResponded}
		if before != nil { // a kept attendee keeps their answer
			if i := slices.IndexFunc(before.Attendees, func(x pim.Attendee) bool { return strings.EqualFold(x.Email, addr) }); i >= 0 {
				a = before.Attendees[i]
			}
		}
		if d, err := s.store.DirectoryEntry(ctx, addr); err == nil && a.Name == "" {
			a.Name = d.DisplayName
		}
		e.Attendees = append(e.Attendees, a)
	}
	if len(e.Attendees) > 0 {
		e.Organizer = pim.Person{Name: u.DisplayName, Email: u.Email}
		e.MeetingStatus, e.ResponseType, e.ResponseRequested = pim.MeetingOrganizer, pim.ResponseOrganizer, true
	} else {
		e.Organizer, e.MeetingStatus, e.ResponseType, e.ResponseRequested = pim.Person{}, pim.MeetingNone, pim.ResponseNone, false
	}
	e.DtStamp = s.d.Now().UTC()
}

// applyOccurrence writes the form onto one occurrence of e: its own times,
// title, place and notes, as an exception of the series.
func applyOccurrence(f *eventForm, e *pim.Event, rid time.Time, loc *time.Location) {
	if f.Summary == "" || len(f.Summary) > 255 {
		f.fail("summary", "Give a title of 1 to 255 characters.")
	}
	f.AllDay = e.AllDay
	start, end := f.eventTimes(loc)
	xs := slices.Clone(e.Exceptions)
	i := slices.IndexFunc(xs, func(x pim.Exception) bool { return x.RecurrenceID.Equal(rid) })
	if i < 0 {
		xs = append(xs, pim.Exception{RecurrenceID: rid})
		i = len(xs) - 1
	}
	x := &xs[i]
	x.Deleted = false
	x.Start, x.End = start, end
	x.Summary, x.Location, x.Description = f.Summary, f.Location, f.Body
	e.Exceptions = xs
}

// diarySave saves the form: a new appointment or meeting, a change of a
// whole one, or of one occurrence.
func (s *Server) diarySave(c echo.Context) error {
	ctx := c.Request().Context()
	u := ident(c).User
	zone, loc := s.userZone(ctx, u.ID)
	f := readForm(c)
	var cur *store.Item
	var before *pim.Event
	after := &pim.Event{BusyStatus: pim.BusyBusy}
	if f.ID != 0 {
		c.SetParamNames("id")
		c.SetParamValues(strconv.FormatInt(f.ID, 10))
		var err error
		if cur, before, err = s.calendarItem(c); err != nil {
			return err
		}
		if !ownEvent(before) {
			return echo.NewHTTPError(http.StatusConflict, "This meeting is organised by someone else: answer it instead.")
		}
		cp := *before
		after = &cp
	}
	var rid time.Time
	if f.Occ != 0 && before != nil {
		var err error
		if rid, err = occurrenceParam(c, before); err != nil {
			return err
		}
		applyOccurrence(f, after, rid, loc)
	} else {
		s.apply(ctx, f, u, before, after, zone, loc)
	}
	if len(f.Errors) > 0 {
		p := &eventPage{Form: f, Zone: zone, Event: before, Editable: true, Recurring: before != nil && before.RRule != ""}
		if !rid.IsZero() {
			p.Occurrence = describeWhen(before.AllDay, rid, rid.Add(before.End.Sub(before.Start)), loc)
		}
		return s.renderEvent(c, http.StatusBadRequest, p)
	}
	if before != nil && scheduling.IsOrganized(before) && pim.SignificantChange(before, after) {
		after.Sequence = before.Sequence + 1
	}
	id, err := s.saveEvent(ctx, u, cur, after)
	if err != nil {
		return err
	}
	msg := "Saved in your diary."
	if err := s.meetingMail(ctx, u, before, after); err != nil {
		msg = "Saved in your diary, but some meeting mail could not be sent. Save again later to resend it."
	} else if scheduling.IsOrganized(after) && (before == nil || !scheduling.IsOrganized(before)) {
		msg = "Saved, and the invitations are sent."
	}
	s.flash(c, msg)
	return c.Redirect(http.StatusSeeOther, diaryURL(viewWeek, after.Start.In(loc), nil)+"#item-"+strconv.FormatInt(id, 10))
}

// saveEvent stores e: in place of cur, or as a new item of the user's
// calendar (within their quota).
func (s *Server) saveEvent(ctx context.Context, u *store.User, cur *store.Item, e *pim.Event) (int64, error) {
	if cur != nil {
		it, err := e.ToItem(u.ID, cur.FolderID)
		if err != nil {
			return 0, echo.NewHTTPError(http.StatusBadRequest, "Not saved: "+err.Error())
		}
		it.ID = cur.ID
		return it.ID, s.store.ReplaceItem(ctx, it)
	}
	f, err := s.store.FolderByType(ctx, u.ID, store.FolderCalendar)
	if err != nil {
		return 0, err
	}
	it, err := e.ToItem(u.ID, f.ID)
	if err != nil {
		return 0, echo.NewHTTPError(http.StatusBadRequest, "Not saved: "+err.Error())
	}
	if err := s.store.AddItemWithinQuota(ctx, it, nil); err != nil {
		var qe *store.QuotaError
		if errors.As(err, &qe) || errors.Is(err, store.ErrQuotaExceeded) {
			return 0, echo.NewHTTPError(http.StatusInsufficientStorage, "Not saved: your mailbox is full.")
		}
		return 0, err
	}
	return it.ID, nil
}

// meetingMail sends what a change of a meeting the user organises needs
// (scheduling.Organized, as after a phone's Sync). Failures are logged:
// the change stands.
func (s *Server) meetingMail(ctx context.Context, u *store.User, before, after *pim.Event) error {
	if s.d.Meetings == nil || (!scheduling.IsOrganized(before) && !scheduling.IsOrganized(after)) {
		return nil
	}
	if err := s.d.Meetings.Organized(ctx, u, before, after); err != nil {
		s.log.Error("meeting mail from the web diary", "user", u.Email, "err", err)
		return err
	}
	return nil
}

// diaryDelete deletes an appointment, a whole series or one occurrence; a
// meeting the user organises is cancelled for its attendees.
func (s *Server) diaryDelete(c echo.Context) error {
	ctx := c.Request().Context()
	u := ident(c).User
	it, before, err := s.calendarItem(c)
	if err != nil {
		return err
	}
	if !ownEvent(before) && before.MeetingStatus != pim.MeetingCanceledReceived {
		return echo.NewHTTPError(http.StatusConflict, "This meeting is organised by someone else: decline it instead.")
	}
	rid, err := occurrenceParam(c, before)
	if err != nil {
		return err
	}
	var after *pim.Event
	if rid.IsZero() {
		if err := s.store.DeleteItem(ctx, u.ID, it.ID); err != nil {
			return err
		}
	} else {
		cp := *before
		xs := slices.DeleteFunc(slices.Clone(cp.Exceptions), func(x pim.Exception) bool { return x.RecurrenceID.Equal(rid) })
		cp.Exceptions = append(xs, pim.Exception{RecurrenceID: rid, Deleted: true})
		if scheduling.IsOrganized(&cp) {
			cp.Sequence++
		}
		after = &cp
		if _, err := s.saveEvent(ctx, u, it, after); err != nil {
			return err
		}
	}
	msg := "Deleted from your diary."
	if before.MeetingStatus == pim.MeetingCanceledReceived {
		msg = "Removed from your diary."
	} else if err := s.meetingMail(ctx, u, before, after); err != nil {
		msg = "Deleted, but some attendees could not be told."
	} else if scheduling.IsOrganized(before) {
		msg = "Cancelled, and the attendees are told."
	}
	s.flash(c, msg)
	_, loc := s.userZone(ctx, u.ID)
	return c.Redirect(http.StatusSeeOther, diaryURL(viewWeek, nonZeroTime(rid, before.Start).In(loc), nil))
}
