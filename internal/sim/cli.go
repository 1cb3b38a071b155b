package sim

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `Usage: airlock-sim COMMAND [flags]

Commands:
  run         simulate devices against running servers and check consistency
  fault-run   start PostgreSQL and two nodes, run the load, kill a node and
              restart PostgreSQL on schedule, and check consistency
  bench       measure one figure on a cluster it starts:
                bench idle      idle Ping memory (--devices 10000)
                bench wake      wake-up latency from delivery to Ping answer
                bench bigsync   initial sync of a large Inbox (--messages 10000)
                bench syncrate  sustained Sync requests per second
                bench firstsync first sync after a migration: many devices
                                at once on mailboxes never read

Run "airlock-sim COMMAND --help" for a command's flags. Every address must be
loopback. The exit status is 0 when every check passed, 1 when a check
failed, 2 when the run could not be carried out.
`

// Main is the airlock-sim command.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var (
		ok  bool
		err error
	)
	switch args[0] {
	case "run":
		ok, err = cmdRun(ctx, args[1:], stdout, stderr)
	case "fault-run":
		ok, err = cmdFaultRun(ctx, args[1:], stdout, stderr)
	case "bench":
		ok, err = cmdBench(ctx, args[1:], stdout, stderr)
	case "hold-pings":
		// Internal: a child process of "bench idle".
		rate := 500
		if len(args) > 1 {
			rate, _ = strconv.Atoi(args[1])
		}
		ok, err = true, HoldPings(os.Stdin, stdout, rate)
	default:
		err = fmt.Errorf("unknown command %q (run, fault-run, bench)", args[0])
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "airlock-sim: %v\n", err)
		return 2
	case !ok:
		return 1
	}
	return 0
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

type intList []int

func (l *intList) String() string { return fmt.Sprint(*l) }
func (l *intList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return err
		}
		*l = append(*l, n)
	}
	return nil
}

// loadFlags are the flags of run and fault-run.
type loadFlags struct {
	cfg       Config
	mix       string
	jsonPath  string
	tracePath string
}

func (lf *loadFlags) register(fs *flag.FlagSet) {
	c := &lf.cfg
	fs.IntVar(&c.Users, "users", 10, "simulated users (mailboxes)")
	fs.IntVar(&c.Devices, "devices", 20, "simulated devices, spread over the users (at most 9 per user with the oracle)")
	fs.DurationVar(&c.Duration, "duration", time.Minute, "how long the load runs")
	fs.Float64Var(&c.Rate, "rate", 5, "device actions per second, all devices together")
	fs.Float64Var(&c.InjectRate, "inject-rate", 1, "messages per second delivered from outside (SMTP, or the database)")
	fs.StringVar(&lf.mix, "mix", "change=60,move=15,delete=10,send=15", "weights of the device actions")
	fs.DurationVar(&c.Heartbeat, "heartbeat", 60*time.Second, "Ping HeartbeatInterval (the server may impose its limits)")
	fs.IntVar(&c.Window, "window", 100, "Sync WindowSize")
	fs.Float64Var(&c.Faults.Drop, "drop", 0, "probability of throwing away a Sync/SendMail/MoveItems response and resending the request")
	fs.Float64Var(&c.Faults.Cut, "cut", 0, "probability of cutting the connection halfway through such a response and resending")
	fs.DurationVar(&c.Checkpoint, "checkpoint", 0, "interval of quiescent checks during the run (0: final check only)")
	fs.IntVar(&c.SeedMessages, "seed-messages", 20, "messages put in each mailbox before the devices start (needs the database)")
	fs.BoolVar(&c.Oracle, "oracle", true, "add a fresh device per user that syncs from scratch at every check")
	fs.StringVar(&c.Password, "password", "sim-password-1", "password of the simulated users")
	fs.StringVar(&c.Prefix, "prefix", "sim", "user name prefix")
	fs.StringVar(&c.Domain, "domain", "sim.airlock.test", "mail domain of the simulated users")
	fs.Uint64Var(&c.Seed, "seed", 0, "random seed (0: from the clock)")
	fs.BoolVar(&c.CheapHash, "cheap-hash", false, "create users with a cheap argon2id cost (to separate password-verification cost from the rest)")
	fs.StringVar(&lf.jsonPath, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&lf.tracePath, "trace", "", "write every request and response (as XML) to this file")
}

func (lf *loadFlags) finish() error {
	m, err := ParseMix(lf.mix)
	if err != nil {
		return err
	}
	lf.cfg.Mix = m
	if lf.tracePath != "" {
		f, err := os.Create(lf.tracePath)
		if err != nil {
			return err
		}
		lf.cfg.Trace = f // closed at exit
	}
	return nil
}

