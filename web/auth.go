package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"airlock/internal/authguard"
	"airlock/store"
)

// errLoginFailed is the one answer to every failed sign-in: unknown user,
// wrong password and disabled account look the same.
var errLoginFailed = errors.New("the address or password is not right")

// errTooManyAttempts is answered when a client or account is rate-limited
// or locked.
var errTooManyAttempts = errors.New("too many attempts; wait a minute and try again")

// errLoginTooLong refuses a login longer than any address.
var errLoginTooLong = errors.New("the address is too long")

// checkPassword verifies a sign-in through the guard (the lockout every
// entry point shares) and audits a success; the guard audits failures.
func (s *Server) checkPassword(c echo.Context, login, pw, via string) (*store.User, error) {
	ip := c.RealIP()
	if !s.limits.ip.allow(ip) {
		s.auditRefusal(c, "auth."+via, "", "rate limited")
		return nil, errTooManyAttempts
	}
	if strings.TrimSpace(login) == "" || pw == "" {
		return nil, errLoginFailed
	}
	u, err := s.guard.Check(c.Request().Context(), "auth."+via, login, pw, ip)
	switch {
	case errors.Is(err, authguard.ErrFailed):
		return nil, errLoginFailed
	case errors.Is(err, authguard.ErrLocked), errors.Is(err, authguard.ErrBusy):
		return nil, errTooManyAttempts
	case errors.Is(err, authguard.ErrLoginTooLong):
		return nil, errLoginTooLong
	case err != nil:
		return nil, err
	}
	if u.Disabled {
		s.audit(c, &store.AuditEvent{Actor: u.Email, Action: "auth." + via, TargetType: "user", Target: u.Email, UserID: &u.ID, Outcome: "failure", Detail: "account disabled"})
		return nil, errLoginFailed
	}
	s.audit(c, &store.AuditEvent{Actor: u.Email, Action: "auth." + via, TargetType: "user", Target: u.Email, UserID: &u.ID, Outcome: "success"})
	return u, nil
}

// checkCode checks a second-factor code for u through the guard: a
// counter per account shared by every node, and the account's lock.
func (s *Server) checkCode(c echo.Context, via string, u *store.User, secret, code string) (bool, error) {
	err := s.guard.CheckCode(c.Request().Context(), "auth."+via, u, c.RealIP(), func() (bool, error) {
		return s.checkTOTP(c.Request().Context(), u, secret, code)
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, authguard.ErrFailed):
		return false, nil
	case errors.Is(err, authguard.ErrLocked):
		return false, errTooManyAttempts
	}
	return false, err
}

func (s *Server) home(c echo.Context) error {
	id := ident(c)
	switch {
	case id == nil:
		return c.Redirect(http.StatusSeeOther, "/login")
	case id.User.IsAdmin():
		return c.Redirect(http.StatusSeeOther, "/admin")
	}
	return c.Redirect(http.StatusSeeOther, "/mail")
}

func (s *Server) loginForm(c echo.Context) error {
	return s.render(c, http.StatusOK, "login.html", "Sign in", map[string]any{"Next": safeNext(c.QueryParam("next")), "SharedIdle": s.sharedIdleText()})
}

func (s *Server) loginSubmit(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	login := c.FormValue("login")
	u, err := s.checkPassword(c, login, c.FormValue("password"), "web_login")
	if err != nil {
		if code := loginErrorCode(err); code != 0 {
			if len(login) > authguard.MaxLogin {
				login = "" // not echoed back
			}
			return s.render(c, code, "login.html", "Sign in", map[string]any{"Next": next, "Login": login, "Error": capitalise(err.Error()) + ".",
				"Shared": c.FormValue("shared") == "yes", "SharedIdle": s.sharedIdleText()})
		}
		return err
	}
	ctx := c.Request().Context()
	mfa, err := s.needsMFA(ctx, u)
	if err != nil {
		return err
	}
	if err := s.setSessionCookie(c, u, false, c.FormValue("shared") == "yes"); err != nil {
		return err
	}
	if mfa {
		id := &identity{User: u, Claims: &claims{}, needsMFA: true}
		return c.Redirect(http.StatusSeeOther, s.secondFactorURL(c, id)+"?next="+urlQuery(next))
	}
	return c.Redirect(http.StatusSeeOther, landing(u, next))
}

