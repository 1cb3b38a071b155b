package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// binary builds the real airlock binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(os.TempDir(), "airlock-test-bin")
	buildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			buildErr = string(out)
		}
	})
	if buildErr != "" {
		t.Fatalf("build: %s", buildErr)
	}
	return bin
}

var (
	buildOnce sync.Once
	buildErr  string
)

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = dataDirEnv(t)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// dataDirs holds one data directory per test: the server and the
// commands of a test share it, as they share /var/lib/airlock in
// production (it holds the audit key).
var dataDirs sync.Map

func dataDirEnv(t *testing.T) []string {
	t.Helper()
	dir, ok := dataDirs.Load(t.Name())
	if !ok {
		dir, _ = dataDirs.LoadOrStore(t.Name(), t.TempDir())
	}
	return append(os.Environ(), "AIRLOCK_DATA_DIR="+dir.(string))
}

func TestUserCommandsOnBothDatabases(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			db := storetest.DSN(t, dialect)
			out, errOut, code := run(t, "s3cret-password\n", "user", "add", "--db", db, "--email", "Ward.Manager@Example.NHS.uk", "--name", "Wendy Ward", "--admin", "--department", "Cardiology")
			if code != 0 || !strings.Contains(out, "ward.manager@example.nhs.uk") {
				t.Fatalf("user add: code %d, %q %q", code, out, errOut)
			}
			_, errOut, code = run(t, "s3cret-password\n", "user", "add", "--db", db, "--email", "ward.manager@example.nhs.uk", "--name", "Again")
			if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "already exists") {
				t.Fatalf("duplicate add: code %d, stderr %q", code, errOut)
			}
			_, errOut, code = run(t, "short\n", "user", "add", "--db", db, "--email", "b@example.nhs.uk", "--name", "B")
			if code == 0 || !strings.Contains(errOut, "too short") {
				t.Fatalf("short password: code %d, %q", code, errOut)
			}
			out, _, code = run(t, "", "user", "list", "--db", db)
			if code != 0 || !strings.Contains(out, "Wendy Ward") || !strings.Contains(out, "Cardiology") {
				t.Fatalf("user list: %d %q", code, out)
			}
			for _, args := range [][]string{
				{"user", "disable"}, {"user", "enable"}, {"user", "set-role", "--role", "user"},
			} {
				args = append(args, "--db", db, "--email", "ward.manager@example.nhs.uk")
				if _, errOut, code := run(t, "", args...); code != 0 {
					t.Fatalf("%v: %d %q", args, code, errOut)
				}
			}
			if _, errOut, code := run(t, "n3w-password-x\n", "user", "passwd", "--db", db, "--email", "ward.manager@example.nhs.uk"); code != 0 {
				t.Fatalf("passwd: %q", errOut)
			}
			if _, errOut, code := run(t, "", "user", "delete", "--db", db, "--email", "nobody@example.nhs.uk"); code == 0 || !strings.Contains(errOut, "no user") {
				t.Fatalf("delete unknown: %d %q", code, errOut)
			}
			if _, _, code := run(t, "", "user", "delete", "--db", db, "--email", "ward.manager@example.nhs.uk"); code != 0 {
				t.Fatal("delete failed")
			}
			out, _, _ = run(t, "", "migrate", "--db", db)
			if !strings.Contains(out, "schema at version") {
				t.Fatalf("migrate: %q", out)
			}
		})
	}
}

// Admin second factor and password strength at the command line: an
// administrator's password needs 12 characters and may not be a common one,
// on user add and on passwd.
func TestAdminPasswordPolicyInCLI(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			db := storetest.DSN(t, dialect)
			add := func(pw string, admin bool) (string, int) {
				args := []string{"user", "add", "--db", db, "--email", "boss@example.nhs.uk", "--name", "Boss"}
				if admin {
					args = append(args, "--admin")
				}
				_, errOut, code := run(t, pw+"\n", args...)
				return errOut, code
			}
			for _, tc := range []struct{ pw, want string }{
				{"12345678", "too short"},
				{"password1234", "most common"},
				{"Welcome@2025", "most common"},
			} {
				if errOut, code := add(tc.pw, true); code == 0 || !strings.Contains(errOut, tc.want) {
					t.Fatalf("admin with %q: exit %d, %q; want %q", tc.pw, code, errOut, tc.want)
				}
			}
			if errOut, code := add("kettle orbit pencil", true); code != 0 {
				t.Fatalf("admin with a passphrase: %q", errOut)
			}
			if _, errOut, code := run(t, "Password2024!\n", "user", "passwd", "--db", db, "--email", "boss@example.nhs.uk"); code == 0 || !strings.Contains(errOut, "most common") {
				t.Fatalf("passwd to a common password: exit %d, %q", code, errOut)
			}
		})
	}
}

