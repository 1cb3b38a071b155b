package web_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"airlock/store/storetest"
)

// TestBrowserAccount runs the account page in Chromium
// (web/e2e/account.mjs) against the real server on SQLite and PostgreSQL:
// two browsers signed in as one user; a password change in one sends the
// other to sign-in on its next click while the first stays signed in;
// axe-core finds no serious or critical violation on /account (with and
// without errors); screenshots at 1366x768 and 390x844 (SQLite run) go to
// docs/screenshots with -update-screenshots.
func TestBrowserAccount(t *testing.T) {
	node := browserTools(t)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			outDir := t.TempDir()
			if *updateScreenshots && dialect == "sqlite" {
				outDir, _ = filepath.Abs("../docs/screenshots")
				os.MkdirAll(outDir, 0o755)
			}
			base, _ := startNode(t, storetest.DSN(t, dialect), t.TempDir(), true)
			cmd := exec.Command(node, "e2e/account.mjs", base, outDir)
			cmd.Env = append(os.Environ(), "AIRLOCK_USER=alice@example.nhs.uk", "AIRLOCK_PASSWORD=e2e-Passw0rd",
				"AIRLOCK_NEW_PASSWORD=ward seven night shift", "CHROMIUM="+chromium)
			out, err := cmd.CombinedOutput()
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				t.Log("browser: " + l)
			}
			if err != nil || !strings.Contains(string(out), "STEP done") {
				t.Fatalf("browser run: %v", err)
			}
			for _, shot := range []string{"account", "account-phone"} {
				if fi, err := os.Stat(filepath.Join(outDir, shot+".png")); err != nil || fi.Size() < 5000 {
					t.Errorf("screenshot %s.png missing or empty: %v", shot, err)
				}
			}
		})
	}
}
