package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"airlock/internal/password"
	"airlock/store"
)

// Mix weighs the actions devices take.
type Mix struct {
	Change, Move, Delete, Send int
}

// DefaultMix follows a typical device mix (flag and read changes
// dominate, then moves, deletes and sends).
var DefaultMix = Mix{Change: 60, Move: 15, Delete: 10, Send: 15}

// ParseMix reads "change=60,move=15,delete=10,send=15".
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		var n int
		if _, err := fmt.Sscan(v, &n); !ok || err != nil || n < 0 {
			return m, fmt.Errorf("mix %q: want comma-separated name=weight", s)
		}
		switch k {
		case "change":
			m.Change = n
		case "move":
			m.Move = n
		case "delete":
			m.Delete = n
		case "send":
			m.Send = n
		default:
			return m, fmt.Errorf("mix: unknown action %q (change, move, delete, send)", k)
		}
	}
	if m.Change+m.Move+m.Delete+m.Send == 0 {
		return m, errors.New("mix: all weights are zero")
	}
	return m, nil
}

func (m Mix) pick(r *rand.Rand) Action {
	n := r.IntN(m.Change + m.Move + m.Delete + m.Send)
	switch {
	case n < m.Change:
		return ActChange
	case n < m.Change+m.Move:
		return ActMove
	case n < m.Change+m.Move+m.Delete:
		return ActDelete
	}
	return ActSend
}

// Config is one simulation run.
type Config struct {
	// Servers are EAS base URLs (http://127.0.0.1:PORT); devices are spread
	// over them and fail over between them. Loopback only.
	Servers []string
	// SMTP are SMTP listener addresses (host:port) the injector delivers
	// to, in turn. Empty: the injector writes to the database (with DB or
	// Store), or does not run.
	SMTP []string
	// DB is the servers' database (a SQLite path or a postgres:// URL):
	// users are created there, mailboxes seeded, and the checker reads the
	// ground truth from it. Store is the same for tests, already open.
	DB    string
	Store *store.Store `json:"-"`
	// CreateUsers creates the users that are missing; nil writes them to
	// the database directly (with DB or Store).
	CreateUsers func(ctx context.Context, users []*User) error `json:"-"`

	Users, Devices int
	Duration       time.Duration
	// Rate is device actions per second over all devices; InjectRate is
	// messages per second from outside.
	Rate, InjectRate float64
	Mix              Mix
	Heartbeat        time.Duration
	Window           int
	Faults           Faults
	// Checkpoint is the interval between quiescent checks during the run
	// (0: only the final check).
	Checkpoint time.Duration
	// SeedMessages is how many messages each mailbox gets before devices
	// start (needs DB or Store).
	SeedMessages int
	// Oracle adds a fresh device per user that syncs from key 0 at every
	// check; its view is compared with the database.
	Oracle bool
	// EveryActionOnce has every device take each action once when the load
	// starts, so a short run exercises every command whatever the dice.
	EveryActionOnce bool
	// Password of every simulated user; Prefix and Domain make the
	// addresses (prefix-u001@domain).
	Password, Prefix, Domain string
	// CheapHash stores the users' passwords with the cheap argon2id cost
	// (CheapHash) instead of the server's default: to tell the cost of
	// password verification apart from everything else.
	CheapHash bool
	Profile   Identity // DeviceType, UserAgent, Version, Model, OS
	Seed      uint64
	// ServerPIDs lists the server processes to sample (RSS, CPU).
	ServerPIDs func() []int `json:"-"`
	// Events run at set times (faults in fault-run).
	Events []Event `json:"-"`
	// Out receives progress lines.
	Out io.Writer `json:"-"`
	// Trace, when set, receives every request and response.
	Trace io.Writer `json:"-"`
}

// Event is something done to the system at a set time of the run.
type Event struct {
	At   time.Duration
	Name string
	Do   func(ctx context.Context) error
}

// DefaultProfile is a current iPhone speaking EAS 14.1 (allowed by the
// default rules: "iPhone 3GS and newer").
var DefaultProfile = Identity{DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "14.1", Model: "iPhone14,7", OS: "iOS 17.4 21E219"}