func TestBadInvocationsGiveOneLineErrors(t *testing.T) {
	cases := [][]string{
		{"user", "list", "--db", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"},
		{"user", "list", "--db", "mysql://root@localhost/x"},
		{"serve", "--listen", "nonsense"},
		{"serve", "--tls-cert", "only-cert.pem"},
		{"no-such-command"},
	}
	for _, args := range cases {
		_, errOut, code := run(t, "", args...)
		if code == 0 {
			t.Errorf("%v succeeded", args)
		}
		if strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic") {
			t.Errorf("%v printed a stack trace: %s", args, errOut)
		}
		if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
			t.Errorf("%v: error is %d lines: %q", args, n+1, errOut)
		}
	}
	for _, args := range [][]string{{"serve", "--help"}, {"user", "add", "--help"}, {"migrate", "--help"}} {
		if _, errOut, code := run(t, "", args...); code != 0 || !strings.Contains(errOut, "Usage: airlock") {
			t.Errorf("%v: code %d, %q", args, code, errOut)
		}
	}
}

// startServer runs `airlock serve` and returns its base URL.
func startServer(t *testing.T, args ...string) string {
	base, _ := startServerBanner(t, args...)
	return base
}

// startServerBanner also returns what the server printed before it
// listened (certificate fingerprint, demo credentials).
func startServerBanner(t *testing.T, args ...string) (string, []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = dataDirEnv(t)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	re := regexp.MustCompile(`listening on (https?://[^ ]+)`)
	lines := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(60*time.Second, cancel)
	defer deadline.Stop()
	var banner []string
	for lines.Scan() {
		banner = append(banner, lines.Text())
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			return m[1], banner
		}
	}
	t.Fatal("server did not report its address")
	return "", nil
}

// A newcomer runs serve --demo and points a device at it with the printed
// credentials: it provisions and syncs its folders.
func TestServeDemoLetsADeviceIn(t *testing.T) {
	base, banner := startServerBanner(t, "--plain-http", "--demo")
	var email, password string
	for _, l := range banner {
		f := strings.Fields(l)
		if len(f) >= 2 && strings.Contains(f[0], "@") && strings.Contains(l, "(staff)") {
			email, password = f[0], f[1]
			break
		}
	}
	if email == "" {
		t.Fatalf("no credentials printed: %q", banner)
	}
	dev := eastest.NewDevice(t, base, eastest.IPhone14, email, password)
	dev.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
	res := dev.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	res.Expect(200, "FolderHierarchy:Status", "1")
	if n := len(res.Find("FolderHierarchy:Changes").ChildElements()); n < 9 {
		t.Fatalf("demo mailbox has %d folder changes", n)
	}
}

func TestServeAnswersHealthChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain-http-sqlite", []string{"--plain-http"}},
		{"self-signed-tls-sqlite", nil},
		{"plain-http-postgres", []string{"--plain-http", "--db", storetest.DSN(t, "postgres")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := startServer(t, tc.args...)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the generated certificate
			}}
			for _, path := range []string{"/healthz", "/readyz"} {
				resp, err := client.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %d", path, resp.StatusCode)
				}
			}
		})
	}
}

// writeMaildir makes a Maildir with n small messages.
func writeMaildir(t *testing.T, dir string, n int) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: Ward %d <ward%d@example.nhs.uk>\r\nTo: ann@example.nhs.uk\r\nSubject: Handover %d\r\nDate: Mon, 2 Nov 2026 09:%02d:00 +0000\r\nMessage-ID: <handover-%d@example.nhs.uk>\r\n\r\nBed %d: stable.\r\n", i, i, i, i%60, i, i)
		name := filepath.Join(dir, "cur", fmt.Sprintf("%d.M%dP1.host:2,S", 1700000000+i, i))
		if err := os.WriteFile(name, []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestImportOnBothDatabases(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			db := storetest.DSN(t, dialect)
			if _, errOut, code := run(t, "s3cret-password\n", "user", "add", "--db", db, "--email", "ann@example.nhs.uk", "--name", "Ann Lee"); code != 0 {
				t.Fatal(errOut)
			}
			dir := t.TempDir()
			maildir := filepath.Join(dir, "Maildir")
			writeMaildir(t, maildir, 1000)
			bad := filepath.Join(dir, "broken.eml")
			os.WriteFile(bad, []byte("\x00\x01\x02 not a message at all"), 0o644)
			badICS := filepath.Join(dir, "broken.ics")
			os.WriteFile(badICS, []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:not-a-date\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), 0o644)
			out, errOut, code := run(t, "", "import", "--db", db, "--user", "ann@example.nhs.uk", maildir, bad, badICS)
			if code != 0 {
				t.Fatalf("import: %d %s %s", code, out, errOut)
			}
			if !strings.Contains(errOut, "broken.eml") || !strings.Contains(errOut, "broken.ics") {
				t.Fatalf("malformed files not reported by name: %q", errOut)
			}
			st, err := store.Open(context.Background(), db, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			u, _ := st.UserByAddress(context.Background(), "ann@example.nhs.uk")
			inbox, _ := st.FolderByType(context.Background(), u.ID, store.FolderInbox)
			if n, _ := st.CountItems(context.Background(), u.ID, inbox.ID); n != 1000 {
				t.Fatalf("%d messages in the Inbox, want 1000", n)
			}
			// Importing again adds nothing: every message is a duplicate.
			if _, _, code := run(t, "", "import", "--db", db, "--user", "ann@example.nhs.uk", maildir); code != 0 {
				t.Fatal("second import failed")
			}
			if n, _ := st.CountItems(context.Background(), u.ID, inbox.ID); n != 1000 {
				t.Fatalf("%d messages after a second import", n)
			}
			if _, errOut, code := run(t, "", "import", "--db", db, "--user", "nobody@example.nhs.uk", maildir); code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("unknown user: %d %q", code, errOut)
			}
		})
	}
}

