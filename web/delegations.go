package web

// Delegated calendars (delegates, governance/calendar.go): the diaries other
// users let the signed-in user read, listed at /account/delegations and served
// as iCalendar at /account/delegations/<owner>/calendar.ics. The file accepts
// the web session or the user's own credentials (HTTP Basic, with the
// same checker and lockout as ActiveSync), so that calendar apps can
// subscribe to it; the grant is checked on every fetch.

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"airlock/store"
)

// DelegatedCalendars serves the calendars a user was given to read
// (governance.Service implements it).
type DelegatedCalendars interface {
	// CalendarOwners lists the users whose calendar actor may read now.
	CalendarOwners(ctx context.Context, actorID int64) ([]*store.User, error)
	// DelegatedCalendarICS returns owner's calendar for actor as
	// iCalendar; allowed is false when actor may not read it now. It
	// audits the read or the refusal.
	DelegatedCalendarICS(ctx context.Context, actor, owner *store.User, ip string) (ics []byte, allowed bool, err error)
}

type delegationsData struct {
	Calendars []delegatedCalendar
}

type delegatedCalendar struct {
	Owner *store.User
	URL   string
	// Manage is the page to manage the diary, when the user holds send
	// on behalf for it (delegations_write.go).
	Manage string
}

// myDelegations lists the diaries shared with the signed-in user.
func (s *Server) myDelegations(c echo.Context) error {
	if s.d.Delegations == nil {
		return echo.NewHTTPError(http.StatusNotFound, "Delegated calendars are not available on this server.")
	}
	owners, err := s.d.Delegations.CalendarOwners(c.Request().Context(), ident(c).User.ID)
	if err != nil {
		return err
	}
	d := &delegationsData{}
	for _, o := range owners {
		dc := delegatedCalendar{Owner: o, URL: "https://" + s.d.Hostname + calendarPath(o.Email)}
		if w := s.diaries(); w != nil && w.CanManageCalendar(c.Request().Context(), ident(c).User.ID, o.ID) {
			dc.Manage = diaryPath(o.Email)
		}
		d.Calendars = append(d.Calendars, dc)
	}
	return s.render(c, http.StatusOK, "my_delegations.html", "Calendars shared with me", d)
}

func calendarPath(owner string) string {
	return "/account/delegations/" + url.PathEscape(owner) + "/calendar.ics"
}

// delegatedCalendarICS serves one owner's calendar to a delegate. Unknown
// owners and owners who gave no access get the same 403, so the answer
// does not tell who has an account.
func (s *Server) delegatedCalendarICS(c echo.Context) error {
	if s.d.Delegations == nil {
		return echo.NewHTTPError(http.StatusNotFound, "Delegated calendars are not available on this server.")
	}
	actor, code := s.calendarUser(c)
	if actor == nil {
		if code == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="Airlock", charset="UTF-8"`)
		}
		return echo.NewHTTPError(code, http.StatusText(code))
	}
	ctx := c.Request().Context()
	refused := echo.NewHTTPError(http.StatusForbidden, "You have no delegated access to this calendar.")
	ownerAddr, err := url.PathUnescape(c.Param("owner"))
	if err != nil {
		return refused
	}
	owner, err := s.store.UserByAddress(ctx, ownerAddr)
	if errors.Is(err, store.ErrNotFound) {
		s.auditRefusal(c, "delegate.calendar_read", actor.Email, "no such owner: "+ownerAddr)
		return refused
	}
	if err != nil {
		return err
	}
	ics, ok, err := s.d.Delegations.DelegatedCalendarICS(ctx, actor, owner, c.RealIP())
	if err != nil {
		return err
	}
	if !ok {
		return refused
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Disposition", `inline; filename="calendar.ics"`)
	return c.Blob(http.StatusOK, "text/calendar; charset=utf-8", ics)
}

// calendarUser is the signed-in user (with the second factor when they
// need one), or the user of valid Basic credentials; otherwise the HTTP
// status to answer.
func (s *Server) calendarUser(c echo.Context) (*store.User, int) {
	if id := ident(c); id != nil {
		if id.needsMFA && !id.Claims.MFA {
			return nil, http.StatusUnauthorized
		}
		return id.User, http.StatusOK
	}
	u, code := s.autodiscoverAuth(c)
	if u == nil {
		return nil, code
	}
	if u.Disabled {
		return nil, http.StatusForbidden
	}
	return u, http.StatusOK
}
