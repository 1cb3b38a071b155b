package web

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"airlock/devices"
	"airlock/directory"
	"airlock/store"
)

type userRow struct {
	store.User
	Devices      int64
	ServiceLevel string
	Quota        int64
}

type usersData struct {
	Rows  []userRow
	Total int
	Query string
}

func (s *Server) userRows(ctx context.Context, q string) ([]userRow, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := s.store.CountDevicesPerUser(ctx)
	if err != nil {
		return nil, err
	}
	levels, err := s.store.ListServiceLevels(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[int64]store.ServiceLevel{}
	for _, l := range levels {
		byID[l.ID] = l
	}
	q = strings.ToLower(strings.TrimSpace(q))
	var rows []userRow
	for _, u := range users {
		if q != "" && !strings.Contains(strings.ToLower(u.Email+" "+u.DisplayName+" "+u.Department), q) {
			continue
		}
		r := userRow{User: u, Devices: counts[u.ID]}
		if u.ServiceLevelID != nil {
			if l, ok := byID[*u.ServiceLevelID]; ok {
				r.ServiceLevel, r.Quota = l.Name, l.QuotaBytes
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (s *Server) usersPage(c echo.Context) error {
	q := c.QueryParam("q")
	rows, err := s.userRows(c.Request().Context(), q)
	if err != nil {
		return err
	}
	d := &usersData{Total: len(rows), Query: q}
	if len(rows) > 500 {
		rows = rows[:500]
	}
	d.Rows = rows
	return s.render(c, http.StatusOK, "users.html", "Users", d)
}

type userPageData struct {
	User    *store.User
	Aliases []string
	Devices []store.Device
	Audit   []store.AuditEvent
	Level   string
	Quota   int64
	TOTP    bool
	Self    bool
	Photo   template.URL // photo.go
}

func (s *Server) userParam(c echo.Context) (*store.User, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusNotFound, "No such user.")
	}
	u, err := s.store.UserByID(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "No such user.")
	}
	return u, err
}

func (s *Server) userPage(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.userParam(c)
	if err != nil {
		return err
	}
	d := &userPageData{User: u, Self: u.ID == ident(c).User.ID}
	if d.Aliases, err = s.store.Aliases(ctx, u.ID); err != nil {
		return err
	}
	if d.Devices, err = s.store.DevicesOfUser(ctx, u.ID); err != nil {
		return err
	}
	if d.Audit, err = s.store.ListAudit(ctx, store.AuditFilter{UserID: u.ID, Limit: 50}); err != nil {
		return err
	}
	if u.ServiceLevelID != nil {
		levels, err := s.store.ListServiceLevels(ctx)
		if err != nil {
			return err
		}
		for _, l := range levels {
			if l.ID == *u.ServiceLevelID {
				d.Level, d.Quota = l.Name, l.QuotaBytes
			}
		}
	}
	secret, err := s.store.Setting(ctx, settingTOTPSecret+strconv.FormatInt(u.ID, 10), "")
	if err != nil {
		return err
	}
	d.TOTP = secret != ""
	d.Photo = s.photoURL(ctx, u.ID)
	s.audit(c, &store.AuditEvent{Action: "user.viewed", TargetType: "user", Target: u.Email, UserID: &u.ID})
	return s.render(c, http.StatusOK, "user.html", u.Email, d)
}

// userAction changes a user's role or account state. Each change revokes
// the user's sessions and API tokens.
func (s *Server) userAction(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.userParam(c)
	if err != nil {
		return err
	}
	me := ident(c).User
	action := c.Param("action")
	if u.ID == me.ID && action != "signout" {
		s.flash(c, "You cannot change your own role or account here; ask another administrator.")
		return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10))
	}
	var msg, detail string
	switch action {
	case "make-admin":
		err, msg, detail = s.store.SetUserRole(ctx, u.ID, store.RoleAdmin), "Now an administrator.", "role user → admin"
	case "make-user":
		err, msg, detail = s.store.SetUserRole(ctx, u.ID, store.RoleUser), "No longer an administrator.", "role admin → user"
	case "disable":
		err, msg, detail = s.store.SetUserDisabled(ctx, u.ID, true), "Account disabled. Its devices can still receive a pending wipe.", "disabled"
	case "enable":
		err, msg, detail = s.store.SetUserDisabled(ctx, u.ID, false), "Account enabled.", "enabled"
	case "reset-totp":
		err, msg, detail = s.store.SetSetting(ctx, settingTOTPSecret+strconv.FormatInt(u.ID, 10), ""), "Two-step sign-in removed; they will be asked to set it up again if required.", "second factor removed"
	case "signout":
		msg, detail = "Signed out everywhere.", "sessions revoked"
	default:
		return echo.NewHTTPError(http.StatusNotFound, "Unknown action.")
	}
	if err != nil {
		return err
	}
	if err := s.revokeSessions(ctx, u.ID); err != nil {
		return err
	}
	s.audit(c, &store.AuditEvent{Action: "user." + action, TargetType: "user", Target: u.Email, UserID: &u.ID, Detail: detail})
	s.flash(c, msg)
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10))
}

