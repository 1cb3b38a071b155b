package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"airlock/devices"
	"airlock/policies"
	"airlock/store"
)

// deviceRow is a device with its user, for lists.
type deviceRow struct {
	store.Device
	UserEmail string
}

// withUsers attaches user addresses to devices with one query.
func (s *Server) withUsers(ctx context.Context, ds []store.Device) ([]deviceRow, error) {
	ids := make([]int64, 0, len(ds))
	seen := map[int64]bool{}
	for _, d := range ds {
		if !seen[d.UserID] {
			seen[d.UserID] = true
			ids = append(ids, d.UserID)
		}
	}
	users, err := s.store.UsersByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	rows := make([]deviceRow, len(ds))
	for i, d := range ds {
		rows[i] = deviceRow{Device: d}
		if u := users[d.UserID]; u != nil {
			rows[i].UserEmail = u.Email
		}
	}
	return rows, nil
}

// barRow is one line of a bar chart.
type barRow struct {
	Key   string
	N     int64
	Width int // percent of the largest
	Link  string
}

func bars(counts []store.DeviceCount, limit int, link func(string) string) []barRow {
	var max int64
	for _, c := range counts {
		max = max2(max, c.Count)
	}
	var out []barRow
	var other int64
	for i, c := range counts {
		if i >= limit {
			other += c.Count
			continue
		}
		key := c.Key
		if key == "" {
			key = "(not reported)"
		}
		r := barRow{Key: key, N: c.Count, Link: link(c.Key)}
		if max > 0 {
			r.Width = int(c.Count * 100 / max)
		}
		out = append(out, r)
	}
	if other > 0 {
		out = append(out, barRow{Key: fmt.Sprintf("%d others", len(counts)-limit), N: other, Width: int(other * 100 / max2(max, 1))})
	}
	return out
}