// loginErrorCode is the HTTP status of a refused sign-in, or 0 for an
// error that is the server's.
func loginErrorCode(err error) int {
	switch {
	case errors.Is(err, errLoginFailed):
		return http.StatusUnauthorized
	case errors.Is(err, errTooManyAttempts):
		return http.StatusTooManyRequests
	case errors.Is(err, errLoginTooLong):
		return http.StatusBadRequest
	}
	return 0
}

// landing is where a user goes after signing in.
func landing(u *store.User, next string) string {
	if next != "" && (u.IsAdmin() || !strings.HasPrefix(next, "/admin")) {
		return next
	}
	if u.IsAdmin() {
		return "/admin"
	}
	return "/mail" // staff land on their mail
}

// safeNext accepts only a local path, so sign-in cannot redirect elsewhere.
// Browsers strip tabs and newlines from a URL and read a backslash as a
// slash (WHATWG URL standard), so "/\t/evil.example" or "/\\evil.example"
// become "//evil.example", a network-path reference to another host
// (RFC 3986 section 4.2). The value is refused unless it is an absolute
// path with no scheme, host or user, holds no space, and neither it nor its
// percent-decoded form holds a control character, a backslash or a leading
// "//".
func safeNext(next string) string {
	if !localPath(next) || strings.Contains(next, " ") {
		return ""
	}
	if dec, err := url.PathUnescape(next); err != nil || !localPath(dec) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	if strings.HasPrefix(next, "/login") || strings.HasPrefix(next, "/logout") {
		return ""
	}
	return next
}

// localPath: valid UTF-8 starting with exactly one slash, with no
// backslash and no control or other unprintable character.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || !utf8.ValidString(p) {
		return false
	}
	for _, r := range p {
		if r == '\\' || (r != ' ' && !unicode.IsPrint(r)) {
			return false
		}
	}
	return true
}

func (s *Server) logout(c echo.Context) error {
	if id := ident(c); id != nil {
		// Signing out ends every session of the user, on every browser.
		if err := s.revokeSessions(c.Request().Context(), id.User.ID); err != nil {
			return err
		}
		s.live.endUser(id.User.ID)
		s.audit(c, &store.AuditEvent{Action: "auth.logout", TargetType: "user", Target: id.User.Email, UserID: &id.User.ID})
	}
	s.clearSessionCookie(c)
	s.flash(c, "You have signed out.")
	return c.Redirect(http.StatusSeeOther, "/login")
}

// TOTP parameters: RFC 6238 defaults, which every authenticator app reads.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// checkTOTP accepts a code for the current 30-second step or one either
// side, once: a step at or before the last accepted one is a replay.
func (s *Server) checkTOTP(ctx context.Context, u *store.User, secret, code string) (bool, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return false, nil
	}
	lastKey := settingTOTPLastStep + strconv.FormatInt(u.ID, 10)
	v, err := s.store.Setting(ctx, lastKey, "0")
	if err != nil {
		return false, err
	}
	last, _ := strconv.ParseInt(v, 10, 64)
	now := s.d.Now()
	for _, off := range []int{0, -1, 1} {
		t := now.Add(time.Duration(off) * 30 * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totpOpts)
		if err != nil {
			return false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step := t.Unix() / 30
			if step <= last {
				return false, nil
			}
			return true, s.store.SetSetting(ctx, lastKey, strconv.FormatInt(step, 10))
		}
	}
	return false, nil
}

func (s *Server) totpForm(c echo.Context) error {
	return s.render(c, http.StatusOK, "totp.html", "Second step", map[string]any{"Next": safeNext(c.QueryParam("next"))})
}

