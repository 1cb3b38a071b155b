package web

// The staff web's diary (/diary): day, work week, week and month views of
// the user's calendar, drawn in their time zone (diary_zone.go), with the
// diaries delegated to them beside it. Recurring series are expanded with
// their exceptions by pim.Event.Occurrences, the code free/busy and the
// phones' views rest on. Appointments and meetings are made and changed in
// diary_event.go, meetings answered in diary_meeting.go; every change goes
// through the store calls EAS Sync uses and the scheduling package, so
// phones see it at their next Sync and attendees get the same mail a
// phone's meeting sends.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"airlock/pim"
	"airlock/store"
)

// diaryRoutes mounts /diary on the signed-in group.
func (s *Server) diaryRoutes(h *echo.Group) {
	d := h.Group("/diary", s.requireUser)
	d.GET("", s.diaryPage)
	d.GET("/settings", s.diarySettings)
	d.POST("/settings", s.diarySettingsSave)
	d.GET("/new", s.diaryNew)
	d.POST("/events", s.diarySave)
	d.POST("/schedule", s.diarySchedule)
	d.GET("/events/:id", s.diaryEvent)
	d.POST("/events/:id/delete", s.diaryDelete)
	d.POST("/events/:id/respond", s.diaryRespondEvent)
	d.GET("/requests/:id", s.diaryRequest)
	d.POST("/requests/:id/respond", s.diaryRespondRequest)
}

// View names, as in the query string.
const (
	viewDay      = "day"
	viewWorkWeek = "workweek"
	viewWeek     = "week"
	viewMonth    = "month"
)

var viewLabels = []struct{ Name, Label, Key string }{
	{viewDay, "Day", "d"}, {viewWorkWeek, "Work week", "x"}, {viewWeek, "Week", "w"}, {viewMonth, "Month", "m"},
}

// viewRange returns the days a view of date shows, as local midnights in
// loc, and the instants [from, to) they cover. Days are counted on the
// calendar, not in hours, so a week across a clock change is 167 or 169
// hours long and every day starts at local midnight.
func viewRange(view string, date time.Time, loc *time.Location) (from, to time.Time, days []time.Time) {
	y, m, d := date.Date()
	first, n := time.Date(y, m, d, 0, 0, 0, 0, loc), 1
	monday := func(t time.Time) time.Time {
		back := (int(t.Weekday()) + 6) % 7
		return time.Date(t.Year(), t.Month(), t.Day()-back, 0, 0, 0, 0, loc)
	}
	switch view {
	case viewWorkWeek:
		first, n = monday(first), 5
	case viewWeek:
		first, n = monday(first), 7
	case viewMonth:
		start := monday(time.Date(y, m, 1, 0, 0, 0, 0, loc))
		last := time.Date(y, m+1, 0, 0, 0, 0, 0, loc)
		end := time.Date(last.Year(), last.Month(), last.Day()+(7-int(last.Weekday()))%7+1, 0, 0, 0, 0, loc)
		first = start
		for t := start; t.Before(end); t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc) {
			days = append(days, t)
		}
		return start, end, days
	}
	for i := range n {
		days = append(days, time.Date(first.Year(), first.Month(), first.Day()+i, 0, 0, 0, 0, loc))
	}
	last := days[len(days)-1]
	return first, time.Date(last.Year(), last.Month(), last.Day()+1, 0, 0, 0, 0, loc), days
}

// stepDate moves date by one view, back (-1) or on (+1).
func stepDate(view string, date time.Time, dir int) time.Time {
	switch view {
	case viewDay:
		return date.AddDate(0, 0, dir)
	case viewMonth:
		return time.Date(date.Year(), date.Month()+time.Month(dir), 1, 0, 0, 0, 0, date.Location())
	}
	return date.AddDate(0, 0, 7*dir)
}

// diaryEntry is one occurrence as a view shows it.
type diaryEntry struct {
	ItemID            int64
	Summary, Location string
	Start, End        time.Time // in the user's zone
	AllDay, Recurring bool
	Cancelled         bool
	// Status is the user's answer to a meeting someone else organises.
	Status string
	// Answers sums up the attendees' answers to a meeting the user
	// organises.
	Answers string
	// Owner names the colleague whose delegated diary it comes from.
	Owner string
	URL   string
}

