package devices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"airlock/policies"
	"airlock/store"
)

// Actor is who asks for an administrative change, for the audit log and
// the permission check.
type Actor struct {
	Email string
	Admin bool
	// UserID is the acting user's id; a user who is not an admin may act
	// only on their own devices, and only to wipe them.
	UserID int64
	IP     string
}

// ErrForbidden is returned when the actor may not make the change.
var ErrForbidden = errors.New("devices: not allowed")

// SetAccess records an admin's decision for one device: allow, block or
// quarantine; "" clears the override so rules decide again.
func (s *Service) SetAccess(ctx context.Context, by Actor, devicePK int64, action policies.Action) (*store.Device, error) {
	if !by.Admin {
		return nil, ErrForbidden
	}
	if action != "" && !action.Valid() {
		return nil, fmt.Errorf("devices: unknown action %q", action)
	}
	dev, err := s.store.DeviceByID(ctx, devicePK)
	if err != nil {
		return nil, err
	}
	if dev.State == store.DeviceWipePending || dev.State == store.DeviceWiped {
		return nil, fmt.Errorf("device is %s: release it first: %w", dev.State, store.ErrConflict)
	}
	now := s.now()
	// Decide names the decider "admin:<who>"; store just who.
	if err := s.store.UpdateDevice(ctx, dev.ID, map[string]any{"admin_override": string(action), "admin_override_by": by.Email, "admin_override_at": now}); err != nil {
		return nil, err
	}
	dev.AdminOverride, dev.AdminOverrideBy, dev.AdminOverrideAt = string(action), by.Email, &now
	what := string(action)
	if what == "" {
		what = "clear"
	}
	s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "device." + what, TargetType: "device", Target: dev.DeviceID, UserID: &dev.UserID, DevicePK: &dev.ID})
	if _, err := s.Evaluate(ctx, dev); err != nil {
		return nil, err
	}
	return s.store.DeviceByID(ctx, dev.ID)
}

// RequestWipe asks for a remote wipe, delivered with the device's next
// request. accountOnly asks a 16.1 device to remove only this account's
// data (MS-ASPROV AccountOnlyRemoteWipe); older devices get a full wipe
// request only when accountOnly is false.
func (s *Service) RequestWipe(ctx context.Context, by Actor, devicePK int64, accountOnly bool) (*store.Device, error) {
	dev, err := s.store.DeviceByID(ctx, devicePK)
	if err != nil {
		return nil, err
	}
	if !by.Admin && by.UserID != dev.UserID {
		s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "device.wipe", TargetType: "device", Target: dev.DeviceID, DevicePK: &dev.ID, Outcome: "forbidden", Detail: "not the owner"})
		return nil, ErrForbidden
	}
	if accountOnly && dev.ProtocolVersion != "16.1" {
		return nil, fmt.Errorf("account-only wipe needs EAS 16.1; this device speaks %s", dev.ProtocolVersion)
	}
	wipeType := "full"
	if accountOnly {
		wipeType = "account"
	}
	now := s.now()
	if err := s.store.UpdateDevice(ctx, dev.ID, map[string]any{
		"state": store.DeviceWipePending, "wipe_type": wipeType, "wipe_requested_at": now, "wipe_requested_by": by.Email,
		"wipe_acked_at": nil, "wipe_ack_status": 0, "state_reason": "remote wipe requested by " + by.Email, "decided_by": "wipe:" + by.Email,
	}); err != nil {
		return nil, err
	}
	s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "device.wipe_requested", TargetType: "device", Target: dev.DeviceID, UserID: &dev.UserID, DevicePK: &dev.ID, Outcome: wipeType})
	return s.store.DeviceByID(ctx, dev.ID)
}

// CancelWipe withdraws a wipe that has not been delivered yet.
func (s *Service) CancelWipe(ctx context.Context, by Actor, devicePK int64) error {
	if !by.Admin {
		return ErrForbidden
	}
	dev, err := s.store.DeviceByID(ctx, devicePK)
	if err != nil {
		return err
	}
	if dev.State != store.DeviceWipePending {
		return fmt.Errorf("no wipe pending: %w", store.ErrConflict)
	}
	if err := s.store.UpdateDevice(ctx, dev.ID, map[string]any{"state": store.DeviceNew, "wipe_type": "", "state_reason": "wipe cancelled", "decided_by": "admin:" + by.Email}); err != nil {
		return err
	}
	s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "device.wipe_cancelled", TargetType: "device", Target: dev.DeviceID, UserID: &dev.UserID, DevicePK: &dev.ID})
	return nil
}

// WipeAcknowledged records the device's answer to a wipe (MS-ASPROV
// 2.2.2.53.3: 1 = the wipe succeeded, 2 = it failed). A successful wipe
// leaves the device wiped and blocked until an admin releases it; a failed
// one keeps the wipe pending, so it is sent again.
func (s *Service) WipeAcknowledged(ctx context.Context, dev *store.Device, status int, ip string) error {
	now := s.now()
	fields := map[string]any{"wipe_acked_at": now, "wipe_ack_status": status}
	outcome := "failed"
	if status == 1 {
		fields["state"] = store.DeviceWiped
		fields["state_reason"] = "wiped; blocked until an administrator releases it"
		fields["policy_key"] = 0
		outcome = "wiped"
	}
	if err := s.store.UpdateDevice(ctx, dev.ID, fields); err != nil {
		return err
	}
	s.audit(ctx, &store.AuditEvent{Actor: dev.DeviceID, ActorIP: ip, Action: "device.wipe_acknowledged", TargetType: "device", Target: dev.DeviceID, UserID: &dev.UserID, DevicePK: &dev.ID, Outcome: outcome, Detail: fmt.Sprintf("status %d", status)})
	return nil
}

