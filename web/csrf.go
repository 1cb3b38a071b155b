package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// CSRF tokens are bound to the browser session: the token is
// HMAC-SHA256(server key, "csrf" | session id), so a token taken from one
// session (the attacker's own) is worthless in another, and a cookie
// planted by a sibling host cannot pair with a form it chose (OWASP CSRF
// cheat sheet, "signed double-submit cookie"). Before sign-in the session
// id is a random pre-session cookie. Cookies carry the __Host- prefix when
// served over HTTPS, so no other host, not even a subdomain, can set them
// (RFC 6265bis section 4.1.3.2).

const (
	csrfContextKey = "csrf"
	csrfCookie     = "airlock_csrf" // the pre-session id, before sign-in
	csrfFormField  = "_csrf"
	csrfHeader     = "X-CSRF-Token"
	hostPrefix     = "__Host-"
)

// cookieName gives a cookie the __Host- prefix when it can carry it:
// browsers accept the prefix only on Secure cookies, so a plain-HTTP
// server (tests, or a proxy that does not say it terminates TLS) uses the
// bare name.
func (s *Server) cookieName(base string) string {
	if s.d.Secure {
		return hostPrefix + base
	}
	return base
}

// setCookie writes one of the dashboard's cookies: host-only, Path=/,
// HttpOnly, SameSite=Strict, and Secure with the __Host- prefix over HTTPS.
// maxAge 0 is a browser-session cookie, -1 deletes it.
func (s *Server) setCookie(c echo.Context, base, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: s.cookieName(base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.d.Secure, SameSite: http.SameSiteStrictMode})
}

// csrf protects every form of the dashboard. Safe methods get a token for
// their forms; every other request must bring it back in the form field or
// header. A request a browser marks cross-site is refused outright.
// Failures are refused with 403 and audited.
func (s *Server) csrf() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			binding := s.csrfBinding(c)
			key, err := s.keys.get(c.Request().Context())
			if err != nil {
				return err
			}
			want := csrfToken(key, binding)
			c.Set(csrfContextKey, want)
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
				return next(c)
			}
			if site := c.Request().Header.Get("Sec-Fetch-Site"); site == "cross-site" {
				s.auditRefusal(c, "csrf.rejected", identityEmail(c), "Sec-Fetch-Site: "+site)
				return echo.NewHTTPError(http.StatusForbidden, "Cross-site request refused.")
			}
			got := c.Request().Header.Get(csrfHeader)
			if got == "" {
				got = c.FormValue(csrfFormField)
			}
			if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
				reason := "invalid csrf token"
				if got == "" {
					reason = "missing csrf token"
				}
				s.auditRefusal(c, "csrf.rejected", identityEmail(c), reason)
				return echo.NewHTTPError(http.StatusForbidden, "This form has expired or did not come from this site. Go back, reload the page and try again.")
			}
			return next(c)
		}
	}
}

// csrfBinding names the session a token belongs to: the signed-in
// session's id, or else the pre-session cookie (set here when missing).
func (s *Server) csrfBinding(c echo.Context) string {
	if id := ident(c); id != nil {
		if id.Claims.Sid != "" {
			return "session:" + id.Claims.Sid
		}
		// A token from before session ids: bound to its user and issue time.
		return "user:" + id.Claims.Subject + ":" + strconv.FormatInt(id.Claims.sessionStart().Unix(), 10)
	}
	if ck, err := c.Cookie(s.cookieName(csrfCookie)); err == nil && len(ck.Value) == 43 {
		return "anonymous:" + ck.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(c, csrfCookie, v, 12*3600)
	return "anonymous:" + v
}

func csrfToken(key []byte, binding string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("csrf\x00"))
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
