package server

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"airlock/internal/keyring"
	"airlock/migrations"
	"airlock/store"
)

// privateFiles are the files and directories that hold secrets or mail,
// with the widest mode each should have: owner only.
func privateFiles(cfg Config, st *store.Store, src keyring.Source) map[string]fs.FileMode {
	out := map[string]fs.FileMode{cfg.DataDir: 0o700}
	if st.Dialect() == migrations.SQLite {
		db := strings.TrimPrefix(cfg.DB, "sqlite:")
		if dir := filepath.Dir(db); dir != "." {
			out[dir] = 0o700
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			out[db+suffix] = 0o600
		}
	}
	if src.File != "" && src.Base64 == "" {
		out[src.File] = 0o600
	}
	key := cfg.TLSKey
	if key == "" && !cfg.PlainHTTP {
		key = filepath.Join(cfg.DataDir, "selfsigned-key.pem")
	}
	if key != "" {
		out[key] = 0o600
	}
	return out
}

// warnWideModes warns about each existing path that others than its
// owner may read or write (files made by older releases, or by hand):
// the database and the master key are what an attacker on the machine
// wants. Nothing is changed; the operator decides.
func warnWideModes(log *slog.Logger, paths map[string]fs.FileMode) {
	for path, want := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			log.Warn("file readable beyond its owner: restrict it (chmod)", "path", path, "mode", fmt.Sprintf("%#o", got), "want", fmt.Sprintf("%#o", want))
		}
	}
}

// sealExisting seals what an older release stored in clear, before the
// server serves, then compacts the database so the freed pages do not
// keep it. A new or already sealed database costs one query per table.
func sealExisting(ctx context.Context, st *store.Store, log *slog.Logger) error {
	total, start := 0, time.Now()
	for {
		n, err := st.SealExisting(ctx, 200)
		if err != nil {
			return fmt.Errorf("seal stored data: %w", err)
		}
		if n == 0 {
			break
		}
		if total == 0 {
			log.Info("sealing data stored in clear by an older release")
		}
		total += n
	}
	if total == 0 {
		return nil
	}
	if err := st.Compact(ctx); err != nil {
		return fmt.Errorf("compact after sealing: %w", err)
	}
	log.Info("sealed data stored in clear", "rows", total, "took", time.Since(start))
	return nil
}
