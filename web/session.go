package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"airlock/devices"
	"airlock/store"
)

// Org setting keys owned by the web layer.
const (
	settingSessionKey    = "web_session_key"     // hex HS256 key shared by every node
	settingTOTPRequired  = "admin_totp_required" // admins must use a second factor unless "false"
	settingTOTPSecret    = "totp:"               // + user id: the enrolled TOTP secret
	settingTOTPPending   = "totp_pending:"       // + user id: a secret being enrolled
	settingTOTPLastStep  = "totp_last:"          // + user id: last accepted time step (no replay)
	settingMDMSecret     = "mdm_webhook_secret"  // HMAC key of the MDM verdict webhook
	sessionCookie        = "airlock_session"
	issuer               = "airlock"
	audienceDashboard    = "airlock-dashboard"
	audienceAPI          = "airlock-api"
	identityKey          = "airlock.identity"
	sessionRenewFraction = 2 // renew once 1/2 of the lifetime has passed
)

// claims are what a session or API token says.
type claims struct {
	jwt.RegisteredClaims
	Email string `json:"email"`
	Role  string `json:"role"`
	Gen   int64  `json:"gen"`
	// MFA: the holder passed the second factor (or none was needed when
	// the token was issued; requireAdmin re-checks).
	MFA bool `json:"mfa,omitempty"`
	// Sid names the browser session; it stays the same when the token is
	// renewed, so forms rendered before a renewal still post (the CSRF
	// token is bound to it).
	Sid string `json:"sid,omitempty"`
	// AuthTime is when the user signed in (OpenID Connect's auth_time);
	// renewal never takes a session past AuthTime + its absolute lifetime.
	AuthTime int64 `json:"auth_time,omitempty"`
	// Shared: signed in on a shared computer (shared.go): a short idle
	// timeout and a cookie that ends with the browser.
	Shared bool `json:"shared,omitempty"`
}

// sessionStart is when the session began: auth_time, or for tokens
// without one, their own issue time.
func (c *claims) sessionStart() time.Time {
	if c.AuthTime != 0 {
		return time.Unix(c.AuthTime, 0)
	}
	if c.IssuedAt != nil {
		return c.IssuedAt.Time
	}
	return time.Time{}
}

// identity is the signed-in user of a request.
type identity struct {
	User   *store.User
	Claims *claims
	// needsMFA: the user must pass the second factor (needsMFA).
	needsMFA bool
}

// actor returns the devices.Actor for the audit log and permission checks.
func (id *identity) actor(c echo.Context) devices.Actor {
	admin := id.User.IsAdmin() && (id.Claims.MFA || !id.needsMFA)
	return devices.Actor{Email: id.User.Email, Admin: admin, UserID: id.User.ID, IP: c.RealIP()}
}

// keyring loads (or creates) the signing key from org_settings.
type keyring struct {
	st  *store.Store
	mu  sync.Mutex
	key []byte
}

func (k *keyring) get(ctx context.Context) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	v, err := k.st.Setting(ctx, settingSessionKey, "")
	if err != nil {
		return nil, err
	}
	if v == "" {
		b := make([]byte, 32)
		rand.Read(b)
		if err := k.st.SetSetting(ctx, settingSessionKey, hex.EncodeToString(b)); err != nil {
			return nil, err
		}
		// Two nodes starting at once may both write; read back so that
		// this node uses whichever key won.
		if v, err = k.st.Setting(ctx, settingSessionKey, ""); err != nil {
			return nil, err
		}
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("org setting %s is not a 32-byte hex key", settingSessionKey)
	}
	k.key = key
	return key, nil
}

// sessionGen returns the user's current session generation.
func (s *Server) sessionGen(ctx context.Context, userID int64) (int64, error) {
	return s.store.SessionGeneration(ctx, userID)
}

// revokeSessions invalidates every token the user holds (the store's one
// generation counter, which a password change from anywhere also bumps).
func (s *Server) revokeSessions(ctx context.Context, userID int64) error {
	return s.store.RevokeSessions(ctx, userID)
}

// sessionMark ties renewed tokens to the browser session they continue.
type sessionMark struct {
	ID     string
	Start  time.Time
	Shared bool
}

// issue signs a token for u (an API token, or a session's first).
func (s *Server) issue(ctx context.Context, u *store.User, audience string, mfa bool, ttl time.Duration) (string, time.Time, error) {
	return s.sign(ctx, u, audience, mfa, ttl, sessionMark{})
}

