package web_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/internal/password"
	"airlock/internal/server"
	"airlock/store"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the browser test's screenshots to docs/screenshots")

const chromium = "/usr/bin/chromium"

// TestBrowser runs the dashboard in Debian's Chromium, driven by
// playwright-core (web/e2e/run.mjs), against the real server (the same
// server.Run the airlock binary uses) on a fresh SQLite database:
//
//  1. devices of several families provision over ActiveSync; an unknown
//     one (a Palm) is quarantined and refused;
//  2. an administrator signs in, finds it in the quarantine queue, clicks
//     Allow; the device's next request succeeds;
//  3. its user signs in (with JavaScript off), wipes it after confirming;
//     the device's next request gets the wipe.
//
// The browser and this test take turns over the script's stdin and stdout.
// Without node or chromium the test is skipped, except in CI (CI set),
// where it fails.
func TestBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	_, cerr := os.Stat(chromium)
	if err != nil || cerr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node (%v) or %s (%v) missing; scripts/test installs them", err, chromium, cerr)
		}
		t.Skipf("node or chromium missing (node: %v, chromium: %v)", err, cerr)
	}
	if _, err := os.Stat("e2e/node_modules/axe-core"); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--silent")
		cmd.Dir = "e2e"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in web/e2e: %v\n%s", err, out)
		}
	}
	outDir := t.TempDir()
	if *updateScreenshots {
		outDir, _ = filepath.Abs("../docs/screenshots")
		os.MkdirAll(outDir, 0o755)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	db := filepath.Join(dir, "airlock.db")
	const pw = "e2e-Passw0rd"
	seedUsers(t, db, pw)

	// The real server, as `airlock serve --plain-http --listen 127.0.0.1:0`.
	pr, pwr := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- server.Run(ctx, server.Config{DB: db, Listen: "127.0.0.1:0", Hostname: "mail.example.nhs.uk", Domain: "example.nhs.uk", PlainHTTP: true, DataDir: dir},
			slog.New(slog.NewTextHandler(io.Discard, nil)), pwr)
	}()
	base := waitForBanner(t, pr, errc)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	// The server keyed the audit chain with the key it made in dir.
	auditKey, err := server.AuditKey(dir, false)
	if err != nil || auditKey == nil {
		t.Fatalf("audit key: %v", err)
	}
	st, err := store.Open(ctx, db, store.Options{AuditKey: auditKey})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Devices of several families, decided for real.
	seedFleet(t, base, pw)
	ageFleet(t, st)
	palm := eastest.NewDevice(t, base, eastest.Profile{Name: "PalmPre", DeviceType: "Palm", UserAgent: "Palm/1.0.1", Version: "14.1", Model: "Pre 3", OS: "webOS 2.2.4", FriendlyName: "Alice's Pre"}, "alice@example.nhs.uk", pw)
	palm.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
	dev := deviceOf(t, st, "alice@example.nhs.uk", palm.DeviceID)
	if dev.State != store.DeviceQuarantined {
		t.Fatalf("unknown device after Provision: %s (%s)", dev.State, dev.StateReason)
	}
	// Quarantined: refused outside the quarantine view, and FolderSync
	// shows the Inbox alone.
	palm.Do("Ping", `<Ping:Ping><Ping:HeartbeatInterval>60</Ping:HeartbeatInterval><Ping:Folders><Ping:Folder><Ping:Id>1</Ping:Id><Ping:Class>Email</Ping:Class></Ping:Folder></Ping:Folders></Ping:Ping>`).
		Expect(200, "Ping:Status", "129")
	if n := folderCount(palm); n > 1 {
		t.Fatalf("quarantined device sees %d folders", n)
	}

	// The browser takes over.
	cmd := exec.Command(node, "e2e/run.mjs", base, outDir)
	cmd.Env = append(os.Environ(),
		"AIRLOCK_ADMIN=admin@example.nhs.uk", "AIRLOCK_USER=alice@example.nhs.uk", "AIRLOCK_PASSWORD="+pw,
		"AIRLOCK_DEVICE_PK="+strconv.FormatInt(dev.ID, 10), "CHROMIUM="+chromium)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
		}
	}()
	lines := bufio.NewScanner(stdout)
	step := func(want string) {
		t.Helper()
		for lines.Scan() {
			line := lines.Text()
			t.Log("browser: " + line)
			if line == "STEP "+want {
				return
			}
			if strings.HasPrefix(line, "FAIL") {
				break
			}
		}
		cmd.Wait()
		t.Fatalf("browser did not reach %q:\n%s", want, stderr.String())
	}
	resume := func() { fmt.Fprintln(stdin, "go") }

	step("allowed")
	if d := deviceOf(t, st, "alice@example.nhs.uk", palm.DeviceID); d.State != store.DeviceAllowed || !strings.HasPrefix(d.DecidedBy, "admin:") {
		t.Fatalf("after the admin's click: %s by %s", d.State, d.DecidedBy)
	}
	// The device's next request succeeds, with the whole mailbox.
	if n := folderCount(palm); n < 5 {
		t.Fatalf("allowed device sees %d folders", n)
	}
	resume()

	step("wiped")
	if d := deviceOf(t, st, "alice@example.nhs.uk", palm.DeviceID); d.State != store.DeviceWipePending || d.WipeRequestedBy != "alice@example.nhs.uk" {
		t.Fatalf("after the user's wipe: %s by %q", d.State, d.WipeRequestedBy)
	}
	// The next request gets the wipe: Status 140, then RemoteWipe in
	// Provision; the device confirms and is wiped.
	palm.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`).
		Expect(200, "FolderHierarchy:Status", "140")
	res := palm.Do("Provision", `<Provision:Provision><Provision:Policies><Provision:Policy><Provision:PolicyType>MS-EAS-Provisioning-WBXML</Provision:PolicyType></Provision:Policy></Provision:Policies></Provision:Provision>`)
	if res.Find("Provision:RemoteWipe") == nil {
		t.Fatalf("Provision does not carry the wipe:\n%s", res.XML())
	}
	palm.Do("Provision", `<Provision:Provision><Provision:RemoteWipe><Provision:Status>1</Provision:Status></Provision:RemoteWipe></Provision:Provision>`).Expect(200, "Provision:Status", "1")
	if d := deviceOf(t, st, "alice@example.nhs.uk", palm.DeviceID); d.State != store.DeviceWiped {
		t.Fatalf("after the wipe acknowledgement: %s", d.State)
	}
	resume()

	step("done")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser run: %v\n%s", err, stderr.String())
	}
	close(done)
	for _, shot := range []string{"overview", "quarantine", "device", "setup-guide"} {
		if fi, err := os.Stat(filepath.Join(outDir, shot+".png")); err != nil || fi.Size() < 5000 {
			t.Errorf("screenshot %s.png missing or empty: %v", shot, err)
		}
	}
	// Every step was audited.
	for _, action := range []string{"auth.web_login", "device.allow", "device.viewed", "device.wipe_requested", "device.wipe_acknowledged"} {
		evs, err := st.ListAudit(ctx, store.AuditFilter{Action: action, Limit: 1})
		if err != nil || len(evs) == 0 {
			t.Errorf("%s not audited", action)
		}
	}
	if bad, err := st.VerifyAuditChain(ctx); err != nil || bad != 0 {
		t.Errorf("audit chain broken at %d: %v", bad, err)
	}
}

func seedUsers(t *testing.T, db, pw string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The walk-through signs the admin in with a password alone, as an
	// organisation that turned the second factor off would (an audited
	// setting); TestAdminTOTPRequiredByDefault covers the default.
	if err := st.SetSetting(ctx, "admin_totp_required", "false"); err != nil {
		t.Fatal(err)
	}
	h, err := password.Hash(pw, password.Default)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{
		{Email: "admin@example.nhs.uk", DisplayName: "Sam Admin", Role: store.RoleAdmin},
		{Email: "alice@example.nhs.uk", DisplayName: "Alice Jones", Department: "Cardiology"},
		{Email: "bob@example.nhs.uk", DisplayName: "Bob Smith", Department: "Radiology"},
		{Email: "carol@example.nhs.uk", DisplayName: "Carol Evans", Department: "Pharmacy"},
	} {
		u.PasswordHash = h
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
	}
}

var bannerRE = regexp.MustCompile(`listening on (https?://[0-9.:]+)`)

func waitForBanner(t *testing.T, r io.Reader, errc chan error) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := bannerRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case err := <-errc:
		t.Fatalf("server stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return ""
}

// seedFleet provisions a realistic mix of devices, so the dashboard shows
// real decisions and evidence.
func seedFleet(t *testing.T, base, pw string) {
	t.Helper()
	fleet := []struct {
		user string
		p    eastest.Profile
	}{
		{"bob@example.nhs.uk", eastest.Profile{Name: "iPhone4", DeviceType: "iPhone", UserAgent: "Apple-iPhone3C1/1102.55400001", Version: "14.1", Model: "iPhone3,1", OS: "iOS 7.0.4 11B554a", FriendlyName: "Bob's iPhone", IMEI: "013044002345678"}},
		{"bob@example.nhs.uk", eastest.Profile{Name: "iPad", DeviceType: "iPad", UserAgent: "iOS/7.0.2 (11A501) dataaccessd/1.0", Version: "14.1", Model: "iPad3,4", OS: "iOS 7.0.2 11A501", FriendlyName: "Ward iPad"}},
		{"carol@example.nhs.uk", eastest.Profile{Name: "iPhone3G", DeviceType: "iPhone", UserAgent: "Apple-iPhone1C2/803.148", Version: "14.0", Model: "iPhone1,2", OS: "iOS 4.2.1"}},
		{"carol@example.nhs.uk", eastest.Profile{Name: "GalaxyNexus", DeviceType: "Android", UserAgent: "Android/4.0.4-EAS-1.3", Version: "14.0", Model: "Galaxy Nexus", OS: "Android 4.0.4"}},
		{"alice@example.nhs.uk", eastest.Profile{Name: "NokiaE72", DeviceType: "NokiaEmail", UserAgent: "NokiaE721/2.02(0)MailforExchange 3gpp-gba", Version: "12.1"}},
		{"bob@example.nhs.uk", eastest.Profile{Name: "HTCHD2", DeviceType: "PocketPC", UserAgent: "MSFT-PPC/5.2.5082", Version: "12.1", Model: "HTC HD2", OS: "Windows CE 5.2.21234"}},
		{"carol@example.nhs.uk", eastest.Profile{Name: "BlackBerryQ10", DeviceType: "BlackBerry", UserAgent: "RIM-Q10-SQN100-3/10.2.0.1443", Version: "14.1", Model: "Q10-SQN100-3", OS: "BlackBerry 10.2.0.1443"}},
		{"bob@example.nhs.uk", eastest.Profile{Name: "Froyo", DeviceType: "Android", UserAgent: "Android/2.3.4-EAS-1.2", Version: "12.1", OS: "Android 2.3.4"}},
	}
	for _, f := range fleet {
		d := eastest.NewDevice(t, base, f.p, f.user, pw)
		d.Provision(1)
		if f.p.Version < "14.1" {
			d.SendSettingsDeviceInformation()
		}
		res := d.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
		inbox := ""
		if ch := res.Find("FolderHierarchy:Changes"); ch != nil {
			for _, add := range ch.SelectElements("Add") {
				if t := add.SelectElement("Type"); t != nil && t.Text() == "2" {
					inbox = add.SelectElement("ServerId").Text()
				}
			}
		}
		if inbox == "" || res.Text("FolderHierarchy:Status") != "1" {
			t.Logf("%s: no mailbox (as decided)", f.p.Name)
			continue
		}
		d.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>0</AirSync:SyncKey><AirSync:CollectionId>`+inbox+`</AirSync:CollectionId></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
	}
}

// ageFleet moves some last-sync times back, so the overview shows a spread
// as a real installation would.
func ageFleet(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	ds, err := st.ListDevices(ctx, store.DeviceFilter{State: store.DeviceAllowed})
	if err != nil {
		t.Fatal(err)
	}
	ages := []time.Duration{0, 3 * time.Hour, 50 * time.Hour, 12 * 24 * time.Hour, 45 * 24 * time.Hour}
	for i, d := range ds {
		if d.LastSync == nil {
			continue
		}
		at := time.Now().UTC().Add(-ages[i%len(ages)])
		if err := st.UpdateDevice(ctx, d.ID, map[string]any{"last_sync": at, "last_seen": at}); err != nil {
			t.Fatal(err)
		}
	}
}

func deviceOf(t *testing.T, st *store.Store, email, deviceID string) *store.Device {
	t.Helper()
	u, err := st.UserByAddress(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.DeviceByEASID(context.Background(), u.ID, deviceID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// folderCount runs an initial FolderSync and counts the folders added.
func folderCount(d *eastest.Device) int {
	res := d.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	if res.HTTP != 200 || res.Text("FolderHierarchy:Status") != "1" {
		return -1
	}
	ch := res.Find("FolderHierarchy:Changes")
	if ch == nil {
		return 0
	}
	return len(ch.SelectElements("Add"))
}