func (c *Config) defaults() {
	if c.Users == 0 {
		c.Users = 1
	}
	if c.Devices == 0 {
		c.Devices = c.Users
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 60 * time.Second
	}
	if c.Window == 0 {
		c.Window = 100
	}
	if c.Password == "" {
		c.Password = "sim-password-1"
	}
	if c.Prefix == "" {
		c.Prefix = "sim"
	}
	if c.Domain == "" {
		c.Domain = "sim.airlock.test"
	}
	if c.Profile.DeviceType == "" {
		c.Profile = DefaultProfile
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.ServerPIDs == nil {
		c.ServerPIDs = func() []int { return nil }
	}
}

// CheckLoopback refuses anything but a loopback address: the simulator is
// a load generator and must never be pointed at someone else's server.
func CheckLoopback(hostport string) error {
	host := hostport
	if u, err := url.Parse(hostport); err == nil && u.Host != "" {
		host = u.Host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: the simulator only talks to 127.0.0.0/8 or ::1", hostport)
	}
	return nil
}

// Validate reports the first problem.
func (c *Config) Validate() error {
	if len(c.Servers) == 0 {
		return errors.New("no server: give at least one --server URL")
	}
	for _, s := range c.Servers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("--server %q: want http://127.0.0.1:PORT", s)
		}
		if err := CheckLoopback(s); err != nil {
			return err
		}
	}
	for _, s := range c.SMTP {
		if err := CheckLoopback(s); err != nil {
			return err
		}
	}
	if strings.HasPrefix(c.DB, "postgres") {
		if u, err := url.Parse(c.DB); err == nil && u.Host != "" {
			if err := CheckLoopback(u.Host); err != nil {
				return err
			}
		}
	}
	switch {
	case c.Users < 1 || c.Devices < 1:
		return errors.New("--users and --devices must be at least 1")
	case c.Devices > 10*c.Users, c.Oracle && c.Devices > 9*c.Users:
		return errors.New("at most 10 devices per user, the oracle included (the server's default device limit)")
	case c.Duration <= 0:
		return errors.New("--duration must be positive")
	case c.Rate < 0 || c.InjectRate < 0:
		return errors.New("rates must not be negative")
	case c.SeedMessages > 0 && c.DB == "" && c.Store == nil:
		return errors.New("seeding mailboxes needs --db")
	}
	return nil
}

// Report is what a run found.
type Report struct {
	Run       string
	Config    Config
	Setup     time.Duration
	Summary   Summary
	Procs     []ProcSummary
	Verdicts  []*Verdict
	Timeline  []string
	Notes     []string
	NumNotes  int
	Unsettled int
}

// OK reports whether every checkpoint passed.
func (r *Report) OK() bool {
	if r.Unsettled > 0 || len(r.Verdicts) == 0 {
		return false
	}
	for _, v := range r.Verdicts {
		if !v.OK() {
			return false
		}
	}
	return true
}

// Final returns the last verdict.
func (r *Report) Final() *Verdict {
	if len(r.Verdicts) == 0 {
		return nil
	}
	return r.Verdicts[len(r.Verdicts)-1]
}

// Print writes the report.
func (r *Report) Print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "run %s: %d devices, %d users, %d server(s), %s, %.1f actions/s, %.1f injected msgs/s, drop %.3f, cut %.3f (set-up %s)\n",
		r.Run, c.Devices, c.Users, len(c.Servers), c.Duration, c.Rate, c.InjectRate, c.Faults.Drop, c.Faults.Cut, r.Setup.Round(time.Second))
	for _, t := range r.Timeline {
		fmt.Fprintf(w, "  %s\n", t)
	}
	r.Summary.Print(w)
	PrintProcs(w, r.Procs)
	if r.NumNotes > 0 {
		fmt.Fprintf(w, "notes (%d):\n", r.NumNotes)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	for _, v := range r.Verdicts {
		v.Print(w)
	}
	if r.Unsettled > 0 {
		fmt.Fprintf(w, "%d devices could not sync before a check\n", r.Unsettled)
	}
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	if f := r.Final(); f != nil {
		fmt.Fprintf(w, "VERDICT: %s (final: lost %d, duplicated %d, divergent %d, misdelivered %d, protocol anomalies %d)\n",
			verdict, f.Lost, f.Duplicated, f.Divergent, f.Misdelivered, f.Protocol)
	} else {
		fmt.Fprintf(w, "VERDICT: %s (no check completed)\n", verdict)
	}
}