// Time is the entry's time as one day of the view shows it.
func (e diaryEntry) Time(day time.Time) string {
	if e.AllDay {
		return "All day"
	}
	next := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, day.Location())
	from, to := e.Start.Format("15:04"), e.End.Format("15:04")
	if e.Start.Before(day) {
		from = "…"
	}
	if e.End.After(next) {
		to = "…"
	}
	if e.End.Equal(e.Start) {
		return from
	}
	return from + "–" + to
}

// diaryDay is one day of a view.
type diaryDay struct {
	Date    time.Time
	URL     string
	Today   bool
	Outside bool // a day of another month in the month view
	Entries []diaryEntry
}

// Label names the day in full, for headings and screen readers.
func (d diaryDay) Label() string { return d.Date.Format("Monday 2 January") }

// Short names it briefly, for the columns.
func (d diaryDay) Short() string { return d.Date.Format("Mon 2 Jan") }

type diaryOwner struct {
	Email, Name string
	Shown       bool
	Manage      string
}

type diaryPageData struct {
	View, Zone                     string
	Title                          string
	Views                          []diaryViewLink
	Days                           []diaryDay
	Prev, Next, Today, New, Anchor string
	Owners                         []diaryOwner
	Requests                       []diaryRequestRow
	Month                          bool
}

type diaryViewLink struct {
	Label, URL, Key string
	Current         bool
}

type diaryRequestRow struct {
	URL, Subject, From string
}

// diaryURL is the link to a view of a date, keeping the delegated diaries
// shown.
func diaryURL(view string, date time.Time, with []string) string {
	q := url.Values{"view": {view}, "date": {date.Format(time.DateOnly)}}
	if len(with) > 0 {
		q["with"] = with
	}
	return "/diary?" + q.Encode()
}

// diaryPage draws a view.
func (s *Server) diaryPage(c echo.Context) error {
	ctx := c.Request().Context()
	u := ident(c).User
	zone, loc := s.userZone(ctx, u.ID)
	now := s.d.Now().In(loc)
	view := c.QueryParam("view")
	if !slices.ContainsFunc(viewLabels, func(v struct{ Name, Label, Key string }) bool { return v.Name == view }) {
		view = viewWeek
	}
	date := now
	if q := c.QueryParam("date"); q != "" {
		t, err := time.ParseInLocation(time.DateOnly, q, loc)
		if err != nil || t.Year() < 1900 || t.Year() > 4000 {
			return echo.NewHTTPError(http.StatusBadRequest, "Give the date as YYYY-MM-DD.")
		}
		date = t
	}
	with := c.QueryParams()["with"]
	from, to, days := viewRange(view, date, loc)

	entries, err := s.ownEntries(ctx, u.ID, from, to, loc)
	if err != nil {
		return err
	}
	d := &diaryPageData{View: view, Zone: zone, Month: view == viewMonth,
		Prev: diaryURL(view, stepDate(view, date, -1), with), Next: diaryURL(view, stepDate(view, date, 1), with),
		Today: diaryURL(view, now, with), New: "/diary/new?date=" + date.Format(time.DateOnly)}
	for _, v := range viewLabels {
		d.Views = append(d.Views, diaryViewLink{Label: v.Label, URL: diaryURL(v.Name, date, with), Key: v.Key, Current: v.Name == view})
	}
	owners, more, err := s.delegatedEntries(c, u, with, from, to, loc)
	if err != nil {
		return err
	}
	d.Owners = owners
	entries = append(entries, more...)
	for _, day := range days {
		dd := diaryDay{Date: day, URL: diaryURL(viewDay, day, with), Today: sameDate(day, now),
			Outside: view == viewMonth && day.Month() != date.Month()}
		next := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc)
		for _, e := range entries {
			if overlapsDay(e, day, next) {
				dd.Entries = append(dd.Entries, e)
			}
		}
		slices.SortStableFunc(dd.Entries, func(a, b diaryEntry) int {
			if a.AllDay != b.AllDay {
				if a.AllDay {
					return -1
				}
				return 1
			}
			return a.Start.Compare(b.Start)
		})
		d.Days = append(d.Days, dd)
	}
	d.Title = viewTitle(view, days)
	if d.Requests, err = s.meetingRequests(ctx, u.ID); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "diary.html", "Diary", d)
}