func max2(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// stateOrder is how states are shown.
var stateOrder = []store.DeviceState{store.DeviceAllowed, store.DeviceQuarantined, store.DeviceBlocked, store.DeviceWipePending, store.DeviceWiped, store.DeviceNew}

type stateStat struct {
	State store.DeviceState
	Name  string
	N     int64
}

// nonCompliant says whether a group of devices fails the security policy
// on the evidence the decision used: refused for encryption (catalogue),
// for not applying the policy, by an MDM verdict, or acknowledged only in
// part.
func nonCompliant(g store.DecisionCount) bool {
	if g.State == store.DeviceWiped {
		return false
	}
	mdmYes := g.MDMCompliant != nil && *g.MDMCompliant
	switch {
	case g.DecidedBy == "catalogue", g.DecidedBy == "policy", g.DecidedBy == "mdm":
		return true
	case g.MDMCompliant != nil && !*g.MDMCompliant:
		return true
	case g.PolicyAckStatus == int(policies.AckPartial), g.PolicyAckStatus == int(policies.AckUnknownPolicy):
		return true
	case g.PolicyAckStatus == int(policies.AckExternal) && !mdmYes:
		return true
	}
	return false
}

type overviewData struct {
	Total          int64
	States         []stateStat
	NonCompliant   int64
	NotProvisioned int64
	RequireEncrypt bool
	ByType, ByOS   []barRow
	Sync           []barRow
	Queue          []deviceRow
	QueueTotal     int64
}

func (s *Server) overviewData(ctx context.Context) (*overviewData, error) {
	d := &overviewData{}
	byState, err := s.store.CountDevicesBy(ctx, "state")
	if err != nil {
		return nil, err
	}
	counts := map[store.DeviceState]int64{}
	for _, c := range byState {
		counts[store.DeviceState(c.Key)] = c.Count
		d.Total += c.Count
	}
	for _, st := range stateOrder {
		d.States = append(d.States, stateStat{State: st, Name: stateName(st), N: counts[st]})
	}
	d.QueueTotal = counts[store.DeviceQuarantined]
	groups, err := s.store.DeviceDecisionCounts(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if nonCompliant(g) {
			d.NonCompliant += g.Count
		}
		if g.PolicyAckStatus == int(policies.AckNone) && g.State != store.DeviceWiped {
			d.NotProvisioned += g.Count
		}
	}
	if _, settings, err := s.devs.Policy(ctx); err == nil {
		d.RequireEncrypt = settings.RequireDeviceEncryption
	}
	byType, err := s.store.CountDevicesBy(ctx, "device_type")
	if err != nil {
		return nil, err
	}
	d.ByType = bars(byType, 8, func(k string) string { return "/admin/devices?type=" + url.QueryEscape(k) })
	byOS, err := s.store.CountDevicesBy(ctx, "os")
	if err != nil {
		return nil, err
	}
	d.ByOS = bars(byOS, 8, func(k string) string { return "/admin/devices?os=" + url.QueryEscape(k) })

	now := s.d.Now()
	cutoffs := []time.Time{now.Add(-time.Hour), now.Add(-24 * time.Hour), now.Add(-7 * 24 * time.Hour), now.Add(-30 * 24 * time.Hour)}
	since, never, err := s.store.LastSyncCounts(ctx, cutoffs)
	if err != nil {
		return nil, err
	}
	labels := []string{"in the last hour", "in the last day", "in the last week", "in the last 30 days"}
	sync := []store.DeviceCount{}
	prev := int64(0)
	for i, n := range since {
		sync = append(sync, store.DeviceCount{Key: labels[i], Count: n - prev})
		prev = n
	}
	sync = append(sync, store.DeviceCount{Key: "more than 30 days ago", Count: d.Total - prev - never})
	sync = append(sync, store.DeviceCount{Key: "never synced", Count: never})
	d.Sync = bars(sync, len(sync), func(string) string { return "" })

	q, err := s.store.ListDevices(ctx, store.DeviceFilter{State: store.DeviceQuarantined, Limit: 5})
	if err != nil {
		return nil, err
	}
	if d.Queue, err = s.withUsers(ctx, q); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) overview(c echo.Context) error {
	d, err := s.overviewData(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "overview.html", "Overview", d)
}

type listData struct {
	Rows    []deviceRow
	Total   int64
	NextURL string
	Filter  map[string]string
	Types   []store.DeviceCount
	OSes    []store.DeviceCount
	States  []store.DeviceState
	Message string
}

func (s *Server) quarantine(c echo.Context) error {
	ctx := c.Request().Context()
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	ds, err := s.store.ListDevices(ctx, store.DeviceFilter{State: store.DeviceQuarantined, AfterID: after, Limit: 50})
	if err != nil {
		return err
	}
	total, err := s.store.CountDevices(ctx, store.DeviceFilter{State: store.DeviceQuarantined})
	if err != nil {
		return err
	}
	d := &listData{Total: total}
	if d.Rows, err = s.withUsers(ctx, ds); err != nil {
		return err
	}
	if len(ds) == 50 {
		d.NextURL = "/admin/quarantine?after=" + strconv.FormatInt(ds[len(ds)-1].ID, 10)
	}
	return s.render(c, http.StatusOK, "quarantine.html", "Quarantine", d)
}

// deviceFilter reads the list's filters from the query.
func (s *Server) deviceFilter(ctx context.Context, q url.Values) (store.DeviceFilter, map[string]string, string) {
	f := store.DeviceFilter{
		State:      store.DeviceState(q.Get("state")),
		DeviceType: q.Get("type"),
		Model:      q.Get("model"),
		OS:         q.Get("os"),
		Search:     strings.TrimSpace(q.Get("q")),
	}
	msg := ""
	echoed := map[string]string{"state": q.Get("state"), "type": q.Get("type"), "model": q.Get("model"), "os": q.Get("os"), "q": q.Get("q"), "user": q.Get("user"), "seen": q.Get("seen")}
	if u := strings.TrimSpace(q.Get("user")); u != "" {
		if usr, err := s.store.UserByLogin(ctx, u); err == nil {
			f.UserID = usr.ID
		} else {
			f.UserID = -1 // matches nothing
			msg = "No user " + u + "."
		}
	}
	if days, err := strconv.Atoi(q.Get("seen")); err == nil && days > 0 {
		t := s.d.Now().Add(-time.Duration(days) * 24 * time.Hour)
		f.SeenBefore = &t
	}
	return f, echoed, msg
}

func (s *Server) deviceList(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	f, echoed, msg := s.deviceFilter(ctx, q)
	f.AfterID, _ = strconv.ParseInt(q.Get("after"), 10, 64)
	f.Limit = 50
	ds, err := s.store.ListDevices(ctx, f)
	if err != nil {
		return err
	}
	total, err := s.store.CountDevices(ctx, f)
	if err != nil {
		return err
	}
	d := &listData{Total: total, Filter: echoed, States: stateOrder, Message: msg}
	if d.Rows, err = s.withUsers(ctx, ds); err != nil {
		return err
	}
	if d.Types, err = s.store.CountDevicesBy(ctx, "device_type"); err != nil {
		return err
	}
	if d.OSes, err = s.store.CountDevicesBy(ctx, "os"); err != nil {
		return err
	}
	sortCounts(d.Types)
	sortCounts(d.OSes)
	if len(ds) == f.Limit {
		next := url.Values{}
		for k, v := range echoed {
			if v != "" {
				next.Set(k, v)
			}
		}
		next.Set("after", strconv.FormatInt(ds[len(ds)-1].ID, 10))
		d.NextURL = "/admin/devices?" + next.Encode()
	}
	return s.render(c, http.StatusOK, "devices.html", "Devices", d)
}

func sortCounts(cs []store.DeviceCount) {
	sort.Slice(cs, func(i, j int) bool { return strings.ToLower(cs[i].Key) < strings.ToLower(cs[j].Key) })
}

type devicePageData struct {
	Device      store.Device
	User        *store.User
	Evidence    []string
	Audit       []store.AuditEvent
	PolicyKey   string
	PolicyOK    bool
	Encryption  encryptionStatus
	Family      string
	DecidedBy   string
	RuleText    string
	CanAccount  bool
	WipeBlocked bool
}

// encryptionStatus summarises what is known about a device's encryption
// at rest.
type encryptionStatus struct {
	Class string // ok, warn, bad
	Text  string
}

func (s *Server) encryption(dev *store.Device, settings policies.Settings, entry policies.Entry, known bool) encryptionStatus {
	ack := policies.PolicyAck(dev.PolicyAckStatus)
	switch {
	case dev.MDMCompliant != nil && !*dev.MDMCompliant:
		return encryptionStatus{"bad", "Not compliant: the device-management service says so."}
	case dev.DecidedBy == "catalogue":
		return encryptionStatus{"bad", "Not compliant: " + dev.StateReason}
	case known && !entry.CanEncrypt:
		return encryptionStatus{"bad", "Cannot encrypt: the " + entry.Family + " has no encryption at rest."}
	case ack == policies.AckNone:
		return encryptionStatus{"warn", "Unknown: the device has not accepted the security policy yet."}
	case ack == policies.AckPartial || ack == policies.AckUnknownPolicy:
		return encryptionStatus{"bad", "Not confirmed: the device applied only part of the policy (" + ack.String() + ")."}
	case ack == policies.AckExternal:
		if dev.MDMCompliant != nil && *dev.MDMCompliant {
			return encryptionStatus{"ok", "Compliant on the device-management service's verdict (the device is externally managed)."}
		}
		return encryptionStatus{"warn", "Not confirmed: the device says it is managed elsewhere and no verdict confirms it."}
	case !settings.RequireDeviceEncryption:
		return encryptionStatus{"warn", "Not required: the policy does not require device encryption."}
	case known:
		return encryptionStatus{"ok", "Compliant: the device applied the whole policy and the catalogue confirms the " + entry.Family + " encrypts stored data."}
	}
	return encryptionStatus{"warn", "Self-reported: the device applied the whole policy, but it is not in the device catalogue, so only its own word says it encrypts."}
}

func (s *Server) devicePage(c echo.Context) error {
	ctx := c.Request().Context()
	dev, err := s.deviceParam(c)
	if err != nil {
		return err
	}
	d := &devicePageData{Device: *dev}
	if d.User, err = s.store.UserByID(ctx, dev.UserID); err != nil {
		return err
	}
	if dev.Evidence != "" {
		_ = json.Unmarshal([]byte(dev.Evidence), &d.Evidence)
	}
	if d.Audit, err = s.store.ListAudit(ctx, store.AuditFilter{DevicePK: dev.ID, Limit: 100}); err != nil {
		return err
	}
	pol, settings, err := s.devs.Policy(ctx)
	if err != nil {
		return err
	}
	switch {
	case dev.PolicyKeyTemp != 0 && dev.PolicyKey == 0:
		d.PolicyKey = "Provisioning: a temporary key was issued; waiting for the device to acknowledge the policy."
	case dev.PolicyKey == 0:
		d.PolicyKey = "No policy key: the device has not been provisioned."
	case dev.PolicyVersion != pol.Version:
		d.PolicyKey = fmt.Sprintf("Stale: issued for policy version %d; the current version is %d. The device will be asked to provision again.", dev.PolicyVersion, pol.Version)
	default:
		d.PolicyOK = true
		d.PolicyKey = fmt.Sprintf("Current: policy %q version %d, acknowledged %s.", pol.Name, pol.Version, when(dev.ProvisionedAt))
	}
	cat, err := s.catalogue(ctx)
	if err != nil {
		return err
	}
	facts, _ := policies.Enrich(devices.Facts(dev))
	entry, known := cat.Lookup(facts)
	if known {
		d.Family = entry.Family
	}
	d.Encryption = s.encryption(dev, settings, entry, known)
	d.DecidedBy = dev.DecidedBy
	if id, ok := strings.CutPrefix(dev.DecidedBy, "rule:"); ok {
		if rid, err := strconv.ParseInt(id, 10, 64); err == nil {
			rules, err := s.devs.Rules(ctx)
			if err != nil {
				return err
			}
			for _, r := range rules {
				if r.ID == rid {
					d.RuleText = fmt.Sprintf("%s %s %q → %s: %s", r.Field, r.Match, r.Pattern, r.Action, r.Description)
				}
			}
		}
	}
	d.CanAccount = dev.ProtocolVersion == "16.1"
	d.WipeBlocked = dev.State == store.DeviceWipePending || dev.State == store.DeviceWiped
	s.audit(c, &store.AuditEvent{Action: "device.viewed", TargetType: "device", Target: dev.DeviceID, UserID: &dev.UserID, DevicePK: &dev.ID})
	title := dev.FriendlyName
	if title == "" {
		title = nonEmpty(dev.Model, dev.DeviceType)
	}
	return s.render(c, http.StatusOK, "device.html", title, d)
}

func nonEmpty(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

func (s *Server) deviceParam(c echo.Context) (*store.Device, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, echo.NewHTTPError(http.StatusNotFound, "No such device.")
	}
	dev, err := s.store.DeviceByID(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "No such device.")
	}
	return dev, err
}

