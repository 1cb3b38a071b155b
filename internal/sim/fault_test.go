package sim

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"airlock/internal/testpg"
	"airlock/store"
	"airlock/store/storetest"
)

// The short fault run of the test suite: two real `airlock serve` nodes on
// one PostgreSQL, 20 devices for 45 s with dropped and cut responses, one
// node killed with SIGKILL and restarted, PostgreSQL stopped abruptly and
// restarted; nothing may be lost, duplicated or left divergent. The full
// run (500 devices, 10 minutes) is in docs/scale.md.
func TestFaultRunShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two airlock processes for a minute")
	}
	if _, err := os.Stat("/usr/lib/postgresql"); err != nil && os.Getenv("CI") == "" {
		t.Skip("PostgreSQL not installed")
	}
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := FaultRun(ctx, FaultConfig{
		Nodes: 2, KillAt: 12 * time.Second, RestartAfter: 3 * time.Second, PGRestartAt: 27 * time.Second,
		Run: Config{Users: 8, Devices: 20, Duration: 45 * time.Second, Rate: 8, InjectRate: 2, SeedMessages: 10,
			Oracle: true, Checkpoint: 20 * time.Second, Faults: Faults{Drop: 0.05, Cut: 0.02}, Window: 25, Seed: 7},
		Out: &out,
	})
	if errors.Is(err, testpg.ErrUnavailable) && testpg.MustSkip(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	rep.Print(&out)
	t.Log("\n" + out.String())
	if rep.Summary.Events["fault: response dropped, Sync resent"] == 0 {
		t.Error("no Sync response was dropped")
	}
	for _, want := range []string{"SIGKILL node", "PostgreSQL stopped", "event done: SIGKILL", "event done: PostgreSQL"} {
		if !strings.Contains(strings.Join(rep.Timeline, "\n"), want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	f := rep.Final()
	if f == nil || f.Lost != 0 || f.Duplicated != 0 {
		t.Fatal("items lost or duplicated across the faults")
	}
	if !rep.OK() {
		t.Fatal("the fault run did not pass every check")
	}
}

// Regression (found by the fault run): when PostgreSQL drops a connection,
// store.UserByAddress must not answer ErrNotFound. It did: the failed
// lookup by primary address fell through to the alias lookup, which ran on
// a fresh connection and found no alias. The SMTP listener then refused
// mail for an existing user with 550 5.1.1 (a bounce) and EAS answered
// HTTP 401 to correct credentials (recording an authentication failure).
func TestRegressionUserByAddressDuringOutageIsNotNotFound(t *testing.T) {
	srv, name := storetest.Postgres(t)
	ctx := context.Background()
	st, err := store.Open(ctx, srv.URL(name), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users := []*User{{Email: "outage@sim.airlock.test", Password: "sim-password-1"}}
	if err := EnsureUsers(ctx, st, users); err != nil {
		t.Fatal(err)
	}
	pool, err := st.SQL()
	if err != nil {
		t.Fatal(err)
	}
	pool.SetMaxOpenConns(1) // the next query surely uses the connection about to die
	if _, err := st.UserByAddress(ctx, users[0].Email); err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", srv.DSN(name))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	_, err = st.UserByAddress(ctx, users[0].Email)
	if errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an existing user is reported missing after the database dropped the connection: %v", err)
	}
}
