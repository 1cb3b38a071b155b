package devices_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"airlock/devices"
	"airlock/policies"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var admin = devices.Actor{Email: "admin@example.nhs.uk", Admin: true}

// dvSetup returns a service with the shipped defaults and one user.
func dvSetup(t *testing.T, s *store.Store) (*devices.Service, *store.User) {
	t.Helper()
	ctx := context.Background()
	svc := devices.New(s, nil)
	if err := svc.EnsureDefaults(ctx); err != nil {
		t.Fatalf("EnsureDefaults: %v", err)
	}
	u := &store.User{Email: "nurse@example.nhs.uk"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return svc, u
}

func dvSeen(id string) devices.Seen {
	return devices.Seen{DeviceID: id, DeviceType: "TestPhone", UserAgent: "TestPhone/1.0", ProtocolVersion: "14.1", RemoteAddr: "192.0.2.1", Command: "Sync"}
}

// dvAdmit admits the device and fails the test on an error.
func dvAdmit(t *testing.T, svc *devices.Service, u *store.User, seen devices.Seen) (*store.Device, devices.Access) {
	t.Helper()
	dev, a, err := svc.Admit(context.Background(), u, seen)
	if err != nil {
		t.Fatalf("Admit(%s): %v", seen.DeviceID, err)
	}
	return dev, a
}

// dvProvision runs both phases of Provision with a full acknowledgement.
func dvProvision(t *testing.T, svc *devices.Service, u *store.User, dev *store.Device) int64 {
	t.Helper()
	ctx := context.Background()
	tmp, err := svc.IssueTemporaryKey(ctx, dev)
	if err != nil {
		t.Fatalf("IssueTemporaryKey: %v", err)
	}
	key, ok, err := svc.Acknowledge(ctx, u, dev, strconv.FormatInt(tmp, 10), policies.AckApplied, "192.0.2.1")
	if err != nil || !ok {
		t.Fatalf("Acknowledge = %d, %v, %v", key, ok, err)
	}
	return key
}

// The organisation's default access decides a device no rule matches,
// once it has applied the policy.
func TestDevicesDefaultAccessDecidesUnknownDevice(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc, u := dvSetup(t, s)
		for _, c := range []struct {
			access policies.Action
			want   store.DeviceState
		}{
			{policies.ActionAllow, store.DeviceAllowed},
			{policies.ActionQuarantine, store.DeviceQuarantined},
			{policies.ActionBlock, store.DeviceBlocked},
		} {
			t.Run(string(c.access), func(t *testing.T) {
				ctx := context.Background()
				if err := svc.SetDefaultAccess(ctx, admin, c.access); err != nil {
					t.Fatalf("SetDefaultAccess: %v", err)
				}
				seen := dvSeen("dev-" + string(c.access))
				dev, _ := dvAdmit(t, svc, u, seen)
				dvProvision(t, svc, u, dev)
				_, a := dvAdmit(t, svc, u, seen)
				if a.State != c.want {
					t.Errorf("state = %s (%s), want %s", a.State, a.Reason, c.want)
				}
			})
		}
	})
}

// Every administrative change refuses an actor who is not an admin.
func TestDevicesAdminChangesNeedAnAdmin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc, u := dvSetup(t, s)
		ctx := context.Background()
		dev, _ := dvAdmit(t, svc, u, dvSeen("dev-admin"))
		user := devices.Actor{Email: u.Email, UserID: u.ID}
		for _, c := range []struct {
			name string
			call func() error
		}{
			{"SetAccess", func() error { _, err := svc.SetAccess(ctx, user, dev.ID, policies.ActionAllow); return err }},
			{"CancelWipe", func() error { return svc.CancelWipe(ctx, user, dev.ID) }},
			{"Release", func() error { return svc.Release(ctx, user, dev.ID) }},
			{"Remove", func() error { return svc.Remove(ctx, user, dev.ID) }},
			{"AddRule", func() error { _, err := svc.AddRule(ctx, user, policies.Rule{}); return err }},
			{"RemoveRule", func() error { return svc.RemoveRule(ctx, user, 1) }},
			{"SetPolicy", func() error { _, err := svc.SetPolicy(ctx, user, policies.DefaultSettings()); return err }},
			{"SetDefaultAccess", func() error { return svc.SetDefaultAccess(ctx, user, policies.ActionAllow) }},
			{"RequestWipe of another's device", func() error {
				_, err := svc.RequestWipe(ctx, devices.Actor{Email: "other@example.nhs.uk", UserID: u.ID + 1000}, dev.ID, false)
				return err
			}},
		} {
			if err := c.call(); !errors.Is(err, devices.ErrForbidden) {
				t.Errorf("%s by a user = %v, want ErrForbidden", c.name, err)
			}
		}
		if got, err := s.DeviceByID(ctx, dev.ID); err != nil || got.AdminOverride != "" || got.State == store.DeviceWipePending {
			t.Errorf("device after refused changes = %+v, %v; want it untouched", got, err)
		}
	})
}