func viewTitle(view string, days []time.Time) string {
	first, last := days[0], days[len(days)-1]
	switch view {
	case viewDay:
		return first.Format("Monday 2 January 2006")
	case viewMonth:
		mid := days[len(days)/2]
		return mid.Format("January 2006")
	}
	if first.Month() == last.Month() {
		return fmt.Sprintf("%d–%s", first.Day(), last.Format("2 January 2006"))
	}
	if first.Year() == last.Year() {
		return first.Format("2 January") + " – " + last.Format("2 January 2006")
	}
	return first.Format("2 January 2006") + " – " + last.Format("2 January 2006")
}

func sameDate(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

func overlapsDay(e diaryEntry, day, next time.Time) bool {
	if e.End.Equal(e.Start) {
		return !e.Start.Before(day) && e.Start.Before(next)
	}
	return e.Start.Before(next) && e.End.After(day)
}

// allDayMargin widens a read so all-day events, stored as UTC dates, are
// found whatever the zone.
const allDayMargin = 14 * time.Hour

// ownEntries lists the user's occurrences overlapping [from, to).
func (s *Server) ownEntries(ctx context.Context, userID int64, from, to time.Time, loc *time.Location) ([]diaryEntry, error) {
	items, err := s.store.CalendarItemsBetween(ctx, userID, from.Add(-allDayMargin), to.Add(allDayMargin))
	if err != nil {
		return nil, err
	}
	var out []diaryEntry
	for i := range items {
		var e pim.Event
		if err := e.FromItem(&items[i]); err != nil {
			continue // an unreadable item is left out, as on a phone
		}
		url := "/diary/events/" + strconv.FormatInt(items[i].ID, 10)
		out = append(out, expandEvent(&e, items[i].ID, url, "", from, to, loc)...)
	}
	return out, nil
}

// expandEvent turns an event into the entries of its occurrences that
// overlap [from, to), in loc. An all-day date is the same date in loc.
func expandEvent(e *pim.Event, itemID int64, link, owner string, from, to time.Time, loc *time.Location) []diaryEntry {
	occs, err := e.Occurrences(from.Add(-allDayMargin), to.Add(allDayMargin))
	if err != nil {
		return nil
	}
	var out []diaryEntry
	for _, o := range occs {
		de := diaryEntry{ItemID: itemID, Summary: o.Summary, Location: e.Location, Start: o.Start.In(loc), End: o.End.In(loc),
			AllDay: e.AllDay, Recurring: e.RRule != "", Owner: owner, URL: link,
			Cancelled: e.MeetingStatus == pim.MeetingCanceledReceived || e.MeetingStatus == pim.MeetingCanceledOrganizer}
		if x := o.Exception; x != nil {
			if x.Location != "" {
				de.Location = x.Location
			}
			if x.AllDay != nil {
				de.AllDay = *x.AllDay
			}
		}
		if de.AllDay {
			de.Start, de.End = localDate(o.Start, loc), localDate(o.End, loc)
		}
		if de.Summary == "" {
			de.Summary = "(no title)"
		}
		if link != "" && !o.RecurrenceID.IsZero() {
			de.URL = link + "?occ=" + strconv.FormatInt(o.RecurrenceID.Unix(), 10)
		}
		de.Status, de.Answers = answerSummary(e, o.Exception)
		if overlapsDay(de, from, to) {
			out = append(out, de)
		}
	}
	return out
}

// localDate is the stored all-day date t (midnight UTC) as midnight in loc.
func localDate(t time.Time, loc *time.Location) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, loc)
}