// Runner runs one simulation.
type Runner struct {
	cfg     Config
	run     string
	stats   *Stats
	rec     *Recorder
	ledger  *Ledger
	st      *store.Store
	users   []*User
	devs    []*Device
	oracles map[*User]*Device
	acts    map[*Device]chan Action
	client  *http.Client
	start   time.Time
	tracer  *Tracer

	phaseMu sync.Mutex
	phase   *phase

	tlMu      sync.Mutex
	timeline  []string
	unsettled atomic.Int64
	injSeq    atomic.Int64
	injWG     sync.WaitGroup
	// injMu is held (read) by every message being injected and (write) by
	// a checkpoint, so nothing arrives while devices settle.
	injMu sync.RWMutex
}

// phase coordinates a quiescent check: devices stop acting (stopped), then
// sync everything (settled), then carry on (resume).
type phase struct {
	pause, settle, resume chan struct{}
	stopped, settled      sync.WaitGroup
}

func newPhase() *phase {
	return &phase{pause: make(chan struct{}), settle: make(chan struct{}), resume: make(chan struct{})}
}

// NewHTTPClient returns a client for n devices: a connection each for a
// held Ping and one for everything else, no overall timeout (Pings are
// long); requests carry their own deadlines.
func NewHTTPClient(n int) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2*n + 16,
		MaxIdleConnsPerHost:   2*n + 16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0,
	}
	return &http.Client{Transport: tr}
}

// NewRunner prepares a run.
func NewRunner(cfg Config) (*Runner, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, run: NewRunID(), stats: NewStats(), rec: &Recorder{}, ledger: NewLedger(), client: NewHTTPClient(cfg.Devices + cfg.Users)}
	if cfg.Trace != nil {
		r.tracer = NewTracer(cfg.Trace)
	}
	return r, nil
}

func (r *Runner) logf(format string, args ...any) {
	line := fmt.Sprintf("[%6s] ", time.Since(r.start).Round(time.Second)) + fmt.Sprintf(format, args...)
	fmt.Fprintln(r.cfg.Out, line)
}

func (r *Runner) mark(format string, args ...any) {
	line := fmt.Sprintf("%6s  ", time.Since(r.start).Round(time.Second)) + fmt.Sprintf(format, args...)
	r.tlMu.Lock()
	r.timeline = append(r.timeline, line)
	r.tlMu.Unlock()
	r.logf(format, args...)
}

// UserName returns the address of simulated user i.
func UserName(prefix, domain string, i int) string {
	return fmt.Sprintf("%s-u%04d@%s", prefix, i, domain)
}

// EnsureUsers creates the users that do not exist yet, all with one
// password (hashed once, with the server's default argon2id cost).
func EnsureUsers(ctx context.Context, st *store.Store, users []*User) error {
	return EnsureUsersWith(ctx, st, users, password.Default)
}

// CheapHash is an argon2id cost for benchmarks that enrol thousands of
// devices: each device's first request verifies the password once, and at
// the default cost (19 MiB, about 20 ms) that verification would be all
// such a benchmark measures.
var CheapHash = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// EnsureUsersWith is EnsureUsers with the hash cost p.
func EnsureUsersWith(ctx context.Context, st *store.Store, users []*User, p password.Params) error {
	var hash string
	for _, u := range users {
		if _, err := st.UserByAddress(ctx, u.Email); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if hash == "" {
			h, err := password.Hash(u.Password, p)
			if err != nil {
				return err
			}
			hash = h
		}
		name, _, _ := strings.Cut(u.Email, "@")
		if err := st.CreateUser(ctx, &store.User{Email: u.Email, DisplayName: name, PasswordHash: hash}); err != nil {
			return fmt.Errorf("create %s: %w", u.Email, err)
		}
	}
	return nil
}

// Seed puts n messages in u's Inbox and records them in the ledger.
func Seed(ctx context.Context, st *store.Store, l *Ledger, run string, u *User, n int) error {
	su, err := st.UserByAddress(ctx, u.Email)
	if err != nil {
		return err
	}
	inbox, err := st.FolderByType(ctx, su.ID, store.FolderInbox)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		tok := NewToken(run, "s", fmt.Sprintf("u%d", u.Index), i)
		if err := deliverToken(ctx, st, tok, "seed@outside.test", []*store.User{su}, []int64{inbox.ID}, "seeded"); err != nil {
			return err
		}
		if l != nil {
			l.Settle(l.Expect(tok, "seed", nil, []*User{u}, false), Accepted)
		}
	}
	return nil
}

