package activesync_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/devices"
	"airlock/policies"
	"airlock/store"
	"airlock/store/storetest"
)

const pw = "correct-horse-battery"

var ctx = context.Background()

const folderSync0 = `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`

// connect plays a device setting up its account the way its family does:
// a first command refused for want of a policy, Provision with the given
// acknowledgement, DeviceInformation through Settings for the versions that
// send it there, then FolderSync. It returns the FolderSync result.
func connect(t *testing.T, srv *eastest.Server, p eastest.Profile, user string, ack int) (*eastest.Device, *eastest.Result) {
	t.Helper()
	dev := eastest.NewDevice(t, srv.URL, p, user, pw)
	first := dev.Do("FolderSync", folderSync0)
	expectNeedsProvision(t, p, first)
	res := dev.Provision(ack)
	if res.HTTP != http.StatusOK {
		return dev, res
	}
	if p.Version < "14.1" {
		dev.SendSettingsDeviceInformation()
	}
	return dev, dev.Do("FolderSync", folderSync0)
}

func expectNeedsProvision(t *testing.T, p eastest.Profile, res *eastest.Result) {
	t.Helper()
	if p.Version < "14.0" {
		if res.HTTP != 449 && res.HTTP != http.StatusForbidden {
			t.Fatalf("%s before Provision: HTTP %d, want 449\n%s", p.Name, res.HTTP, res.XML())
		}
		return
	}
	if s := res.Text("FolderHierarchy:Status"); s != "142" && s != "129" {
		t.Fatalf("%s before Provision: %s", p.Name, res.XML())
	}
}

// refused reports whether a FolderSync result refuses the device, in the
// form its protocol version understands.
func refused(p eastest.Profile, res *eastest.Result, status string) bool {
	if p.Version < "14.0" {
		return res.HTTP == http.StatusForbidden
	}
	return res.HTTP == http.StatusOK && res.Text("FolderHierarchy:Status") == status ||
		res.Text("Provision:Status") == status
}

func TestDeviceFamilies(t *testing.T) {
	cases := []struct {
		profile eastest.Profile
		ack     int
		allowed bool
		status  string // the refusal status for 14.0+
	}{
		{eastest.IPhone3GS, 1, true, ""},
		{eastest.IPhone3G, 1, false, "129"},
		{eastest.NokiaE72, 1, true, ""},
		{eastest.NokiaE72, 2, false, "139"},
		{eastest.WindowsPhone7, 1, false, "129"},
		{eastest.WindowsMobile65, 1, true, ""},
		{eastest.Android23, 1, false, "129"},
		{eastest.TouchDown23, 1, true, ""},
		{eastest.Android4, 1, true, ""},
		{eastest.Android4, 4, false, "145"},
		{eastest.IPhone14, 1, true, ""},
	}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		for _, tc := range cases {
			name := tc.profile.Name + "-ack" + string(rune('0'+tc.ack))
			t.Run(name, func(t *testing.T) {
				user := strings.ToLower(name) + "@example.nhs.uk"
				srv.AddUser(t, user, pw)
				dev, res := connect(t, srv, tc.profile, user, tc.ack)
				u, _ := st.UserByAddress(ctx, user)
				rec, err := st.DeviceByEASID(ctx, u.ID, dev.DeviceID)
				if err != nil {
					t.Fatal(err)
				}
				if tc.allowed {
					if res.HTTP != 200 || res.Text("FolderHierarchy:Status") != "1" || rec.State != store.DeviceAllowed {
						t.Fatalf("want allowed; state %s (%s, by %s)\n%s", rec.State, rec.StateReason, rec.DecidedBy, res.XML())
					}
					return
				}
				if !refused(tc.profile, res, tc.status) || rec.State == store.DeviceAllowed {
					t.Fatalf("want refused with %s; state %s (%s)\n%s", tc.status, rec.State, rec.StateReason, res.XML())
				}
				if rec.StateReason == "" || rec.DecidedBy == "" {
					t.Fatalf("refusal not explained: %+v", rec)
				}
			})
		}
	})
}

