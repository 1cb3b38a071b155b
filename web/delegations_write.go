package web

// Managing a delegated calendar (delegates, governance/calendar_write.go): a
// delegate holding calendar send_on_behalf adds, changes and cancels the
// owner's appointments and meetings and answers the meeting requests the
// owner received, from /account/delegations/<owner>/diary. The grant is
// checked by governance on every request; no grant, a read-only or
// mail-only one, a revoked one and an unknown owner all get the same 403.
// Every action and refusal is audited there.
//
// The service is Deps.Delegations when it also implements
// DelegatedDiaries (governance.Service does).

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"airlock/governance"
	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
)

// DelegatedDiaries lets a delegate manage an owner's calendar.
type DelegatedDiaries interface {
	CanManageCalendar(ctx context.Context, actorID, ownerID int64) bool
	DelegateDiary(ctx context.Context, actor, owner *store.User, ip string) (*governance.Diary, error)
	DelegateSaveEvent(ctx context.Context, actor, owner *store.User, ip string, in governance.DiaryEntry) (string, error)
	DelegateCancelEvent(ctx context.Context, actor, owner *store.User, ip, uid string) error
	DelegateRespond(ctx context.Context, actor, owner *store.User, ip string, itemID int64, response int) error
}

func (s *Server) diaries() DelegatedDiaries {
	d, _ := s.d.Delegations.(DelegatedDiaries)
	return d
}

func diaryPath(owner string) string {
	return "/account/delegations/" + url.PathEscape(owner) + "/diary"
}

var errNoDiary = echo.NewHTTPError(http.StatusForbidden, "You have no delegated access to manage this calendar.")

// diaryOwner resolves the :owner of the path; an unknown one is refused
// like one who gave no access.
func (s *Server) diaryOwner(c echo.Context) (DelegatedDiaries, *store.User, error) {
	d := s.diaries()
	if d == nil {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "Delegated calendars are not available on this server.")
	}
	addr, err := url.PathUnescape(c.Param("owner"))
	if err != nil {
		return nil, nil, errNoDiary
	}
	owner, err := s.store.UserByAddress(c.Request().Context(), addr)
	if errors.Is(err, store.ErrNotFound) {
		s.auditRefusal(c, "delegate.calendar_write", ident(c).User.Email, "no such owner: "+addr)
		return nil, nil, errNoDiary
	}
	if err != nil {
		return nil, nil, err
	}
	return d, owner, nil
}

// diaryError turns the service's answers into HTTP ones.
func diaryError(err error) error {
	var qe *store.QuotaError
	switch {
	case errors.Is(err, governance.ErrNoDelegation):
		return errNoDiary
	case errors.Is(err, store.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "No such appointment or meeting request.")
	case errors.Is(err, governance.ErrBadEntry):
		return echo.NewHTTPError(http.StatusBadRequest, "Not saved: "+strings.TrimPrefix(err.Error(), "governance: invalid appointment: ")+".")
	case errors.Is(err, governance.ErrNotEditable):
		return echo.NewHTTPError(http.StatusConflict, "A delegate cannot change this one: it is private, a meeting someone else organises (answer it instead), or a recurring series (change it on the owner's device).")
	case errors.Is(err, governance.ErrNotRequest):
		return echo.NewHTTPError(http.StatusBadRequest, "This is not a meeting request that can be answered.")
	case errors.As(err, &qe), errors.Is(err, store.ErrQuotaExceeded):
		return echo.NewHTTPError(http.StatusInsufficientStorage, "Not saved: the owner's mailbox is full.")
	}
	return err
}

type diaryData struct {
	Diary    *governance.Diary
	Path     string     // the page
	Base     string     // where its forms post
	Edit     *pim.Event // the event being changed, nil for a new one
	Zone     string
	Start    string // form values, in Zone
	End      string
	Attendee string
}

