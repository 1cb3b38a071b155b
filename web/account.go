package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"airlock/internal/password"
	"airlock/oof"
	"airlock/store"
)

// The user's own account (/account): change password, automatic replies
// (the OOF phones set through Settings), their devices with wipe (my.go),
// who can use their mailbox (delegations_*.go). It replaced /my, whose
// addresses redirect here so bookmarks and calendar subscriptions keep
// working.

func (s *Server) accountRoutes(h *echo.Group) {
	a := h.Group("/account", s.requireUser)
	a.GET("", s.accountPage)
	a.POST("/password", s.accountPassword)
	a.POST("/oof", s.accountOOF)
	a.GET("/devices/:id/wipe", s.myWipeConfirm)
	a.POST("/devices/:id/wipe", s.myWipe)
	a.GET("/delegations", s.myDelegations)          // delegated calendars (delegations.go)
	a.POST("/delegates", s.myGrantDelegate)         // the owner grants (delegations_grant.go)
	a.POST("/delegates/revoke", s.myRevokeDelegate) // and revokes
	// Managing a delegated calendar (delegations_write.go).
	a.GET("/delegations/:owner/diary", s.delegateDiary)
	a.POST("/delegations/:owner/events", s.delegateSaveEvent)
	a.POST("/delegations/:owner/events/cancel", s.delegateCancelEvent)
	a.POST("/delegations/:owner/requests/:id/respond", s.delegateRespond)
	// Session or Basic credentials, so calendar apps can subscribe; served
	// at the old address too, since a subscribing app may not follow a
	// redirect.
	h.GET("/account/delegations/:owner/calendar.ics", s.delegatedCalendarICS)
	h.GET("/my/delegations/:owner/calendar.ics", s.delegatedCalendarICS)

	// /my and everything under it moved here.
	h.GET("/my", s.movedToAccount)
	h.GET("/my/*", s.movedToAccount)
	h.POST("/my/*", s.movedToAccount)
}

// movedToAccount redirects an old /my address to its /account one: 301
// for reads, 308 for forms (the browser posts the same form again, CSRF
// token included, to the new address).
func (s *Server) movedToAccount(c echo.Context) error {
	r := c.Request()
	to := "/account" + strings.TrimPrefix(r.URL.EscapedPath(), "/my")
	if to == "/account/" {
		to = "/account"
	}
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect
	}
	return c.Redirect(code, to)
}

// accountData is the account page.
type accountData struct {
	myData
	// Password: the change-password form's errors, by field.
	Password fieldErrors
	// OOF is the automatic-replies form, as stored or as posted.
	OOF     oofForm
	OOFErrs fieldErrors
	// HasTOTP: two-step sign-in is on.
	HasTOTP bool
}

// fieldErrors are a form's errors by field name.
type fieldErrors map[string]string

func (s *Server) accountPage(c echo.Context) error {
	ctx := c.Request().Context()
	uid := ident(c).User.ID
	set, _, err := oof.Load(ctx, s.store, uid)
	if err != nil {
		return err
	}
	return s.renderAccount(c, http.StatusOK, &accountData{OOF: oofFormOf(set)})
}

// renderAccount fills in the parts of the page that are not forms.
func (s *Server) renderAccount(c echo.Context, code int, d *accountData) error {
	ctx := c.Request().Context()
	u := ident(c).User
	var err error
	if d.Devices, err = s.store.DevicesOfUser(ctx, u.ID); err != nil {
		return err
	}
	if d.Delegates, err = s.delegatesOf(ctx, u.ID); err != nil {
		return err
	}
	d.Photo = s.photoURL(ctx, u.ID)
	d.CanGrant = s.grants() != nil
	if d.HasTOTP, err = s.hasTOTP(ctx, u.ID); err != nil {
		return err
	}
	return s.render(c, code, "account.html", "Your account", d)
}

