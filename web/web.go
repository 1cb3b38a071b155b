// Package web serves everything people and devices reach over HTTP: the
// ActiveSync endpoint (mounted from package activesync), autodiscover, the
// admin dashboard, the staff web's mail, the users' device page, setup
// guides, the admin JSON API, health checks, and (on a listener of its own)
// metrics.
//
// Pages are server-rendered html/template files embedded in the binary and
// work without JavaScript; htmx (vendored in static/) only saves a page
// reload on the quarantine queue and the rule preview.
//
// Every administrative change goes through devices.Service, which checks
// the actor's permission and writes the audit log; this package audits what
// it does itself (sign-in, sign-out, views of users and devices, settings,
// refused requests).
//
// # Implementation notes
//
// Sessions are HS256 JWTs (session.go) in an HttpOnly, SameSite=Strict
// cookie, signed with a key kept in org_settings so every node accepts every
// node's tokens. A token names the user, the role it was issued for and the
// user's session generation; each request reloads the user, so disabling a
// user, changing their role or password (anywhere: CLI, dashboard) or
// signing out (which bump the generation) revokes every token at once.
// Tokens are renewed when half their lifetime has passed, but never past the
// session's absolute lifetime (auth_time + 12 h for staff, 8 h for admins).
//
// CSRF (csrf.go): every dashboard POST must carry a token that is an HMAC
// of the browser session's id (the sid claim, kept across renewals; before
// sign-in a random pre-session cookie) under the server key, so a token is
// good only in the session it was issued to. Requests a browser marks
// cross-site are refused outright. Over HTTPS the session, CSRF and flash
// cookies carry the __Host- prefix (Secure, Path=/, no Domain), so no other
// host can plant them; a plain-HTTP server uses the bare names, since
// browsers refuse the prefix without Secure. The EAS endpoint, autodiscover
// and the bearer-token API are outside it.
//
// Staff mail (/mail, mail*.go): message HTML is sanitised on the server
// (bluemonday's UGC policy, tightened) and shown in a sandboxed iframe
// whose document has its own CSP (default-src 'none', no scripts, images
// only from the message until the reader asks); attachments are served as
// downloads with nosniff and a sandboxing CSP. Every change goes through
// the store calls ActiveSync uses, so phones see it at their next Sync.
// Unread counts are cached against each folder's change counter; subjects
// are sorted in Go (store.SubjectOrder), never by the database.
//
// Refusals (bad tokens, CSRF failures, forbidden routes) are audited, at
// most a few per second per client address, so a flood cannot bloat the
// hash-chained audit log; what is not audited is still logged.
package web

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"airlock/activesync"
	"airlock/devices"
	"airlock/internal/authguard"
	"airlock/internal/metrics"
	"airlock/message"
	"airlock/scheduling"
	"airlock/store"
)

//go:embed all:templates static
var assets embed.FS

