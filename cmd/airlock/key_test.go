package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"airlock/internal/keyring"
	"airlock/store"
	"airlock/store/storetest"
)

// runEnv runs the binary with extra environment settings.
func runEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// airlock key rotate re-wraps the keys under a new master key, made
// durable first (a new key file, 0600), and audits it: the new key then
// opens everything, the old one is refused. Without --new-key-file a new
// key replaces the key file in place.
func TestSecretsAndMailNotInClearOnDiskKeyRotateCommand(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := storetest.DSN(t, dialect)
			st, err := store.Open(ctx, db, storetest.Options())
			if err != nil {
				t.Fatal(err)
			}
			u := &store.User{Email: "ann@example.nhs.uk"}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			inbox, _ := st.FolderByType(ctx, u.ID, store.FolderInbox)
			it := &store.Item{UserID: u.ID, FolderID: inbox.ID, Subject: "Clinic list"}
			if err := st.AddItem(ctx, it, []byte("Subject: Clinic list\r\n\r\nTuesday clinic moved.\r\n")); err != nil {
				t.Fatal(err)
			}
			st.Close()

			newKey := filepath.Join(t.TempDir(), "new.key")
			out, errOut, code := runEnv(t, nil, "key", "rotate", "--db", db, "--new-key-file", newKey)
			if code != 0 || !strings.Contains(out, "1 data keys re-wrapped") {
				t.Fatalf("key rotate: %d %q %q", code, out, errOut)
			}
			if fi, err := os.Stat(newKey); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("new key file: %v %v", fi, err)
			}
			if _, errOut, code := runEnv(t, nil, "user", "list", "--db", db); code == 0 || !strings.Contains(errOut, "master key") {
				t.Fatalf("the old key still opens the database: %d %q", code, errOut)
			}
			useFile := []string{keyring.EnvKey + "=", keyring.EnvKeyFile + "=" + newKey}
			if out, errOut, code := runEnv(t, useFile, "user", "list", "--db", db); code != 0 || !strings.Contains(out, "ann@example.nhs.uk") {
				t.Fatalf("user list with the new key: %d %q", code, errOut)
			}
			before, _ := os.ReadFile(newKey)
			if out, errOut, code := runEnv(t, useFile, "key", "rotate", "--db", db); code != 0 {
				t.Fatalf("rotate in place: %d %q %q", code, out, errOut)
			}
			after, _ := os.ReadFile(newKey)
			if string(after) == string(before) {
				t.Fatal("the key file was not replaced")
			}
			if _, err := os.Stat(newKey + ".new"); !errors.Is(err, os.ErrNotExist) {
				t.Error("the pending key file is left behind")
			}

			st, err = store.Open(ctx, db, store.Options{MasterKey: keyring.Source{File: newKey}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if raw, err := st.Blob(ctx, u.ID, it.ID); err != nil || !strings.Contains(string(raw), "Tuesday clinic") {
				t.Fatalf("blob after two rotations: %v", err)
			}
			evs, _ := st.ListAudit(ctx, store.AuditFilter{Action: "key.rotate"})
			if len(evs) != 2 || !strings.HasPrefix(evs[0].Actor, "cli:") {
				t.Fatalf("rotations audited: %+v", evs)
			}
		})
	}
}
