package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"airlock/internal/password"
	"airlock/store"
)

func runUserAdd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "user add", `user add --db DB --email ADDRESS --name "Display Name" [--admin] [directory flags] < password`)
	db := dbFlag(fs)
	u := store.User{}
	fs.StringVar(&u.Email, "email", "", "primary email address (required)")
	fs.StringVar(&u.DisplayName, "name", "", "display name (required)")
	admin := fs.Bool("admin", false, "make the user an administrator")
	fs.StringVar(&u.JobTitle, "job-title", "", "directory: job title")
	fs.StringVar(&u.Department, "department", "", "directory: department")
	fs.StringVar(&u.Office, "office", "", "directory: office")
	fs.StringVar(&u.Phone, "phone", "", "directory: phone")
	fs.StringVar(&u.Mobile, "mobile", "", "directory: mobile")
	fs.StringVar(&u.Organisation, "organisation", "", "directory: organisation")
	if err := parse(fs, args); err != nil {
		return err
	}
	if u.Email == "" || u.DisplayName == "" {
		return errors.New("--email and --name are required")
	}
	pw, err := readNewPassword(e, *admin)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = password.Hash(pw, password.Default); err != nil {
		return err
	}
	if *admin {
		u.Role = store.RoleAdmin
	}
	u.FirstName, u.LastName = splitName(u.DisplayName)
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CreateUser(ctx, &u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%s already exists", u.Email)
		}
		return err
	}
	if err := auditUser(ctx, st, &u, "user.created", "role "+string(u.Role)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added %s (%s, %s)\n", u.Email, u.DisplayName, u.Role)
	return nil
}

// auditUser records a change the command made to u.
func auditUser(ctx context.Context, st *store.Store, u *store.User, action, detail string) error {
	return st.Audit(ctx, &store.AuditEvent{Actor: cliActor(), ActorIP: "local", Action: action, TargetType: "user",
		Target: u.Email, UserID: &u.ID, Outcome: "success", Detail: detail})
}

// readPassword takes the first line of standard input, so that both
// `echo pw | airlock user add` and a here-document work.
func readPassword(e *env) (string, error) {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password on standard input")
	}
	return pw, nil
}

// readNewPassword reads a password to set, and applies the password rules
// (password.Check: length, 12 characters for an administrator, no common
// password).
func readNewPassword(e *env, admin bool) (string, error) {
	pw, err := readPassword(e)
	if err != nil {
		return "", err
	}
	return pw, password.Check(pw, admin)
}

func splitName(display string) (first, last string) {
	parts := strings.Fields(display)
	switch len(parts) {
	case 0:
		return "", ""
	case 1:
		return parts[0], ""
	}
	return strings.Join(parts[:len(parts)-1], " "), parts[len(parts)-1]
}

func runUserList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "user list", "user list [--db DB]")
	db := dbFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tROLE\tSTATE\tDEPARTMENT\tUSED")
	for _, u := range users {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", u.Email, u.DisplayName, u.Role, state, u.Department, u.QuotaUsed)
	}
	return tw.Flush()
}

// userCommand runs fn on the user named by --email.
func userCommand(ctx context.Context, e *env, args []string, name string, fn func(*store.Store, *store.User) error) error {
	fs := flags(e, "user "+name, "user "+name+" --db DB --email ADDRESS")
	db := dbFlag(fs)
	email := fs.String("email", "", "the user's address (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("--email is required")
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByAddress(ctx, *email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %s", *email)
	} else if err != nil {
		return err
	}
	return fn(st, u)
}

func runUserPasswd(ctx context.Context, e *env, args []string) error {
	return userCommand(ctx, e, args, "passwd", func(st *store.Store, u *store.User) error {
		pw, err := readNewPassword(e, u.IsAdmin())
		if err != nil {
			return err
		}
		h, err := password.Hash(pw, password.Default)
		if err != nil {
			return err
		}
		// SetPasswordHash also revokes the user's sessions and API tokens.
		if err := st.SetPasswordHash(ctx, u.ID, h); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password changed for %s; their web sessions and API tokens are revoked\n", u.Email)
		return auditUser(ctx, st, u, "user.password_changed", "password set at the command line; sessions and API tokens revoked")
	})
}

func runUserDisable(ctx context.Context, e *env, args []string) error {
	return userCommand(ctx, e, args, "disable", func(st *store.Store, u *store.User) error {
		if err := st.SetUserDisabled(ctx, u.ID, true); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "disabled %s\n", u.Email)
		return auditUser(ctx, st, u, "user.disable", "disabled")
	})
}

func runUserEnable(ctx context.Context, e *env, args []string) error {
	return userCommand(ctx, e, args, "enable", func(st *store.Store, u *store.User) error {
		if err := st.SetUserDisabled(ctx, u.ID, false); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "enabled %s\n", u.Email)
		return auditUser(ctx, st, u, "user.enable", "enabled")
	})
}

func runUserDelete(ctx context.Context, e *env, args []string) error {
	return userCommand(ctx, e, args, "delete", func(st *store.Store, u *store.User) error {
		if err := st.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted %s and all their data\n", u.Email)
		return auditUser(ctx, st, u, "user.deleted", "user and all their data deleted")
	})
}

func runUserSetRole(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "user set-role", "user set-role --db DB --email ADDRESS --role admin|user")
	db := dbFlag(fs)
	email := fs.String("email", "", "the user's address (required)")
	role := fs.String("role", "", "admin or user (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *role != string(store.RoleAdmin) && *role != string(store.RoleUser) {
		return errors.New("--role must be admin or user")
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByAddress(ctx, *email)
	if err != nil {
		return fmt.Errorf("no user %s", *email)
	}
	if err := st.SetUserRole(ctx, u.ID, store.Role(*role)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s is now %s\n", u.Email, *role)
	// The same action names as the dashboard's.
	action := map[string]string{string(store.RoleAdmin): "user.make-admin", string(store.RoleUser): "user.make-user"}[*role]
	return auditUser(ctx, st, u, action, fmt.Sprintf("role %s → %s", u.Role, *role))
}