// A device that says it applied the policy is still refused when its model
// cannot encrypt, and the record shows on what evidence.
func TestEncryptionEvidenceBeatsAcknowledgement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		srv.AddUser(t, "a@example.nhs.uk", pw)
		// Take the rules out of the way: only the catalogue can refuse.
		rules, _ := srv.Devices.Rules(ctx)
		for _, r := range rules {
			srv.Devices.RemoveRule(ctx, eastest.Admin, r.ID)
		}
		if err := srv.Devices.SetDefaultAccess(ctx, eastest.Admin, policies.ActionAllow); err != nil {
			t.Fatal(err)
		}
		dev, res := connect(t, srv, eastest.Android23, "a@example.nhs.uk", 1)
		if res.HTTP != http.StatusForbidden {
			t.Fatalf("Android 2.3 with ack 1 and no rules: %s", res.XML())
		}
		u, _ := st.UserByAddress(ctx, "a@example.nhs.uk")
		rec, _ := st.DeviceByEASID(ctx, u.ID, dev.DeviceID)
		if rec.DecidedBy != "catalogue" || !strings.Contains(rec.Evidence, "Android") {
			t.Fatalf("decided by %q on evidence %s", rec.DecidedBy, rec.Evidence)
		}
	})
}

func TestFolderSyncBeforeProvisionAndStaleKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		srv.AddUser(t, "a@example.nhs.uk", pw)

		old := eastest.NewDevice(t, srv.URL, eastest.IPhone3GS, "a@example.nhs.uk", pw)
		old.Do("FolderSync", folderSync0).Expect(449, "", "")

		dev, res := connect(t, srv, eastest.Android4, "a@example.nhs.uk", 1)
		res.Expect(200, "FolderHierarchy:Status", "1")

		// The admin tightens the policy: every key is stale.
		_, settings, _ := srv.Devices.Policy(ctx)
		settings.MinDevicePasswordLength = policies.IntPtr(8)
		if _, err := srv.Devices.SetPolicy(ctx, eastest.Admin, settings); err != nil {
			t.Fatal(err)
		}
		dev.Do("FolderSync", folderSync0).Expect(200, "FolderHierarchy:Status", "144")
		dev.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
		dev.Do("FolderSync", folderSync0).Expect(200, "FolderHierarchy:Status", "1")

		// Another device of the same user cannot borrow that key.
		thief := eastest.NewDevice(t, srv.URL, eastest.Android4, "a@example.nhs.uk", pw)
		thief.PolicyKey = dev.PolicyKey
		if s := thief.Do("FolderSync", folderSync0).Text("FolderHierarchy:Status"); s != "142" && s != "144" {
			t.Fatalf("borrowed key accepted: status %s", s)
		}
		// A wrong temporary key in the acknowledgement gets Policy Status 5.
		res = dev.Do("Provision", `<Provision:Provision><Provision:Policies><Provision:Policy><Provision:PolicyType>MS-EAS-Provisioning-WBXML</Provision:PolicyType><Provision:PolicyKey>12345</Provision:PolicyKey><Provision:Status>1</Provision:Status></Provision:Policy></Provision:Policies></Provision:Provision>`)
		res.Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "5")
		// An unknown policy type gets Policy Status 3.
		res = dev.Do("Provision", `<Provision:Provision><Provision:Policies><Provision:Policy><Provision:PolicyType>MS-WAP-Provisioning-XML</Provision:PolicyType></Provision:Policy></Provision:Policies></Provision:Provision>`)
		res.Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "3")
	})
}

func TestQuarantineThenAdminAllows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		srv.AddUser(t, "q@example.nhs.uk", pw)
		dev, _ := connect(t, srv, eastest.Unknown, "q@example.nhs.uk", 1)
		u, _ := st.UserByAddress(ctx, "q@example.nhs.uk")
		rec, _ := st.DeviceByEASID(ctx, u.ID, dev.DeviceID)
		if rec.State != store.DeviceQuarantined || rec.DecidedBy != "default" {
			t.Fatalf("unknown device: state %s by %s", rec.State, rec.DecidedBy)
		}
		queue, _ := st.ListDevices(ctx, store.DeviceFilter{State: store.DeviceQuarantined})
		if len(queue) != 1 || queue[0].ID != rec.ID {
			t.Fatalf("admin queue: %+v", queue)
		}
		if _, err := srv.Devices.SetAccess(ctx, eastest.Admin, rec.ID, policies.ActionAllow); err != nil {
			t.Fatal(err)
		}
		// The same device, same keys: it now syncs.
		dev.Do("FolderSync", folderSync0).Expect(200, "FolderHierarchy:Status", "1")
		rec, _ = st.DeviceByEASID(ctx, u.ID, dev.DeviceID)
		if rec.State != store.DeviceAllowed || !strings.HasPrefix(rec.DecidedBy, "admin:") {
			t.Fatalf("after allow: %s by %s", rec.State, rec.DecidedBy)
		}
	})
}

