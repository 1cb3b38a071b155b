package store

// Encryption at rest: the store's side of internal/keyring.
//
// What is sealed, and under which key:
//   - blobs.data (raw messages, pictures) under the blob's own data key,
//     kept wrapped by the master key in blobs.dek; blob_texts.sealed (the
//     search text) and blob_bodies.sealed (the rendered bodies, bodies.go)
//     under the same data key;
//   - summary fields that carry message text (items.subject, preview,
//     thread_topic, props; queued and held mail; SMS text; out-of-office
//     replies) under the Fields key, through the "sealed" gorm serializer;
//   - organisation settings (the web signing key, TOTP secrets, webhook
//     secrets) under the Settings key, through the "secret" serializer.
//
// The serializers find the store's keys in the statement's context, where
// a callback of each Store puts them (tests open many stores with
// different keys in one process); a map Updates, which gorm hands to the
// database without serializers, is sealed by another callback.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"airlock/internal/keyring"
	"airlock/migrations"
)

// keyRow is a row of the keyring table.
type keyRow struct {
	Name      string `gorm:"primaryKey"`
	Wrapped   []byte
	UpdatedAt time.Time
}

func (keyRow) TableName() string { return "keyring" }

// checkName is the keyring row holding the master key's check value.
const checkName = "check"

// ErrMasterKey wraps every failure to open a database's keys: a missing,
// lost or wrong master key. The server refuses to start with it.
var ErrMasterKey = errors.New("master key")

// Keys returns the store's open keyring (for the audit chain's key).
func (s *Store) Keys() *keyring.Ring { return s.keys }

// MasterKeySource is where serve and the other commands find the master
// key: $AIRLOCK_MASTER_KEY (the key itself) first; else file (from
// --master-key-file or $AIRLOCK_MASTER_KEY_FILE); else master.key beside a
// SQLite database, or in dataDir for PostgreSQL.
func MasterKeySource(dsn, file, dataDir string) keyring.Source {
	def := file
	if def == "" {
		if def = defaultKeyFile(dsn, dialectOf(dsn)); def == "" && dataDir != "" {
			def = filepath.Join(dataDir, "master.key")
		}
	}
	src := keyring.FromEnv(def)
	if file != "" && src.Base64 == "" {
		src = keyring.Source{File: file}
	}
	return src
}

// dialectOf tells the database a dsn names, without touching it.
func dialectOf(dsn string) migrations.Dialect {
	for _, p := range []string{"postgres://", "postgresql://", "host="} {
		if strings.HasPrefix(dsn, p) {
			return migrations.Postgres
		}
	}
	return migrations.SQLite
}

// defaultKeyFile is where a SQLite database's master key file goes when
// nothing else is said: beside the database file. PostgreSQL has none.
func defaultKeyFile(dsn string, d migrations.Dialect) string {
	if d != migrations.SQLite {
		return ""
	}
	return filepath.Join(filepath.Dir(strings.TrimPrefix(dsn, "sqlite:")), "master.key")
}

// openKeys loads the master key and the named keys it wraps. A database
// that has a check value needs the master key that opens it; one that has
// none (new, or from a release before encryption at rest) gets one, with
// a key file made if src names a file that does not exist.
func (s *Store) openKeys(ctx context.Context, src keyring.Source) error {
	if src.IsZero() {
		src = keyring.FromEnv(defaultKeyFile(s.dsn, s.dialect))
	}
	s.keySource = src
	rows, err := s.keyRows(ctx)
	if err != nil {
		return err
	}
	var master *keyring.Key
	if check, ok := rows[checkName]; ok {
		if master, err = src.Load(); err != nil {
			return fmt.Errorf("%w: the database is sealed under master key %s and needs it (%s): %w", ErrMasterKey, keyring.KeyID(check), src, err)
		}
	} else {
		created := false
		if master, created, err = src.Create(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMasterKey, src, err)
		}
		if created {
			s.log.Warn("created a new master key: keep a copy apart from the database backups; without it the mail cannot be read", "file", src.File, "key_id", master.ID())
		}
		// Nodes starting at once: the first check value wins, and a node
		// with another key stops below.
		if err := s.insertKeyRows(ctx, map[string][]byte{checkName: keyring.CheckValue(master)}); err != nil {
			return err
		}
		if rows, err = s.keyRows(ctx); err != nil {
			return err
		}
	}
	if err := keyring.Verify(master, rows[checkName]); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMasterKey, src, err)
	}
	missing := map[string][]byte{}
	for _, name := range keyring.Names {
		if rows[name] == nil {
			missing[name] = keyring.Wrap(master, keyring.GenerateKey(), name)
		}
	}
	if len(missing) > 0 {
		if err := s.insertKeyRows(ctx, missing); err != nil {
			return err
		}
		if rows, err = s.keyRows(ctx); err != nil {
			return err
		}
	}
	named := map[string]*keyring.Key{}
	for _, name := range keyring.Names {
		if named[name], err = keyring.Unwrap(master, rows[name], name); err != nil {
			return fmt.Errorf("%w: %w", ErrMasterKey, err)
		}
	}
	s.keys = keyring.NewRing(master, named)
	return nil
}

func (s *Store) keyRows(ctx context.Context) (map[string][]byte, error) {
	var rows []keyRow
	if err := s.db.WithContext(ctx).Find(&rows).Error; err != nil {
		return nil, wrap(err, "read keyring")
	}
	out := map[string][]byte{}
	for _, r := range rows {
		out[r.Name] = r.Wrapped
	}
	return out, nil
}

