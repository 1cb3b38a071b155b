// Package storetest opens fresh, migrated stores for tests, on SQLite and on
// a throwaway PostgreSQL, so that every package can run one test body on
// both databases:
//
//	storetest.Each(t, func(t *testing.T, s *store.Store) { ... })
//
// Call storetest.Main from the package's TestMain so the PostgreSQL server is
// stopped after the tests.
package storetest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"airlock/internal/testpg"
	"airlock/store"
)

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
		s, err := store.Open(context.Background(), srv.URL(templateName), store.Options{})
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
	s, err := store.Open(context.Background(), srv.URL(name), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenSQLite returns a fresh migrated store in a temporary SQLite file.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "airlock.db"), store.Options{})
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
