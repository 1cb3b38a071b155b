package web

import (
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"

	"airlock/devices"
	"airlock/policies"
	"airlock/store"
)

// The admin JSON API: the dashboard's operations for scripts, with bearer
// tokens from POST /api/v1/token. Tokens are the same JWTs as sessions but
// for the "airlock-api" audience, so neither works in the other's place;
// signing out of the dashboard revokes them too. openapi.json describes
// every route (a test keeps it complete).

//go:embed openapi.json
var openAPIDoc []byte

type apiError struct {
	Error  string   `json:"error"`
	Detail []string `json:"detail,omitempty"`
}

func (s *Server) apiRoutes(g *echo.Group) {
	g.GET("/openapi.json", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, openAPIDoc) })
	g.POST("/token", s.apiToken)
	g.POST("/mdm/verdict", s.mdmVerdict)

	auth := g.Group("", s.apiBearer())
	auth.GET("/me", s.apiMe)
	auth.GET("/me/devices", s.apiMyDevices)
	auth.POST("/me/devices/:id/wipe", s.apiMyWipe)

	a := auth.Group("", s.apiAdmin)
	a.GET("/devices", s.apiDevices)
	a.GET("/devices/:id", s.apiDevice)
	a.DELETE("/devices/:id", s.apiDeviceRemove)
	a.POST("/devices/:id/:action", s.apiDeviceAction)
	a.GET("/rules", s.apiRules)
	a.POST("/rules", s.apiRuleAdd)
	a.POST("/rules/preview", s.apiRulePreview)
	a.DELETE("/rules/:id", s.apiRuleDelete)
	a.GET("/policy", s.apiPolicy)
	a.PUT("/policy", s.apiPolicySet)
	a.GET("/users", s.apiUsers)
	a.GET("/audit", s.apiAudit)
}

// apiBearer verifies the bearer token (echo-jwt with our parser: HS256
// only, audience, expiry, revocation). Refusals of a presented token are
// audited.
func (s *Server) apiBearer() echo.MiddlewareFunc {
	return echojwt.WithConfig(echojwt.Config{
		ContextKey: identityKey,
		ParseTokenFunc: func(c echo.Context, raw string) (any, error) {
			return s.parseToken(c.Request().Context(), raw, audienceAPI)
		},
		ErrorHandler: func(c echo.Context, err error) error {
			var missing *echojwt.TokenExtractionError
			if errors.As(err, &missing) {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="airlock"`)
				return c.JSON(http.StatusUnauthorized, apiError{Error: "bearer token required"})
			}
			if !errors.Is(err, errTokenInvalid) && !errors.Is(err, errTokenRevoked) {
				return err // the store failed; not the caller's fault
			}
			s.auditRefusal(c, "auth.token_rejected", "", err.Error())
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="airlock", error="invalid_token"`)
			return c.JSON(http.StatusUnauthorized, apiError{Error: "invalid or expired token"})
		},
	})
}

// apiAdmin refuses tokens of users who are not administrators (403,
// audited).
func (s *Server) apiAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := ident(c)
		if id == nil || !id.actor(c).Admin {
			email := ""
			if id != nil {
				email = id.User.Email
			}
			s.auditRefusal(c, "auth.forbidden", email, "not an administrator: "+c.Request().Method+" "+c.Request().URL.Path)
			return c.JSON(http.StatusForbidden, apiError{Error: "administrators only"})
		}
		return next(c)
	}
}

type tokenRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
}

type tokenResponse struct {
	Token     string    `json:"token"`
	TokenType string    `json:"tokenType"`
	ExpiresAt time.Time `json:"expiresAt"`
	Role      string    `json:"role"`
}

