package web

// The user's time zone (/diary/settings): one setting, kept by the store
// (store.UserTimeZone), that the diary is drawn in and the times typed in
// every form are read in. The server uses the same setting where EAS has
// no zone to go by (an all-day event's free/busy, a delegate's diary form),
// so the web and the phones agree.

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"airlock/pim"
	"airlock/store"
)

// userZone returns the signed-in user's zone, or the default one when the
// setting cannot be read or no longer resolves.
func (s *Server) userZone(ctx context.Context, userID int64) (string, *time.Location) {
	name, err := s.store.UserTimeZone(ctx, userID)
	if err == nil {
		if loc, err := pim.ResolveTimeZone(name); err == nil {
			return name, loc
		}
	}
	loc, _ := pim.ResolveTimeZone(store.DefaultTimeZone)
	return store.DefaultTimeZone, loc
}

type zoneData struct {
	Zone  string
	Zones []string
	Now   string
	Error string
}

// diarySettings shows the time-zone form.
func (s *Server) diarySettings(c echo.Context) error {
	name, loc := s.userZone(c.Request().Context(), ident(c).User.ID)
	return s.renderZone(c, http.StatusOK, name, loc, "")
}

func (s *Server) renderZone(c echo.Context, code int, name string, loc *time.Location, msg string) error {
	d := zoneData{Zone: name, Zones: pim.CanonicalZones(), Error: msg}
	if !slices.Contains(d.Zones, name) {
		d.Zones = append([]string{name}, d.Zones...)
	}
	d.Now = s.d.Now().In(loc).Format("Monday 2 January 2006, 15:04 MST")
	return s.render(c, code, "diary_settings.html", "Diary settings", d)
}

// diarySettingsSave stores the chosen zone.
func (s *Server) diarySettingsSave(c echo.Context) error {
	ctx := c.Request().Context()
	name := strings.TrimSpace(c.FormValue("zone"))
	if _, err := pim.ResolveTimeZone(name); name == "" || err != nil {
		cur, curLoc := s.userZone(ctx, ident(c).User.ID)
		return s.renderZone(c, http.StatusBadRequest, cur, curLoc, "Choose a time zone from the list.")
	}
	if err := s.store.SetUserTimeZone(ctx, ident(c).User.ID, name); err != nil {
		return err
	}
	s.flash(c, "Your diary is now shown in "+name+" time.")
	return c.Redirect(http.StatusSeeOther, "/diary")
}
