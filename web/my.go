package web

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"airlock/devices"
	"airlock/store"
)

// The users' devices on their account page (account.go): why one is
// refused, and wiping a lost phone. Everything here acts as the user, never
// as an administrator, even when an administrator uses it: another user's
// device is refused by devices.Service (and audited) and shown as not
// found.

type myData struct {
	Devices []store.Device
	Photo   template.URL // the directory photo colleagues see (photo.go)
	// Delegates are the colleagues the user let into their mailbox
	// (delegates, delegations_owner.go).
	Delegates []delegateRow
	// CanGrant: the owner may grant and revoke here (delegations_grant.go).
	CanGrant bool
}

// myDevice returns the user's own device, or 404 (audited) for anyone
// else's.
func (s *Server) myDevice(c echo.Context) (*store.Device, error) {
	dev, err := s.deviceParam(c)
	if err != nil {
		return nil, err
	}
	if dev.UserID != ident(c).User.ID {
		s.auditRefusal(c, "device.access_denied", ident(c).User.Email, "device "+c.Param("id")+" belongs to another user")
		return nil, echo.NewHTTPError(http.StatusNotFound, "No such device.")
	}
	return dev, nil
}

func (s *Server) myWipeConfirm(c echo.Context) error {
	dev, err := s.myDevice(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "my_wipe.html", "Wipe a device", map[string]any{"Device": dev, "CanAccount": dev.ProtocolVersion == "16.1"})
}

func (s *Server) myWipe(c echo.Context) error {
	me := ident(c).User
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "No such device.")
	}
	if c.FormValue("confirm") != "yes" {
		s.flash(c, "Nothing was wiped: tick the box to confirm.")
		return c.Redirect(http.StatusSeeOther, "/account/devices/"+strconv.FormatInt(id, 10)+"/wipe")
	}
	// The service checks ownership and audits a refusal.
	by := devices.Actor{Email: me.Email, UserID: me.ID, IP: c.RealIP()}
	dev, err := s.devs.RequestWipe(c.Request().Context(), by, id, c.FormValue("type") == "account")
	switch {
	case errors.Is(err, devices.ErrForbidden), errors.Is(err, store.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "No such device.")
	case err != nil:
		if msg, ok := actionError(err); ok {
			s.flash(c, msg)
			return c.Redirect(http.StatusSeeOther, "/account")
		}
		return err
	}
	s.flash(c, "Wipe requested for "+nonEmpty(dev.FriendlyName, dev.Model, dev.DeviceType)+". The next time it connects, it will erase itself. Change your password too.")
	return c.Redirect(http.StatusSeeOther, "/account")
}
