package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// The signature: plain text the user writes once at /mail/signature, put
// below the body of every new message, reply and forward the web starts.
// It is kept in the settings table under the user's id.

const settingSignature = "mail_signature:"

// maxSignature bounds a signature, in characters.
const maxSignature = 2000

func signatureKey(userID int64) string { return settingSignature + strconv.FormatInt(userID, 10) }

func (s *Server) signature(ctx context.Context, userID int64) (string, error) {
	return s.store.Setting(ctx, signatureKey(userID), "")
}

// sigBlock is the signature with the usual "-- " separator line (RFC 3676
// 4.3), which mail programs recognise.
func sigBlock(sig string) string { return "-- \n" + sig }

type signatureData struct {
	mailShell
	Signature string
	Error     string
}

func (s *Server) signaturePage(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	sig, err := s.signature(ctx, me.ID)
	if err != nil {
		return err
	}
	return s.renderSignature(c, http.StatusOK, sig, "")
}

func (s *Server) renderSignature(c echo.Context, code int, sig, msg string) error {
	me := ident(c).User
	tree, err := s.mailTree(c.Request().Context(), me.ID, 0)
	if err != nil {
		return err
	}
	return s.render(c, code, "mail_signature.html", "Signature", &signatureData{mailShell: mailShell{Tree: tree}, Signature: sig, Error: msg})
}

func (s *Server) signatureSave(c echo.Context) error {
	sig := strings.TrimRight(strings.ReplaceAll(c.FormValue("signature"), "\r\n", "\n"), "\n ")
	if n := utf8.RuneCountInString(sig); n > maxSignature {
		return s.renderSignature(c, http.StatusUnprocessableEntity, sig, "Keep the signature to "+strconv.Itoa(maxSignature)+" characters (it has "+strconv.Itoa(n)+").")
	}
	if err := s.store.SetSetting(c.Request().Context(), signatureKey(ident(c).User.ID), sig); err != nil {
		return err
	}
	if sig == "" {
		s.flash(c, "Signature removed.")
	} else {
		s.flash(c, "Signature saved: it will be added to new messages, replies and forwards.")
	}
	return c.Redirect(http.StatusSeeOther, "/mail/signature")
}
