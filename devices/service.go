// Package devices is the device registry and the access decision: which
// (user, EAS DeviceId) partnerships exist, what each device is, and whether
// it may sync (allow), must wait for an administrator (quarantine), may not
// (block), or must be wiped.
//
// The decision itself is policies.Decide, a pure function; this package
// feeds it the device's facts, the stored rules, the catalogue and the
// policy, persists the outcome when it changes, and audits every change.
//
// # Implementation notes
//
// Admit runs on every EAS request, so it reads the device row (one indexed
// query) and evaluates the decision in memory against rules, catalogue and
// policy cached for a few seconds; it writes only when something changed
// (state, user agent, DeviceType) and touches last_seen at most once a
// minute. An admin's decision is on the device row itself, so it takes
// effect on the device's next request on every node; rule and policy edits
// reach other nodes within the cache's lifetime (ConfigTTL).
//
// Wipe states are sticky: once a wipe is requested, no decision moves the
// device out of wipe_pending, and a wiped device stays blocked until an
// admin releases it.
package devices

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"airlock/policies"
	"airlock/store"
)

// Errors of the policy-key check.
var (
	ErrNoPolicyKey      = errors.New("devices: device has no policy key")
	ErrStalePolicyKey   = errors.New("devices: policy key stale or wrong")
	ErrPolicyNotApplied = errors.New("devices: device did not fully apply the policy")
)

// Org setting keys.
const (
	SettingDefaultAccess = "default_access"    // allow | quarantine | block
	SettingMaxDevices    = "max_devices"       // per user
	SettingCatalogue     = "device_catalogue"  // JSON of policies.Catalogue
	SettingRulesSeeded   = "device_rules_seed" // set once the default rules were stored
)

// Service is the registry and decision maker. Create it with New.
type Service struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
	// ConfigTTL bounds how stale cached rules and policy may be.
	ConfigTTL time.Duration

	mu    sync.Mutex
	cfg   *config
	cfgAt time.Time
}

// config is the decision's input that is not per device.
type config struct {
	rules      []policies.Rule
	catalogue  *policies.Catalogue
	policy     *store.Policy
	settings   policies.Settings
	orgDefault policies.Action
	maxDevices int
}

// New returns a service on st.
func New(st *store.Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, log: log, now: func() time.Time { return time.Now().UTC() }, ConfigTTL: 3 * time.Second}
}

// Seen is what a request says about its device.
type Seen struct {
	DeviceID, DeviceType, UserAgent, ProtocolVersion, RemoteAddr, Command string
}

// Access is the gate's view of a device's decision.
type Access struct {
	State     store.DeviceState
	Reason    string
	DecidedBy string
	// WipePending: the next Provision delivers a wipe (WipeType).
	WipePending bool
	WipeType    string
	// TooManyDevices: the user is over the device limit; the device was not
	// registered.
	TooManyDevices bool
	// NotProvisionable: refused because the device did not fully apply a
	// policy that the organisation requires (EAS 139/145 rather than 129).
	NotProvisionable bool
	External         bool
}