func TestRemoteWipe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		srv.AddUser(t, "w@example.nhs.uk", pw)
		dev, res := connect(t, srv, eastest.Android4, "w@example.nhs.uk", 1)
		res.Expect(200, "FolderHierarchy:Status", "1")
		u, _ := st.UserByAddress(ctx, "w@example.nhs.uk")
		rec, _ := st.DeviceByEASID(ctx, u.ID, dev.DeviceID)

		// Someone else cannot wipe it; the owner can.
		if _, err := srv.Devices.RequestWipe(ctx, devices.Actor{Email: "x@example.nhs.uk", UserID: u.ID + 1000}, rec.ID, false); err == nil {
			t.Fatal("a stranger wiped the device")
		}
		if _, err := srv.Devices.RequestWipe(ctx, devices.Actor{Email: u.Email, UserID: u.ID}, rec.ID, false); err != nil {
			t.Fatal(err)
		}
		dev.Do("FolderSync", folderSync0).Expect(200, "FolderHierarchy:Status", "140")
		res = dev.Do("Provision", `<Provision:Provision/>`)
		if res.Find("Provision:RemoteWipe") == nil {
			t.Fatalf("no RemoteWipe in Provision:\n%s", res.XML())
		}
		// A failed wipe is asked for again.
		res = dev.Do("Provision", `<Provision:Provision><Provision:RemoteWipe><Provision:Status>2</Provision:Status></Provision:RemoteWipe></Provision:Provision>`)
		if res.Find("Provision:RemoteWipe") == nil {
			t.Fatalf("failed wipe not requested again:\n%s", res.XML())
		}
		dev.Do("Provision", `<Provision:Provision><Provision:RemoteWipe><Provision:Status>1</Provision:Status></Provision:RemoteWipe></Provision:Provision>`).
			Expect(200, "Provision:Status", "1")
		rec, _ = st.DeviceByEASID(ctx, u.ID, dev.DeviceID)
		if rec.State != store.DeviceWiped || rec.WipeAckStatus != 1 {
			t.Fatalf("after ack: %s, ack %d", rec.State, rec.WipeAckStatus)
		}
		// Wiped stays blocked, even for Provision, until released.
		dev.Do("FolderSync", folderSync0).Expect(200, "FolderHierarchy:Status", "129")
		dev.Do("Provision", `<Provision:Provision><Provision:Policies><Provision:Policy><Provision:PolicyType>MS-EAS-Provisioning-WBXML</Provision:PolicyType></Provision:Policy></Provision:Policies></Provision:Provision>`).
			Expect(200, "Provision:Status", "129")

		events, _ := st.ListAudit(ctx, store.AuditFilter{DevicePK: rec.ID, Limit: 100})
		want := map[string]bool{"device.registered": false, "device.provision": false, "device.wipe_requested": false, "device.wipe_acknowledged": false}
		for _, e := range events {
			if _, ok := want[e.Action]; ok {
				want[e.Action] = true
			}
		}
		for action, seen := range want {
			if !seen {
				t.Errorf("audit trail lacks %s", action)
			}
		}
		if bad, _ := st.VerifyAuditChain(ctx); bad != 0 {
			t.Fatalf("audit chain broken at %d", bad)
		}
		if err := srv.Devices.Release(ctx, eastest.Admin, rec.ID); err != nil {
			t.Fatal(err)
		}
		dev.PolicyKey = ""
		dev.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
	})
}

// The wipe still reaches a device whose user was disabled after it was
// lost: the account may complete Provision only to receive the wipe.
func TestWipeReachesDisabledUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		u := srv.AddUser(t, "leaver@example.nhs.uk", pw)
		dev, _ := connect(t, srv, eastest.IPhone14, u.Email, 1)
		rec, _ := st.DeviceByEASID(ctx, u.ID, dev.DeviceID)
		if err := st.SetUserDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		dev.Do("FolderSync", folderSync0).Expect(200, "FolderHierarchy:Status", "131")
		if _, err := srv.Devices.RequestWipe(ctx, eastest.Admin, rec.ID, true); err != nil {
			t.Fatal(err)
		}
		dev.Do("FolderSync", folderSync0).Expect(200, "FolderHierarchy:Status", "131")
		res := dev.Do("Provision", `<Provision:Provision/>`)
		if res.Find("Provision:AccountOnlyRemoteWipe") == nil {
			t.Fatalf("16.1 account-only wipe not delivered to a disabled user:\n%s", res.XML())
		}
		dev.Do("Provision", `<Provision:Provision><Provision:AccountOnlyRemoteWipe><Provision:Status>1</Provision:Status></Provision:AccountOnlyRemoteWipe></Provision:Provision>`).
			Expect(200, "Provision:Status", "1")
		rec, _ = st.DeviceByEASID(ctx, u.ID, dev.DeviceID)
		if rec.State != store.DeviceWiped {
			t.Fatalf("state %s", rec.State)
		}
		// Once wiped, the disabled account gets nothing more, not even Provision.
		dev.Do("Provision", `<Provision:Provision/>`).Expect(200, "Provision:Status", "131")
	})
}