// deliverToken stores one message for several users in one transaction,
// as a delivery would.
func deliverToken(ctx context.Context, st *store.Store, tok, from string, to []*store.User, folders []int64, body string) error {
	var addrs []string
	for _, u := range to {
		addrs = append(addrs, u.Email)
	}
	raw := Message(tok, from, addrs, body)
	now := time.Now().UTC()
	d := store.Delivery{Raw: raw}
	for i, u := range to {
		d.Items = append(d.Items, &store.Item{UserID: u.ID, FolderID: folders[i], Class: store.ClassEmail, Size: int64(len(raw)),
			MessageID: "<" + tok + "@sim.airlock.test>", Subject: "[sim " + tok + "] " + body, FromAddr: from,
			ToAddrs: strings.Join(addrs, ", "), DateReceived: &now, MessageClass: "IPM.Note", Preview: "Simulated message " + tok})
	}
	return st.Deliver(ctx, d)
}

// Run runs the simulation and returns its report. The report's verdicts
// say whether anything was lost; the error only whether the run could be
// carried out.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	r.start = time.Now()
	if cfg.Store != nil {
		r.st = cfg.Store
	} else if cfg.DB != "" {
		st, err := store.Open(ctx, cfg.DB, store.Options{SkipMigrate: true})
		if err != nil {
			return nil, err
		}
		defer st.Close()
		r.st = st
	}
	for i := 0; i < cfg.Users; i++ {
		r.users = append(r.users, &User{Email: UserName(cfg.Prefix, cfg.Domain, i+1), Password: cfg.Password, Index: i + 1})
	}
	switch {
	case cfg.CreateUsers != nil:
		r.logf("creating %d users", len(r.users))
		if err := cfg.CreateUsers(ctx, r.users); err != nil {
			return nil, err
		}
	case r.st != nil:
		r.logf("creating %d users", len(r.users))
		p := password.Default
		if cfg.CheapHash {
			p = CheapHash
		}
		if err := EnsureUsersWith(ctx, r.st, r.users, p); err != nil {
			return nil, err
		}
	}
	if r.st != nil {
		if cfg.SeedMessages > 0 {
			r.logf("seeding %d messages per mailbox", cfg.SeedMessages)
			if err := parallel(ctx, 4, len(r.users), func(i int) error {
				return Seed(ctx, r.st, r.ledger, r.run, r.users[i], cfg.SeedMessages)
			}); err != nil {
				return nil, err
			}
		}
	}

	// Devices: spread over users and servers.
	r.acts = map[*Device]chan Action{}
	for i := 0; i < cfg.Devices; i++ {
		u := r.users[i%len(r.users)]
		r.devs = append(r.devs, r.newDevice(fmt.Sprintf("d%d", i+1), u, i))
	}
	if cfg.Oracle {
		r.oracles = map[*User]*Device{}
		for i, u := range r.users {
			o := r.newDevice(fmt.Sprintf("oracle%d", i+1), u, i)
			o.Conn.Faults = Faults{}
			r.oracles[u] = o
		}
	}
	r.logf("starting %d devices (OPTIONS, Provision, FolderSync, initial Sync)", len(r.devs))
	if err := parallel(ctx, 16, len(r.devs), func(i int) error {
		if err := r.devs[i].Start(ctx); err != nil {
			return fmt.Errorf("device %s: %w", r.devs[i].Name, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	setup := time.Since(r.start)
	r.stats.Reset()
	watch := WatchProcs(cfg.ServerPIDs)
	r.start = time.Now()
	r.mark("load starts: %d devices on %d server(s)", len(r.devs), len(cfg.Servers))

	checker := &Checker{Run: r.run, Users: r.users, Oracle: r.oracles, Ledger: r.ledger, Rec: r.rec}
	if r.st != nil {
		checker.Truth = StoreTruth{Store: r.st}
	}
	rep := &Report{Run: r.run, Config: cfg, Setup: setup}

	devCtx, stopDevices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDevices()
	r.phase = newPhase()
	var wg sync.WaitGroup
	for _, d := range r.devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.recoverPanic("device " + d.Name)
			r.deviceLoop(devCtx, d)
		}()
	}
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	defer stopLoad()
	var loadWG sync.WaitGroup
	loadWG.Add(2)
	go func() { defer loadWG.Done(); defer r.recoverPanic("scheduler"); r.schedule(loadCtx) }()
	go func() { defer loadWG.Done(); defer r.recoverPanic("injector"); r.inject(loadCtx) }()
	for _, ev := range cfg.Events {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			defer r.recoverPanic("event " + ev.Name)
			if !sleepUntil(loadCtx, r.start.Add(ev.At)) {
				return
			}
			r.mark("event: %s", ev.Name)
			if err := ev.Do(loadCtx); err != nil {
				r.mark("event %s failed: %v", ev.Name, err)
			} else {
				r.mark("event done: %s", ev.Name)
			}
		}()
	}
	if cfg.Checkpoint > 0 {
		for n := 1; ; n++ {
			if !sleepUntil(loadCtx, r.start.Add(time.Duration(n)*cfg.Checkpoint)) {
				break
			}
			if time.Until(r.start.Add(cfg.Duration)) < cfg.Checkpoint/4 {
				break // the final check is near
			}
			v, err := r.checkpoint(ctx, checker, fmt.Sprintf("checkpoint %d", n))
			if err != nil {
				return nil, err
			}
			rep.Verdicts = append(rep.Verdicts, v)
		}
	}
	<-loadCtx.Done()
	loadWG.Wait()
	r.injWG.Wait()
	r.mark("load ends; final quiescent sync")
	v, err := r.checkpoint(ctx, checker, "final")
	if err != nil {
		return nil, err
	}
	rep.Verdicts = append(rep.Verdicts, v)
	stopDevices()
	wg.Wait()
	watch.Stop()
	rep.Summary = r.stats.Summary()
	rep.Procs = watch.Summary()
	rep.Timeline = r.timeline
	rep.Notes, rep.NumNotes = r.rec.Notes()
	rep.Unsettled = int(r.unsettled.Load())
	return rep, nil
}

