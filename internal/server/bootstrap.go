package server

import (
	"context"
	"errors"
	"fmt"
	"io"

	"airlock/demo"
	"airlock/store"
)

// bootstrap prepares a new installation: the demo organisation when asked.
// Seeding runs only on an empty store; on a store that already has users
// --demo says so and carries on.
func bootstrap(ctx context.Context, st *store.Store, cfg Config, out io.Writer) error {
	if !cfg.Demo {
		return nil
	}
	creds, err := demo.Seed(ctx, st, cfg.Domain, io.Discard)
	if errors.Is(err, demo.ErrNotEmpty) {
		fmt.Fprintln(out, "--demo: the database already has users; not seeding again")
		return nil
	}
	if err != nil {
		return fmt.Errorf("seed demo organisation: %w", err)
	}
	fmt.Fprintf(out, "Demo organisation %q seeded. Sign in with:\n", demo.Organisation)
	for _, c := range creds {
		role := "staff"
		if c.Admin {
			role = "admin"
		}
		fmt.Fprintf(out, "  %-40s %-14s %s (%s)\n", c.Email, c.Password, c.Name, role)
	}
	return nil
}
