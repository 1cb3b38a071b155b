package web

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"airlock/directory"
	"airlock/store"
)

// Staff photos (the GAL picture devices show, MS-ASCMD 2.2.3.135): an
// administrator uploads or removes one on the user's page; the user sees
// theirs on /account. directory.PreparePhoto checks and scales what is uploaded.
// The pages show the stored photo inline (a data: URL, which the CSP's
// img-src allows), so no route serves photos on their own.

// photoBodyLimit is the upload route's body limit: a photo straight from
// a camera, with room for the form around it. Every other dashboard form
// keeps the 1 MB limit.
const photoBodyLimit = "9M"

// photoURL is the user's stored photo as a data: URL, or "" when there is
// none (or it cannot be read: the page shows no photo rather than fail).
func (s *Server) photoURL(ctx context.Context, userID int64) template.URL {
	p, err := s.store.Photo(ctx, userID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Error("photo", "user", userID, "err", err)
		}
		return ""
	}
	// The content type is one PreparePhoto wrote; the data is base64, so
	// nothing in it can leave the attribute.
	return template.URL("data:" + p.ContentType + ";base64," + base64.StdEncoding.EncodeToString(p.Data))
}

// userPhoto sets (file field "photo") or, with clear=1, removes a user's
// photo, and audits either. A refused file changes nothing and says why.
func (s *Server) userPhoto(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.userParam(c)
	if err != nil {
		return err
	}
	back := "/admin/users/" + strconv.FormatInt(u.ID, 10)
	if c.FormValue("clear") == "1" {
		if err := directory.ClearPhoto(ctx, s.store, u.ID); err != nil {
			return err
		}
		s.audit(c, &store.AuditEvent{Action: "user.photo_cleared", TargetType: "user", Target: u.Email, UserID: &u.ID, Outcome: "success", Detail: "directory photo removed"})
		s.flash(c, "Photo removed.")
		return c.Redirect(http.StatusSeeOther, back)
	}
	fh, err := c.FormFile("photo")
	if err != nil {
		s.flash(c, "Choose a JPEG or PNG file to upload.")
		return c.Redirect(http.StatusSeeOther, back)
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, directory.MaxPhotoUpload+1))
	if err != nil {
		return err
	}
	photo, err := directory.SetPhoto(ctx, s.store, u.ID, data)
	if errors.Is(err, directory.ErrPhoto) {
		s.audit(c, &store.AuditEvent{Action: "user.photo_set", TargetType: "user", Target: u.Email, UserID: &u.ID, Outcome: "refused", Detail: err.Error()})
		s.flash(c, "Photo not changed: "+err.Error()+".")
		return c.Redirect(http.StatusSeeOther, back)
	}
	if err != nil {
		return err
	}
	s.audit(c, &store.AuditEvent{Action: "user.photo_set", TargetType: "user", Target: u.Email, UserID: &u.ID, Outcome: "success",
		Detail: "directory photo set (" + strconv.Itoa(len(photo)) + " bytes stored)"})
	s.flash(c, "Photo saved. Colleagues' phones show it in the address book.")
	return c.Redirect(http.StatusSeeOther, back)
}