// CheckPolicyKey accepts only the final key issued under the current
// policy version (MS-ASPROV 3.2.5.1).
func TestDevicesCheckPolicyKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc, u := dvSetup(t, s)
		ctx := context.Background()
		dev, _ := dvAdmit(t, svc, u, dvSeen("dev-key"))
		if err := svc.CheckPolicyKey(ctx, dev, "123"); !errors.Is(err, devices.ErrNoPolicyKey) {
			t.Fatalf("before Provision: %v, want ErrNoPolicyKey", err)
		}
		key := dvProvision(t, svc, u, dev)
		for _, c := range []struct {
			key  string
			want error
		}{
			{strconv.FormatInt(key, 10), nil},
			{" " + strconv.FormatInt(key, 10) + " ", nil},
			{"", devices.ErrNoPolicyKey},
			{"0", devices.ErrNoPolicyKey},
			{strconv.FormatInt(key+1, 10), devices.ErrStalePolicyKey},
			{"not-a-key", devices.ErrStalePolicyKey},
		} {
			if err := svc.CheckPolicyKey(ctx, dev, c.key); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Errorf("CheckPolicyKey(%q) = %v, want %v", c.key, err, c.want)
			}
		}
		// A new policy version makes the key stale: every device provisions again.
		if _, err := svc.SetPolicy(ctx, admin, policies.DefaultSettings()); err != nil {
			t.Fatalf("SetPolicy: %v", err)
		}
		if err := svc.CheckPolicyKey(ctx, dev, strconv.FormatInt(key, 10)); !errors.Is(err, devices.ErrStalePolicyKey) {
			t.Errorf("after a policy change: %v, want ErrStalePolicyKey", err)
		}
	})
}

// Provision's second phase needs the temporary key of the first.
func TestDevicesAcknowledgeNeedsTheTemporaryKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc, u := dvSetup(t, s)
		ctx := context.Background()
		dev, _ := dvAdmit(t, svc, u, dvSeen("dev-ack"))
		tmp, err := svc.IssueTemporaryKey(ctx, dev)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"", "0", strconv.FormatInt(tmp+1, 10)} {
			if _, ok, err := svc.Acknowledge(ctx, u, dev, k, policies.AckApplied, ""); ok || err != nil {
				t.Errorf("Acknowledge(%q) = %v, %v; want refused", k, ok, err)
			}
		}
		final, ok, err := svc.Acknowledge(ctx, u, dev, strconv.FormatInt(tmp, 10), policies.AckApplied, "")
		if !ok || err != nil || final == 0 || final == tmp {
			t.Fatalf("Acknowledge(temporary key) = %d, %v, %v", final, ok, err)
		}
		// The temporary key is spent.
		if _, ok, _ := svc.Acknowledge(ctx, u, dev, strconv.FormatInt(tmp, 10), policies.AckApplied, ""); ok {
			t.Error("a temporary key was accepted twice")
		}
	})
}