func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: airlock-sim %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) (bool, error) {
	fs := newFlags("run", "run --server URL [--server URL2] [--db DB] [--smtp HOST:PORT] [flags]", stderr)
	var lf loadFlags
	lf.register(fs)
	var servers, smtps stringList
	var pids intList
	fs.Var(&servers, "server", "EAS server base URL, e.g. http://127.0.0.1:8443 (repeat for several nodes)")
	fs.Var(&smtps, "smtp", "SMTP listener to inject mail into (repeatable)")
	fs.Var(&pids, "server-pid", "server process to sample for RSS and CPU (repeatable)")
	fs.StringVar(&lf.cfg.DB, "db", "", "the servers' database (SQLite path or postgres:// URL): users, seeding, ground truth")
	cliBin := fs.String("create-users-with", "", "create missing users with this airlock binary (airlock user add --db DB) instead of writing the database directly")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if err := lf.finish(); err != nil {
		return false, err
	}
	cfg := lf.cfg
	cfg.Servers, cfg.SMTP, cfg.Out = servers, smtps, stderr
	if len(pids) > 0 {
		cfg.ServerPIDs = func() []int { return pids }
	}
	if *cliBin != "" {
		if cfg.DB == "" {
			return false, errors.New("--create-users-with needs --db")
		}
		bin, db := *cliBin, cfg.DB
		cfg.CreateUsers = func(ctx context.Context, users []*User) error { return AddUsersWithCLI(ctx, bin, db, users) }
	}
	r, err := NewRunner(cfg)
	if err != nil {
		return false, err
	}
	rep, err := r.Run(ctx)
	if err != nil {
		return false, err
	}
	rep.Print(stdout)
	return rep.OK(), writeJSON(lf.jsonPath, rep)
}