func (r *Runner) newDevice(name string, u *User, i int) *Device {
	id := r.cfg.Profile
	id.User, id.Password = u.Email, u.Password
	id.DeviceID = strings.ToUpper(r.cfg.Prefix) + r.run[1:] + name
	conn := NewConn(r.cfg.Servers, i, r.client, id, r.stats, r.cfg.Faults, r.cfg.Seed+uint64(i)*7919)
	conn.Trace = r.tracer
	d := NewDevice(name, u, conn, r.stats, r.rec, r.cfg.Seed+uint64(i)*104729)
	d.Window, d.Heartbeat, d.Users, d.Ledger, d.Run = r.cfg.Window, r.cfg.Heartbeat, r.users, r.ledger, r.run
	r.acts[d] = make(chan Action, 2)
	return d
}

func (r *Runner) recoverPanic(where string) {
	if p := recover(); p != nil {
		r.stats.Error("simulator", fmt.Sprintf("panic in %s: %v", where, p))
		r.mark("PANIC in %s: %v", where, p)
	}
}

func (r *Runner) currentPhase() *phase {
	r.phaseMu.Lock()
	defer r.phaseMu.Unlock()
	return r.phase
}

// checkpoint stops every device and the injector, lets each device sync
// everything, and runs the checker.
func (r *Runner) checkpoint(ctx context.Context, c *Checker, label string) (*Verdict, error) {
	began := time.Now()
	r.phaseMu.Lock()
	ph := r.phase
	ph.stopped.Add(len(r.devs))
	ph.settled.Add(len(r.devs))
	r.phaseMu.Unlock()
	close(ph.pause)
	ph.stopped.Wait()
	r.injMu.Lock()
	defer r.injMu.Unlock()
	close(ph.settle)
	ph.settled.Wait()
	v, err := c.Check(ctx, label, r.devs)
	if v != nil {
		v.At = time.Since(r.start)
	}
	r.phaseMu.Lock()
	r.phase = newPhase()
	r.phaseMu.Unlock()
	close(ph.resume)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	res := "PASS"
	if !v.OK() {
		res = "FAIL"
	}
	r.mark("%s: %s (lost %d, duplicated %d, divergent %d, misdelivered %d, protocol %d; %d items) in %s",
		label, res, v.Lost, v.Duplicated, v.Divergent, v.Misdelivered, v.Protocol, v.Items, time.Since(began).Round(time.Millisecond))
	return v, nil
}

