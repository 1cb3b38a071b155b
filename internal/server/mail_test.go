package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"airlock/activesync/eastest"
	"airlock/internal/password"
	"airlock/internal/server"
	"airlock/store"
)

// syncBuffer is the banner writer, read while Run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) find(re *regexp.Regexp) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := re.FindStringSubmatch(s.b.String()); m != nil {
		return m[1]
	}
	return ""
}

// The whole process as serve runs it: mail over SMTP reaches a user's
// Inbox and wakes the Ping their phone holds; at shutdown a held Ping ends
// with Status 1 and Run returns promptly.
func TestRunWiresSMTPPingAndShutdown(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "airlock.db")
	cfg := server.Config{DB: db, Listen: "127.0.0.1:0", PlainHTTP: true, Hostname: "airlock.test", DataDir: dir}
	cfg.SMTPListen = "127.0.0.1:0"
	cfg.HeartbeatMin = time.Second

	// The user exists before the server starts.
	st, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := password.Hash("pw-123456", password.Default)
	u := &store.User{Email: "alice@example.nhs.uk", DisplayName: "Alice", PasswordHash: hash}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, slog.New(slog.DiscardHandler), out) }()

	var httpAddr, smtpAddr string
	for deadline := time.Now().Add(20 * time.Second); httpAddr == "" || smtpAddr == ""; {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", out.b.String())
		}
		select {
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		httpAddr = out.find(regexp.MustCompile(`listening on http://(\S+)`))
		smtpAddr = out.find(regexp.MustCompile(`SMTP listening on (\S+)`))
	}

	dev := eastest.NewDevice(t, "http://"+httpAddr, eastest.Profile{Name: "iPhone", DeviceType: "iPhone", UserAgent: "Apple-iPhone2C1/705.18", Version: "14.1", Model: "iPhone2,1", OS: "iOS 4.3.3 8J2"}, "alice@example.nhs.uk", "pw-123456")
	dev.CheckWithLibwbxml = false
	if res := dev.Provision(1); res.Text("Provision:Policies/Provision:Policy/Provision:Status") != "1" {
		t.Fatalf("provision: %s", res.XML())
	}
	res := dev.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	inbox, _ := st.FolderByType(context.Background(), u.ID, store.FolderInbox)
	if !strings.Contains(res.XML(), "Inbox") {
		t.Fatalf("FolderSync: %s", res.XML())
	}
	ping := `<Ping:Ping><Ping:HeartbeatInterval>600</Ping:HeartbeatInterval><Ping:Folders><Ping:Folder><Ping:Id>` +
		itoa(inbox.ID) + `</Ping:Id><Ping:Class>Email</Ping:Class></Ping:Folder></Ping:Folders></Ping:Ping>`

	results := make(chan *eastest.Result, 1)
	go func() { results <- dev.Do("Ping", ping) }()
	time.Sleep(300 * time.Millisecond) // the Ping reaches its wait
	c, err := smtp.Dial(smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("lab@other.example", []string{"alice@example.nhs.uk"}, strings.NewReader("From: lab@other.example\r\nTo: alice@example.nhs.uk\r\nSubject: INR\r\n\r\n2.4\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case r := <-results:
		r.Expect(200, "Ping:Status", "2")
	case <-time.After(5 * time.Second):
		t.Fatal("the Ping did not wake")
	}
	if n, _ := st.CountItems(context.Background(), u.ID, inbox.ID); n != 1 {
		t.Fatalf("Inbox holds %d", n)
	}

	// A Ping held at shutdown: Status 1, and Run returns well within the
	// grace period.
	go func() { results <- dev.Do("Ping", "") }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case r := <-results:
		if r.HTTP != 200 || r.Text("Ping:Status") != "1" {
			t.Fatalf("held Ping at shutdown: %s", r.XML())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held Ping not ended at shutdown")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("Run did not return")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