// applyDeviceAction runs one admin action on a device through
// devices.Service. The message says what happened, for people.
func (s *Server) applyDeviceAction(ctx context.Context, by devices.Actor, devicePK int64, action string, confirmed bool) (msg string, err error) {
	switch action {
	case "allow", "block", "quarantine":
		if _, err := s.devs.SetAccess(ctx, by, devicePK, policies.Action(action)); err != nil {
			return "", err
		}
		return map[string]string{"allow": "Allowed: the device can sync from its next request.", "block": "Blocked.", "quarantine": "Put back in quarantine."}[action], nil
	case "clear":
		if _, err := s.devs.SetAccess(ctx, by, devicePK, ""); err != nil {
			return "", err
		}
		return "Administrator decision cleared: the rules decide again.", nil
	case "wipe", "wipe-account":
		if !confirmed {
			return "", errNeedConfirm
		}
		if _, err := s.devs.RequestWipe(ctx, by, devicePK, action == "wipe-account"); err != nil {
			return "", err
		}
		if action == "wipe-account" {
			return "Account-only wipe requested: the device removes this account's data on its next request.", nil
		}
		return "Remote wipe requested: the device will erase itself on its next request.", nil
	case "cancel-wipe":
		if err := s.devs.CancelWipe(ctx, by, devicePK); err != nil {
			return "", err
		}
		return "Wipe cancelled.", nil
	case "release":
		if err := s.devs.Release(ctx, by, devicePK); err != nil {
			return "", err
		}
		return "Released: the device starts again from scratch and is decided anew.", nil
	case "remove":
		if !confirmed {
			return "", errNeedConfirm
		}
		if err := s.devs.Remove(ctx, by, devicePK); err != nil {
			return "", err
		}
		return "Device removed. If it still has the account it will register again as new.", nil
	}
	return "", echo.NewHTTPError(http.StatusNotFound, "Unknown action.")
}