func (s *Server) apiToken(c echo.Context) error {
	var req tokenRequest
	if err := json.NewDecoder(io.LimitReader(c.Request().Body, 8<<10)).Decode(&req); err != nil {
		return c.JSON(http.StatusBadRequest, apiError{Error: "body must be JSON: {\"username\", \"password\", \"totp\"}"})
	}
	u, err := s.checkPassword(c, req.Username, req.Password, "api_token")
	switch {
	case errors.Is(err, errTooManyAttempts):
		return c.JSON(http.StatusTooManyRequests, apiError{Error: err.Error()})
	case errors.Is(err, errLoginFailed):
		return c.JSON(http.StatusUnauthorized, apiError{Error: err.Error()})
	case errors.Is(err, errLoginTooLong):
		return c.JSON(http.StatusBadRequest, apiError{Error: err.Error()})
	case err != nil:
		return err
	}
	ctx := c.Request().Context()
	need, err := s.needsMFA(ctx, u)
	if err != nil {
		return err
	}
	if need {
		secret, err := s.store.Setting(ctx, settingTOTPSecret+strconv.FormatInt(u.ID, 10), "")
		if err != nil {
			return err
		}
		if secret == "" {
			return c.JSON(http.StatusForbidden, apiError{Error: "two-step sign-in is required: set it up in the dashboard first"})
		}
		ok, err := s.checkCode(c, "api_totp", u, secret, req.TOTP)
		if errors.Is(err, errTooManyAttempts) {
			return c.JSON(http.StatusTooManyRequests, apiError{Error: err.Error()})
		} else if err != nil {
			return err
		}
		if !ok {
			return c.JSON(http.StatusUnauthorized, apiError{Error: "a valid \"totp\" code is required"})
		}
	}
	tok, exp, err := s.issue(ctx, u, audienceAPI, need, s.d.APITokenTTL)
	if err != nil {
		return err
	}
	s.audit(c, &store.AuditEvent{Actor: u.Email, Action: "auth.api_token_issued", TargetType: "user", Target: u.Email, UserID: &u.ID})
	return c.JSON(http.StatusOK, tokenResponse{Token: tok, TokenType: "Bearer", ExpiresAt: exp.UTC(), Role: string(u.Role)})
}

// apiDeviceJSON is a device as the API shows it.
type apiDeviceJSON struct {
	ID              int64             `json:"id"`
	UserID          int64             `json:"userId"`
	User            string            `json:"user,omitempty"`
	DeviceID        string            `json:"deviceId"`
	DeviceType      string            `json:"deviceType"`
	Model           string            `json:"model"`
	FriendlyName    string            `json:"friendlyName"`
	IMEI            string            `json:"imei,omitempty"`
	OS              string            `json:"os"`
	UserAgent       string            `json:"userAgent"`
	ProtocolVersion string            `json:"protocolVersion"`
	State           store.DeviceState `json:"state"`
	StateReason     string            `json:"stateReason"`
	DecidedBy       string            `json:"decidedBy"`
	Evidence        []string          `json:"evidence,omitempty"`
	AdminOverride   string            `json:"adminOverride,omitempty"`
	PolicyAckStatus int               `json:"policyAckStatus"`
	PolicyVersion   int64             `json:"policyVersion"`
	MDMCompliant    *bool             `json:"mdmCompliant,omitempty"`
	WipeType        string            `json:"wipeType,omitempty"`
	WipeRequestedAt *time.Time        `json:"wipeRequestedAt,omitempty"`
	WipeAckedAt     *time.Time        `json:"wipeAckedAt,omitempty"`
	FirstSeen       time.Time         `json:"firstSeen"`
	LastSeen        *time.Time        `json:"lastSeen,omitempty"`
	LastSync        *time.Time        `json:"lastSync,omitempty"`
}

func deviceJSON(d *store.Device, user string, evidence bool) apiDeviceJSON {
	out := apiDeviceJSON{ID: d.ID, UserID: d.UserID, User: user, DeviceID: d.DeviceID, DeviceType: d.DeviceType, Model: d.Model, FriendlyName: d.FriendlyName, IMEI: d.IMEI,
		OS: d.OS, UserAgent: d.UserAgent, ProtocolVersion: d.ProtocolVersion, State: d.State, StateReason: d.StateReason, DecidedBy: d.DecidedBy, AdminOverride: d.AdminOverride,
		PolicyAckStatus: d.PolicyAckStatus, PolicyVersion: d.PolicyVersion, MDMCompliant: d.MDMCompliant, WipeType: d.WipeType, WipeRequestedAt: d.WipeRequestedAt,
		WipeAckedAt: d.WipeAckedAt, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, LastSync: d.LastSync}
	if evidence && d.Evidence != "" {
		_ = json.Unmarshal([]byte(d.Evidence), &out.Evidence)
	}
	return out
}

func (s *Server) apiMe(c echo.Context) error {
	u := ident(c).User
	return c.JSON(http.StatusOK, map[string]any{"id": u.ID, "email": u.Email, "displayName": u.DisplayName, "role": u.Role})
}

