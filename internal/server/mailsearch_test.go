package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock/internal/server"
	"airlock/store"
)

// Mail stored before bodies were searchable (no search text) is given one
// by the server in the background once it starts.
func TestRunBackfillsMailSearchText(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "airlock.db")
	cfg := server.Config{DB: db, Listen: "127.0.0.1:0", PlainHTTP: true, Hostname: "airlock.test", DataDir: dir}
	ctx := context.Background()
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := &store.User{Email: "alice@example.nhs.uk", DisplayName: "Alice"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	inbox, _ := st.FolderByType(ctx, u.ID, store.FolderInbox)
	body := strings.Repeat("Nothing new on the ward tonight. ", 12) + "The defibrillator pads expire in May."
	raw := "From: ward3@example.nhs.uk\r\nTo: alice@example.nhs.uk\r\nSubject: Kit check\r\nDate: Mon, 2 Nov 2026 09:00:00 +0000\r\nMessage-ID: <kit@example.nhs.uk>\r\n\r\n" + body + "\r\n"
	now := time.Now().UTC()
	// As an old release stored it: summary fields, no search text.
	if err := st.AddItem(ctx, &store.Item{UserID: u.ID, FolderID: inbox.ID, Subject: "Kit check", DateReceived: &now}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	found := func() int64 {
		_, n, err := st.SearchMail(ctx, u.ID, store.MailQuery{Text: "defibrillator"})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if found() != 0 {
		t.Fatal("found before the backfill")
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.Run(runCtx, cfg, slog.New(slog.DiscardHandler), &syncBuffer{}) }()
	deadline := time.Now().Add(30 * time.Second)
	for found() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server did not backfill the search text")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}
