package cli

import (
	"context"
	"errors"
	"fmt"

	"airlock/importer"
)

func runImport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "import", "import --db DB --user ADDRESS [--folder NAME] PATH...   (format detected by content)")
	db := dbFlag(fs)
	user := fs.String("user", "", "the user whose mailbox receives the data (required)")
	folder := fs.String("folder", "", `target folder path, e.g. "Archive/2019" (created if missing); default: Inbox, Calendar or Contacts by content`)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("--user is required")
	}
	if fs.NArg() == 0 {
		return errors.New("give at least one path to import")
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	// Each skipped file or entry is reported on stderr with its reason; the
	// rest is imported.
	sum, err := importer.Import(ctx, st, *user, *folder, fs.Args(), e.stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, sum.String())
	return nil
}
