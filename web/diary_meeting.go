package web

// Meetings in the staff web's diary: the scheduling view (attendees'
// free/busy, computed by directory.FreeBusy as for EAS ResolveRecipients)
// and the answers to meetings others organise, from the request in the
// Inbox or from the meeting in the diary, through scheduling.Respond as
// EAS MeetingResponse does: the user's calendar takes the answer, a
// colleague organiser's copy records it, the reply (or a new time
// proposed) goes to the organiser, and an answered request leaves the
// Inbox for Deleted Items.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"airlock/directory"
	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
)

// The scheduling view shows one working day, from scheduleFrom to
// scheduleTo o'clock in the user's zone.
const (
	scheduleFrom = 7
	scheduleTo   = 20
)

// scheduleGrid is the free/busy of the people of a meeting on its day.
type scheduleGrid struct {
	Day   string
	Slots []scheduleSlot
	Rows  []scheduleRow
}

type scheduleSlot struct {
	Label   string // "09:00", on the hour only
	Meeting bool   // within the meeting's times
}

type scheduleRow struct {
	Name  string
	Cells []scheduleCell
}

type scheduleCell struct {
	Class, Word string
	Meeting     bool
}

var freeBusyWords = map[byte][2]string{
	directory.Free: {"free", "Free"}, directory.Tentative: {"tent", "Tentative"}, directory.Busy: {"busy", "Busy"},
	directory.OutOfOffice: {"oof", "Out of office"}, directory.WorkingElsewhere: {"away", "Working elsewhere"}, directory.NoData: {"none", "No information"},
}

// schedule builds the grid for the day of start, for the user and the
// attendees (colleagues' free/busy from their calendars; others have
// none here).
func (s *Server) schedule(ctx context.Context, u *store.User, attendees []string, start, end time.Time, loc *time.Location) (*scheduleGrid, error) {
	day := start.In(loc)
	from := time.Date(day.Year(), day.Month(), day.Day(), scheduleFrom, 0, 0, 0, loc)
	to := time.Date(day.Year(), day.Month(), day.Day(), scheduleTo, 0, 0, 0, loc)
	g := &scheduleGrid{Day: day.Format("Monday 2 January 2006")}
	n := int(to.Sub(from) / directory.Slot)
	inMeeting := func(i int) bool {
		t := from.Add(time.Duration(i) * directory.Slot)
		return t.Before(end) && t.Add(directory.Slot).After(start)
	}
	for i := range n {
		t := from.Add(time.Duration(i) * directory.Slot)
		sl := scheduleSlot{Meeting: inMeeting(i)}
		if t.Minute() == 0 {
			sl.Label = t.Format("15:04")
		}
		g.Slots = append(g.Slots, sl)
	}
	row := func(name, digits string) {
		r := scheduleRow{Name: name}
		for i := range n {
			c := byte(directory.NoData)
			if i < len(digits) {
				c = digits[i]
			}
			w := freeBusyWords[c]
			r.Cells = append(r.Cells, scheduleCell{Class: w[0], Word: w[1], Meeting: inMeeting(i)})
		}
		g.Rows = append(g.Rows, r)
	}
	mine, err := directory.FreeBusy(ctx, s.store, u.ID, from, to)
	if err != nil {
		return nil, err
	}
	row(nonEmpty(u.DisplayName, u.Email)+" (you)", mine)
	for _, a := range attendees {
		d, err := s.store.DirectoryEntry(ctx, a)
		if errors.Is(err, store.ErrNotFound) {
			row(a, directory.NoFreeBusy(from, to))
			continue
		}
		if err != nil {
			return nil, err
		}
		fb, err := directory.FreeBusy(ctx, s.store, d.ID, from, to)
		if err != nil {
			return nil, err
		}
		row(nonEmpty(d.DisplayName, a), fb)
	}
	return g, nil
}