// Deps are what the web layer needs from the rest of Airlock.
type Deps struct {
	Store *store.Store
	// Devices makes every device decision and admin change; nil builds one
	// on Store.
	Devices  *devices.Service
	Log      *slog.Logger
	Hostname string
	// Domain is the organisation's mail domain, for setup guides when no
	// one is signed in. Default: the hostname without its first label.
	Domain string
	// EAS serves /Microsoft-Server-ActiveSync; nil leaves it unmounted.
	EAS http.Handler
	// EASAuth checks the Basic credentials autodiscover requests carry (the
	// same checker, lockout and cache as ActiveSync). Nil uses the web
	// sign-in's own password check.
	EASAuth activesync.Authenticator
	// Guard checks every password and second-factor code (lockout shared
	// with ActiveSync, IMAP and SMTP through the store; one bounded
	// verifier). Nil: one on Store with the default policy.
	Guard *authguard.Guard
	// Delegations serves the calendars delegated to a user (delegates,
	// delegations.go); nil: none are served.
	Delegations DelegatedCalendars
	// Meetings sends the meeting mail of the staff web's diary and records
	// answers (diary*.go); nil: meetings can be saved but not sent.
	Meetings *scheduling.Service
	// Mail sends what staff compose in /mail (compose.go) through the same
	// path as EAS SendMail; nil: the web cannot send.
	Mail MailSubmitter
	// MaxMessageSize bounds a composed message with its attachments
	// (default delivery.DefaultMaxMessageSize).
	MaxMessageSize int64
	// Secure says clients reach the server over HTTPS (directly or through
	// a TLS proxy): cookies get the Secure flag and pages send HSTS.
	Secure bool
	// SessionTTL is a session token's lifetime (default 20 minutes); it is
	// renewed on activity.
	SessionTTL time.Duration
	// SharedIdle is the idle timeout of a session signed in with "this is
	// a shared computer" (default 10 minutes): every click renews it, and
	// after that long without one the session is over (shared.go).
	SharedIdle time.Duration
	// SessionMaxAge and AdminSessionMaxAge bound a browser session however
	// active it is: after that the user signs in again (defaults 12 and 8
	// hours, a clinical shift and an office day).
	SessionMaxAge, AdminSessionMaxAge time.Duration
	// APITokenTTL is an API bearer token's lifetime (default 30 minutes).
	APITokenTTL time.Duration
	// SMSDomain and FaxDomain are the domains of SMS and fax addresses
	// when those gateways are configured; each adds its page (/sms/compose,
	// /fax/compose). Empty: no such page.
	SMSDomain, FaxDomain string
	// Changes are the store's committed changes (a push.Broker, the one
	// that wakes held Pings); they feed the mail pages' live updates
	// (live.go). Nil: no live updates.
	Changes activesync.Notifier
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Server is the web layer. Create it with NewServer; it is an http.Handler.
type Server struct {
	d       Deps
	e       *echo.Echo
	log     *slog.Logger
	store   *store.Store
	guard   *authguard.Guard
	devs    *devices.Service
	pages   map[string]*pageTemplate
	keys    *keyring
	limits  *loginLimits
	auditRL *limiterSet
	metrics *deviceCollector
	// subjects caches the subject order of large folders (mail.go).
	subjects subjectCache
	// counts caches folder counts by change counter (mail.go).
	counts countCache
	// live counts the open live-update streams (live.go).
	live liveHub
}

// New returns the HTTP handler of the whole server.
func New(d Deps) http.Handler { return NewServer(d) }

// NewServer builds the web layer.
func NewServer(d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Devices == nil && d.Store != nil {
		d.Devices = devices.New(d.Store, d.Log)
	}
	if d.Hostname == "" {
		d.Hostname = "localhost"
	}
	if d.Domain == "" {
		d.Domain = message.DomainOf(d.Hostname)
	}
	if d.SessionTTL <= 0 {
		d.SessionTTL = 20 * time.Minute
	}
	if d.SharedIdle <= 0 {
		d.SharedIdle = 10 * time.Minute
	}
	if d.SessionMaxAge <= 0 {
		d.SessionMaxAge = 12 * time.Hour
	}
	if d.AdminSessionMaxAge <= 0 {
		d.AdminSessionMaxAge = 8 * time.Hour
	}
	if d.APITokenTTL <= 0 {
		d.APITokenTTL = 30 * time.Minute
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Guard == nil && d.Store != nil {
		d.Guard = authguard.New(d.Store, d.Log)
	}
	s := &Server{
		d: d, log: d.Log, store: d.Store, devs: d.Devices, guard: d.Guard,
		keys:    &keyring{st: d.Store},
		limits:  newLoginLimits(),
		auditRL: newLimiterSet(1, 5), // refusals audited per client address
	}
	s.pages = mustParsePages()
	s.metrics = &deviceCollector{st: d.Store}
	s.e = s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = echo.ExtractIPDirect()
	// iOS asks for /Autodiscover/Autodiscover.xml, others for the lower
	// case path; echo's router is case-sensitive.
	e.Pre(lowerAutodiscoverPath)
	e.Use(s.recoverPanics)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			s.log.Warn("readiness check failed", "err", err)
			return c.String(http.StatusServiceUnavailable, "database unavailable\n")
		}
		return c.String(http.StatusOK, "ready\n")
	})

	if s.d.EAS != nil {
		h := echo.WrapHandler(s.d.EAS)
		e.Any("/Microsoft-Server-ActiveSync", h, countEAS)
		e.Any("/Microsoft-Server-ActiveSync/*", h, countEAS)
	}

	ad := e.Group("/autodiscover", countWeb("autodiscover"), middleware.BodyLimit("64K"))
	ad.Any("/autodiscover.xml", s.autodiscoverXML)
	ad.GET("/autodiscover.json", s.autodiscoverJSON)
	ad.GET("/autodiscover.json/v1.0/:email", s.autodiscoverJSON)

	static, _ := fs.Sub(assets, "static")
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static)))))

	// The dashboard, users' pages and setup guides: HTML, cookies, CSRF.
	h := e.Group("", countWeb("dashboard"), middleware.BodyLimit("1M"), s.securityHeaders, s.loadSession, s.csrf())
	h.GET("/", s.home)
	h.GET("/login", s.loginForm)
	h.POST("/login", s.loginSubmit)
	h.GET("/login/totp", s.totpForm, s.requireSession)
	h.POST("/login/totp", s.totpSubmit, s.requireSession)
	h.GET("/account/totp", s.totpEnrolForm, s.requireSession)
	h.POST("/account/totp", s.totpEnrolSubmit, s.requireSession)
	h.POST("/logout", s.logout)

	s.accountRoutes(h) // the user's own account, and /my's old addresses (account.go)

	h.GET("/mail/events", s.mailEvents) // live updates (live.go)
	s.mailRoutes(h)                     // the staff web's mail (mail.go)
	s.sharedRoutes(h)                   // mailboxes shared with the user (mail_shared.go)
	s.composeRoutes(e, h)               // composing, drafts, signature, search (compose.go)

	// The diary and the directory (diary.go, directory.go).
	s.diaryRoutes(h)
	s.directoryRoutes(h)
	s.contactRoutes(h) // personal contacts and tasks (contacts.go, tasks.go)
	s.taskRoutes(h)
	s.gatewayRoutes(e, h) // texts and faxes (sms.go, fax_web.go)

	h.GET("/setup", s.setupIndex)
	h.GET("/setup/ios.mobileconfig", s.mobileconfig)
	h.GET("/setup/qr.png", s.setupQR)
	h.GET("/setup/:family", s.setupGuide)

	a := h.Group("/admin", s.requireUser, s.requireAdmin)
	a.GET("", s.overview)
	a.GET("/quarantine", s.quarantine)
	a.GET("/devices", s.deviceList)
	a.GET("/devices/:id", s.devicePage)
	a.POST("/devices/:id/:action", s.deviceAction)
	a.GET("/rules", s.rulesPage)
	a.POST("/rules", s.ruleAdd)
	a.POST("/rules/preview", s.rulePreview)
	a.POST("/rules/:id/delete", s.ruleDelete)
	a.POST("/rules/default", s.defaultAccess)
	a.GET("/policy", s.policyPage)
	a.POST("/policy", s.policySave)
	a.GET("/users", s.usersPage)
	a.GET("/users/:id", s.userPage)
	a.POST("/users/:id/:action", s.userAction)
	// The photo upload (photo.go) needs a larger body than the group's
	// limit, so it is routed on its own with the same guards.
	e.POST("/admin/users/:id/photo", s.userPhoto, countWeb("dashboard"), middleware.BodyLimit(photoBodyLimit),
		s.securityHeaders, s.loadSession, s.csrf(), s.requireUser, s.requireAdmin)
	a.GET("/audit", s.auditPage)
	a.GET("/audit.csv", s.auditCSV)
	a.GET("/settings", s.settingsPage)
	a.POST("/settings", s.settingsSave)

	s.apiRoutes(e.Group("/api/v1", countWeb("api"), middleware.BodyLimit("1M"), noStore))
	return e
}

