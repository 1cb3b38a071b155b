package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"airlock/directory"
	"airlock/store"
)

// airlock user photo set EMAIL FILE | clear EMAIL: the staff photo the GAL
// serves to devices (directory.PreparePhoto says what is accepted).

func runUserPhoto(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "user photo", "user photo set [--db DB] EMAIL FILE (JPEG or PNG)\n       airlock user photo clear [--db DB] EMAIL")
	db := dbFlag(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	var data []byte
	switch {
	case len(pos) == 3 && pos[0] == "set":
		if data, err = readPhotoFile(pos[2]); err != nil {
			return err
		}
		// Refuse a bad file before touching the database.
		if _, err := directory.PreparePhoto(data); err != nil {
			return fmt.Errorf("%s: %w", pos[2], err)
		}
	case len(pos) == 2 && pos[0] == "clear":
	default:
		fs.Usage()
		return errUsage
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByAddress(ctx, pos[1])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %s", pos[1])
	} else if err != nil {
		return err
	}
	action, detail := "user.photo_cleared", "directory photo removed"
	if pos[0] == "set" {
		photo, err := directory.SetPhoto(ctx, st, u.ID, data)
		if err != nil {
			return err
		}
		action, detail = "user.photo_set", fmt.Sprintf("directory photo set from %s (%d bytes stored)", pos[2], len(photo))
		fmt.Fprintf(e.stdout, "photo set for %s (%d bytes)\n", u.Email, len(photo))
	} else {
		if err := directory.ClearPhoto(ctx, st, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "photo cleared for %s\n", u.Email)
	}
	return st.Audit(ctx, &store.AuditEvent{Actor: cliActor(), ActorIP: "local", Action: action, TargetType: "user",
		Target: u.Email, UserID: &u.ID, Outcome: "success", Detail: detail})
}

// readPhotoFile reads at most one byte more than a photo may be, so a huge
// file is refused without reading it all.
func readPhotoFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, directory.MaxPhotoUpload+1))
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