// sign signs a token for u; a dashboard token carries its session's mark
// and never outlives the session's absolute lifetime.
func (s *Server) sign(ctx context.Context, u *store.User, audience string, mfa bool, ttl time.Duration, m sessionMark) (string, time.Time, error) {
	key, err := s.keys.get(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	gen, err := s.sessionGen(ctx, u.ID)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.d.Now()
	exp := now.Add(ttl)
	var authTime int64
	if audience == audienceDashboard {
		if m.ID == "" {
			m.ID, m.Start = rand.Text(), now
		}
		if end := m.Start.Add(s.sessionMaxAge(u)); exp.After(end) {
			exp = end
		}
		authTime = m.Start.Unix()
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   strconv.FormatInt(u.ID, 10),
			Audience:  jwt.ClaimStrings{audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		Email: u.Email, Role: string(u.Role), Gen: gen, MFA: mfa, Sid: m.ID, AuthTime: authTime, Shared: m.Shared,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	return tok, exp, err
}

// Token rejection reasons, for the audit log.
var (
	errTokenInvalid = errors.New("token invalid")
	errTokenRevoked = errors.New("token revoked")
)

// parseToken verifies a token's signature (HS256 only: "none", RS/ES and
// every other algorithm are refused), issuer, audience and times, then
// checks it against the user as stored now.
func (s *Server) parseToken(ctx context.Context, raw, audience string) (*identity, error) {
	key, err := s.keys.get(ctx)
	if err != nil {
		return nil, err
	}
	var c claims
	_, err = jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.d.Now),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errTokenInvalid, err)
	}
	if c.NotBefore == nil {
		return nil, fmt.Errorf("%w: no nbf", errTokenInvalid)
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: subject %q", errTokenInvalid, c.Subject)
	}
	u, err := s.store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: user %d gone", errTokenRevoked, id)
	} else if err != nil {
		return nil, err
	}
	switch gen, err := s.sessionGen(ctx, id); {
	case err != nil:
		return nil, err
	case u.Disabled:
		return nil, fmt.Errorf("%w: account disabled", errTokenRevoked)
	case string(u.Role) != c.Role:
		return nil, fmt.Errorf("%w: role changed from %s to %s", errTokenRevoked, c.Role, u.Role)
	case gen != c.Gen:
		return nil, fmt.Errorf("%w: signed out (generation %d, now %d)", errTokenRevoked, c.Gen, gen)
	}
	if audience == audienceDashboard {
		if max := s.sessionMaxAge(u); s.d.Now().After(c.sessionStart().Add(max)) {
			return nil, fmt.Errorf("%w: session older than its absolute lifetime of %v", errTokenInvalid, max)
		}
	}
	ident := &identity{User: u, Claims: &c}
	if ident.needsMFA, err = s.needsMFA(ctx, u); err != nil {
		return nil, err
	}
	return ident, nil
}

// needsMFA says whether u must pass a second factor: users who enrolled
// one always, admins when the organisation requires it.
func (s *Server) needsMFA(ctx context.Context, u *store.User) (bool, error) {
	secret, err := s.store.Setting(ctx, settingTOTPSecret+strconv.FormatInt(u.ID, 10), "")
	if err != nil {
		return false, err
	}
	if secret != "" {
		return true, nil
	}
	if !u.IsAdmin() {
		return false, nil
	}
	// Required unless turned off explicitly (an audited setting): a
	// missing or unreadable value keeps the second factor.
	req, err := s.store.Setting(ctx, settingTOTPRequired, "true")
	return req != "false", err
}

// sessionMaxAge is how long a browser session may last in all, however
// active: shorter for administrators (NCSC cloud security principle 10:
// re-authenticate privileged users more often).
func (s *Server) sessionMaxAge(u *store.User) time.Duration {
	if u.IsAdmin() {
		return s.d.AdminSessionMaxAge
	}
	return s.d.SessionMaxAge
}

// setSessionCookie starts a new browser session; shared: on a shared
// computer.
func (s *Server) setSessionCookie(c echo.Context, u *store.User, mfa, shared bool) error {
	return s.writeSession(c, u, mfa, sessionMark{Shared: shared})
}

// renewSession extends a session on activity, keeping its id and start.
func (s *Server) renewSession(c echo.Context, id *identity) error {
	return s.writeSession(c, id.User, id.Claims.MFA, sessionMark{ID: id.Claims.Sid, Start: id.Claims.sessionStart(), Shared: id.Claims.Shared})
}