// insertKeyRows adds rows that are not there yet; existing ones win.
func (s *Store) insertKeyRows(ctx context.Context, rows map[string][]byte) error {
	for name, w := range rows {
		err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
			Create(&keyRow{Name: name, Wrapped: w, UpdatedAt: s.now()}).Error
		if err != nil {
			return wrap(err, "store keyring")
		}
	}
	return nil
}

// keysKey carries a store's keyring in a statement's context.
type keysKey struct{}

func withKeys(ctx context.Context, r *keyring.Ring) context.Context {
	if ctx.Value(keysKey{}) == r {
		return ctx
	}
	return context.WithValue(ctx, keysKey{}, r)
}

// ringOf returns the keyring a statement runs under.
func ringOf(ctx context.Context) (*keyring.Ring, error) {
	r, _ := ctx.Value(keysKey{}).(*keyring.Ring)
	if r == nil {
		return nil, errors.New("store: statement without keys") // a store not opened by Open
	}
	return r, nil
}

// registerKeyCallbacks puts s's keys in the context of every statement,
// and seals the sealed columns of map updates.
func (s *Store) registerKeyCallbacks() error {
	put := func(db *gorm.DB) { db.Statement.Context = withKeys(db.Statement.Context, s.keys) }
	cb := s.db.Callback()
	for _, err := range []error{
		cb.Create().Before("gorm:create").Register("airlock:keys_create", put),
		cb.Query().Before("gorm:query").Register("airlock:keys_query", put),
		cb.Update().Before("gorm:update").Register("airlock:keys_update", func(db *gorm.DB) { put(db); sealMapUpdate(db) }),
		cb.Delete().Before("gorm:delete").Register("airlock:keys_delete", put),
		cb.Row().Before("gorm:row").Register("airlock:keys_row", put),
		cb.Raw().Before("gorm:raw").Register("airlock:keys_raw", put),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// sealMapUpdate seals the values of sealed columns in an Updates(map) or
// Update(column, value), which gorm writes without the serializer.
func sealMapUpdate(db *gorm.DB) {
	m, ok := db.Statement.Dest.(map[string]any)
	if !ok || db.Statement.Schema == nil {
		return
	}
	var out map[string]any
	for k, v := range m {
		f := db.Statement.Schema.LookUpField(k)
		if f == nil {
			continue
		}
		z, ok := f.Serializer.(sealer)
		if !ok {
			continue
		}
		sealed, err := z.Value(db.Statement.Context, f, reflect.Value{}, v)
		if err != nil {
			db.AddError(err)
			return
		}
		if out == nil {
			out = make(map[string]any, len(m))
			for k2, v2 := range m {
				out[k2] = v2
			}
		}
		out[k] = sealed
	}
	if out != nil {
		db.Statement.Dest = out
	}
}

// sealer is the gorm serializer of sealed columns: strings are stored as
// marked base64 text, byte slices as sealed bytes, each bound to its
// table and column.
type sealer struct{ key string }

func init() {
	schema.RegisterSerializer("sealed", sealer{key: keyring.Fields})
	schema.RegisterSerializer("secret", sealer{key: keyring.Settings})
}

// columnAADs caches each sealed field's associated data, "table.column".
var columnAADs sync.Map // *schema.Field -> []byte

func columnAAD(f *schema.Field) []byte {
	if v, ok := columnAADs.Load(f); ok {
		return v.([]byte)
	}
	aad := []byte(f.Schema.Table + "." + f.DBName)
	columnAADs.Store(f, aad)
	return aad
}

// Scan opens a column value into dst's field.
func (z sealer) Scan(ctx context.Context, f *schema.Field, dst reflect.Value, dbValue any) error {
	r, err := ringOf(ctx)
	if err != nil {
		return err
	}
	k := r.Named(z.key)
	fv := f.ReflectValueOf(ctx, dst)
	var raw []byte
	switch v := dbValue.(type) {
	case nil:
	case string:
		if fv.Kind() == reflect.String {
			s, err := k.OpenString(v, columnAAD(f))
			if err != nil {
				return fmt.Errorf("%s.%s: %w", f.Schema.Table, f.DBName, err)
			}
			fv.SetString(s)
			return nil
		}
		raw = []byte(v)
	case []byte:
		raw = v
	default:
		return fmt.Errorf("sealed column %s: unexpected %T", f.DBName, dbValue)
	}
	if fv.Kind() == reflect.String {
		s, err := k.OpenString(string(raw), columnAAD(f))
		if err != nil {
			return fmt.Errorf("%s.%s: %w", f.Schema.Table, f.DBName, err)
		}
		fv.SetString(s)
		return nil
	}
	if keyring.IsSealed(raw) {
		if raw, err = k.Open(raw, columnAAD(f)); err != nil {
			return fmt.Errorf("%s.%s: %w", f.Schema.Table, f.DBName, err)
		}
	} else if raw != nil {
		raw = append([]byte(nil), raw...) // stored in clear before; the driver reuses its buffer
	}
	fv.SetBytes(raw)
	return nil
}

// Value seals a field's value for the database.
func (z sealer) Value(ctx context.Context, f *schema.Field, _ reflect.Value, v any) (any, error) {
	r, err := ringOf(ctx)
	if err != nil {
		return nil, err
	}
	k := r.Named(z.key)
	switch v := v.(type) {
	case string:
		return k.SealString(v, columnAAD(f)), nil
	case *string:
		if v == nil {
			return "", nil
		}
		return k.SealString(*v, columnAAD(f)), nil
	case []byte:
		if v == nil {
			return nil, nil
		}
		return k.Seal(v, columnAAD(f)), nil
	}
	return nil, fmt.Errorf("sealed column %s: cannot seal %T", f.DBName, v)
}