// quiesce is a device's part of a checkpoint.
func (r *Runner) quiesce(ctx context.Context, d *Device, ph *phase) {
	ph.stopped.Done()
	select {
	case <-ph.settle:
	case <-ctx.Done():
		ph.settled.Done()
		return
	}
	settled := false
	for try := 0; try < 10 && ctx.Err() == nil; try++ {
		if err := d.FolderSync(ctx); err == nil {
			if err := d.SyncAll(ctx); err == nil {
				settled = true
				break
			} else {
				r.stats.Error("device", "settle: "+short(err))
			}
		}
		sleep(ctx, time.Second)
	}
	if !settled {
		r.unsettled.Add(1)
		r.rec.Anomaly(d, "could not sync for the check")
	}
	ph.settled.Done()
	select {
	case <-ph.resume:
	case <-ctx.Done():
	}
}

type pingResult struct {
	changed []int
	hier    bool
	err     error
}

// deviceLoop is a phone's life: Ping, Sync what changed, act when the user
// does something, and stop for checkpoints.
func (r *Runner) deviceLoop(ctx context.Context, d *Device) {
	acts := r.acts[d]
	dirty := map[int]bool{}
	needHier := false
	fail := func(err error) {
		if ctx.Err() != nil {
			return
		}
		r.stats.Error("device", short(err))
		sleep(ctx, time.Second)
	}
	if r.cfg.EveryActionOnce {
		for _, a := range []Action{ActChange, ActDelete, ActMove, ActSend} {
			if _, err := d.Do(ctx, a); err != nil {
				fail(err)
			}
		}
	}
loop:
	for ctx.Err() == nil {
		ph := r.currentPhase()
		select {
		case <-ph.pause:
			r.quiesce(ctx, d, ph)
			continue
		default:
		}
		if needHier {
			if err := d.FolderSync(ctx); err != nil {
				fail(err)
				continue
			}
			needHier = false
			for _, t := range d.types() {
				dirty[t] = true
			}
		}
		if len(dirty) > 0 {
			var ts []int
			for t := range dirty {
				ts = append(ts, t)
			}
			if err := d.Sync(ctx, ts...); err != nil {
				fail(err)
				continue
			}
			dirty = map[int]bool{}
			continue
		}
		select {
		case a := <-acts:
			if _, err := d.Do(ctx, a); err != nil {
				fail(err)
			}
			continue
		default:
		}
		pctx, cancel := context.WithCancel(ctx)
		pingSrv := d.Conn.Current()
		done := make(chan pingResult, 1)
		go func() {
			defer r.recoverPanic("ping " + d.Name)
			ch, hier, err := d.Ping(pctx)
			done <- pingResult{ch, hier, err}
		}()
		var res pingResult
	wait:
		for {
			select {
			case res = <-done:
				break wait
			case a := <-acts:
				// The user acts while the Ping is held: every action
				// ends with a Sync, which supersedes it (only a newer Ping
				// or Sync does; MS-ASCMD 3.1.5.8).
				sent, err := d.Do(ctx, a)
				if err != nil {
					fail(err)
				}
				if !sent {
					continue // nothing went out: the Ping carries on
				}
				t := time.NewTimer(10 * time.Second)
				select {
				case res = <-done:
				case <-t.C:
					if d.Conn.Current() != pingSrv {
						// Held Pings are a node's own: a request on another
						// node cannot end them.
						r.stats.Event("Ping still held 10 s after a newer request of the device on another node")
					} else {
						r.stats.Event("Ping still held 10 s after a newer request of the device on its node")
					}
					cancel()
					res = <-done
				}
				t.Stop()
				res.err = nil // ended by us or superseded
				break wait
			case <-ph.pause:
				cancel()
				<-done
				continue loop
			case <-ctx.Done():
				cancel()
				<-done
				return
			}
		}
		cancel()
		if res.err != nil {
			fail(res.err)
			continue
		}
		needHier = needHier || res.hier
		for _, t := range res.changed {
			dirty[t] = true
		}
	}
}