func TestBruteForceLockout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		srv.AddUser(t, "b@example.nhs.uk", pw)
		srv.Auth.Lockout = activesync.LockoutPolicy{Window: time.Minute, UserLimit: 10, AddressLimit: 50, Lockout: 1500 * time.Millisecond}
		owner := eastest.NewDevice(t, srv.URL, eastest.Android4, "b@example.nhs.uk", pw)
		owner.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
		bad := eastest.NewDevice(t, srv.URL, eastest.Android4, "b@example.nhs.uk", "wrong-password")
		for i := 0; i < 20; i++ {
			bad.Do("Provision", `<Provision:Provision/>`).Expect(401, "", "")
		}
		// The owner's phone, whose password was verified before the attack,
		// keeps working: a guesser cannot lock staff out of their mail.
		owner.Do("Settings", `<Settings:Settings><Settings:UserInformation><Settings:Get/></Settings:UserInformation></Settings:Settings>`).
			Expect(200, "Settings:Status", "1")
		good := eastest.NewDevice(t, srv.URL, eastest.Android4, "b@example.nhs.uk", pw)
		res := good.Do("Provision", `<Provision:Provision/>`)
		if res.HTTP != 401 {
			t.Fatalf("right password inside the lockout: HTTP %d", res.HTTP)
		}
		time.Sleep(1600 * time.Millisecond)
		good.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
		// Every attempt is in the audit, the repeated ones from this one
		// address summarised: 9 failures, the lock, 10 refused, and the
		// right password refused inside the lock.
		srv.Auth.Guard.Flush(ctx)
		events, _ := st.ListAudit(ctx, store.AuditFilter{Action: "auth", Limit: 100})
		counts := map[string]int{}
		for _, e := range events {
			n := 1
			if more, _, ok := strings.Cut(e.Detail, " more from this address"); ok {
				n, _ = strconv.Atoi(more)
			}
			counts[e.Outcome] += n
		}
		if counts["failure"] != 9 || counts["lockout"] != 1 || counts["locked"] != 11 || len(events) > 6 {
			t.Fatalf("%d auth rows, counting %v", len(events), counts)
		}
	})
}

func TestDeviceLimitPerUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		srv.AddUser(t, "many@example.nhs.uk", pw)
		if err := st.SetSetting(ctx, devices.SettingMaxDevices, "2"); err != nil {
			t.Fatal(err)
		}
		srv.Devices.Invalidate()
		for i := 0; i < 2; i++ {
			eastest.NewDevice(t, srv.URL, eastest.Android4, "many@example.nhs.uk", pw).Provision(1).
				Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
		}
		third := eastest.NewDevice(t, srv.URL, eastest.Android4, "many@example.nhs.uk", pw)
		third.Do("Provision", `<Provision:Provision/>`).Expect(200, "Provision:Status", "177")
		u, _ := st.UserByAddress(ctx, "many@example.nhs.uk")
		if n, _ := st.CountDevicesOfUser(ctx, u.ID); n != 2 {
			t.Fatalf("%d devices registered", n)
		}
	})
}

// Password verifications are bounded: with room for one at a time and no
// patience, a second device verifying at the same moment is told to retry
// (503 for 12.x, 111 for 14.0+) rather than all running at once.
func TestPasswordVerificationsAreBounded(t *testing.T) {
	st := storetest.OpenSQLite(t)
	srv := eastest.StartServer(t, st)
	srv.AddUser(t, "herd@example.nhs.uk", pw)
	srv.Auth.MaxVerifying, srv.Auth.VerifyWait = 1, time.Nanosecond
	results := make(chan *eastest.Result, 16)
	for i := 0; i < 16; i++ {
		go func() {
			dev := eastest.NewDevice(t, srv.URL, eastest.IPhone3GS, "herd@example.nhs.uk", pw)
			results <- dev.Do("Provision", `<Provision:Provision/>`)
		}()
	}
	busy, ok := 0, 0
	for i := 0; i < 16; i++ {
		switch r := <-results; r.HTTP {
		case 503:
			busy++
		case 200:
			ok++
		default:
			t.Fatalf("HTTP %d", r.HTTP)
		}
	}
	if ok == 0 || busy == 0 {
		t.Fatalf("%d served, %d told to retry: want both", ok, busy)
	}
}