// AddUsersWithCLI creates users through `airlock user add`, one process
// each (the password goes on standard input), skipping existing ones.
func AddUsersWithCLI(ctx context.Context, bin, db string, users []*User) error {
	for _, u := range users {
		name, _, _ := strings.Cut(u.Email, "@")
		cmd := exec.CommandContext(ctx, bin, "user", "add", "--db", db, "--email", u.Email, "--name", name)
		cmd.Stdin = strings.NewReader(u.Password + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil && !strings.Contains(string(out), "already exists") {
			return fmt.Errorf("airlock user add %s: %v: %s", u.Email, err, out)
		}
	}
	return nil
}

func cmdFaultRun(ctx context.Context, args []string, stdout, stderr io.Writer) (bool, error) {
	fs := newFlags("fault-run", "fault-run [--devices 500 --users 170 --duration 10m --kill-at 3m --pg-restart-at 6m] [flags]", stderr)
	var lf loadFlags
	lf.register(fs)
	var fc FaultConfig
	fs.StringVar(&fc.Bin, "airlock", "", "airlock binary (default: go build ./cmd/airlock)")
	fs.IntVar(&fc.Nodes, "nodes", 2, "airlock serve nodes")
	fs.DurationVar(&fc.KillAt, "kill-at", 0, "SIGKILL the last node at this time into the load (0: no kill)")
	fs.DurationVar(&fc.RestartAfter, "restart-after", 5*time.Second, "restart the killed node after this long")
	fs.DurationVar(&fc.PGRestartAt, "pg-restart-at", 0, "stop PostgreSQL abruptly and restart it at this time (0: no restart)")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if err := lf.finish(); err != nil {
		return false, err
	}
	fc.Run, fc.Out = lf.cfg, stderr
	rep, err := FaultRun(ctx, fc)
	if err != nil {
		return false, err
	}
	rep.Print(stdout)
	return rep.OK(), writeJSON(lf.jsonPath, rep)
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) (bool, error) {
	if len(args) == 0 {
		return false, errors.New("bench what? idle, wake, bigsync, syncrate or firstsync")
	}
	what := args[0]
	fs := newFlags("bench "+what, "bench "+what+" [flags]", stderr)
	bin := fs.String("airlock", "", "airlock binary (default: go build ./cmd/airlock)")
	jsonPath := fs.String("json", "", "also write the result as JSON to this file")
	var run func(b *Bench) (any, error)
	files := uint64(8192)
	nodes := 1
	cheap := false
	enrolParallel := 32
	openRate := 500
	clone := false
	switch what {
	case "idle":
		devices := fs.Int("devices", 10000, "devices holding a Ping")
		users := fs.Int("users", 0, "users (default devices/10)")
		hold := fs.Duration("hold", 30*time.Second, "how long the Pings are held while memory is sampled")
		fs.IntVar(&nodes, "nodes", 1, "nodes the devices are spread over (at most 18,500 Pings each here)")
		fs.BoolVar(&clone, "clone", false, "enrol one device per user over HTTP and copy it in the database for the others (fast set-up for 50,000)")
		fs.IntVar(&enrolParallel, "enrol-parallel", 32, "devices enrolling at once")
		fs.IntVar(&openRate, "open-rate", 500, "Ping connections opened per second")
		fs.BoolVar(&cheap, "cheap-hash", true, "store the users' passwords with a cheap argon2id cost (enrolment would otherwise measure argon2id)")
		run = func(b *Bench) (any, error) {
			u := *users
			if u == 0 {
				u = (*devices + 9) / 10
			}
			r, err := b.Idle(ctx, *devices, u, *hold)
			if err == nil {
				r.Print(stdout)
			}
			return r, err
		}
		if err := fs.Parse(args[1:]); err != nil {
			return false, err
		}
		files = 19000
	case "wake":
		devices := fs.Int("devices", 50, "devices holding a Ping (one user each)")
		samples := fs.Int("samples", 200, "messages per delivery path")
		timeout := fs.Duration("timeout", 10*time.Second, "give up on a wake-up after this long")
		fs.IntVar(&nodes, "nodes", 2, "nodes (Pings on the first; deliveries through each)")
		run = func(b *Bench) (any, error) {
			rs, err := b.Wake(ctx, *devices, *samples, *timeout)
			for _, r := range rs {
				r.Print(stdout)
			}
			return rs, err
		}
		if err := fs.Parse(args[1:]); err != nil {
			return false, err
		}
	case "bigsync":
		messages := fs.Int("messages", 10000, "messages in the Inbox")
		var windows intList
		fs.Var(&windows, "window", "WindowSize (repeatable or comma-separated; default 100,512)")
		run = func(b *Bench) (any, error) {
			if len(windows) == 0 {
				windows = intList{100, 512}
			}
			rs, err := b.BigSync(ctx, *messages, windows)
			ok := true
			for _, r := range rs {
				r.Print(stdout)
				ok = ok && r.Lost == 0 && r.Duplicated == 0 && r.Divergent == 0
			}
			if err == nil && !ok {
				err = errFigureFailed
			}
			return rs, err
		}
		if err := fs.Parse(args[1:]); err != nil {
			return false, err
		}
	case "syncrate":
		var devices intList
		fs.Var(&devices, "devices", "devices in a closed loop (one user each); a list is a ramp of loads (repeatable or comma-separated; default 40)")
		d := fs.Duration("duration", 60*time.Second, "measuring time per mode and load")
		modes := fs.String("modes", "poll,change", "poll (nothing new), change (a read/unread Change per request), incoming (a message delivered, then the Sync that receives it)")
		run = func(b *Bench) (any, error) {
			if len(devices) == 0 {
				devices = intList{40}
			}
			rs, err := b.SyncRate(ctx, devices, *d, strings.Split(*modes, ","))
			for _, r := range rs {
				r.Print(stdout)
			}
			if len(rs) > 1 {
				PrintRamp(stdout, rs)
			}
			return rs, err
		}
		if err := fs.Parse(args[1:]); err != nil {
			return false, err
		}
	case "firstsync":
		devices := fs.Int("devices", 200, "devices syncing at once, each on its own mailbox")
		mails := fs.Int("mails", 2000, "messages in each Inbox (the mailmix)")
		window := fs.Int("window", 100, "Sync WindowSize")
		trunc := fs.Int("truncation", 5120, "plain-text body TruncationSize")
		fs.BoolVar(&cheap, "cheap-hash", true, "store the users' passwords with a cheap argon2id cost")
		run = func(b *Bench) (any, error) {
			r, err := b.FirstSync(ctx, *devices, *mails, *window, *trunc)
			if err != nil {
				return r, err
			}
			r.Print(stdout)
			if r.Incomplete > 0 {
				err = errFigureFailed
			}
			return r, err
		}
		if err := fs.Parse(args[1:]); err != nil {
			return false, err
		}
	default:
		return false, fmt.Errorf("bench %q: idle, wake, bigsync, syncrate or firstsync", what)
	}
	b, err := StartBench(ctx, *bin, nodes, files, stderr)
	if err != nil {
		return false, err
	}
	b.CheapHash, b.EnrolParallel, b.OpenRate = cheap, enrolParallel, openRate
	b.CloneDevices = clone
	defer b.Stop()
	res, err := run(b)
	if errors.Is(err, errFigureFailed) {
		return false, writeJSON(*jsonPath, res)
	}
	if err != nil {
		return false, err
	}
	return true, writeJSON(*jsonPath, res)
}

var errFigureFailed = errors.New("the measurement found lost or duplicated items")
