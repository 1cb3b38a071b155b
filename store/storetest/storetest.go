// Package storetest opens fresh, migrated stores for tests, on SQLite and on
// a throwaway PostgreSQL, so that every package can run one test body on
// both databases:
//
//	storetest.Each(t, func(t *testing.T, s *store.Store) { ... })
//
// Call storetest.Main from the package's TestMain so the PostgreSQL server is
// stopped after the tests.
//
// Every store it opens is sealed under one fixed test master key
// (MasterKey), which it also puts in $AIRLOCK_MASTER_KEY (replacing any),
// so that servers and airlock binaries started by tests on these
// databases open them too.
package storetest

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"airlock/internal/keyring"
	"airlock/internal/testpg"
	"airlock/store"
)

// MasterKey is the test master key; never use it outside tests.
var MasterKey = func() []byte {
	sum := sha256.Sum256([]byte("airlock storetest master key"))
	return sum[:]
}()

// Options are the store options of the stores opened here.
func Options() store.Options {
	return store.Options{MasterKey: keyring.Source{Key: MasterKey}}
}

func init() {
	k, _ := keyring.NewKey(MasterKey)
	os.Setenv(keyring.EnvKey, keyring.Encode(k))
	os.Unsetenv(keyring.EnvKeyFile)
}

// Main runs the tests and stops the shared PostgreSQL server.
func Main(m *testing.M) {
	code := m.Run()
	testpg.StopShared()
	os.Exit(code)
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// Postgres returns the shared server and a new migrated database on it, or
// skips the test (outside CI) when PostgreSQL is not installed.
func Postgres(t testing.TB) (*testpg.Server, string) {
	t.Helper()
	srv, err := testpg.Shared()
	if err != nil {
		if testpg.MustSkip(err) {
			t.Skipf("PostgreSQL not installed: %v", err)
		}
		t.Fatalf("start PostgreSQL: %v", err)
	}
	templateOnce.Do(func() {
		templateName, templateErr = srv.CreateDatabase("")
		if templateErr != nil {
			return
		}
		s, err := store.Open(context.Background(), srv.URL(templateName), Options())
		if err != nil {
			templateErr = err
			return
		}
		templateErr = s.Close()
	})
	if templateErr != nil {
		t.Fatalf("template database: %v", templateErr)
	}
	name, err := srv.CreateDatabase(templateName)
	if err != nil {
		t.Fatal(err)
	}
	return srv, name
}

// OpenPostgres returns a fresh migrated store on PostgreSQL.
func OpenPostgres(t testing.TB) *store.Store {
	t.Helper()
	srv, name := Postgres(t)
	s, err := store.Open(context.Background(), srv.URL(name), Options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenSQLite returns a fresh migrated store in a temporary SQLite file.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "airlock.db"), Options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Each runs fn as two subtests, "sqlite" and "postgres", each on a fresh
// store.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, OpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, OpenPostgres(t)) })
}

// DSN returns the connection string of a fresh migrated database of the
// dialect ("sqlite" or "postgres"), for tests that start the real binary.
func DSN(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == "sqlite" {
		return filepath.Join(t.TempDir(), "airlock.db")
	}
	srv, name := Postgres(t)
	return srv.URL(name)
}