// Release lets a wiped device start again from scratch: its sync state is
// dropped and it is decided anew (and quarantined unless rules allow it).
func (s *Service) Release(ctx context.Context, by Actor, devicePK int64) error {
	if !by.Admin {
		return ErrForbidden
	}
	dev, err := s.store.DeviceByID(ctx, devicePK)
	if err != nil {
		return err
	}
	if dev.State != store.DeviceWiped {
		return fmt.Errorf("device is %s, not wiped: %w", dev.State, store.ErrConflict)
	}
	if err := s.store.UpdateDevice(ctx, dev.ID, map[string]any{"state": store.DeviceNew, "wipe_type": "", "policy_key": 0, "policy_ack_status": 0, "admin_override": "", "state_reason": "released after wipe"}); err != nil {
		return err
	}
	if err := s.store.ResetSyncState(ctx, dev.ID, ""); err != nil {
		return err
	}
	s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "device.released", TargetType: "device", Target: dev.DeviceID, UserID: &dev.UserID, DevicePK: &dev.ID})
	return nil
}

// Remove deletes a device partnership and its sync state. A device removed
// while it still has the account will register again as new.
func (s *Service) Remove(ctx context.Context, by Actor, devicePK int64) error {
	if !by.Admin {
		return ErrForbidden
	}
	dev, err := s.store.DeviceByID(ctx, devicePK)
	if err != nil {
		return err
	}
	if err := s.store.DeleteDevice(ctx, dev.ID); err != nil {
		return err
	}
	s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "device.removed", TargetType: "device", Target: dev.DeviceID, UserID: &dev.UserID})
	return nil
}

// SetMDMVerdict records an external device-management compliance verdict
// (for example from a signed MDM webhook) as evidence for the decision.
func (s *Service) SetMDMVerdict(ctx context.Context, source string, devicePK int64, compliant bool) error {
	dev, err := s.store.DeviceByID(ctx, devicePK)
	if err != nil {
		return err
	}
	if err := s.store.UpdateDevice(ctx, dev.ID, map[string]any{"mdm_compliant": compliant, "mdm_checked_at": s.now()}); err != nil {
		return err
	}
	dev.MDMCompliant = &compliant
	s.audit(ctx, &store.AuditEvent{Actor: source, Action: "device.mdm_verdict", TargetType: "device", Target: dev.DeviceID, UserID: &dev.UserID, DevicePK: &dev.ID, Outcome: fmt.Sprint(compliant)})
	_, err = s.Evaluate(ctx, dev)
	return err
}

// AddRule validates and stores a device rule.
func (s *Service) AddRule(ctx context.Context, by Actor, r policies.Rule) (*store.DeviceRule, error) {
	if !by.Admin {
		return nil, ErrForbidden
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	sr := ruleToStore(r)
	sr.ID, sr.CreatedBy = 0, by.Email
	if err := s.store.AddRule(ctx, &sr); err != nil {
		return nil, err
	}
	js, _ := json.Marshal(r)
	s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "rule.added", TargetType: "rule", Target: fmt.Sprint(sr.ID), Detail: string(js)})
	s.Invalidate()
	return &sr, nil
}

// RemoveRule deletes a device rule.
func (s *Service) RemoveRule(ctx context.Context, by Actor, id int64) error {
	if !by.Admin {
		return ErrForbidden
	}
	if err := s.store.DeleteRule(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "rule.removed", TargetType: "rule", Target: fmt.Sprint(id)})
	s.Invalidate()
	return nil
}

// Rules returns the stored rules as policies.Rule values.
func (s *Service) Rules(ctx context.Context) ([]policies.Rule, error) {
	stored, err := s.store.ListRules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]policies.Rule, len(stored))
	for i, r := range stored {
		out[i] = ruleFromStore(r)
	}
	return out, nil
}

// SetPolicy validates and stores the default policy's settings. The
// version bump makes every device's key stale, so all re-provision.
func (s *Service) SetPolicy(ctx context.Context, by Actor, settings policies.Settings) (*store.Policy, error) {
	if !by.Admin {
		return nil, ErrForbidden
	}
	if err := settings.Validate(); err != nil {
		return nil, err
	}
	cur, err := s.store.DefaultPolicy(ctx)
	if err != nil {
		return nil, err
	}
	js, _ := json.Marshal(settings)
	p, err := s.store.SavePolicy(ctx, cur.Name, string(js))
	if err != nil {
		return nil, err
	}
	s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "policy.changed", TargetType: "policy", Target: p.Name, Detail: fmt.Sprintf("version %d: %s", p.Version, js)})
	s.Invalidate()
	return p, nil
}

// SetDefaultAccess sets what happens to devices no rule matches.
func (s *Service) SetDefaultAccess(ctx context.Context, by Actor, a policies.Action) error {
	if !by.Admin {
		return ErrForbidden
	}
	if !a.Valid() {
		return fmt.Errorf("devices: unknown action %q", a)
	}
	if err := s.store.SetSetting(ctx, SettingDefaultAccess, string(a)); err != nil {
		return err
	}
	s.audit(ctx, &store.AuditEvent{Actor: by.Email, ActorIP: by.IP, Action: "org.default_access", Target: string(a)})
	s.Invalidate()
	return nil
}