// accountPassword changes the user's password. The current one is needed;
// the change revokes every other session and API token of the user (the
// store bumps the session generation) and ends their live streams, and
// this browser's session is issued again under the new generation so it
// stays signed in.
func (s *Server) accountPassword(c echo.Context) error {
	id := ident(c)
	ctx := c.Request().Context()
	cur, pw, again := c.FormValue("current"), c.FormValue("new"), c.FormValue("confirm")
	errs := fieldErrors{}
	if msg := newPasswordProblem(pw, id.User); msg != "" {
		errs["new"] = msg
	} else if pw != again {
		errs["confirm"] = "The two new passwords are not the same."
	}
	if cur == "" {
		errs["current"] = "Enter your current password."
	} else if _, err := s.checkPassword(c, id.User.Email, cur, "password_check"); err != nil {
		if !errors.Is(err, errLoginFailed) && !errors.Is(err, errTooManyAttempts) {
			return err
		}
		errs["current"] = "Your current password is not right."
		if errors.Is(err, errTooManyAttempts) {
			errs["current"] = capitalise(errTooManyAttempts.Error()) + "."
		}
	} else if cur == pw {
		errs["new"] = "Choose a password different from the current one."
	}
	if len(errs) > 0 {
		set, _, err := oof.Load(ctx, s.store, id.User.ID)
		if err != nil {
			return err
		}
		return s.renderAccount(c, http.StatusUnprocessableEntity, &accountData{Password: errs, OOF: oofFormOf(set)})
	}
	hash, err := password.Hash(pw, password.Default)
	if err != nil {
		return err
	}
	if err := s.store.SetPasswordHash(ctx, id.User.ID, hash); err != nil {
		return err
	}
	s.live.endUser(id.User.ID)
	s.audit(c, &store.AuditEvent{Action: "user.password_changed", TargetType: "user", Target: id.User.Email, UserID: &id.User.ID,
		Outcome: "success", Detail: "by the user on the web; other sessions and API tokens revoked"})
	// The same browser session (id and start) under the new generation.
	if err := s.renewSession(c, id); err != nil {
		return err
	}
	s.flash(c, "Your password is changed. You are signed out everywhere else; phones and mail programs need the new password.")
	return c.Redirect(http.StatusSeeOther, "/account#password")
}

// newPasswordProblem says what is wrong with pw as u's new password, or "".
func newPasswordProblem(pw string, u *store.User) string {
	if pw == "" {
		return "Enter a new password."
	}
	// The service's one password rule (NCSC guidance: length, 12
	// characters for administrators, no common password, no composition
	// rules), as the command line applies it.
	switch err := password.Check(pw, u.IsAdmin()); {
	case errors.Is(err, password.ErrTooShort) && u.IsAdmin():
		return fmt.Sprintf("Use at least %d characters.", password.MinAdmin)
	case errors.Is(err, password.ErrTooShort):
		return fmt.Sprintf("Use at least %d characters.", password.MinStaff)
	case errors.Is(err, password.ErrTooLong):
		return fmt.Sprintf("Use at most %d bytes.", password.MaxLen)
	case errors.Is(err, password.ErrCommon):
		return "That is one of the most common passwords. Choose another, for example three random words."
	}
	local, _, _ := strings.Cut(strings.ToLower(u.Email), "@")
	if l := strings.ToLower(pw); l == strings.ToLower(u.Email) || l == local {
		return "Do not use your email address as your password."
	}
	return ""
}

// hasTOTP says whether the user enrolled a second factor.
func (s *Server) hasTOTP(ctx context.Context, userID int64) (bool, error) {
	v, err := s.store.Setting(ctx, settingTOTPSecret+strconv.FormatInt(userID, 10), "")
	return v != "", err
}

// oofForm is the automatic-replies form. The web offers one message for
// colleagues and one for everyone else (phones may keep a third, for
// known contacts; a save from here sets it to the outside message).
type oofForm struct {
	State    string // "off", "on", "between"
	Start    string // datetime-local, in the display zone
	End      string
	Internal string
	External string
	// ExternalOn: people outside the organisation get a reply too.
	ExternalOn bool
	// Zone names the zone Start and End are in.
	Zone string
}

