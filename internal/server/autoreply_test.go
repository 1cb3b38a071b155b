package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"airlock/internal/server"
	"airlock/oof"
	"airlock/store"
)

// Mail to a colleague who is out of the office gets one automatic reply per
// sender, through the real process's SMTP listener.
func TestRunSendsOneAutomaticReplyPerSender(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "airlock.db")
	cfg := server.Config{DB: db, Listen: "127.0.0.1:0", PlainHTTP: true, Hostname: "airlock.test", DataDir: dir}
	cfg.SMTPListen = "127.0.0.1:0"
	ctx := context.Background()
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	away := &store.User{Email: "away@example.nhs.uk", DisplayName: "Away"}
	writer := &store.User{Email: "writer@example.nhs.uk", DisplayName: "Writer"}
	for _, u := range []*store.User{away, writer} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := oof.Save(ctx, st, away.ID, oof.Settings{State: oof.StateGlobal, Internal: oof.Message{Enabled: true, Body: "On leave until Monday; for urgent matters call the ward."}}); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- server.Run(runCtx, cfg, slog.New(slog.DiscardHandler), out) }()
	defer func() { cancel(); <-done }()
	var smtpAddr string
	for deadline := time.Now().Add(20 * time.Second); smtpAddr == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", out.b.String())
		}
		smtpAddr = out.find(regexp.MustCompile(`SMTP listening on (\S+)`))
	}

	for i := 0; i < 2; i++ {
		c, err := smtp.Dial(smtpAddr)
		if err != nil {
			t.Fatal(err)
		}
		msg := "From: writer@example.nhs.uk\r\nTo: away@example.nhs.uk\r\nSubject: Rota\r\nMessage-ID: <rota-" + itoa(int64(i)) + "@example.nhs.uk>\r\n\r\nCan you swap Tuesday?\r\n"
		if err := c.SendMail("writer@example.nhs.uk", []string{"away@example.nhs.uk"}, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	inbox, _ := st.FolderByType(ctx, writer.ID, store.FolderInbox)
	var replies []store.Item
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		replies, _ = st.ListItems(ctx, writer.ID, inbox.ID, 0, 10)
		if len(replies) > 0 {
			break
		}
	}
	time.Sleep(300 * time.Millisecond) // a second, wrong, reply would arrive by now
	replies, _ = st.ListItems(ctx, writer.ID, inbox.ID, 0, 10)
	if len(replies) != 1 {
		t.Fatalf("%d automatic replies, want 1", len(replies))
	}
	body, _ := st.Blob(ctx, writer.ID, replies[0].ID)
	if !strings.Contains(string(body), "On leave until Monday") || !strings.Contains(strings.ToLower(string(body)), "auto-submitted: auto-replied") {
		t.Fatalf("reply:\n%s", body)
	}
}