// delegateDiary shows the owner's calendar with the forms to change it.
func (s *Server) delegateDiary(c echo.Context) error {
	d, owner, err := s.diaryOwner(c)
	if err != nil {
		return err
	}
	diary, err := d.DelegateDiary(c.Request().Context(), ident(c).User, owner, c.RealIP())
	if err != nil {
		return diaryError(err)
	}
	zone, loc := s.userZone(c.Request().Context(), ident(c).User.ID)
	data := &diaryData{Diary: diary, Path: diaryPath(owner.Email), Base: "/account/delegations/" + url.PathEscape(owner.Email), Zone: zone}
	if uid := c.QueryParam("edit"); uid != "" {
		for i := range diary.Events {
			if e := &diary.Events[i]; e.UID == uid && e.Editable {
				data.Edit = &e.Event
			}
		}
		if data.Edit == nil {
			return diaryError(governance.ErrNotEditable)
		}
		if data.Edit.TimeZone != "" {
			data.Zone = data.Edit.TimeZone
			loc, _ = pim.ResolveTimeZone(data.Zone)
		}
		data.Start = data.Edit.Start.In(loc).Format(formTime)
		data.End = data.Edit.End.In(loc).Format(formTime)
		var as []string
		for _, a := range data.Edit.Attendees {
			as = append(as, a.Email)
		}
		data.Attendee = strings.Join(as, ", ")
	}
	return s.render(c, http.StatusOK, "my_diary.html", "Diary of "+nonEmpty(owner.DisplayName, owner.Email), data)
}

// formTime is an HTML datetime-local value.
const formTime = "2006-01-02T15:04"

// delegateSaveEvent adds or changes an appointment or meeting.
func (s *Server) delegateSaveEvent(c echo.Context) error {
	d, owner, err := s.diaryOwner(c)
	if err != nil {
		return err
	}
	own, _ := s.userZone(c.Request().Context(), ident(c).User.ID)
	zone := nonEmpty(strings.TrimSpace(c.FormValue("tz")), own)
	loc, err := pim.ResolveTimeZone(zone)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "Not saved: unknown time zone.")
	}
	start, err1 := time.ParseInLocation(formTime, c.FormValue("start"), loc)
	end, err2 := time.ParseInLocation(formTime, c.FormValue("end"), loc)
	if err1 != nil || err2 != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "Not saved: give the start and end as date and time.")
	}
	in := governance.DiaryEntry{
		UID: c.FormValue("uid"), Summary: c.FormValue("summary"), Location: strings.TrimSpace(c.FormValue("location")),
		Description: c.FormValue("description"), Start: start, End: end, TimeZone: zone,
	}
	for _, a := range strings.FieldsFunc(c.FormValue("attendees"), func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' }) {
		if a = strings.TrimSpace(a); a != "" {
			in.Attendees = append(in.Attendees, a)
		}
	}
	_, err = d.DelegateSaveEvent(c.Request().Context(), ident(c).User, owner, c.RealIP(), in)
	if errors.Is(err, governance.ErrMeetingMail) {
		s.flash(c, "Saved in the diary, but some meeting mail could not be sent. Try saving again later.")
		return c.Redirect(http.StatusSeeOther, diaryPath(owner.Email))
	}
	if err != nil {
		return diaryError(err)
	}
	if in.UID == "" {
		s.flash(c, "Added to the diary of "+owner.Email+".")
	} else {
		s.flash(c, "Changed in the diary of "+owner.Email+".")
	}
	return c.Redirect(http.StatusSeeOther, diaryPath(owner.Email))
}

// delegateCancelEvent cancels an appointment or meeting.
func (s *Server) delegateCancelEvent(c echo.Context) error {
	d, owner, err := s.diaryOwner(c)
	if err != nil {
		return err
	}
	err = d.DelegateCancelEvent(c.Request().Context(), ident(c).User, owner, c.RealIP(), c.FormValue("uid"))
	if err != nil && !errors.Is(err, governance.ErrMeetingMail) {
		return diaryError(err)
	}
	msg := "Cancelled."
	if err != nil {
		msg = "Cancelled, but some attendees could not be told."
	}
	s.flash(c, msg)
	return c.Redirect(http.StatusSeeOther, diaryPath(owner.Email))
}

// delegateRespond answers a meeting request for the owner.
func (s *Server) delegateRespond(c echo.Context) error {
	d, owner, err := s.diaryOwner(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return diaryError(store.ErrNotFound)
	}
	answers := map[string]int{"accept": scheduling.Accept, "tentative": scheduling.Tentative, "decline": scheduling.Decline}
	answer, ok := answers[c.FormValue("response")]
	if !ok {
		return echo.NewHTTPError(http.StatusBadRequest, "Answer accept, tentative or decline.")
	}
	if err := d.DelegateRespond(c.Request().Context(), ident(c).User, owner, c.RealIP(), id, answer); err != nil {
		return diaryError(err)
	}
	s.flash(c, "Answered for "+owner.Email+": "+c.FormValue("response")+".")
	return c.Redirect(http.StatusSeeOther, diaryPath(owner.Email))
}
