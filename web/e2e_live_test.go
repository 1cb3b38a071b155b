package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/smtp"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"airlock/internal/server"
	"airlock/store/storetest"
)

// TestBrowserLive: with the Inbox open in Chromium (web/e2e/live.mjs), a
// message delivered over SMTP appears in the list, with the tree's unread
// count raised and announced, within one second and without a reload: on
// one node (SQLite), and across two nodes on one PostgreSQL database (the
// browser on node 1, the SMTP delivery on node 2).
func TestBrowserLive(t *testing.T) {
	node := browserTools(t)
	t.Run("sqlite-one-node", func(t *testing.T) {
		dsn := storetest.DSN(t, "sqlite")
		web, smtpAddr := startNode(t, dsn, t.TempDir(), true)
		runLiveBrowser(t, node, web, smtpAddr)
	})
	t.Run("postgres-two-nodes", func(t *testing.T) {
		dsn := storetest.DSN(t, "postgres")
		dir := t.TempDir()
		web1, _ := startNode(t, dsn, dir, true)
		_, smtp2 := startNode(t, dsn, dir, false)
		runLiveBrowser(t, node, web1, smtp2)
	})
}

var smtpBannerRE = regexp.MustCompile(`^SMTP listening on ([0-9.:]+)`)

// startNode runs airlock serve on dsn with an SMTP listener and returns
// its web and SMTP addresses. seed creates the users (the first node).
func startNode(t *testing.T, dsn, dir string, seed bool) (web, smtpAddr string) {
	t.Helper()
	if seed {
		seedUsers(t, dsn, "e2e-Passw0rd")
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pwr := io.Pipe()
	errc := make(chan error, 1)
	cfg := server.Config{DB: dsn, Listen: "127.0.0.1:0", Hostname: "mail.example.nhs.uk", Domain: "example.nhs.uk", PlainHTTP: true, DataDir: dir}
	cfg.SMTPListen = "127.0.0.1:0"
	go func() {
		errc <- server.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), pwr)
	}()
	found := make(chan [2]string, 1)
	go func() {
		var got [2]string
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := smtpBannerRE.FindStringSubmatch(sc.Text()); m != nil {
				got[1] = m[1]
			}
			if m := bannerRE.FindStringSubmatch(sc.Text()); m != nil {
				got[0] = m[1]
			}
			if got[0] != "" && got[1] != "" {
				found <- got
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
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
	select {
	case got := <-found:
		return got[0], got[1]
	case err := <-errc:
		t.Fatalf("server stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return "", ""
}

func runLiveBrowser(t *testing.T, node, base, smtpAddr string) {
	cmd := exec.Command(node, "e2e/live.mjs", base, t.TempDir())
	cmd.Env = append(os.Environ(), "AIRLOCK_USER=alice@example.nhs.uk", "AIRLOCK_PASSWORD=e2e-Passw0rd", "CHROMIUM="+chromium)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	defer func() {
		if !done {
			cmd.Process.Kill()
			cmd.Wait()
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
		done = true
		t.Fatalf("browser did not reach %q:\n%s", want, stderr.String())
	}

	for i, subject := range []string{"Bloods for bed 4", "Theatre list changed"} {
		step(fmt.Sprintf("waiting-%d", i))
		start := time.Now()
		sendSMTP(t, smtpAddr, "alice@example.nhs.uk", subject)
		fmt.Fprintln(stdin, "go "+subject)
		step(fmt.Sprintf("seen-%d", i))
		took := time.Since(start)
		t.Logf("%q in the open Inbox %v after the SMTP transaction began", subject, took)
		if took > time.Second {
			t.Fatalf("the message appeared after %v, want under 1 s", took)
		}
	}
	step("done")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser run: %v\n%s", err, stderr.String())
	}
	done = true
}

func sendSMTP(t *testing.T, addr, to, subject string) {
	t.Helper()
	msg := "From: \"Pathology Lab\" <lab@other-trust.example>\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@lab.example>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nResults are ready.\r\n"
	if err := smtp.SendMail(addr, nil, "lab@other-trust.example", []string{to}, []byte(msg)); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
}