// auditFilter reads the audit filters from the query.
func (s *Server) auditFilter(ctx context.Context, q url.Values) (store.AuditFilter, map[string]string, string) {
	f := store.AuditFilter{Action: strings.TrimSpace(q.Get("action")), Actor: strings.TrimSpace(q.Get("actor"))}
	echoed := map[string]string{"action": q.Get("action"), "actor": q.Get("actor"), "user": q.Get("user"), "device": q.Get("device"), "since": q.Get("since")}
	msg := ""
	if u := strings.TrimSpace(q.Get("user")); u != "" {
		if usr, err := s.store.UserByLogin(ctx, u); err == nil {
			f.UserID = usr.ID
		} else {
			f.UserID = -1
			msg = "No user " + u + "."
		}
	}
	f.DevicePK, _ = strconv.ParseInt(q.Get("device"), 10, 64)
	if t, err := time.Parse("2006-01-02", q.Get("since")); err == nil {
		f.Since = &t
	}
	return f, echoed, msg
}

type auditData struct {
	Events  []store.AuditEvent
	Filter  map[string]string
	NextURL string
	CSVURL  string
	Message string
	Chain   string
	ChainOK bool
}

func (s *Server) auditPage(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	f, echoed, msg := s.auditFilter(ctx, q)
	f.BeforeID, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	f.Limit = 100
	evs, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	d := &auditData{Events: evs, Filter: echoed, Message: msg}
	vals := url.Values{}
	for k, v := range echoed {
		if v != "" {
			vals.Set(k, v)
		}
	}
	d.CSVURL = "/admin/audit.csv?" + vals.Encode()
	if len(evs) == f.Limit {
		next := url.Values{}
		for k, v := range vals {
			next[k] = v
		}
		next.Set("before", strconv.FormatInt(evs[len(evs)-1].ID, 10))
		d.NextURL = "/admin/audit?" + next.Encode()
	}
	if q.Get("verify") == "1" {
		bad, err := s.store.VerifyAuditChain(ctx)
		if err != nil {
			return err
		}
		d.ChainOK = bad == 0
		if bad == 0 {
			d.Chain = "The audit log's hash chain is intact: no event has been changed or removed."
		} else {
			d.Chain = fmt.Sprintf("The hash chain breaks at event %d: that event or the one before it was changed or removed.", bad)
		}
		s.audit(c, &store.AuditEvent{Action: "audit.verified", TargetType: "audit", Outcome: strconv.FormatBool(bad == 0), Detail: d.Chain})
	}
	return s.render(c, http.StatusOK, "audit.html", "Audit log", d)
}

