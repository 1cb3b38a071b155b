package main

import (
	"bufio"
	"context"
	"crypto/tls"
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
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = t.TempDir()
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
	for lines.Scan() {
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			return m[1]
		}
	}
	t.Fatal("server did not report its address")
	return ""
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