func (s *Server) totpSubmit(c echo.Context) error {
	id := ident(c)
	ctx := c.Request().Context()
	next := safeNext(c.FormValue("next"))
	secret, err := s.store.Setting(ctx, settingTOTPSecret+strconv.FormatInt(id.User.ID, 10), "")
	if err != nil {
		return err
	}
	if secret == "" {
		return c.Redirect(http.StatusSeeOther, "/account/totp")
	}
	acct := id.User.Email
	tooMany := func() error {
		return s.render(c, http.StatusTooManyRequests, "totp.html", "Second step", map[string]any{"Next": next, "Error": "Too many attempts; wait a minute and try again."})
	}
	if !s.limits.ip.allow(c.RealIP()) {
		return tooMany()
	}
	ok, err := s.checkCode(c, "totp", id.User, secret, c.FormValue("code"))
	if errors.Is(err, errTooManyAttempts) {
		return tooMany()
	} else if err != nil {
		return err
	}
	if !ok {
		return s.render(c, http.StatusUnauthorized, "totp.html", "Second step", map[string]any{"Next": next, "Error": "That code is not right, or was already used. Wait for the next one."})
	}
	s.audit(c, &store.AuditEvent{Action: "auth.totp", TargetType: "user", Target: acct, UserID: &id.User.ID, Outcome: "success"})
	if err := s.setSessionCookie(c, id.User, true, id.Claims.Shared); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, landing(id.User, next))
}

// totpEnrolForm shows a new secret as a QR code and as text. The secret is
// kept as pending until the user proves the app has it.
func (s *Server) totpEnrolForm(c echo.Context) error {
	id := ident(c)
	ctx := c.Request().Context()
	uid := strconv.FormatInt(id.User.ID, 10)
	enrolled, err := s.store.Setting(ctx, settingTOTPSecret+uid, "")
	if err != nil {
		return err
	}
	if enrolled != "" && !id.Claims.MFA {
		// Replacing a factor needs the current one first.
		return c.Redirect(http.StatusSeeOther, "/login/totp?next=/account/totp")
	}
	key, err := s.pendingTOTP(ctx, id.User)
	if err != nil {
		return err
	}
	img, err := key.Image(220, 220)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "totp_enrol.html", "Two-step sign-in", map[string]any{
		"QR":       "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
		"Secret":   key.Secret(),
		"Enrolled": enrolled != "",
		"Next":     safeNext(c.QueryParam("next")),
	})
}

func (s *Server) pendingTOTP(ctx context.Context, u *store.User) (*otp.Key, error) {
	k := settingTOTPPending + strconv.FormatInt(u.ID, 10)
	url, err := s.store.Setting(ctx, k, "")
	if err != nil {
		return nil, err
	}
	if url != "" {
		return otp.NewKeyFromURL(url)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Airlock " + s.d.Hostname, AccountName: u.Email, Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	return key, s.store.SetSetting(ctx, k, key.URL())
}

func (s *Server) totpEnrolSubmit(c echo.Context) error {
	id := ident(c)
	ctx := c.Request().Context()
	uid := strconv.FormatInt(id.User.ID, 10)
	enrolled, err := s.store.Setting(ctx, settingTOTPSecret+uid, "")
	if err != nil {
		return err
	}
	if enrolled != "" && !id.Claims.MFA {
		return c.Redirect(http.StatusSeeOther, "/login/totp?next=/account/totp")
	}
	key, err := s.pendingTOTP(ctx, id.User)
	if err != nil {
		return err
	}
	if !s.limits.ip.allow(c.RealIP()) {
		return echo.NewHTTPError(http.StatusTooManyRequests, "Too many attempts; wait a minute and try again.")
	}
	ok, err := s.checkCode(c, "totp_enrol", id.User, key.Secret(), c.FormValue("code"))
	if errors.Is(err, errTooManyAttempts) {
		return echo.NewHTTPError(http.StatusTooManyRequests, "Too many attempts; wait a minute and try again.")
	} else if err != nil {
		return err
	}
	if !ok {
		s.flash(c, "That code did not match. Check the phone's clock and try the next code.")
		return c.Redirect(http.StatusSeeOther, "/account/totp")
	}
	if err := s.store.SetSetting(ctx, settingTOTPSecret+uid, key.Secret()); err != nil {
		return err
	}
	if err := s.store.SetSetting(ctx, settingTOTPPending+uid, ""); err != nil {
		return err
	}
	s.audit(c, &store.AuditEvent{Action: "auth.totp_enrolled", TargetType: "user", Target: id.User.Email, UserID: &id.User.ID})
	if err := s.setSessionCookie(c, id.User, true, id.Claims.Shared); err != nil {
		return err
	}
	s.flash(c, "Two-step sign-in is on. You will be asked for a code each time you sign in.")
	return c.Redirect(http.StatusSeeOther, landing(id.User, safeNext(c.FormValue("next"))))
}

func capitalise(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