// diarySchedule shows the form again with the attendees' free/busy on the
// meeting's day; nothing is saved.
func (s *Server) diarySchedule(c echo.Context) error {
	ctx := c.Request().Context()
	u := ident(c).User
	zone, loc := s.userZone(ctx, u.ID)
	f := readForm(c)
	p := &eventPage{Form: f, Zone: zone, Editable: true}
	if f.ID != 0 {
		c.SetParamNames("id")
		c.SetParamValues(strconv.FormatInt(f.ID, 10))
		_, e, err := s.calendarItem(c)
		if err != nil {
			return err
		}
		p.Event, p.Recurring = e, e.RRule != ""
	}
	start, end := f.eventTimes(loc)
	attendees := f.attendeeList(u.Email)
	if len(f.Errors) == 0 {
		if f.AllDay {
			start, end = localDate(start, loc), localDate(end, loc)
		}
		g, err := s.schedule(ctx, u, attendees, start, end, loc)
		if err != nil {
			return err
		}
		p.Schedule = g
	}
	return s.renderEvent(c, http.StatusOK, p)
}

// answerOf reads an answer form: accept, tentative, decline, or propose (a
// tentative answer with a new time, read in loc).
func answerOf(c echo.Context, e *pim.Event, loc *time.Location) (scheduling.Answer, string, error) {
	a := scheduling.Answer{Notify: true, Comment: strings.TrimSpace(c.FormValue("comment"))}
	word := c.FormValue("response")
	switch word {
	case "accept":
		a.Response = scheduling.Accept
	case "tentative":
		a.Response = scheduling.Tentative
	case "decline":
		a.Response = scheduling.Decline
	case "propose":
		a.Response = scheduling.Tentative
		ps, err1 := time.ParseInLocation(formTime, c.FormValue("pstart"), loc)
		pe, err2 := time.ParseInLocation(formTime, c.FormValue("pend"), loc)
		if err1 != nil || err2 != nil || !pe.After(ps) {
			return a, "", echo.NewHTTPError(http.StatusBadRequest, "Give the new start and end, the end after the start.")
		}
		if e.DisallowNewTimeProposal {
			return a, "", echo.NewHTTPError(http.StatusBadRequest, "The organiser does not take new time proposals for this meeting.")
		}
		a.ProposedStart, a.ProposedEnd = ps.UTC(), pe.UTC()
	default:
		return a, "", echo.NewHTTPError(http.StatusBadRequest, "Answer accept, tentative, decline or propose a new time.")
	}
	if len(a.Comment) > 4000 {
		return a, "", echo.NewHTTPError(http.StatusBadRequest, "The note to the organiser is too long.")
	}
	return a, word, nil
}

var answeredWords = map[string]string{"accept": "Accepted", "tentative": "Tentatively accepted", "decline": "Declined", "propose": "Proposed a new time for"}

// respond records the answer as EAS MeetingResponse does, and moves an
// answered request (not one occurrence's) to Deleted Items.
func (s *Server) respond(ctx context.Context, u *store.User, e *pim.Event, a scheduling.Answer, request *store.Item) error {
	if s.d.Meetings == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Meetings cannot be answered on this server.")
	}
	_, err := s.d.Meetings.Respond(ctx, u, e, a)
	if errors.Is(err, scheduling.ErrNotAMeeting) || errors.Is(err, scheduling.ErrProposalRefused) {
		return echo.NewHTTPError(http.StatusBadRequest, "This meeting cannot be answered that way.")
	}
	if err != nil {
		return err
	}
	if request != nil && a.Instance == nil {
		if trash, err := s.store.FolderByType(ctx, u.ID, store.FolderDeletedItems); err == nil && trash.ID != request.FolderID {
			if _, err := s.store.MoveItem(ctx, u.ID, request.ID, trash.ID); err != nil {
				s.log.Warn("web meeting response: request not moved", "err", err)
			}
		}
	}
	return nil
}