// lowerAutodiscoverPath lower-cases autodiscover paths before routing.
func lowerAutodiscoverPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if len(r.URL.Path) >= len("/autodiscover") && strings.EqualFold(r.URL.Path[:len("/autodiscover")], "/autodiscover") {
			r.URL.Path = strings.ToLower(r.URL.Path)
			r.URL.RawPath = ""
		}
		return next(c)
	}
}

// recoverPanics turns a panic into a 500, counts it and logs the stack.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				metrics.PanicsRecovered.Inc()
				s.log.Error("panic in web request", "path", c.Path(), "panic", p)
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

// securityHeaders sets the headers every HTML response carries.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
		h.Set("Cache-Control", "no-store")
		if s.d.Secure {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Response().Header().Set("X-Content-Type-Options", "nosniff")
		return next(c)
	}
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// errorHandler renders errors as JSON under /api, as a page for HTML
// routes, and as text elsewhere. Internal errors are logged, not shown.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	msg := "Something went wrong on the server."
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
	case errors.Is(err, store.ErrNotFound):
		code, msg = http.StatusNotFound, "Not found."
	case errors.Is(err, devices.ErrForbidden):
		code, msg = http.StatusForbidden, "You may not do that."
	case errors.Is(err, store.ErrUnavailable):
		code, msg = http.StatusServiceUnavailable, "The database is unavailable; try again shortly."
	}
	if code >= 500 {
		s.log.Error("web request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	path := c.Request().URL.Path
	switch {
	case strings.HasPrefix(path, "/api/"):
		_ = c.JSON(code, apiError{Error: msg})
	case strings.HasPrefix(path, "/autodiscover"), strings.HasPrefix(path, "/Microsoft-Server-ActiveSync"):
		_ = c.String(code, msg+"\n")
	default:
		_ = s.render(c, code, "error.html", "Error", map[string]any{"Code": code, "Message": msg})
	}
}
