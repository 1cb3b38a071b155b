package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"airlock/pim"
	"airlock/store"
)

// runExport writes one user's calendar events (--calendar), tasks (--tasks)
// or contacts (--contacts) as an iCalendar or vCard file: every folder of
// that class, or the one named by --folder. The output reads back with
// "airlock import".
func runExport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "export", "export --db DB --user ADDRESS (--calendar | --tasks | --contacts) [--folder PATH] > FILE")
	db := dbFlag(fs)
	user := fs.String("user", "", "the user whose data is written (required)")
	cal := fs.Bool("calendar", false, "write calendar events as iCalendar (.ics)")
	tasks := fs.Bool("tasks", false, "write tasks as iCalendar (.ics)")
	contacts := fs.Bool("contacts", false, "write contacts as vCard 3.0 (.vcf)")
	folder := fs.String("folder", "", `one folder by path, e.g. "Calendar/Rota"; default: every folder of the kind`)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("--user is required")
	}
	class := store.Class("")
	n := 0
	for flag, c := range map[*bool]store.Class{cal: store.ClassCalendar, tasks: store.ClassTasks, contacts: store.ClassContacts} {
		if *flag {
			class, n = c, n+1
		}
	}
	if n != 1 {
		return errors.New("give exactly one of --calendar, --tasks, --contacts")
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByAddress(ctx, *user)
	if err != nil {
		return fmt.Errorf("user %s: %w", *user, err)
	}
	count, skipped, err := export(ctx, st, u, class, *folder, e.stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "exported %d %s item(s) of %s", count, class, u.Email)
	if skipped > 0 {
		fmt.Fprintf(e.stderr, " (%d unreadable item(s) left out)", skipped)
	}
	fmt.Fprintln(e.stderr)
	return nil
}

// export writes the user's items of class to w and returns how many it
// wrote and how many it could not read.
func export(ctx context.Context, st *store.Store, u *store.User, class store.Class, folderPath string, w io.Writer) (int, int, error) {
	var folders []store.Folder
	if folderPath != "" {
		f, err := st.FolderByPath(ctx, u.ID, folderPath)
		if err != nil {
			return 0, 0, fmt.Errorf("folder %q: %w", folderPath, err)
		}
		if f.Class != class {
			return 0, 0, fmt.Errorf("folder %q holds %s, not %s", folderPath, f.Class, class)
		}
		folders = append(folders, *f)
	} else {
		all, err := st.Folders(ctx, u.ID)
		if err != nil {
			return 0, 0, err
		}
		for _, f := range all {
			if f.Class == class {
				folders = append(folders, f)
			}
		}
	}
	var (
		events   []pim.Event
		tasks    []pim.Task
		contacts []pim.Contact
		skipped  int
	)
	for _, f := range folders {
		after := int64(0)
		for {
			items, err := st.ListItems(ctx, u.ID, f.ID, after, 500)
			if err != nil {
				return 0, 0, err
			}
			if len(items) == 0 {
				break
			}
			for i := range items {
				it := &items[i]
				after = it.ID
				var err error
				switch class {
				case store.ClassCalendar:
					var e pim.Event
					if err = e.FromItem(it); err == nil {
						events = append(events, e)
					}
				case store.ClassTasks:
					var t pim.Task
					if err = t.FromItem(it); err == nil {
						tasks = append(tasks, t)
					}
				case store.ClassContacts:
					var c pim.Contact
					if err = c.FromItem(it); err == nil {
						contacts = append(contacts, c)
					}
				}
				if err != nil {
					skipped++
				}
			}
		}
	}
	n := len(events) + len(tasks) + len(contacts)
	if n == 0 {
		return 0, skipped, fmt.Errorf("%s has no %s items to export", u.Email, class)
	}
	var err error
	if class == store.ClassContacts {
		err = pim.WriteVCF(w, contacts)
	} else {
		err = pim.WriteICS(w, events, tasks)
	}
	return n, skipped, err
}
