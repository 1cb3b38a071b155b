package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"airlock/internal/auditlog"
	"airlock/store"
)

// AuditKeyFile is the audit key's file name in the data directory.
const AuditKeyFile = "audit.key"

// AuditKey returns the key of the audit log's hash chain: 32 random bytes,
// hex, in DataDir/audit.key (0600), created on the first start. It is the
// one place the key comes from, so that it can move to a key-management
// service without touching its users. With create false (the command-line
// tools) a missing file gives a nil key: such a process cannot extend a
// keyed chain, which the store enforces.
func AuditKey(dataDir string, create bool) ([]byte, error) {
	path := filepath.Join(dataDir, AuditKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if !create {
			return nil, nil
		}
		return newAuditKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit key %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("audit key %s: want 64 hex digits", path)
	}
	return key, nil
}

func newAuditKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	// O_EXCL: two processes starting at once must not each write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return AuditKey(filepath.Dir(path), false)
	} else if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	return key, nil
}

// AuditAnchorEvery is how often the audit chain's head is anchored.
const AuditAnchorEvery = 30 * time.Second

// startAuditAnchor anchors the audit chain's head now (marking where keyed
// hashing starts on a legacy chain), then periodically and at shutdown.
// At start it also checks the database's chain against the last anchor,
// so a truncation is logged and audited as soon as the node comes up.
func startAuditAnchor(ctx context.Context, st *store.Store, dataDir string, log *slog.Logger) (stop func()) {
	path := auditlog.PathIn(dataDir)
	if problem, err := auditlog.CheckAnchor(ctx, st, path); err != nil {
		log.Error("audit anchor check", "anchor", path, "err", err)
	} else if problem != "" {
		log.Error("audit log does not match its anchor", "anchor", path, "problem", problem)
		st.Audit(ctx, &store.AuditEvent{Actor: "airlock", ActorIP: "local", Action: "audit.anchor_mismatch", TargetType: "audit", Target: path, Outcome: "failure", Detail: problem})
	}
	a := &auditlog.Anchorer{Store: st, Path: path, Log: log}
	if err := a.Anchor(ctx); err != nil {
		log.Error("audit anchor", "err", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	goRecover(&wg, log, "audit anchor", func() { a.Run(runCtx, AuditAnchorEvery) })
	return func() { cancel(); wg.Wait() }
}
