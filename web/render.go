package web

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"airlock/store"
)

// pageTemplate is one page: the layout plus the page's own file.
type pageTemplate struct {
	t *template.Template
}

// page is what every template gets.
type page struct {
	Title string
	// Nav is the highlighted navigation entry.
	Nav   string
	User  *store.User
	Admin bool
	CSRF  string
	Flash string
	Data  any
}

var funcs = template.FuncMap{
	"ago":       ago,
	"when":      when,
	"bytes":     humanBytes,
	"stateName": stateName,
	"lower":     strings.ToLower,
	"sentence":  capitalise,
	"join":      strings.Join,
	"query":     urlQuery,
	"add":       func(a, b int) int { return a + b },
	"plural64":  func(n int64, unit string) string { return plural(int(n), unit) },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"pct": func(n, total int64) string {
		if total == 0 {
			return "0"
		}
		return fmt.Sprintf("%.1f", float64(n)*100/float64(total))
	},
	"nonEmptyList": func(ss ...string) []string {
		var out []string
		for _, s := range ss {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	},
	"deref2": func(p *bool) bool { return p != nil && *p },
	"deref": func(p *int) string {
		if p == nil {
			return ""
		}
		return fmt.Sprint(*p)
	},
}

func mustParsePages() map[string]*pageTemplate {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*pageTemplate{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		files := []string{"templates/layout.html", n}
		partials, _ := fs.Glob(assets, "templates/_*.html")
		files = append(files, partials...)
		t := template.Must(template.New(base).Funcs(funcs).ParseFS(assets, files...))
		pages[base] = &pageTemplate{t: t}
	}
	return pages
}

// render writes a full page.
func (s *Server) render(c echo.Context, code int, name, title string, data any) error {
	return s.renderTemplate(c, code, name, "layout", title, data)
}

// renderFragment writes one named block of a page (htmx swaps).
func (s *Server) renderFragment(c echo.Context, code int, name, block string, data any) error {
	return s.renderTemplate(c, code, name, block, "", data)
}

func (s *Server) renderTemplate(c echo.Context, code int, name, block, title string, data any) error {
	pt, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("no template %q", name)
	}
	p := page{Title: title, Data: data, Nav: navOf(c.Request().URL.Path), Flash: s.takeFlash(c)}
	if tok, ok := c.Get(csrfContextKey).(string); ok {
		p.CSRF = tok
	}
	if id := ident(c); id != nil && (!id.needsMFA || id.Claims.MFA) {
		p.User = id.User
		p.Admin = id.User.IsAdmin()
	}
	if g, ok := data.(interface{ setGateways(sms, fax bool) }); ok {
		g.setGateways(s.d.SMSDomain != "", s.d.FaxDomain != "")
	}
	if block == "layout" && p.Nav == "/mail" {
		s.fillShared(c, data) // the tree's "Mailboxes shared with me"
	}
	var buf bytes.Buffer
	var v any = p
	if block != "layout" {
		v = data // fragments get their own data
	}
	if err := pt.t.ExecuteTemplate(&buf, block, v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(code, buf.Bytes())
}

func navOf(path string) string {
	for _, p := range []string{"/admin/quarantine", "/admin/devices", "/admin/rules", "/admin/policy", "/admin/users", "/admin/audit", "/admin/settings", "/admin", "/account", "/setup", "/mail", "/diary", "/directory", "/contacts", "/tasks"} {
		if strings.HasPrefix(path, p) {
			return p
		}
	}
	return ""
}

// Flash messages travel in a short-lived cookie, never in the URL, so a
// link cannot put words in the dashboard's mouth.
const flashCookie = "airlock_flash"

func (s *Server) flash(c echo.Context, msg string) {
	s.setCookie(c, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), 60)
}

func (s *Server) takeFlash(c echo.Context) string {
	ck, err := c.Cookie(s.cookieName(flashCookie))
	if err != nil || ck.Value == "" {
		return ""
	}
	s.setCookie(c, flashCookie, "", -1)
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) > 500 {
		return ""
	}
	return string(b)
}

// identityEmail names the session's user, if the cookie is valid, for
// refusals logged before loadSession runs.
func identityEmail(c echo.Context) string {
	if id := ident(c); id != nil {
		return id.User.Email
	}
	return ""
}

func ago(t any) string {
	var tm time.Time
	switch v := t.(type) {
	case time.Time:
		tm = v
	case *time.Time:
		if v == nil {
			return "never"
		}
		tm = *v
	default:
		return ""
	}
	if tm.IsZero() {
		return "never"
	}
	d := time.Since(tm)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d.Hours()/24), "day") + " ago"
	}
	return tm.UTC().Format("2 Jan 2006")
}

func when(t any) string {
	switch v := t.(type) {
	case time.Time:
		if v.IsZero() {
			return ""
		}
		return v.UTC().Format("2006-01-02 15:04:05 UTC")
	case *time.Time:
		if v == nil || v.IsZero() {
			return ""
		}
		return v.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return ""
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func stateName(st store.DeviceState) string {
	switch st {
	case store.DeviceNew:
		return "Not provisioned yet"
	case store.DeviceAllowed:
		return "Allowed"
	case store.DeviceBlocked:
		return "Blocked"
	case store.DeviceQuarantined:
		return "Quarantined"
	case store.DeviceWipePending:
		return "Wipe pending"
	case store.DeviceWiped:
		return "Wiped"
	}
	return string(st)
}

func urlQuery(s string) string { return url.QueryEscape(s) }