// The admin CLI drives the same decisions as the dashboard: a device that
// connected is listed, shown with its evidence, blocked, allowed, wiped and
// removed; the policy round-trips through JSON; rules are added and removed.
func TestDeviceAndPolicyCommands(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			db := storetest.DSN(t, dialect)
			if _, errOut, code := run(t, "s3cret-password\n", "user", "add", "--db", db, "--email", "ann@example.nhs.uk", "--name", "Ann Lee"); code != 0 {
				t.Fatal(errOut)
			}
			base := startServer(t, "--plain-http", "--db", db)
			dev := eastest.NewDevice(t, base, eastest.Unknown, "ann@example.nhs.uk", "s3cret-password")
			dev.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")

			out, _, code := run(t, "", "device", "list", "--db", db, "--state", "quarantined")
			if code != 0 || !strings.Contains(out, dev.DeviceID) {
				t.Fatalf("device list: %q", out)
			}
			id := strings.Fields(strings.Split(out, "\n")[1])[0]
			out, _, _ = run(t, "", "device", "show", "--db", db, id)
			for _, want := range []string{"quarantined", "FancyPhone", "Decided by", "device.registered"} {
				if !strings.Contains(out, want) {
					t.Fatalf("device show lacks %q:\n%s", want, out)
				}
			}
			for _, step := range []struct{ cmd, state string }{{"block", "blocked"}, {"allow", "allowed"}} {
				out, errOut, code := run(t, "", "device", step.cmd, "--db", db, id)
				if code != 0 || !strings.Contains(out, step.state) {
					t.Fatalf("device %s: %q %q", step.cmd, out, errOut)
				}
			}
			dev.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`).
				Expect(200, "FolderHierarchy:Status", "1")
			if out, errOut, code := run(t, "", "device", "wipe", "--db", db, id); code != 0 || !strings.Contains(out, "wipe (full) requested") {
				t.Fatalf("device wipe: %q %q", out, errOut)
			}
			dev.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`).
				Expect(200, "FolderHierarchy:Status", "140")
			if _, errOut, code := run(t, "", "device", "wipe", "--db", db, "--account-only", id); code == 0 || !strings.Contains(errOut, "16.1") {
				t.Fatalf("account-only wipe of a 14.1 device: %d %q", code, errOut)
			}
			if _, _, code := run(t, "", "device", "remove", "--db", db, id); code != 0 {
				t.Fatal("device remove failed")
			}
			if _, errOut, code := run(t, "", "device", "show", "--db", db, id); code == 0 || !strings.Contains(errOut, "no device") {
				t.Fatalf("removed device shown: %q", errOut)
			}

			policy, _, code := run(t, "", "policy", "show", "--db", db)
			if code != 0 || !strings.Contains(policy, `"requireDeviceEncryption": true`) {
				t.Fatalf("policy show: %q", policy)
			}
			changed := strings.Replace(policy, `"allowCamera": true`, `"allowCamera": false`, 1)
			if out, errOut, code := run(t, changed, "policy", "set", "--db", db); code != 0 || !strings.Contains(out, "version 2") {
				t.Fatalf("policy set: %q %q", out, errOut)
			}
			if _, errOut, code := run(t, `{"minDevicePasswordLength": -3}`, "policy", "set", "--db", db); code == 0 || errOut == "" {
				t.Fatal("an invalid policy was accepted")
			}
			if _, errOut, code := run(t, `{"noSuchSetting": 1}`, "policy", "set", "--db", db); code == 0 || !strings.Contains(errOut, "noSuchSetting") {
				t.Fatalf("unknown field: %q", errOut)
			}

			out, errOut, code := run(t, "", "rule", "add", "--db", db, "--field", "model", "--match", "prefix", "--pattern", "Fancy", "--action", "allow", "--priority", "5")
			if code != 0 {
				t.Fatalf("rule add: %q", errOut)
			}
			ruleID := strings.TrimSuffix(strings.Fields(out)[1], ":")
			if out, _, _ := run(t, "", "rule", "list", "--db", db); !strings.Contains(out, "Fancy") {
				t.Fatalf("rule list: %q", out)
			}
			if _, errOut, code := run(t, "", "rule", "remove", "--db", db, ruleID); code != 0 {
				t.Fatalf("rule remove %s: %q", ruleID, errOut)
			}
			if out, _, _ := run(t, "", "rule", "list", "--db", db); strings.Contains(out, "Fancy") {
				t.Fatal("rule not removed")
			}
		})
	}
}
