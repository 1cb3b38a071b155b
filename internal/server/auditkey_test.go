package server_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"airlock/internal/auditlog"
	"airlock/internal/server"
	"airlock/store"
)

// runOnce starts the server on cfg, waits until it listens, and stops it.
func runOnce(t *testing.T, cfg server.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, slog.New(slog.DiscardHandler), out) }()
	deadline := time.Now().Add(30 * time.Second)
	for out.find(regexp.MustCompile(`listening on (\S+)`)) == "" {
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A server started on a log from before the audit key keys every new
// event after the legacy ones, anchors the head outside the database at
// shutdown, and reports (and audits) a log truncated while it was down.
func TestAuditChainKeyedAndAnchoredByServer(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "airlock.db")
	cfg := server.Config{DB: db, Listen: "127.0.0.1:0", PlainHTTP: true, Hostname: "airlock.test", DataDir: dir}
	ctx := context.Background()
	legacy, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	for range 2 {
		if err := legacy.Audit(ctx, &store.AuditEvent{Actor: "admin@example.nhs.uk", Action: "device.block"}); err != nil {
			t.Fatal(err)
		}
	}
	runOnce(t, cfg)

	for _, name := range []string{server.AuditKeyFile, auditlog.FileName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", name, err, fi.Mode().Perm())
		}
	}
	key, err := server.AuditKey(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, db, store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Audit(ctx, &store.AuditEvent{Actor: "admin@example.nhs.uk", Action: "device.allow"}); err != nil {
		t.Fatal(err)
	}
	if err := legacy.Audit(ctx, &store.AuditEvent{Action: "forged"}); err == nil {
		t.Fatal("a process without the key extended the keyed chain")
	}
	runOnce(t, cfg) // anchors the event just added

	res, err := auditlog.Verify(ctx, st, auditlog.PathIn(dir))
	if err != nil || !res.OK() || res.LegacyEvents != 2 || res.FirstKeyedID != 3 || !res.Anchored || res.Anchor.Head != res.Head {
		t.Fatalf("after two runs: %+v %v", res, err)
	}
	// Truncated while the server was down.
	sqlDB, _ := st.SQL()
	if _, err := sqlDB.Exec("DELETE FROM audit_events WHERE id = $1", res.Head.ID); err != nil {
		t.Fatal(err)
	}
	runOnce(t, cfg)
	evs, err := st.ListAudit(ctx, store.AuditFilter{Action: "audit.anchor_mismatch"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("truncation at start: %d audit rows (%v), want 1", len(evs), err)
	}
	if res, _ := auditlog.Verify(ctx, st, auditlog.PathIn(dir)); res.OK() {
		t.Fatal("verify passed a truncated log after a restart")
	}
}
