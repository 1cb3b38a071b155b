package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"airlock/internal/keyring"
	"airlock/internal/server"
	"airlock/store"
)

// runUntilListening starts Run and waits for its banner; stop ends it.
func runUntilListening(t *testing.T, cfg server.Config, log *slog.Logger) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, log, out) }()
	for deadline := time.Now().Add(20 * time.Second); out.find(regexp.MustCompile(`listening on (\S+)`)) == ""; {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("Run: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not start")
		}
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// The data directory is made 0700 and the database, its write-ahead log
// and shared-memory files, the master key file and the TLS key 0600 on a
// new installation; at a later start, files that have become readable by
// others are reported (a warning each).
func TestSecretsAndMailNotInClearOnDiskFileModes(t *testing.T) {
	t.Setenv(keyring.EnvKey, "")
	t.Setenv(keyring.EnvKeyFile, "")
	data := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(data, "airlock.db")
	cfg := server.Config{DB: db, Listen: "127.0.0.1:0", Hostname: "airlock.test", DataDir: data}
	stop := runUntilListening(t, cfg, slog.New(slog.DiscardHandler))
	want := map[string]os.FileMode{
		data: 0o700, db: 0o600, db + "-wal": 0o600, db + "-shm": 0o600,
		filepath.Join(data, "master.key"): 0o600, filepath.Join(data, "selfsigned-key.pem"): 0o600,
	}
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		} else if fi.Mode().Perm() != mode {
			t.Errorf("%s is %#o, want %#o", filepath.Base(path), fi.Mode().Perm(), mode)
		}
	}
	stop()

	for _, p := range []string{db, filepath.Join(data, "master.key")} {
		os.Chmod(p, 0o644)
	}
	os.Chmod(data, 0o755)
	logs := &syncBuffer{}
	stop = runUntilListening(t, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	stop()
	logs.mu.Lock()
	text := logs.b.String()
	logs.mu.Unlock()
	for _, p := range []string{db, filepath.Join(data, "master.key"), data} {
		if !strings.Contains(text, "path="+p+" mode=0644") && !strings.Contains(text, "path="+p+" mode=0755") {
			t.Errorf("no warning for %s:\n%s", p, text)
		}
	}
}

// Run refuses to start on a database whose master key is not the one
// given, and says which key it needs.
func TestSecretsAndMailNotInClearOnDiskWrongKeyStopsTheServer(t *testing.T) {
	t.Setenv(keyring.EnvKey, "")
	t.Setenv(keyring.EnvKeyFile, "")
	dir := t.TempDir()
	db := filepath.Join(dir, "airlock.db")
	cfg := server.Config{DB: db, Listen: "127.0.0.1:0", PlainHTTP: true, Hostname: "airlock.test", DataDir: dir}
	runUntilListening(t, cfg, slog.New(slog.DiscardHandler))()
	right, err := keyring.Source{File: filepath.Join(dir, "master.key")}.Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(keyring.EnvKey, keyring.Encode(keyring.GenerateKey()))
	err = server.Run(context.Background(), cfg, slog.New(slog.DiscardHandler), &syncBuffer{})
	if !errors.Is(err, store.ErrMasterKey) || !strings.Contains(err.Error(), right.ID()) {
		t.Fatalf("Run with a wrong key: %v", err)
	}
}