// diaryRespondEvent answers a meeting in the diary (or one occurrence).
func (s *Server) diaryRespondEvent(c echo.Context) error {
	ctx := c.Request().Context()
	u := ident(c).User
	_, e, err := s.calendarItem(c)
	if err != nil {
		return err
	}
	if e.Organizer.Email == "" || scheduling.IsOrganized(e) || e.MeetingStatus == pim.MeetingCanceledReceived {
		return echo.NewHTTPError(http.StatusBadRequest, "This is not a meeting you can answer.")
	}
	rid, err := occurrenceParam(c, e)
	if err != nil {
		return err
	}
	_, loc := s.userZone(ctx, u.ID)
	a, word, err := answerOf(c, e, loc)
	if err != nil {
		return err
	}
	if !rid.IsZero() {
		a.Instance = &rid
	}
	if err := s.respond(ctx, u, e, a, nil); err != nil {
		return err
	}
	s.flash(c, answeredWords[word]+" “"+e.Summary+"”. The organiser is told.")
	return c.Redirect(http.StatusSeeOther, diaryURL(viewWeek, nonZeroTime(rid, e.Start).In(loc), nil))
}

// requestOf reads the meeting a request in the user's mailbox is for.
func (s *Server) requestOf(c echo.Context) (*store.Item, *pim.Event, error) {
	ctx := c.Request().Context()
	u := ident(c).User
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such meeting request.")
	}
	it, err := s.store.ItemByID(ctx, u.ID, id)
	if err != nil {
		return nil, nil, err
	}
	if it.Class != store.ClassEmail || it.MessageClass != meetingRequestClass {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such meeting request.")
	}
	raw, err := s.store.Blob(ctx, u.ID, it.ID)
	if err != nil {
		return nil, nil, err
	}
	method, e, err := pim.ParseITIP(scheduling.CalendarPart(raw))
	if err != nil || (method != "" && method != pim.MethodRequest) || !e.RecurrenceID.IsZero() || e.Organizer.Email == "" {
		return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "This request cannot be answered here; answer it from the meeting in your diary.")
	}
	return it, e, nil
}

type requestPage struct {
	ItemID    int64
	Event     *pim.Event
	When      string
	Organizer string
	Attendees []attendeeRow
	Action    string
	PStart    string
	PEnd      string
	Back      string
	Conflicts []diaryEntry
}

// diaryRequest shows a meeting request with the answer forms, and what
// else the user has at that time.
func (s *Server) diaryRequest(c echo.Context) error {
	ctx := c.Request().Context()
	u := ident(c).User
	it, e, err := s.requestOf(c)
	if err != nil {
		return err
	}
	_, loc := s.userZone(ctx, u.ID)
	p := &requestPage{ItemID: it.ID, Event: e, When: describeWhen(e.AllDay, e.Start, e.End, loc),
		Organizer: nonEmpty(e.Organizer.Name, e.Organizer.Email), Action: "/diary/requests/" + strconv.FormatInt(it.ID, 10) + "/respond",
		PStart: formTimeOf(e.Start, loc), PEnd: formTimeOf(e.End, loc), Back: "/mail/" + strconv.FormatInt(it.FolderID, 10) + "/" + strconv.FormatInt(it.ID, 10)}
	if e.RRule != "" {
		p.When += " (repeats)"
	}
	for _, a := range e.Attendees {
		p.Attendees = append(p.Attendees, attendeeRow{Name: a.Name, Email: a.Email, Status: statusWord(a.Status)})
	}
	if own, err := s.ownEntries(ctx, u.ID, e.Start, e.End, loc); err == nil {
		for _, o := range own {
			if o.Summary != e.Summary || o.Start.Unix() != e.Start.Unix() {
				p.Conflicts = append(p.Conflicts, o)
			}
		}
	}
	return s.render(c, http.StatusOK, "diary_request.html", nonEmpty(e.Summary, "Meeting request"), p)
}

// diaryRespondRequest answers a request from the Inbox.
func (s *Server) diaryRespondRequest(c echo.Context) error {
	ctx := c.Request().Context()
	u := ident(c).User
	it, e, err := s.requestOf(c)
	if err != nil {
		return err
	}
	_, loc := s.userZone(ctx, u.ID)
	a, word, err := answerOf(c, e, loc)
	if err != nil {
		return err
	}
	if err := s.respond(ctx, u, e, a, it); err != nil {
		return err
	}
	s.flash(c, answeredWords[word]+" “"+e.Summary+"”. The organiser is told.")
	return c.Redirect(http.StatusSeeOther, diaryURL(viewWeek, e.Start.In(loc), nil))
}