func (s *Server) apiMyDevices(c echo.Context) error {
	u := ident(c).User
	ds, err := s.store.DevicesOfUser(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]apiDeviceJSON, len(ds))
	for i := range ds {
		out[i] = deviceJSON(&ds[i], u.Email, false)
	}
	return c.JSON(http.StatusOK, map[string]any{"devices": out})
}

func (s *Server) apiMyWipe(c echo.Context) error {
	u := ident(c).User
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return c.JSON(http.StatusNotFound, apiError{Error: "no such device"})
	}
	var body struct {
		AccountOnly bool `json:"accountOnly"`
	}
	_ = json.NewDecoder(io.LimitReader(c.Request().Body, 4<<10)).Decode(&body)
	dev, err := s.devs.RequestWipe(c.Request().Context(), devices.Actor{Email: u.Email, UserID: u.ID, IP: c.RealIP()}, id, body.AccountOnly)
	switch {
	case errors.Is(err, devices.ErrForbidden), errors.Is(err, store.ErrNotFound):
		return c.JSON(http.StatusNotFound, apiError{Error: "no such device"})
	case err != nil:
		if msg, ok := actionError(err); ok {
			return c.JSON(http.StatusConflict, apiError{Error: msg})
		}
		return err
	}
	return c.JSON(http.StatusOK, deviceJSON(dev, u.Email, false))
}

func (s *Server) apiDevices(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	f, _, msg := s.deviceFilter(ctx, q)
	if msg != "" {
		return c.JSON(http.StatusOK, map[string]any{"devices": []apiDeviceJSON{}, "total": 0})
	}
	f.AfterID, _ = strconv.ParseInt(q.Get("after"), 10, 64)
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	ds, err := s.store.ListDevices(ctx, f)
	if err != nil {
		return err
	}
	total, err := s.store.CountDevices(ctx, f)
	if err != nil {
		return err
	}
	rows, err := s.withUsers(ctx, ds)
	if err != nil {
		return err
	}
	out := make([]apiDeviceJSON, len(rows))
	for i := range rows {
		out[i] = deviceJSON(&rows[i].Device, rows[i].UserEmail, false)
	}
	resp := map[string]any{"devices": out, "total": total}
	if len(ds) == f.Limit {
		resp["next"] = ds[len(ds)-1].ID
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) apiDevice(c echo.Context) error {
	dev, err := s.deviceParam(c)
	if err != nil {
		return c.JSON(http.StatusNotFound, apiError{Error: "no such device"})
	}
	u, err := s.store.UserByID(c.Request().Context(), dev.UserID)
	if err != nil {
		return err
	}
	s.audit(c, &store.AuditEvent{Action: "device.viewed", TargetType: "device", Target: dev.DeviceID, UserID: &dev.UserID, DevicePK: &dev.ID, Detail: "api"})
	return c.JSON(http.StatusOK, deviceJSON(dev, u.Email, true))
}

func (s *Server) apiDeviceAction(c echo.Context) error {
	action := c.Param("action")
	switch action {
	case "allow", "block", "quarantine", "clear", "wipe", "cancel-wipe", "release":
	default:
		return c.JSON(http.StatusNotFound, apiError{Error: "unknown action " + strconv.Quote(action)})
	}
	var body struct {
		AccountOnly bool `json:"accountOnly"`
	}
	_ = json.NewDecoder(io.LimitReader(c.Request().Body, 4<<10)).Decode(&body)
	if action == "wipe" && body.AccountOnly {
		action = "wipe-account"
	}
	return s.apiRunDeviceAction(c, action)
}

func (s *Server) apiDeviceRemove(c echo.Context) error { return s.apiRunDeviceAction(c, "remove") }

func (s *Server) apiRunDeviceAction(c echo.Context, action string) error {
	ctx := c.Request().Context()
	dev, err := s.deviceParam(c)
	if err != nil {
		return c.JSON(http.StatusNotFound, apiError{Error: "no such device"})
	}
	msg, err := s.applyDeviceAction(ctx, ident(c).actor(c), dev.ID, action, true)
	if err != nil {
		if m, ok := actionError(err); ok {
			return c.JSON(http.StatusConflict, apiError{Error: m})
		}
		return err
	}
	if action == "remove" {
		return c.JSON(http.StatusOK, map[string]any{"removed": dev.ID, "message": msg})
	}
	upd, err := s.store.DeviceByID(ctx, dev.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"device": deviceJSON(upd, "", true), "message": msg})
}