// answerSummary says where a meeting stands: the user's answer to one
// they were invited to, or their attendees' answers to one they organise.
func answerSummary(e *pim.Event, x *pim.Exception) (status, answers string) {
	switch e.MeetingStatus {
	case pim.MeetingCanceledReceived, pim.MeetingCanceledOrganizer:
		return "Cancelled", ""
	case pim.MeetingReceived:
		rt := e.ResponseType
		if x != nil && x.ResponseType != nil {
			rt = *x.ResponseType
		}
		return responseWord(rt), ""
	case pim.MeetingOrganizer:
		as := e.Attendees
		if x != nil && len(x.Attendees) > 0 {
			as = x.Attendees
		}
		return "", attendeeCounts(as)
	}
	return "", ""
}

func responseWord(rt int) string {
	switch rt {
	case pim.ResponseAccepted:
		return "Accepted"
	case pim.ResponseTentative:
		return "Tentative"
	case pim.ResponseDeclined:
		return "Declined"
	}
	return "Not answered yet"
}

func statusWord(st int) string {
	switch st {
	case pim.StatusAccepted:
		return "Accepted"
	case pim.StatusTentative:
		return "Tentative"
	case pim.StatusDeclined:
		return "Declined"
	}
	return "No answer yet"
}

// attendeeCounts is "1 accepted, 2 no answer yet".
func attendeeCounts(as []pim.Attendee) string {
	order := []int{pim.StatusAccepted, pim.StatusTentative, pim.StatusDeclined, pim.StatusNotResponded}
	n := map[int]int{}
	for _, a := range as {
		st := a.Status
		if !slices.Contains(order, st) {
			st = pim.StatusNotResponded
		}
		n[st]++
	}
	var parts []string
	for _, st := range order {
		if n[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[st], strings.ToLower(statusWord(st))))
		}
	}
	return strings.Join(parts, ", ")
}

// DelegatedEvents reads a diary delegated to the user (governance.Service
// implements it, checking the grant and auditing each read).
type DelegatedEvents interface {
	DelegatedEvents(ctx context.Context, actor, owner *store.User, ip string) ([]pim.Event, bool, error)
}

// delegatedEntries lists the diaries delegated to u and the entries of
// those shown (the with parameter).
func (s *Server) delegatedEntries(c echo.Context, u *store.User, with []string, from, to time.Time, loc *time.Location) ([]diaryOwner, []diaryEntry, error) {
	if s.d.Delegations == nil {
		return nil, nil, nil
	}
	ctx := c.Request().Context()
	owners, err := s.d.Delegations.CalendarOwners(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	reader, _ := s.d.Delegations.(DelegatedEvents)
	var list []diaryOwner
	var out []diaryEntry
	for _, o := range owners {
		do := diaryOwner{Email: o.Email, Name: nonEmpty(o.DisplayName, o.Email),
			Shown: slices.ContainsFunc(with, func(w string) bool { return strings.EqualFold(w, o.Email) })}
		if w := s.diaries(); w != nil && w.CanManageCalendar(ctx, u.ID, o.ID) {
			do.Manage = diaryPath(o.Email)
		}
		list = append(list, do)
		if !do.Shown || reader == nil {
			continue
		}
		events, ok, err := reader.DelegatedEvents(ctx, u, o, c.RealIP())
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		for i := range events {
			out = append(out, expandEvent(&events[i], 0, do.Manage, do.Name, from, to, loc)...)
		}
	}
	return list, out, nil
}

// meetingRequests lists the meeting requests waiting in the user's Inbox
// (the newest 2,000 messages are looked through).
func (s *Server) meetingRequests(ctx context.Context, userID int64) ([]diaryRequestRow, error) {
	inbox, err := s.store.FolderByType(ctx, userID, store.FolderInbox)
	if err != nil {
		return nil, err
	}
	var out []diaryRequestRow
	var after int64
	for range 4 {
		items, err := s.store.ListItems(ctx, userID, inbox.ID, after, 500)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if it.MessageClass == meetingRequestClass {
				out = append(out, diaryRequestRow{URL: "/diary/requests/" + strconv.FormatInt(it.ID, 10), Subject: it.Subject, From: it.FromAddr})
			}
		}
		if len(items) < 500 {
			break
		}
		after = items[len(items)-1].ID
	}
	return out, nil
}

const meetingRequestClass = "IPM.Schedule.Meeting.Request"