// auditCSV exports up to 10,000 events matching the filters.
func (s *Server) auditCSV(c echo.Context) error {
	ctx := c.Request().Context()
	f, _, _ := s.auditFilter(ctx, c.QueryParams())
	f.Limit = 10000
	evs, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	s.audit(c, &store.AuditEvent{Action: "audit.exported", TargetType: "audit", Detail: fmt.Sprintf("%d events; filter %s", len(evs), c.QueryString())})
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="airlock-audit-`+s.d.Now().UTC().Format("20060102-150405")+`.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	w.Write([]string{"id", "at", "actor", "actor_ip", "action", "target_type", "target", "user_id", "device_pk", "outcome", "detail", "hash"})
	for _, e := range evs {
		w.Write(csvSafeRow(strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.ActorIP, e.Action, e.TargetType, e.Target,
			optInt(e.UserID), optInt(e.DevicePK), e.Outcome, e.Detail, e.Hash))
	}
	w.Flush()
	return w.Error()
}

func optInt(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

type settingsData struct {
	TOTPRequired bool
	MaxDevices   string
	MDMSecretSet bool
	NewSecret    string
	Errors       []string
	// ShowMobile: colleagues' mobile numbers are in the directory.
	ShowMobile bool
}

func (s *Server) settingsData(ctx context.Context) (*settingsData, error) {
	d := &settingsData{}
	v, err := s.store.Setting(ctx, settingTOTPRequired, "true")
	if err != nil {
		return nil, err
	}
	d.TOTPRequired = v != "false"
	if d.MaxDevices, err = s.store.Setting(ctx, devices.SettingMaxDevices, "10"); err != nil {
		return nil, err
	}
	sec, err := s.store.Setting(ctx, settingMDMSecret, "")
	if err != nil {
		return nil, err
	}
	d.MDMSecretSet = sec != ""
	if d.ShowMobile, err = directory.ShowMobile(ctx, s.store); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) settingsPage(c echo.Context) error {
	d, err := s.settingsData(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "settings.html", "Settings", d)
}

func (s *Server) settingsSave(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.settingsData(ctx)
	if err != nil {
		return err
	}
	switch c.FormValue("section") {
	case "security":
		req := c.FormValue("totp_required") == "on"
		n, err := strconv.Atoi(strings.TrimSpace(c.FormValue("max_devices")))
		if err != nil || n < 1 || n > 100 {
			d.Errors = append(d.Errors, "Devices per user must be a number from 1 to 100.")
			return s.render(c, http.StatusUnprocessableEntity, "settings.html", "Settings", d)
		}
		if err := s.store.SetSetting(ctx, settingTOTPRequired, strconv.FormatBool(req)); err != nil {
			return err
		}
		if err := s.store.SetSetting(ctx, devices.SettingMaxDevices, strconv.Itoa(n)); err != nil {
			return err
		}
		s.devs.Invalidate()
		s.audit(c, &store.AuditEvent{Action: "settings.changed", TargetType: "org", Target: "security", Detail: fmt.Sprintf("admin_totp_required=%t max_devices=%d", req, n)})
		s.flash(c, "Settings saved.")
		return c.Redirect(http.StatusSeeOther, "/admin/settings")
	case "mdm":
		b := make([]byte, 32)
		rand.Read(b)
		secret := hex.EncodeToString(b)
		if err := s.store.SetSetting(ctx, settingMDMSecret, secret); err != nil {
			return err
		}
		s.audit(c, &store.AuditEvent{Action: "settings.changed", TargetType: "org", Target: settingMDMSecret, Detail: "new MDM webhook secret generated"})
		d.NewSecret, d.MDMSecretSet = secret, true
		// Shown once, on this response; never stored in a cookie or URL.
		return s.render(c, http.StatusOK, "settings.html", "Settings", d)
	case "directory":
		show := c.FormValue("show_mobile") == "on"
		if err := s.store.SetSetting(ctx, directory.SettingShowMobile, strconv.FormatBool(show)); err != nil {
			return err
		}
		s.audit(c, &store.AuditEvent{Action: "settings.changed", TargetType: "org", Target: "directory", Detail: fmt.Sprintf("%s=%t", directory.SettingShowMobile, show)})
		s.flash(c, "Settings saved.")
		return c.Redirect(http.StatusSeeOther, "/admin/settings")
	}
	return echo.NewHTTPError(http.StatusBadRequest, "Unknown settings section.")
}