func (s *Server) apiRules(c echo.Context) error {
	ctx := c.Request().Context()
	rules, err := s.devs.Rules(ctx)
	if err != nil {
		return err
	}
	def, err := s.store.Setting(ctx, devices.SettingDefaultAccess, string(policies.DefaultOrgAction))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"rules": policies.SortRules(rules), "defaultAccess": def})
}

func decodeRule(c echo.Context) (policies.Rule, error) {
	var r policies.Rule
	r.Enabled = true
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	return r, nil
}

func (s *Server) apiRuleAdd(c echo.Context) error {
	r, err := decodeRule(c)
	if err != nil {
		return c.JSON(http.StatusBadRequest, apiError{Error: "body must be a rule: " + err.Error()})
	}
	saved, err := s.devs.AddRule(c.Request().Context(), ident(c).actor(c), r)
	if err != nil {
		if errors.Is(err, devices.ErrForbidden) || errors.Is(err, store.ErrUnavailable) {
			return err
		}
		return c.JSON(http.StatusUnprocessableEntity, apiError{Error: "invalid rule", Detail: ruleErrors(err)})
	}
	return c.JSON(http.StatusCreated, policies.Rule{ID: saved.ID, Priority: saved.Priority, Field: policies.Field(saved.Field), Match: policies.MatchKind(saved.Match),
		Pattern: saved.Pattern, Action: policies.Action(saved.Action), Description: saved.Description, Enabled: saved.Enabled})
}

func (s *Server) apiRulePreview(c echo.Context) error {
	r, err := decodeRule(c)
	if err != nil {
		return c.JSON(http.StatusBadRequest, apiError{Error: "body must be a rule: " + err.Error()})
	}
	if err := r.Validate(); err != nil {
		return c.JSON(http.StatusUnprocessableEntity, apiError{Error: "invalid rule", Detail: ruleErrors(err)})
	}
	p, err := s.previewRule(c.Request().Context(), r)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) apiRuleDelete(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return c.JSON(http.StatusNotFound, apiError{Error: "no such rule"})
	}
	if err := s.devs.RemoveRule(c.Request().Context(), ident(c).actor(c), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return c.JSON(http.StatusNotFound, apiError{Error: "no such rule"})
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiPolicy(c echo.Context) error {
	pol, set, err := s.devs.Policy(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"name": pol.Name, "version": pol.Version, "settings": set})
}

func (s *Server) apiPolicySet(c echo.Context) error {
	var set policies.Settings
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 256<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		return c.JSON(http.StatusBadRequest, apiError{Error: "body must be the policy settings object: " + err.Error()})
	}
	pol, err := s.devs.SetPolicy(c.Request().Context(), ident(c).actor(c), set)
	if err != nil {
		if errors.Is(err, devices.ErrForbidden) || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
			return err
		}
		return c.JSON(http.StatusUnprocessableEntity, apiError{Error: "invalid policy", Detail: settingErrors(err, map[string]string{})})
	}
	return c.JSON(http.StatusOK, map[string]any{"name": pol.Name, "version": pol.Version, "settings": set})
}

func (s *Server) apiUsers(c echo.Context) error {
	rows, err := s.userRows(c.Request().Context(), c.QueryParam("q"))
	if err != nil {
		return err
	}
	type userJSON struct {
		ID           int64  `json:"id"`
		Email        string `json:"email"`
		DisplayName  string `json:"displayName"`
		Role         string `json:"role"`
		Disabled     bool   `json:"disabled"`
		ServiceLevel string `json:"serviceLevel,omitempty"`
		QuotaBytes   int64  `json:"quotaBytes"`
		QuotaUsed    int64  `json:"quotaUsed"`
		Devices      int64  `json:"devices"`
	}
	out := make([]userJSON, len(rows))
	for i, r := range rows {
		out[i] = userJSON{ID: r.ID, Email: r.Email, DisplayName: r.DisplayName, Role: string(r.Role), Disabled: r.Disabled, ServiceLevel: r.ServiceLevel, QuotaBytes: r.Quota, QuotaUsed: r.QuotaUsed, Devices: r.Devices}
	}
	return c.JSON(http.StatusOK, map[string]any{"users": out})
}

