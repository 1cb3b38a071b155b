// Package migrations holds the versioned SQL schema of Airlock, one folder per
// database dialect, embedded in the binary and applied with goose.
//
// Both folders must always have the same version numbers: a migration is
// written twice, once per dialect, and a test in store checks that a fresh
// install and a step-by-step upgrade give the same schema on each.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names the two supported databases.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// FS returns the migration files of one dialect.
func FS(d Dialect) fs.FS {
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		panic(err) // the embedded folder names are fixed at build time
	}
	return sub
}