const localTime = "2006-01-02T15:04"

func oofFormOf(set oof.Settings) oofForm {
	f := oofForm{State: "off", Internal: set.Internal.AsText(), Zone: displayZone.String()}
	switch set.State {
	case oof.StateGlobal:
		f.State = "on"
	case oof.StateTimeBased:
		f.State = "between"
	}
	if !set.Start.IsZero() {
		f.Start = set.Start.In(displayZone).Format(localTime)
	}
	if !set.End.IsZero() {
		f.End = set.End.In(displayZone).Format(localTime)
	}
	ext := set.ExternalUnknown
	if !ext.Enabled && set.ExternalKnown.Enabled {
		ext = set.ExternalKnown
	}
	f.External, f.ExternalOn = ext.AsText(), ext.Enabled
	return f
}

// settings turns the form into the settings phones read, or field errors.
func (f oofForm) settings() (oof.Settings, fieldErrors) {
	errs := fieldErrors{}
	var set oof.Settings
	switch f.State {
	case "off":
		set.State = oof.StateDisabled
	case "on":
		set.State = oof.StateGlobal
	case "between":
		set.State = oof.StateTimeBased
		start, err1 := time.ParseInLocation(localTime, f.Start, displayZone)
		end, err2 := time.ParseInLocation(localTime, f.End, displayZone)
		if err1 != nil {
			errs["start"] = "Enter the date and time replies start."
		}
		if err2 != nil {
			errs["end"] = "Enter the date and time replies stop."
		}
		if err1 == nil && err2 == nil && !end.After(start) {
			errs["end"] = "Replies must stop after they start."
		}
		set.Start, set.End = start, end
	default:
		errs["state"] = "Choose whether replies are off or on."
	}
	in, out := strings.TrimSpace(f.Internal), strings.TrimSpace(f.External)
	if set.State != oof.StateDisabled && in == "" {
		errs["internal"] = "Write the reply colleagues get."
	}
	if f.ExternalOn && set.State != oof.StateDisabled && out == "" {
		errs["external"] = "Write the reply people outside get, or untick the box."
	}
	if len(in) > 60000 || len(out) > 60000 {
		errs["internal"] = "The replies are too long."
	}
	set.Internal = oof.Message{Enabled: in != "", Body: in}
	set.ExternalUnknown = oof.Message{Enabled: f.ExternalOn && out != "", Body: out}
	set.ExternalKnown = set.ExternalUnknown
	return set, errs
}

// accountOOF saves the automatic replies through the oof package, the
// store phones read with Settings.
func (s *Server) accountOOF(c echo.Context) error {
	id := ident(c)
	f := oofForm{State: c.FormValue("state"), Start: c.FormValue("start"), End: c.FormValue("end"),
		Internal: c.FormValue("internal"), External: c.FormValue("external"), ExternalOn: c.FormValue("external_on") == "yes",
		Zone: displayZone.String()}
	set, errs := f.settings()
	if len(errs) > 0 {
		return s.renderAccount(c, http.StatusUnprocessableEntity, &accountData{OOF: f, OOFErrs: errs})
	}
	if err := oof.Save(c.Request().Context(), s.store, id.User.ID, set); err != nil {
		if errors.Is(err, oof.ErrInvalid) {
			return s.renderAccount(c, http.StatusUnprocessableEntity, &accountData{OOF: f, OOFErrs: fieldErrors{"state": capitalise(err.Error())}})
		}
		return err
	}
	s.audit(c, &store.AuditEvent{Action: "user.oof_changed", TargetType: "user", Target: id.User.Email, UserID: &id.User.ID, Outcome: "success", Detail: "state " + f.State})
	msg := "Automatic replies are off."
	switch f.State {
	case "on":
		msg = "Automatic replies are on until you turn them off."
	case "between":
		msg = "Automatic replies are set for the dates you chose."
	}
	s.flash(c, msg)
	return c.Redirect(http.StatusSeeOther, "/account#oof")
}