func short(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// schedule hands actions to random devices at the configured rate.
func (r *Runner) schedule(ctx context.Context) {
	if r.cfg.Rate <= 0 || len(r.devs) == 0 {
		return
	}
	rnd := rand.New(rand.NewPCG(r.cfg.Seed, 1))
	every := time.Duration(float64(time.Second) / r.cfg.Rate)
	next := time.Now()
	for {
		next = next.Add(every)
		if !sleepUntil(ctx, next) {
			return
		}
		ph := r.currentPhase()
		select {
		case <-ph.pause:
			// Wait out the checkpoint; actions are not made up afterwards.
			select {
			case <-ph.resume:
			case <-ctx.Done():
				return
			}
			next = time.Now()
			continue
		default:
		}
		d := r.devs[rnd.IntN(len(r.devs))]
		a := r.cfg.Mix.pick(rnd)
		select {
		case r.acts[d] <- a:
		default:
			r.stats.Event("action skipped: device busy")
		}
	}
}

// inject delivers mail from outside at InjectRate, over SMTP when
// listeners are given, else straight into the database.
func (r *Runner) inject(ctx context.Context) {
	if r.cfg.InjectRate <= 0 || (len(r.cfg.SMTP) == 0 && r.st == nil) {
		return
	}
	rnd := rand.New(rand.NewPCG(r.cfg.Seed, 2))
	every := time.Duration(float64(time.Second) / r.cfg.InjectRate)
	next := time.Now()
	sem := make(chan struct{}, 16)
	for {
		next = next.Add(every)
		if !sleepUntil(ctx, next) {
			return
		}
		ph := r.currentPhase()
		select {
		case <-ph.pause:
			select {
			case <-ph.resume:
			case <-ctx.Done():
				return
			}
			next = time.Now()
			continue
		default:
		}
		n := 1 + rnd.IntN(min(3, len(r.users)))
		perm := rnd.Perm(len(r.users))[:n]
		var to []*User
		for _, i := range perm {
			to = append(to, r.users[i])
		}
		seq := int(r.injSeq.Add(1))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		r.injWG.Add(1)
		go func() {
			defer r.injWG.Done()
			defer func() { <-sem }()
			defer r.recoverPanic("injector send")
			r.injMu.RLock()
			defer r.injMu.RUnlock()
			r.injectOne(context.WithoutCancel(ctx), seq, to)
		}()
	}
}

func (r *Runner) injectOne(ctx context.Context, seq int, to []*User) {
	tok := NewToken(r.run, "i", "", seq)
	if len(r.cfg.SMTP) > 0 {
		e := r.ledger.Expect(tok, "SMTP", nil, to, false)
		msg := Message(tok, "injector@outside.test", emails(to), "injected")
		// As an MTA would: a temporary failure (4xx, or no connection) is
		// tried again later, on the next listener; a permanent one (5xx)
		// is final. All recipients exist, so a 5xx loses the message.
		for attempt := 0; ; attempt++ {
			addr := r.cfg.SMTP[(seq+attempt)%len(r.cfg.SMTP)]
			start := time.Now()
			res, err := SMTPSend(ctx, addr, "injector@outside.test", emails(to), msg)
			switch {
			case err == nil:
				r.stats.Request("SMTP", time.Since(start))
				r.ledger.Settle(e, Accepted)
				return
			case res.DataSent && smtpCode(err) == 0:
				// No reply to the data: stored or not, nobody knows.
				r.stats.Error("SMTP", "no reply after DATA: "+short(err))
				r.ledger.Settle(e, Unknown)
				return
			case smtpCode(err) >= 500:
				r.stats.Error("SMTP", short(err))
				r.ledger.Settle(e, Bounced)
				return
			}
			r.stats.Error("SMTP", short(err))
			if attempt >= 8 {
				r.ledger.Settle(e, Refused)
				return
			}
			sleep(ctx, time.Duration(1<<min(attempt, 3))*time.Second)
		}
	}
	var sus []*store.User
	var folders []int64
	for _, u := range to {
		su, err := r.st.UserByAddress(ctx, u.Email)
		if err != nil {
			r.stats.Error("inject", short(err))
			return
		}
		f, err := r.st.FolderByType(ctx, su.ID, store.FolderInbox)
		if err != nil {
			r.stats.Error("inject", short(err))
			return
		}
		sus, folders = append(sus, su), append(folders, f.ID)
	}
	e := r.ledger.Expect(tok, "store", nil, to, false)
	start := time.Now()
	if err := deliverToken(ctx, r.st, tok, "injector@outside.test", sus, folders, "injected"); err != nil {
		r.stats.Error("inject", short(err))
		r.ledger.Settle(e, Unknown)
		return
	}
	r.stats.Request("inject (database)", time.Since(start))
	r.ledger.Settle(e, Accepted)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// parallel runs fn(0..n-1) with at most k at once and returns the first
// error.
func parallel(ctx context.Context, k, n int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		once sync.Once
		ferr error
	)
	sem := make(chan struct{}, k)
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				once.Do(func() { ferr = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if ferr == nil && ctx.Err() != nil {
		// the parent was cancelled
		return ctx.Err()
	}
	return ferr
}