// A new device beyond the user's limit is refused and not registered.
func TestDevicesLimitPerUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc, u := dvSetup(t, s)
		ctx := context.Background()
		if err := s.SetSetting(ctx, devices.SettingMaxDevices, "2"); err != nil {
			t.Fatal(err)
		}
		svc.Invalidate()
		for i, want := range []bool{false, false, true, true} {
			_, a := dvAdmit(t, svc, u, dvSeen(fmt.Sprintf("dev-limit-%d", i)))
			if a.TooManyDevices != want {
				t.Errorf("device %d: TooManyDevices = %v, want %v", i, a.TooManyDevices, want)
			}
		}
		// A registered device still gets in.
		if _, a := dvAdmit(t, svc, u, dvSeen("dev-limit-0")); a.TooManyDevices {
			t.Error("a registered device was refused as one too many")
		}
		if n, err := s.CountDevicesOfUser(ctx, u.ID); err != nil || n != 2 {
			t.Errorf("devices registered = %d, %v; want 2", n, err)
		}
	})
}

// A remote wipe: requested by the owner, pending until the device
// acknowledges it, sticky through admin decisions, and released by an admin.
func TestDevicesWipeLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc, u := dvSetup(t, s)
		ctx := context.Background()
		seen := dvSeen("dev-wipe")
		dev, _ := dvAdmit(t, svc, u, seen)
		owner := devices.Actor{Email: u.Email, UserID: u.ID}
		if _, err := svc.RequestWipe(ctx, owner, dev.ID, true); err == nil {
			t.Error("an account-only wipe of a 14.1 device was accepted")
		}
		if _, err := svc.RequestWipe(ctx, owner, dev.ID, false); err != nil {
			t.Fatalf("RequestWipe by the owner: %v", err)
		}
		steps := []struct {
			name        string
			do          func(dev *store.Device) error
			wantState   store.DeviceState
			wantPending bool
		}{
			{"admin allows", func(dev *store.Device) error {
				if _, err := svc.SetAccess(ctx, admin, dev.ID, policies.ActionAllow); !errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("SetAccess = %v, want ErrConflict", err)
				}
				return nil
			}, store.DeviceWipePending, true},
			{"wipe failed", func(dev *store.Device) error { return svc.WipeAcknowledged(ctx, dev, 2, "") }, store.DeviceWipePending, true},
			{"wipe done", func(dev *store.Device) error { return svc.WipeAcknowledged(ctx, dev, 1, "") }, store.DeviceWiped, false},
			{"release", func(dev *store.Device) error { return svc.Release(ctx, admin, dev.ID) }, store.DeviceNew, false},
		}
		for _, st := range steps {
			cur, err := s.DeviceByID(ctx, dev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.do(cur); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			got, a := dvAdmit(t, svc, u, seen)
			if st.wantState == store.DeviceNew {
				// Released: decided anew, never wiped or pending.
				if got.State == store.DeviceWiped || a.WipePending {
					t.Errorf("%s: state %s, pending %v", st.name, got.State, a.WipePending)
				}
				continue
			}
			if got.State != st.wantState || a.WipePending != st.wantPending {
				t.Errorf("%s: state %s, pending %v; want %s, %v", st.name, got.State, a.WipePending, st.wantState, st.wantPending)
			}
		}
	})
}

// A known DeviceId presenting another DeviceType loses its approval.
func TestDevicesDeviceTypeChangeEndsApproval(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc, u := dvSetup(t, s)
		ctx := context.Background()
		seen := dvSeen("dev-type")
		dev, _ := dvAdmit(t, svc, u, seen)
		dvProvision(t, svc, u, dev)
		if _, err := svc.SetAccess(ctx, admin, dev.ID, policies.ActionAllow); err != nil {
			t.Fatal(err)
		}
		if _, a := dvAdmit(t, svc, u, seen); a.State != store.DeviceAllowed {
			t.Fatalf("approved device: %s (%s)", a.State, a.Reason)
		}
		seen.DeviceType = "OtherPhone"
		got, a := dvAdmit(t, svc, u, seen)
		if a.State != store.DeviceQuarantined || got.AdminOverride != string(policies.ActionQuarantine) {
			t.Errorf("after DeviceType change: state %s, override %q; want quarantined", a.State, got.AdminOverride)
		}
	})
}