// EnsureDefaults seeds a new installation: the default policy, the default
// device rules (once) and the organisation's default access level.
func (s *Service) EnsureDefaults(ctx context.Context) error {
	if _, err := s.store.DefaultPolicy(ctx); errors.Is(err, store.ErrNotFound) {
		js, _ := json.Marshal(policies.DefaultSettings())
		if _, err := s.store.SavePolicy(ctx, "default", string(js)); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	seeded, err := s.store.Setting(ctx, SettingRulesSeeded, "")
	if err != nil {
		return err
	}
	if seeded == "" {
		rules, err := policies.DefaultRules()
		if err != nil {
			return err
		}
		for _, r := range rules {
			sr := ruleToStore(r)
			sr.CreatedBy = defaultRulesAuthor
			if err := s.store.AddRule(ctx, &sr); err != nil {
				return err
			}
		}
		if err := s.store.SetSetting(ctx, SettingRulesSeeded, s.now().Format(time.RFC3339)); err != nil {
			return err
		}
	} else if err := s.reviseShippedRules(ctx); err != nil {
		return err
	}
	if v, err := s.store.Setting(ctx, SettingDefaultAccess, ""); err != nil {
		return err
	} else if v == "" {
		if err := s.store.SetSetting(ctx, SettingDefaultAccess, string(policies.ActionQuarantine)); err != nil {
			return err
		}
	}
	s.Invalidate()
	return nil
}

// defaultRulesAuthor is the CreatedBy of the rules EnsureDefaults seeds.
const defaultRulesAuthor = "default rules"

// revisedRules are shipped rules whose matcher changed after installations
// had stored them. The Nokia rules matched the User-Agent only; they now
// match the model, which the device reports in DeviceInformation or its
// User-Agent carries (policies.Enrich), so a Nokia whose mail client sends
// an unknown User-Agent is recognised too.
var revisedRules = []struct {
	id             int64
	field, pattern string // as first shipped
}{
	{60, "useragent", "re:^NokiaE(52|55|63|66|71|72|75)"},
	{61, "useragent", "re:^NokiaE[57]-?00"},
}

// reviseShippedRules gives the stored rules of revisedRules their new
// matcher, when they are still exactly as shipped: a rule an administrator
// changed is theirs and stays as it is.
func (s *Service) reviseShippedRules(ctx context.Context) error {
	shipped, err := policies.DefaultRules()
	if err != nil {
		return err
	}
	stored, err := s.store.ListRules(ctx)
	if err != nil {
		return err
	}
	for _, old := range revisedRules {
		for i := range stored {
			r := &stored[i]
			if r.ID != old.id || r.Field != old.field || r.Pattern != old.pattern || r.CreatedBy != defaultRulesAuthor {
				continue
			}
			for _, n := range shipped {
				if n.ID == old.id {
					r.Field, r.Pattern = string(n.Field), n.Pattern
					if err := s.store.UpdateRule(ctx, r); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// Invalidate drops the cached rules and policy after a local change.
func (s *Service) Invalidate() {
	s.mu.Lock()
	s.cfg = nil
	s.mu.Unlock()
}

func (s *Service) config(ctx context.Context) (*config, error) {
	s.mu.Lock()
	if s.cfg != nil && s.now().Sub(s.cfgAt) < s.ConfigTTL {
		c := s.cfg
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	c := &config{maxDevices: 10}
	stored, err := s.store.ListRules(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range stored {
		c.rules = append(c.rules, ruleFromStore(r))
	}
	if c.catalogue, err = s.catalogue(ctx); err != nil {
		return nil, err
	}
	p, err := s.store.DefaultPolicy(ctx)
	if err != nil {
		return nil, fmt.Errorf("no default policy (run airlock migrate / serve once): %w", err)
	}
	c.policy = p
	if err := json.Unmarshal([]byte(p.Settings), &c.settings); err != nil {
		return nil, fmt.Errorf("policy %q: %w", p.Name, err)
	}
	def, err := s.store.Setting(ctx, SettingDefaultAccess, string(policies.ActionQuarantine))
	if err != nil {
		return nil, err
	}
	c.orgDefault = policies.Action(def)
	if v, _ := s.store.Setting(ctx, SettingMaxDevices, ""); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			c.maxDevices = n
		}
	}
	s.mu.Lock()
	s.cfg, s.cfgAt = c, s.now()
	s.mu.Unlock()
	return c, nil
}

func (s *Service) catalogue(ctx context.Context) (*policies.Catalogue, error) {
	js, err := s.store.Setting(ctx, SettingCatalogue, "")
	if err != nil {
		return nil, err
	}
	if js == "" {
		return policies.DefaultCatalogue()
	}
	return policies.LoadCatalogue(strings.NewReader(js))
}

// Policy returns the policy devices are given and its settings.
func (s *Service) Policy(ctx context.Context) (*store.Policy, policies.Settings, error) {
	c, err := s.config(ctx)
	if err != nil {
		return nil, policies.Settings{}, err
	}
	return c.policy, c.settings, nil
}

// Admit registers the device on its first request and returns its record
// and current access decision. A new device beyond the user's limit is not
// registered (Access.TooManyDevices).
func (s *Service) Admit(ctx context.Context, u *store.User, seen Seen) (*store.Device, Access, error) {
	c, err := s.config(ctx)
	if err != nil {
		return nil, Access{}, err
	}
	dev, err := s.store.DeviceByEASID(ctx, u.ID, seen.DeviceID)
	if errors.Is(err, store.ErrNotFound) {
		n, err := s.store.CountDevicesOfUser(ctx, u.ID)
		if err != nil {
			return nil, Access{}, err
		}
		if int(n) >= c.maxDevices {
			s.audit(ctx, &store.AuditEvent{Actor: u.Email, ActorIP: seen.RemoteAddr, Action: "device.refused", TargetType: "device", Target: seen.DeviceID, UserID: &u.ID, Outcome: "too_many_devices", Detail: fmt.Sprintf("user has %d devices, limit %d", n, c.maxDevices)})
			return &store.Device{UserID: u.ID, DeviceID: seen.DeviceID}, Access{State: store.DeviceBlocked, TooManyDevices: true, Reason: "too many devices"}, nil
		}
		var created bool
		dev, created, err = s.store.EnsureDevice(ctx, &store.Device{
			UserID: u.ID, DeviceID: seen.DeviceID, DeviceType: seen.DeviceType, UserAgent: seen.UserAgent,
			ProtocolVersion: seen.ProtocolVersion, PolicyID: &c.policy.ID,
		})
		if err != nil {
			return nil, Access{}, err
		}
		if created {
			s.audit(ctx, &store.AuditEvent{Actor: u.Email, ActorIP: seen.RemoteAddr, Action: "device.registered", TargetType: "device", Target: dev.DeviceID, UserID: &u.ID, DevicePK: &dev.ID,
				Detail: fmt.Sprintf("DeviceType %q, User-Agent %q, EAS %s", seen.DeviceType, seen.UserAgent, seen.ProtocolVersion)})
		}
	} else if err != nil {
		return nil, Access{}, err
	}
	if err := s.noteChanges(ctx, u, dev, seen); err != nil {
		return nil, Access{}, err
	}
	access, err := s.decide(ctx, u, dev, c, seen.RemoteAddr)
	if err != nil {
		return nil, Access{}, err
	}
	// Record the visit without a write per Ping: last_seen moves at most
	// once a minute. last_sync is the handler's to record, after a Sync
	// that served data (SyncCompleted).
	if dev.LastSeen == nil || s.now().Sub(*dev.LastSeen) > time.Minute {
		if err := s.store.TouchDevice(ctx, dev.ID, seen.Command, false); err != nil {
			s.log.Warn("touch device", "err", err)
		}
	}
	return dev, access, nil
}

// noteChanges records what the request says that differs from the record.
// A DeviceType change on a known DeviceId is suspicious (another device
// presenting the id): it is audited and the device is put back to
// quarantine for an admin to look at.
func (s *Service) noteChanges(ctx context.Context, u *store.User, dev *store.Device, seen Seen) error {
	fields := map[string]any{}
	if seen.UserAgent != "" && seen.UserAgent != dev.UserAgent {
		fields["user_agent"] = seen.UserAgent
		dev.UserAgent = seen.UserAgent
	}
	if seen.ProtocolVersion != dev.ProtocolVersion {
		fields["protocol_version"] = seen.ProtocolVersion
		dev.ProtocolVersion = seen.ProtocolVersion
	}
	if seen.DeviceType != dev.DeviceType {
		s.audit(ctx, &store.AuditEvent{Actor: u.Email, ActorIP: seen.RemoteAddr, Action: "device.fingerprint_changed", TargetType: "device", Target: dev.DeviceID, UserID: &u.ID, DevicePK: &dev.ID,
			Detail: fmt.Sprintf("DeviceType changed from %q to %q", dev.DeviceType, seen.DeviceType)})
		fields["device_type"] = seen.DeviceType
		dev.DeviceType = seen.DeviceType
		if dev.AdminOverride == string(policies.ActionAllow) {
			// The admin approved another device; this one must be approved anew.
			fields["admin_override"], dev.AdminOverride = string(policies.ActionQuarantine), string(policies.ActionQuarantine)
			fields["admin_override_by"], dev.AdminOverrideBy = "airlock (DeviceType changed)", "airlock (DeviceType changed)"
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return s.store.UpdateDevice(ctx, dev.ID, fields)
}

// SyncCompleted records that an allowed device finished a Sync, for the
// dashboard's "last sync".
func (s *Service) SyncCompleted(ctx context.Context, dev *store.Device) {
	if err := s.store.TouchDevice(ctx, dev.ID, "Sync", true); err != nil {
		s.log.Warn("touch device", "err", err)
	}
}

// Facts returns what the decision knows of a device.
func Facts(dev *store.Device) policies.DeviceFacts {
	f := policies.DeviceFacts{
		DeviceID: dev.DeviceID, DeviceType: dev.DeviceType, Model: dev.Model, OS: dev.OS, OSLanguage: dev.OSLanguage,
		UserAgent: dev.UserAgent, ProtocolVersion: dev.ProtocolVersion, PolicyAck: policies.PolicyAck(dev.PolicyAckStatus),
		MDMCompliant: dev.MDMCompliant,
	}
	return f
}

// decide evaluates the device and stores the outcome if it changed.
func (s *Service) decide(ctx context.Context, u *store.User, dev *store.Device, c *config, ip string) (Access, error) {
	switch dev.State {
	case store.DeviceWipePending:
		return Access{State: dev.State, Reason: dev.StateReason, DecidedBy: dev.DecidedBy, WipePending: true, WipeType: dev.WipeType}, nil
	case store.DeviceWiped:
		return Access{State: dev.State, Reason: dev.StateReason, DecidedBy: dev.DecidedBy}, nil
	}
	in := policies.DecisionInput{Facts: Facts(dev), Rules: c.rules, Catalogue: c.catalogue, OrgDefault: c.orgDefault, Settings: c.settings}
	if dev.AdminOverride != "" {
		in.Override = policies.AdminOverride{Action: policies.Action(dev.AdminOverride), By: dev.AdminOverrideBy}
		if dev.AdminOverrideAt != nil {
			in.Override.At = *dev.AdminOverrideAt
		}
	}
	d := policies.Decide(in)
	state := stateOf(d.Action)
	if d.PendingProvision {
		// Not refused yet: it has not been offered the policy. Keep it in
		// quarantine-like "new" until Provision, which it is sent to anyway.
		state = store.DeviceNew
	}
	evidence, _ := json.Marshal(d.Evidence)
	if state != dev.State || d.Reason != dev.StateReason || d.DecidedBy != dev.DecidedBy || string(evidence) != dev.Evidence {
		now := s.now()
		fields := map[string]any{"state": state, "state_reason": d.Reason, "decided_by": d.DecidedBy, "decided_at": now, "evidence": string(evidence)}
		if err := s.store.UpdateDevice(ctx, dev.ID, fields); err != nil {
			return Access{}, err
		}
		if state != dev.State {
			s.audit(ctx, &store.AuditEvent{Actor: "airlock", ActorIP: ip, Action: "device.decision", TargetType: "device", Target: dev.DeviceID, UserID: &u.ID, DevicePK: &dev.ID,
				Outcome: string(state), Detail: fmt.Sprintf("%s (decided by %s; was %s)", d.Reason, d.DecidedBy, dev.State)})
		}
		dev.State, dev.StateReason, dev.DecidedBy, dev.DecidedAt, dev.Evidence = state, d.Reason, d.DecidedBy, &now, string(evidence)
	}
	a := Access{State: state, Reason: d.Reason, DecidedBy: d.DecidedBy}
	if state == store.DeviceBlocked && d.DecidedBy == "policy" {
		a.NotProvisionable = true
		a.External = dev.PolicyAckStatus == int(policies.AckExternal)
	}
	return a, nil
}

func stateOf(a policies.Action) store.DeviceState {
	switch a {
	case policies.ActionAllow:
		return store.DeviceAllowed
	case policies.ActionBlock:
		return store.DeviceBlocked
	}
	return store.DeviceQuarantined
}

// CheckPolicyKey verifies the key a request carries (MS-ASPROV 3.2.5.1):
// it must be the device's final key, issued under the current version of
// its policy.
func (s *Service) CheckPolicyKey(ctx context.Context, dev *store.Device, key string) error {
	c, err := s.config(ctx)
	if err != nil {
		return err
	}
	key = strings.TrimSpace(key)
	if key == "" || key == "0" || dev.PolicyKey == 0 {
		return ErrNoPolicyKey
	}
	if key != strconv.FormatInt(dev.PolicyKey, 10) {
		return fmt.Errorf("%w: key %s", ErrStalePolicyKey, key)
	}
	if dev.PolicyVersion != c.policy.Version {
		return fmt.Errorf("%w: issued for policy version %d, now %d", ErrStalePolicyKey, dev.PolicyVersion, c.policy.Version)
	}
	return nil
}

// newPolicyKey returns a random non-zero 31-bit key (clients treat it as a
// 32-bit unsigned number; staying below 2^31 avoids sign trouble in old
// clients).
func newPolicyKey() int64 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if k := int64(binary.BigEndian.Uint32(b[:]) & 0x7fffffff); k > 1 {
			return k
		}
	}
}

// IssueTemporaryKey starts Provision's first phase: a key that is good only
// for acknowledging the policy.
func (s *Service) IssueTemporaryKey(ctx context.Context, dev *store.Device) (int64, error) {
	key := newPolicyKey()
	if err := s.store.UpdateDevice(ctx, dev.ID, map[string]any{"policy_key_temp": key}); err != nil {
		return 0, err
	}
	dev.PolicyKeyTemp = key
	return key, nil
}

// Acknowledge handles Provision's second phase: the device reports how it
// applied the policy it got with tempKey. It returns the final key, or
// ok=false when tempKey is not the one issued (Policy Status 5).
func (s *Service) Acknowledge(ctx context.Context, u *store.User, dev *store.Device, tempKey string, ack policies.PolicyAck, ip string) (finalKey int64, ok bool, err error) {
	c, err := s.config(ctx)
	if err != nil {
		return 0, false, err
	}
	if dev.PolicyKeyTemp == 0 || strings.TrimSpace(tempKey) != strconv.FormatInt(dev.PolicyKeyTemp, 10) {
		s.audit(ctx, &store.AuditEvent{Actor: u.Email, ActorIP: ip, Action: "device.provision", TargetType: "device", Target: dev.DeviceID, UserID: &u.ID, DevicePK: &dev.ID, Outcome: "wrong_key"})
		return 0, false, nil
	}
	finalKey = newPolicyKey()
	now := s.now()
	err = s.store.UpdateDevice(ctx, dev.ID, map[string]any{
		"policy_key": finalKey, "policy_key_temp": 0, "policy_ack_status": int(ack),
		"policy_id": c.policy.ID, "policy_version": c.policy.Version, "provisioned_at": now,
	})
	if err != nil {
		return 0, false, err
	}
	dev.PolicyKey, dev.PolicyKeyTemp, dev.PolicyAckStatus, dev.PolicyVersion, dev.ProvisionedAt = finalKey, 0, int(ack), c.policy.Version, &now
	s.audit(ctx, &store.AuditEvent{Actor: u.Email, ActorIP: ip, Action: "device.provision", TargetType: "device", Target: dev.DeviceID, UserID: &u.ID, DevicePK: &dev.ID,
		Outcome: ack.String(), Detail: fmt.Sprintf("policy %q version %d acknowledged with status %d", c.policy.Name, c.policy.Version, int(ack))})
	return finalKey, true, nil
}

// DeviceInfo is the DeviceInformation a device sends in Settings or
// Provision (MS-ASCMD 2.2.3.50).
type DeviceInfo struct {
	Model, IMEI, FriendlyName, OS, OSLanguage, PhoneNumber, UserAgent, MobileOperator string
}

// SetDeviceInformation stores what the device says it is and re-evaluates
// its access; source is policies.InfoFromSettings or InfoFromProvision.
func (s *Service) SetDeviceInformation(ctx context.Context, u *store.User, dev *store.Device, info DeviceInfo, source, ip string) (Access, error) {
	fields := map[string]any{}
	set := func(col string, cur *string, v string) {
		v = strings.TrimSpace(v)
		if len(v) > 256 {
			v = v[:256]
		}
		if v != "" && v != *cur {
			fields[col], *cur = v, v
		}
	}
	set("model", &dev.Model, info.Model)
	set("imei", &dev.IMEI, info.IMEI)
	set("friendly_name", &dev.FriendlyName, info.FriendlyName)
	set("os", &dev.OS, info.OS)
	set("os_language", &dev.OSLanguage, info.OSLanguage)
	set("phone_number", &dev.PhoneNumber, info.PhoneNumber)
	set("mobile_operator", &dev.MobileOperator, info.MobileOperator)
	if info.UserAgent != "" && dev.UserAgent == "" {
		set("user_agent", &dev.UserAgent, info.UserAgent)
	}
	if len(fields) > 0 {
		if err := s.store.UpdateDevice(ctx, dev.ID, fields); err != nil {
			return Access{}, err
		}
		s.audit(ctx, &store.AuditEvent{Actor: u.Email, ActorIP: ip, Action: "device.information", TargetType: "device", Target: dev.DeviceID, UserID: &u.ID, DevicePK: &dev.ID,
			Detail: fmt.Sprintf("from %s: model %q, OS %q, IMEI %q", source, dev.Model, dev.OS, dev.IMEI)})
	}
	c, err := s.config(ctx)
	if err != nil {
		return Access{}, err
	}
	return s.decide(ctx, u, dev, c, ip)
}

// Evaluate re-runs the decision for a device (after an admin change).
func (s *Service) Evaluate(ctx context.Context, dev *store.Device) (Access, error) {
	u, err := s.store.UserByID(ctx, dev.UserID)
	if err != nil {
		return Access{}, err
	}
	s.Invalidate()
	c, err := s.config(ctx)
	if err != nil {
		return Access{}, err
	}
	return s.decide(ctx, u, dev, c, "")
}

func (s *Service) audit(ctx context.Context, e *store.AuditEvent) {
	if err := s.store.Audit(ctx, e); err != nil {
		s.log.Error("audit", "action", e.Action, "err", err)
	}
}

// AuditAuth records an authentication event (activesync.Auditor).
func (s *Service) AuditAuth(ctx context.Context, login, ip, outcome, detail string) {
	s.audit(ctx, &store.AuditEvent{Actor: login, ActorIP: ip, Action: "auth", TargetType: "user", Target: login, Outcome: outcome, Detail: detail})
}

func ruleToStore(r policies.Rule) store.DeviceRule {
	return store.DeviceRule{ID: r.ID, Priority: r.Priority, Field: string(r.Field), Match: string(r.Match), Pattern: r.Pattern, Action: string(r.Action), Description: r.Description, Enabled: r.Enabled}
}

func ruleFromStore(r store.DeviceRule) policies.Rule {
	return policies.Rule{ID: r.ID, Priority: r.Priority, Field: policies.Field(r.Field), Match: policies.MatchKind(r.Match), Pattern: r.Pattern, Action: policies.Action(r.Action), Description: r.Description, Enabled: r.Enabled}
}