func (s *Server) apiAudit(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	f, _, _ := s.auditFilter(ctx, q)
	f.BeforeID, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	evs, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	type eventJSON struct {
		ID         int64     `json:"id"`
		At         time.Time `json:"at"`
		Actor      string    `json:"actor"`
		ActorIP    string    `json:"actorIp"`
		Action     string    `json:"action"`
		TargetType string    `json:"targetType"`
		Target     string    `json:"target"`
		UserID     *int64    `json:"userId,omitempty"`
		DevicePK   *int64    `json:"deviceId,omitempty"`
		Outcome    string    `json:"outcome"`
		Detail     string    `json:"detail"`
		Hash       string    `json:"hash"`
	}
	out := make([]eventJSON, len(evs))
	for i, e := range evs {
		out[i] = eventJSON{e.ID, e.At, e.Actor, e.ActorIP, e.Action, e.TargetType, e.Target, e.UserID, e.DevicePK, e.Outcome, e.Detail, e.Hash}
	}
	resp := map[string]any{"events": out}
	if len(evs) == f.Limit {
		resp["next"] = evs[len(evs)-1].ID
	}
	return c.JSON(http.StatusOK, resp)
}

// mdmVerdict takes a compliance verdict from a device-management service.
// The body is signed with HMAC-SHA256 under the org setting
// mdm_webhook_secret; the hex digest (optionally "sha256="-prefixed) comes
// in X-Airlock-Signature. A wrong or missing signature is refused (401) and
// audited. A body may carry "timestamp" (Unix seconds); when it does, it
// must be within five minutes, which bounds replays.
func (s *Server) mdmVerdict(c echo.Context) error {
	ctx := c.Request().Context()
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 16<<10))
	if err != nil {
		return c.JSON(http.StatusBadRequest, apiError{Error: "unreadable body"})
	}
	secret, err := s.store.Setting(ctx, settingMDMSecret, "")
	if err != nil {
		return err
	}
	sig := strings.TrimPrefix(strings.TrimSpace(c.Request().Header.Get("X-Airlock-Signature")), "sha256=")
	got, decErr := hex.DecodeString(sig)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if secret == "" || decErr != nil || !hmac.Equal(got, mac.Sum(nil)) {
		why := "bad signature"
		if secret == "" {
			why = "no webhook secret configured"
		}
		s.auditRefusal(c, "mdm.verdict_rejected", "mdm-webhook", why)
		return c.JSON(http.StatusUnauthorized, apiError{Error: "signature invalid"})
	}
	var v struct {
		DeviceID  string `json:"deviceId"`
		User      string `json:"user"`
		Compliant *bool  `json:"compliant"`
		Timestamp int64  `json:"timestamp"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.DeviceID == "" || v.User == "" || v.Compliant == nil {
		return c.JSON(http.StatusBadRequest, apiError{Error: `body must be {"deviceId": EAS DeviceId, "user": address, "compliant": true|false}`})
	}
	if v.Timestamp != 0 {
		if d := s.d.Now().Sub(time.Unix(v.Timestamp, 0)); d > 5*time.Minute || d < -5*time.Minute {
			s.auditRefusal(c, "mdm.verdict_rejected", "mdm-webhook", "timestamp outside five minutes")
			return c.JSON(http.StatusUnauthorized, apiError{Error: "timestamp too old or in the future"})
		}
	}
	u, err := s.store.UserByLogin(ctx, v.User)
	if errors.Is(err, store.ErrNotFound) {
		return c.JSON(http.StatusNotFound, apiError{Error: "no such device"})
	} else if err != nil {
		return err
	}
	dev, err := s.store.DeviceByEASID(ctx, u.ID, v.DeviceID)
	if errors.Is(err, store.ErrNotFound) {
		return c.JSON(http.StatusNotFound, apiError{Error: "no such device"})
	} else if err != nil {
		return err
	}
	if err := s.devs.SetMDMVerdict(ctx, "mdm-webhook", dev.ID, *v.Compliant); err != nil {
		return err
	}
	upd, err := s.store.DeviceByID(ctx, dev.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": upd.ID, "state": upd.State, "stateReason": upd.StateReason})
}