var errNeedConfirm = errors.New("tick the confirmation box first")

// actionError turns a service error into a message for the person, or
// returns it when it is not theirs to fix.
func actionError(err error) (string, bool) {
	var he *echo.HTTPError
	switch {
	case errors.Is(err, errNeedConfirm):
		return "Tick the confirmation box first.", true
	case errors.Is(err, store.ErrConflict):
		return "Not done: " + strings.TrimSuffix(err.Error(), ": "+store.ErrConflict.Error()) + ".", true
	case errors.Is(err, devices.ErrForbidden), errors.Is(err, store.ErrNotFound), errors.As(err, &he), errors.Is(err, store.ErrUnavailable):
		return "", false
	}
	// Validation errors from the service (unknown action, account-only
	// wipe on an older device).
	return "Not done: " + err.Error() + ".", true
}

func (s *Server) deviceAction(c echo.Context) error {
	ctx := c.Request().Context()
	dev, err := s.deviceParam(c)
	if err != nil {
		return err
	}
	action := c.Param("action")
	msg, err := s.applyDeviceAction(ctx, ident(c).actor(c), dev.ID, action, c.FormValue("confirm") == "yes")
	if err != nil {
		m, ok := actionError(err)
		if !ok {
			return err
		}
		msg = m
	}
	if c.Request().Header.Get("HX-Request") == "true" && c.FormValue("row") == "queue" {
		row := deviceRow{Device: *dev}
		if upd, err := s.store.DeviceByID(ctx, dev.ID); err == nil {
			row.Device = *upd
		}
		if u, err := s.store.UserByID(ctx, dev.UserID); err == nil {
			row.UserEmail = u.Email
		}
		return s.renderFragment(c, http.StatusOK, "quarantine.html", "queue-row", map[string]any{"Row": row, "Done": msg, "CSRF": c.Get(csrfContextKey)})
	}
	s.flash(c, msg)
	next := safeNext(c.FormValue("next"))
	if next == "" {
		next = "/admin/devices/" + strconv.FormatInt(dev.ID, 10)
		if action == "remove" && err == nil {
			next = "/admin/devices"
		}
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// decisionInputs are the parts of a decision that are not per device, as
// devices.Service sees them now.
type decisionInputs struct {
	rules      []policies.Rule
	settings   policies.Settings
	catalogue  *policies.Catalogue
	orgDefault policies.Action
}

func (s *Server) catalogue(ctx context.Context) (*policies.Catalogue, error) {
	js, err := s.store.Setting(ctx, devices.SettingCatalogue, "")
	if err != nil {
		return nil, err
	}
	if js == "" {
		return policies.DefaultCatalogue()
	}
	return policies.LoadCatalogue(strings.NewReader(js))
}

func (s *Server) decisionInputs(ctx context.Context) (*decisionInputs, error) {
	in := &decisionInputs{}
	var err error
	if in.rules, err = s.devs.Rules(ctx); err != nil {
		return nil, err
	}
	if _, in.settings, err = s.devs.Policy(ctx); err != nil {
		return nil, err
	}
	if in.catalogue, err = s.catalogue(ctx); err != nil {
		return nil, err
	}
	def, err := s.store.Setting(ctx, devices.SettingDefaultAccess, string(policies.DefaultOrgAction))
	if err != nil {
		return nil, err
	}
	in.orgDefault = policies.Action(def)
	return in, nil
}

// decide evaluates a device as devices.Service would, with the given rules.
func (in *decisionInputs) decide(dev *store.Device, rules []policies.Rule) policies.Decision {
	di := policies.DecisionInput{Facts: devices.Facts(dev), Rules: rules, Catalogue: in.catalogue, OrgDefault: in.orgDefault, Settings: in.settings}
	if dev.AdminOverride != "" {
		di.Override = policies.AdminOverride{Action: policies.Action(dev.AdminOverride), By: dev.AdminOverrideBy}
	}
	return policies.Decide(di)
}

// stateOfDecision mirrors devices' mapping from a decision to a state.
func stateOfDecision(d policies.Decision) store.DeviceState {
	if d.PendingProvision {
		return store.DeviceNew
	}
	switch d.Action {
	case policies.ActionAllow:
		return store.DeviceAllowed
	case policies.ActionBlock:
		return store.DeviceBlocked
	}
	return store.DeviceQuarantined
}