func (s *Server) writeSession(c echo.Context, u *store.User, mfa bool, m sessionMark) error {
	tok, exp, err := s.sign(c.Request().Context(), u, audienceDashboard, mfa, s.sessionTTL(m.Shared), m)
	if err != nil {
		return err
	}
	s.setCookie(c, sessionCookie, tok, s.sessionCookieAge(m.Shared, exp))
	return nil
}

func (s *Server) clearSessionCookie(c echo.Context) { s.setCookie(c, sessionCookie, "", -1) }

// loadSession reads the session cookie. A bad or revoked token is refused
// (audited, cookie cleared) and the request continues anonymously, so pages
// that need a user redirect to sign-in.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(s.cookieName(sessionCookie))
		if err != nil || ck.Value == "" {
			return next(c)
		}
		ctx := c.Request().Context()
		id, err := s.parseToken(ctx, ck.Value, audienceDashboard)
		if err != nil {
			if !errors.Is(err, errTokenInvalid) && !errors.Is(err, errTokenRevoked) {
				return err
			}
			s.auditRefusal(c, "auth.session_rejected", "", err.Error())
			s.clearSessionCookie(c)
			return next(c)
		}
		c.Set(identityKey, id)
		// Renew on activity; what the browser does on its own is not.
		if exp := id.Claims.ExpiresAt; !passiveRequest(c) && exp != nil && s.dueForRenewal(id.Claims, exp.Time) &&
			exp.Before(id.Claims.sessionStart().Add(s.sessionMaxAge(id.User))) {
			if err := s.renewSession(c, id); err != nil {
				s.log.Warn("renew session", "err", err)
			}
		}
		return next(c)
	}
}

func ident(c echo.Context) *identity {
	id, _ := c.Get(identityKey).(*identity)
	return id
}

// requireSession: signed in, second factor or not (the second-factor pages).
func (s *Server) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ident(c) == nil {
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
		}
		return next(c)
	}
}

// requireUser: signed in, with the second factor if the user needs one.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := ident(c)
		if id == nil {
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
		}
		if id.needsMFA && !id.Claims.MFA {
			return c.Redirect(http.StatusSeeOther, s.secondFactorURL(c, id))
		}
		return next(c)
	}
}

// requireAdmin: an administrator (after requireUser).
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := ident(c)
		if !id.User.IsAdmin() {
			s.auditRefusal(c, "auth.forbidden", id.User.Email, "not an administrator: "+c.Request().Method+" "+c.Request().URL.Path)
			return echo.NewHTTPError(http.StatusForbidden, "This page is for administrators.")
		}
		return next(c)
	}
}

// secondFactorURL is where a signed-in user without the second factor goes:
// the code prompt if enrolled, else enrolment.
func (s *Server) secondFactorURL(c echo.Context, id *identity) string {
	secret, _ := s.store.Setting(c.Request().Context(), settingTOTPSecret+strconv.FormatInt(id.User.ID, 10), "")
	if secret != "" {
		return "/login/totp"
	}
	return "/account/totp"
}

// auditRefusal records a refused request, rate-limited per client address.
func (s *Server) auditRefusal(c echo.Context, action, actor, detail string) {
	ip := c.RealIP()
	s.log.Info("request refused", "action", action, "ip", ip, "actor", actor, "path", c.Request().URL.Path, "detail", detail)
	if !s.auditRL.allow(ip) {
		return
	}
	if actor == "" {
		actor = "anonymous"
	}
	e := &store.AuditEvent{Actor: actor, ActorIP: ip, Action: action, TargetType: "route", Target: c.Request().Method + " " + c.Request().URL.Path, Outcome: "refused", Detail: detail}
	if err := s.store.Audit(c.Request().Context(), e); err != nil {
		s.log.Error("audit", "action", action, "err", err)
	}
}

// audit records something the web layer did itself.
func (s *Server) audit(c echo.Context, e *store.AuditEvent) {
	if e.ActorIP == "" {
		e.ActorIP = c.RealIP()
	}
	if e.Actor == "" {
		if id := ident(c); id != nil {
			e.Actor = id.User.Email
		}
	}
	if err := s.store.Audit(c.Request().Context(), e); err != nil {
		s.log.Error("audit", "action", e.Action, "err", err)
	}
}
