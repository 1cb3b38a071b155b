package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"airlock/internal/keyring"
	"airlock/store"
)

// masterKeySource is where commands find the master key: as serve does,
// from $AIRLOCK_MASTER_KEY, $AIRLOCK_MASTER_KEY_FILE, or master.key beside
// a SQLite database (in $AIRLOCK_DATA_DIR, default data, for PostgreSQL).
func masterKeySource(dsn string) keyring.Source {
	return store.MasterKeySource(dsn, envOr(keyring.EnvKeyFile, ""), envOr("AIRLOCK_DATA_DIR", "data"))
}

// runKeyRotate re-wraps the database's keys under a new master key. The
// new key is made durable before the database changes: a given
// --new-key-file is read (or, if it does not exist, made), otherwise a new
// key is written beside the current key file and renamed over it once the
// database is re-wrapped. Running servers must be restarted with the new
// key.
func runKeyRotate(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "key rotate", "key rotate [--db DB] [--master-key-file F] [--new-key-file F]")
	db := dbFlag(fs)
	cur := fs.String("master-key-file", envOr(keyring.EnvKeyFile, ""), "current master key file ($"+keyring.EnvKeyFile+"); $"+keyring.EnvKey+" takes precedence")
	newFile := fs.String("new-key-file", "", "the new master key: read if it exists, else made here (0600); default: a new key replaces the current key file")
	if err := parse(fs, args); err != nil {
		return err
	}
	src := store.MasterKeySource(*db, *cur, envOr("AIRLOCK_DATA_DIR", "data"))
	st, err := store.Open(ctx, *db, store.Options{MasterKey: src})
	if err != nil {
		return err
	}
	defer st.Close()
	next, pending, err := newMasterKey(src, *newFile)
	if err != nil {
		return err
	}
	old := st.Keys().MasterID()
	n, err := st.RotateMasterKey(ctx, next)
	if err != nil {
		if pending != "" {
			os.Remove(pending)
		}
		return err
	}
	where := *newFile
	if pending != "" {
		if err := os.Rename(pending, src.File); err != nil {
			return fmt.Errorf("the database is re-wrapped under the key in %s, but it could not replace %s: %w", pending, src.File, err)
		}
		where = src.File
	}
	detail := fmt.Sprintf("master key %s replaced by %s; %d data keys re-wrapped", old, next.ID(), n)
	if err := st.Audit(ctx, &store.AuditEvent{Actor: cliActor(), ActorIP: "local", Action: "key.rotate", TargetType: "master_key", Target: next.ID(), Outcome: "ok", Detail: detail}); err != nil {
		return fmt.Errorf("rotated, but not audited: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s\nthe new key is in %s; restart every server with it\n", detail, where)
	return nil
}

// newMasterKey returns the key to rotate to, and the path of a key file
// written for it that must be renamed over the current one once the
// database is re-wrapped ("" when there is none).
func newMasterKey(cur keyring.Source, newFile string) (*keyring.Key, string, error) {
	if newFile != "" {
		k, _, err := keyring.Source{File: newFile}.Create()
		return k, "", err
	}
	if cur.File == "" || cur.Base64 != "" || cur.Key != nil {
		return nil, "", errors.New("the master key comes from $" + keyring.EnvKey + ": give --new-key-file for the new one")
	}
	k := keyring.GenerateKey()
	pending := cur.File + ".new"
	if err := keyring.WriteKeyFile(pending, k); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, "", fmt.Errorf("%s exists (an interrupted rotation?): check which key opens the database, then remove it", pending)
		}
		return nil, "", err
	}
	return k, pending, nil
}
