package sim

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for statistics
)

// FaultConfig is a fault run: the load of Config against a cluster of
// nodes on one PostgreSQL, with a node killed and PostgreSQL restarted at
// set times.
type FaultConfig struct {
	Bin   string // airlock binary; "" builds ./cmd/airlock
	Nodes int    // default 2
	Run   Config // Servers, SMTP and DB are filled in
	// KillAt kills the last node with SIGKILL; RestartAfter later it is
	// started again on the same port. Zero: no kill.
	KillAt, RestartAfter time.Duration
	// PGRestartAt stops PostgreSQL abruptly (pg_ctl -m immediate) and
	// starts it again. Zero: no restart.
	PGRestartAt time.Duration
	Out         io.Writer
}

// FaultReport is a fault run's report.
type FaultReport struct {
	*Report
	Nodes      int
	NodeLog    []string // ERROR lines and panics from the nodes' logs
	SMTPFlag   string
	SyncCommit string
}

// Print writes the report.
func (f *FaultReport) Print(w io.Writer) {
	via := "the database (serve has no SMTP listener flag)"
	if f.SMTPFlag != "" {
		via = "SMTP (--" + f.SMTPFlag + ")"
	}
	fmt.Fprintf(w, "fault run: %d nodes on one PostgreSQL (synchronous_commit=%s); mail injected through %s\n", f.Nodes, f.SyncCommit, via)
	if len(f.NodeLog) > 0 {
		fmt.Fprintln(w, "node log errors:")
		for _, l := range f.NodeLog {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	f.Report.Print(w)
}

// FaultRun starts a cluster, runs the load with the faults, and checks.
func FaultRun(ctx context.Context, fc FaultConfig) (*FaultReport, error) {
	if fc.Nodes == 0 {
		fc.Nodes = 2
	}
	if fc.Out == nil {
		fc.Out = io.Discard
	}
	if _, err := RaiseFileLimit(uint64(4*fc.Run.Devices + 4096)); err != nil {
		fmt.Fprintf(fc.Out, "warning: could not raise the open-file limit: %v\n", err)
	}
	cl, err := StartCluster(ctx, fc.Bin, fc.Nodes, fc.Out)
	if err != nil {
		return nil, err
	}
	defer cl.Stop()
	sc, err := cl.DurableCommits(ctx)
	if err != nil {
		return nil, err
	}
	cfg := fc.Run
	cfg.Servers, cfg.SMTP, cfg.DB = cl.URLs(), cl.SMTPAddrs(), cl.DB
	cfg.ServerPIDs = cl.PIDs
	if cfg.Out == nil {
		cfg.Out = fc.Out
	}
	victim := cl.Nodes[len(cl.Nodes)-1]
	if fc.KillAt > 0 {
		restart := fc.RestartAfter
		if restart == 0 {
			restart = 5 * time.Second
		}
		cfg.Events = append(cfg.Events, Event{At: fc.KillAt, Name: fmt.Sprintf("SIGKILL node %d (%s), restart after %s", victim.Index, victim.Addr, restart),
			Do: func(ctx context.Context) error {
				if err := cl.Kill(victim); err != nil {
					return err
				}
				sleep(ctx, restart)
				return cl.Start(context.WithoutCancel(ctx), victim)
			}})
	}
	if fc.PGRestartAt > 0 {
		cfg.Events = append(cfg.Events, Event{At: fc.PGRestartAt, Name: "PostgreSQL stopped abruptly (immediate) and restarted",
			Do: func(ctx context.Context) error { return cl.PG.Restart() }})
	}
	r, err := NewRunner(cfg)
	if err != nil {
		return nil, err
	}
	rep, err := r.Run(ctx)
	if err != nil {
		return nil, err
	}
	return &FaultReport{Report: rep, Nodes: fc.Nodes, NodeLog: cl.NodeLogErrors(30), SMTPFlag: cl.SMTPFlag, SyncCommit: sc}, nil
}

// DurableCommits makes every commit on the cluster's database wait for its
// WAL write. testpg starts PostgreSQL with synchronous_commit=off (speed
// for unit tests), under which an abrupt stop may lose transactions the
// server already acknowledged; a fault run must not blame Airlock for
// that. The per-database setting overrides the server default for every
// new session. It returns the setting as a new session sees it.
func (c *Cluster) DurableCommits(ctx context.Context) (string, error) {
	db, err := sql.Open("pgx", c.PG.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	name := c.dbName()
	if _, err := db.ExecContext(ctx, "ALTER DATABASE "+name+" SET synchronous_commit = on"); err != nil {
		return "", fmt.Errorf("set synchronous_commit: %w", err)
	}
	db2, err := sql.Open("pgx", c.PG.DSN(name))
	if err != nil {
		return "", err
	}
	defer db2.Close()
	var v string
	if err := db2.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
		return "", err
	}
	return v, nil
}

func (c *Cluster) dbName() string {
	u, err := url.Parse(c.DB)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// DBCounters reads the database's activity counters (pg_stat_database and
// the table scan counts), for queries-per-request estimates.
func (c *Cluster) DBCounters(ctx context.Context) (map[string]int64, error) {
	db, err := sql.Open("pgx", c.PG.DSN(c.dbName()))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// Statistics reach the views when a backend flushes them (at most a
	// second late); wait for that.
	sleep(ctx, 1500*time.Millisecond)
	m := map[string]int64{}
	var a, b, tr, tf, ti, tu, td, sess int64
	err = db.QueryRowContext(ctx, `SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted, sessions
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&a, &b, &tr, &tf, &ti, &tu, &td, &sess)
	if err != nil {
		return nil, err
	}
	m["transactions"], m["rollbacks"], m["sessions opened"] = a, b, sess
	m["rows returned"], m["rows fetched"], m["rows inserted"], m["rows updated"], m["rows deleted"] = tr, tf, ti, tu, td
	var seq, idx sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT sum(seq_scan), sum(idx_scan) FROM pg_stat_user_tables`).Scan(&seq, &idx); err != nil {
		return nil, err
	}
	m["table scans (seq+index)"] = seq.Int64 + idx.Int64
	rows, err := db.QueryContext(ctx, `SELECT relname, coalesce(seq_scan,0), coalesce(seq_tup_read,0), coalesce(idx_scan,0), coalesce(idx_tup_fetch,0)
		FROM pg_stat_user_tables`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var ss, sr, is, ir int64
		if err := rows.Scan(&name, &ss, &sr, &is, &ir); err != nil {
			return nil, err
		}
		m["table "+name+": seq scans"], m["table "+name+": rows seq-read"] = ss, sr
		m["table "+name+": index scans"], m["table "+name+": rows index-fetched"] = is, ir
	}
	return m, rows.Err()
}

// PGCPU returns the CPU time PostgreSQL has used: the postmaster's own and
// that of the backends it reaped (cutime, cstime), plus its live children.
func (c *Cluster) PGCPU() (time.Duration, error) {
	dsn := c.PG.DSN("postgres")
	var dir string
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "host="); ok {
			dir = v
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, err
	}
	total := time.Duration(0)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		str := string(stat)
		i := strings.LastIndexByte(str, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(str[i+1:])
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if pid != pm && ppid != pm {
			continue
		}
		n := 2 // utime, stime
		if pid == pm {
			n = 4 // and the reaped children's
		}
		for k := 0; k < n; k++ {
			v, _ := strconv.ParseInt(f[11+k], 10, 64)
			total += time.Duration(v) * time.Second / clockTicks
		}
	}
	return total, nil
}
