package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"airlock/internal/keyring"
	"airlock/migrations"
)

// Sentinel errors. Repositories wrap them with %w; callers use errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable wraps failures to reach the database, so handlers can
	// answer "try again later" (EAS Status 16 / HTTP 503) rather than a 500.
	ErrUnavailable = errors.New("store: database unavailable")
)

// Store is the repository of everything Airlock keeps. It is safe for
// concurrent use; on PostgreSQL many nodes may share one database.
type Store struct {
	db      *gorm.DB
	dialect migrations.Dialect
	log     *slog.Logger
	now     func() time.Time
	dsn     string      // for DialNotify
	hooks   changeHooks // OnCommit (notify.go)
	// auditKey keys the audit chain's HMAC (Options.AuditKey).
	auditKey []byte
	// keys seal secrets and mail at rest (keys.go); keySource is where
	// the master key came from, for rotation.
	keys      *keyring.Ring
	keySource keyring.Source
}

// Options tune Open.
type Options struct {
	// Logger receives slow-query and error logs; nil discards them.
	Logger *slog.Logger
	// SkipMigrate opens the database without applying pending migrations.
	SkipMigrate bool
	// AuditKey keys the audit log's hash chain (HMAC-SHA256). It must live
	// outside the database, or anyone who can write the database could
	// recompute the chain. Without it, appends to a keyed chain fail.
	AuditKey []byte
	// MasterKey says where the master key comes from (keys.go). Unset:
	// $AIRLOCK_MASTER_KEY, else $AIRLOCK_MASTER_KEY_FILE, else (SQLite) a
	// file master.key beside the database, made on first open.
	MasterKey keyring.Source
}

// Open connects to dsn, which is either a postgres:// (or postgresql://)
// URL, a key=value PostgreSQL connection string starting with "host=", or a
// path to a SQLite file (created if missing). Pending migrations are applied
// unless opts.SkipMigrate is set. The database's keys are opened with the
// master key (opts.MasterKey); a missing or wrong key fails with
// ErrMasterKey.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AuditKey != nil && len(opts.AuditKey) < 32 {
		return nil, errors.New("audit key shorter than 32 bytes")
	}
	dialect, dialector, err := dialectorFor(dsn)
	if err != nil {
		return nil, err
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", unavailable(err))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if dialect == migrations.SQLite {
		// One writer at a time is what SQLite allows anyway; a small pool
		// keeps readers concurrent under WAL.
		sqlDB.SetMaxOpenConns(8)
	} else {
		// Idle equal to open: with fewer idle slots, a node under more
		// than that many concurrent requests closes and reopens backends
		// continuously (measured: throughput halves).
		sqlDB.SetMaxOpenConns(40)
		sqlDB.SetMaxIdleConns(40)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to database: %w", unavailable(err))
	}
	s := &Store{db: db, dialect: dialect, log: opts.Logger, now: func() time.Time { return time.Now().UTC() }, dsn: dsn, auditKey: opts.AuditKey}
	if !opts.SkipMigrate {
		if err := s.Migrate(ctx); err != nil {
			sqlDB.Close()
			return nil, err
		}
	}
	if err := s.openKeys(ctx, opts.MasterKey); err != nil {
		sqlDB.Close()
		return nil, err
	}
	if err := s.registerKeyCallbacks(); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return s, nil
}

func dialectorFor(dsn string) (migrations.Dialect, gorm.Dialector, error) {
	switch {
	case dsn == "":
		return "", nil, errors.New("no database given: pass a SQLite file path or a postgres:// URL")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			return "", nil, fmt.Errorf("bad PostgreSQL URL: %v", err)
		}
		return migrations.Postgres, postgres.Open(dsn), nil
	case strings.HasPrefix(dsn, "host="):
		return migrations.Postgres, postgres.Open(dsn), nil
	case strings.Contains(dsn, "://"):
		return "", nil, fmt.Errorf("unsupported database URL scheme in %q: use a SQLite file path or postgres://", redactDSN(dsn))
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if err := createPrivate(path); err != nil {
		return "", nil, err
	}
	// _txlock=immediate: a read-then-write transaction (every counter bump)
	// must take the write lock at BEGIN, or concurrent ones fail with
	// SQLITE_BUSY instead of waiting.
	q := "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	return migrations.SQLite, sqlite.Open("file:" + path + q), nil
}

// createPrivate makes a new SQLite database file readable by its owner
// only (0600, in a 0700 directory if it makes one) before SQLite opens it:
// SQLite gives its -wal and -shm files the database file's mode. Existing
// files keep their modes; the server warns when they are wider.
func createPrivate(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create database directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return f.Close()
}

// redactDSN hides a password in a URL before it reaches a message.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// Migrate applies every pending migration. Concurrent nodes starting at once
// on PostgreSQL serialise on an advisory lock.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.migrator()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// MigrationVersion reports the applied and the newest known schema version.
func (s *Store) MigrationVersion(ctx context.Context) (current, newest int64, err error) {
	p, err := s.migrator()
	if err != nil {
		return 0, 0, err
	}
	return p.GetVersions(ctx)
}

// MigrateDownTo rolls the schema back to version (0 = empty). For tests and
// emergencies only.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := s.migrator()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// MigrateUpByOne applies the next pending migration.
func (s *Store) MigrateUpByOne(ctx context.Context) error {
	p, err := s.migrator()
	if err != nil {
		return err
	}
	_, err = p.UpByOne(ctx)
	return err
}

func (s *Store) migrator() (*goose.Provider, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == migrations.Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, sqlDB, migrations.FS(s.dialect), opts...)
}

// Dialect names the database behind the store.
func (s *Store) Dialect() migrations.Dialect { return s.dialect }

// SQL returns the underlying connection pool, for the PostgreSQL notifier
// and for tests.
func (s *Store) SQL() (*sql.DB, error) { return s.db.DB() }

// Close releases the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers, for /readyz.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// tx runs fn in a transaction. On SQLite the DSN makes it BEGIN IMMEDIATE.
// The counter bumps inside fn are collected and published (notify.go):
// with pg_notify inside the transaction on PostgreSQL, and to the OnCommit
// hooks once it has committed.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	cs := &changeSet{}
	ctx = context.WithValue(withKeys(ctx, s.keys), changeSetKey{}, cs)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		return notifyInTx(tx, cs.list)
	})
	if err == nil {
		s.afterCommit(cs)
		return nil
	}
	// A connection lost at BEGIN or COMMIT never reaches fn's own error
	// handling; mark it here so every caller can answer "try again" (EAS
	// 5/16, HTTP 503) instead of a server error.
	if !errors.Is(err, ErrUnavailable) {
		err = unavailable(err)
	}
	return err
}

// wrap turns driver errors into the store's sentinels.
func wrap(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey), errors.Is(err, gorm.ErrForeignKeyViolated):
		return fmt.Errorf("%s: %w", what, ErrConflict)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrUnavailable):
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, unavailable(err))
}

// unavailable marks connection-level failures with ErrUnavailable while
// keeping the driver error in the chain for the logs.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "no such file or directory", "broken pipe", "connection reset", "the database system is", "terminating connection", "bad connection", "EOF", "timeout", "i/o timeout", "dial "} {
		if strings.Contains(msg, s) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return err
}
