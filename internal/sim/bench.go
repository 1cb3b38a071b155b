package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"airlock/activesync/wbxml"
	"airlock/internal/password"
	"airlock/store"
)

// Bench is a cluster started for one measurement, with its users.
type Bench struct {
	Cluster *Cluster
	Store   *store.Store
	Stats   *Stats
	Rec     *Recorder
	Out     io.Writer
	run     string
	// CheapHash stores the users' passwords with CheapHash instead of the
	// default argon2id cost.
	CheapHash bool
	// EnrolParallel is how many devices enrol at once (default 32).
	EnrolParallel int
	// OpenRate is how many Ping connections a second the holders open, in
	// all (default 500): a faster ramp overflows the nodes' accept queues
	// on a busy machine and the kernel drops connections.
	OpenRate int
	// CloneDevices (idle): enrol one device per user over HTTP and copy it
	// in the database for the user's other devices, so that 50,000
	// devices do not take an hour to enrol on a busy machine.
	CloneDevices bool
}

// StartBench starts PostgreSQL and nodes Airlock nodes for a measurement,
// after raising the open-file limit to files.
func StartBench(ctx context.Context, bin string, nodes int, files uint64, out io.Writer) (*Bench, error) {
	if out == nil {
		out = io.Discard
	}
	if got, err := RaiseFileLimit(files); err != nil {
		fmt.Fprintf(out, "warning: open-file limit %d (wanted %d): %v\n", got, files, err)
	}
	cl, err := StartCluster(ctx, bin, nodes, out)
	if err != nil {
		return nil, err
	}
	if _, err := cl.DurableCommits(ctx); err != nil {
		cl.Stop()
		return nil, err
	}
	st, err := store.Open(ctx, cl.DB, store.Options{SkipMigrate: true})
	if err != nil {
		cl.Stop()
		return nil, err
	}
	return &Bench{Cluster: cl, Store: st, Stats: NewStats(), Rec: &Recorder{}, Out: out, run: NewRunID()}, nil
}

// Stop ends the cluster.
func (b *Bench) Stop() {
	b.Store.Close()
	b.Cluster.Stop()
}

// users makes n users.
func (b *Bench) users(ctx context.Context, n int) ([]*User, error) {
	var us []*User
	for i := 0; i < n; i++ {
		us = append(us, &User{Email: UserName("bench", "sim.airlock.test", i+1), Password: "sim-password-1", Index: i + 1})
	}
	// Creating thousands of users one transaction at a time takes a
	// while; several at once.
	chunk := (n + 7) / 8
	err := parallel(ctx, 8, 8, func(i int) error {
		lo, hi := i*chunk, min((i+1)*chunk, n)
		if lo >= hi {
			return nil
		}
		p := password.Default
		if b.CheapHash {
			p = CheapHash
		}
		return EnsureUsersWith(ctx, b.Store, us[lo:hi], p)
	})
	return us, err
}

// device returns a device for u keeping only the given folders.
func (b *Bench) device(name string, u *User, servers []string, client *httpClient, i int, types ...int) *Device {
	id := DefaultProfile
	id.User, id.Password = u.Email, u.Password
	id.DeviceID = "BENCH" + b.run[1:] + name
	conn := NewConn(servers, i, client.Client, id, b.Stats, Faults{}, uint64(i)+1)
	d := NewDevice(name, u, conn, b.Stats, b.Rec, uint64(i)+1)
	d.Types, d.Run = types, b.run
	return d
}

// IdleResult is the idle-Ping memory figure.
type IdleResult struct {
	Devices, Users, Nodes int
	Held, Early, Failed   int
	// Closed: connections the server closed or reset without answering.
	Closed int
	// NodeFDs are the open files of each node with the Pings held.
	NodeFDs     []int
	Setup, Hold time.Duration
	// Per node, summed over nodes: RSS after enrolment (no Ping held),
	// with every Ping held, and the peak while enrolling (argon2id
	// verifications of the devices' first requests).
	FreshRSS, BaselineRSS, HeldRSS int64
	PeakRSS                        int64 // while the Pings were held
	EnrolPeakRSS                   int64 // highest of any node while devices enrolled
	ServerFDs, Threads             int
	Holders                        int // client processes holding the connections
	CheapHash                      bool
	// DBOpen is PostgreSQL's activity while the Pings were opened, DBHold
	// while they were held (counter deltas; each includes the few queries
	// of reading the statistics). Opened is how long opening took, until
	// PostgreSQL went quiet.
	DBOpen, DBHold map[string]int64
	Opened         time.Duration
}

// PerPing returns the servers' memory per held Ping.
func (r *IdleResult) PerPing() float64 {
	if r.Held == 0 {
		return 0
	}
	return float64(r.HeldRSS-r.BaselineRSS) / float64(r.Held)
}

// Print writes the figure.
func (r *IdleResult) Print(w io.Writer) {
	hash := "default argon2id cost"
	if r.CheapHash {
		hash = "cheap argon2id hash"
	}
	fmt.Fprintf(w, "idle Pings: %d devices of %d users (%s) on %d node(s), enrolled in %s; %d Pings held for %s by %d client process(es) (%d answered early, %d closed or reset by the server without an answer, %d connections failed)\n",
		r.Devices, r.Users, hash, r.Nodes, r.Setup.Round(time.Second), r.Held, r.Hold, r.Holders, r.Early, r.Closed, r.Failed)
	fmt.Fprintf(w, "  server RSS (all nodes): %s freshly started, %s after enrolment, %s with the Pings held (peak %s)\n",
		mib(r.FreshRSS), mib(r.BaselineRSS), mib(r.HeldRSS), mib(r.PeakRSS))
	if r.Held > 0 {
		fmt.Fprintf(w, "  %.1f KiB per held Ping over enrolled-and-idle; %.1f KiB per device over a fresh server\n",
			r.PerPing()/1024, float64(r.HeldRSS-r.FreshRSS)/float64(r.Held)/1024)
	}
	fmt.Fprintf(w, "  highest node RSS while devices enrolled: %s; servers hold %d open files %v, %d threads\n", mib(r.EnrolPeakRSS), r.ServerFDs, r.NodeFDs, r.Threads)
	if r.Devices > 0 && r.DBOpen != nil {
		fmt.Fprintf(w, "  PostgreSQL while opening the Pings (%s): %.1f transactions, %.1f table scans per Ping; while holding them for %s: %d transactions, %d table scans in all\n",
			r.Opened.Round(time.Second), float64(r.DBOpen["transactions"])/float64(r.Devices), float64(r.DBOpen["table scans (seq+index)"])/float64(r.Devices),
			r.Hold, r.DBHold["transactions"], r.DBHold["table scans (seq+index)"])
	}
}

// maxPerProcess keeps every process below this container's open-file hard
// limit (20,000 here; RLIMIT_NOFILE cannot be raised without
// CAP_SYS_RESOURCE), with room for a node's other files.
const maxPerProcess = 18500

// Idle enrols devices (Provision, FolderSync, Sync of the Inbox) spread
// over the nodes, then holds a Ping open for each on its own connection
// and measures the servers' memory. The connections are held by child
// processes (airlock-sim hold-pings), at most maxPerProcess each.
func (b *Bench) Idle(ctx context.Context, devices, users int, hold time.Duration) (*IdleResult, error) {
	nodes := b.Cluster.Nodes
	res := &IdleResult{Devices: devices, Users: users, Nodes: len(nodes), Hold: hold, CheapHash: b.CheapHash}
	if devices > maxPerProcess*len(nodes) {
		return nil, fmt.Errorf("%d Pings need at least %d nodes (at most %d open files a process here)", devices, (devices+maxPerProcess-1)/maxPerProcess, maxPerProcess)
	}
	for _, pid := range b.Cluster.PIDs() {
		if s, err := ReadProc(pid); err == nil {
			res.FreshRSS += s.RSS
		}
	}
	start := time.Now()
	us, err := b.users(ctx, users)
	if err != nil {
		return nil, err
	}
	client := newHTTPClient(64)
	devs := make([]*Device, devices)
	var done atomic.Int64
	b.Stats.Reset()
	enrolWatch := WatchProcs(b.Cluster.PIDs)
	fmt.Fprintf(b.Out, "enrolling %d devices\n", devices)
	enrol := devices
	if b.CloneDevices {
		enrol = min(users, devices) // device i belongs to user i%users
	}
	err = parallel(ctx, max(b.EnrolParallel, 1), enrol, func(i int) error {
		n := nodes[i%len(nodes)]
		d := b.device(fmt.Sprintf("i%d", i+1), us[i%len(us)], []string{n.URL}, client, i, TypeInbox)
		if err := d.Enrol(ctx); err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
		devs[i] = d
		if k := done.Add(1); k%1000 == 0 {
			fmt.Fprintf(b.Out, "  %d enrolled (%s)\n", k, time.Since(start).Round(time.Second))
		}
		return nil
	})
	enrolWatch.Stop()
	for _, p := range enrolWatch.Summary() {
		res.EnrolPeakRSS = max(res.EnrolPeakRSS, p.Peak)
	}
	if err != nil {
		return nil, err
	}
	if enrol < devices {
		fmt.Fprintf(b.Out, "copying the enrolled devices in the database for %d more\n", devices-enrol)
		if err := b.cloneDevices(ctx, devs, enrol, us, client); err != nil {
			return nil, err
		}
	}
	res.Setup = time.Since(start)
	b.Stats.Summary().Print(b.Out)
	client.CloseIdleConnections()
	sleep(ctx, 10*time.Second)
	for _, pid := range b.Cluster.PIDs() {
		s, err := ReadProc(pid)
		if err != nil {
			return nil, err
		}
		res.BaselineRSS += s.RSS
	}

	// The requests, dealt to holder processes.
	var chunks [][]string
	for i, d := range devs {
		n := nodes[i%len(nodes)]
		req, err := rawPing(d, n.Addr, 3540)
		if err != nil {
			return nil, err
		}
		// Spread over source addresses: one address has only ~28,000
		// ephemeral ports towards one server port.
		local := fmt.Sprintf("127.0.%d.%d", 1+(i/250)/250, 2+(i/250)%250)
		if i%maxPerProcess == 0 {
			chunks = append(chunks, nil)
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], fmt.Sprintf("PING %s %s %s", n.Addr, local, base64.StdEncoding.EncodeToString(req)))
	}
	fmt.Fprintf(b.Out, "opening %d Pings from %d holder process(es)\n", devices, len(chunks))
	db0, err := b.Cluster.DBCounters(ctx)
	if err != nil {
		return nil, err
	}
	opening := time.Now()
	rate := b.OpenRate
	if rate <= 0 {
		rate = 500
	}
	holders, err := startHolders(ctx, chunks, rate)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, h := range holders {
			h.stop()
		}
	}()
	res.Holders = len(holders)
	for _, h := range holders {
		res.Failed += h.failed
	}
	// The holders only wrote the requests; wait until the servers have
	// handled them all (PostgreSQL goes quiet), then count what the held
	// Pings cost.
	var db1 map[string]int64
	prev := db0
	for tries := 0; tries < 150; tries++ {
		sleep(ctx, 2*time.Second)
		cur, err := b.Cluster.DBCounters(ctx)
		if err != nil {
			return nil, err
		}
		db1 = cur
		if cur["transactions"]-prev["transactions"] < 50 {
			break
		}
		prev = cur
	}
	res.Opened = time.Since(opening)
	w := WatchProcs(b.Cluster.PIDs)
	sleep(ctx, hold)
	w.Stop()
	db2, err := b.Cluster.DBCounters(ctx)
	if err != nil {
		return nil, err
	}
	res.DBOpen, res.DBHold = map[string]int64{}, map[string]int64{}
	for k := range db2 {
		res.DBOpen[k], res.DBHold[k] = db1[k]-db0[k], db2[k]-db1[k]
	}
	for _, pid := range b.Cluster.PIDs() {
		s, err := ReadProc(pid)
		if err != nil {
			return nil, err
		}
		res.HeldRSS += s.RSS
		res.Threads += s.Threads
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			res.ServerFDs += len(ents)
			res.NodeFDs = append(res.NodeFDs, len(ents))
		}
	}
	for _, p := range w.Summary() {
		res.PeakRSS += p.Peak
	}
	for _, h := range holders {
		held, early, closed, err := h.check()
		if err != nil {
			return nil, err
		}
		res.Held += held
		res.Early += early
		res.Closed += closed
	}
	return res, nil
}

// cloneDevices fills devs[n:] with copies of devs[:n], device i copying
// device i%n of the same user: the device row (its policy key with it) and
// its folder-hierarchy state, written straight to the database. A copy has
// not synced its Inbox, so its Ping waits without reporting anything.
func (b *Bench) cloneDevices(ctx context.Context, devs []*Device, n int, us []*User, client *httpClient) error {
	nodes := b.Cluster.Nodes
	type tmpl struct {
		row  *store.Device
		hier *store.SyncState
	}
	tmpls := make([]tmpl, n)
	if err := parallel(ctx, 8, n, func(j int) error {
		su, err := b.Store.UserByAddress(ctx, devs[j].User.Email)
		if err != nil {
			return err
		}
		row, err := b.Store.DeviceByEASID(ctx, su.ID, devs[j].Conn.ID.DeviceID)
		if err != nil {
			return err
		}
		hier, err := b.Store.LatestSyncState(ctx, row.ID, "hierarchy")
		if err != nil {
			return err
		}
		tmpls[j] = tmpl{row, hier}
		return nil
	}); err != nil {
		return err
	}
	var done atomic.Int64
	return parallel(ctx, 8, len(devs)-n, func(k int) error {
		i := n + k
		t, tm := devs[i%n], tmpls[i%n]
		d := b.device(fmt.Sprintf("i%d", i+1), us[i%len(us)], []string{nodes[i%len(nodes)].URL}, client, i, TypeInbox)
		t.mu.Lock()
		d.colls = map[int]*Collection{TypeInbox: t.colls[TypeInbox]}
		t.mu.Unlock()
		d.Conn.setPolicyKey(t.Conn.PolicyKey())
		row := *tm.row
		row.ID, row.DeviceID = 0, d.Conn.ID.DeviceID
		got, _, err := b.Store.EnsureDevice(ctx, &row)
		if err != nil {
			return err
		}
		if err := b.Store.SaveSyncState(ctx, &store.SyncState{DevicePK: got.ID, Collection: tm.hier.Collection, SyncKey: tm.hier.SyncKey, Data: tm.hier.Data}); err != nil {
			return err
		}
		devs[i] = d
		if c := done.Add(1); c%10000 == 0 {
			fmt.Fprintf(b.Out, "  %d copied\n", c)
		}
		return nil
	})
}

// holder is a child process holding connections (airlock-sim hold-pings).
type holder struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	failed int
}

func startHolders(ctx context.Context, chunks [][]string, rate int) ([]*holder, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var hs []*holder
	for _, lines := range chunks {
		cmd := exec.CommandContext(ctx, exe, "hold-pings", strconv.Itoa(max(rate/len(chunks), 1)))
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return hs, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return hs, err
		}
		if err := cmd.Start(); err != nil {
			return hs, err
		}
		h := &holder{cmd: cmd, in: in, out: bufio.NewScanner(out)}
		hs = append(hs, h)
		w := bufio.NewWriter(in)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w, "GO")
		if err := w.Flush(); err != nil {
			return hs, err
		}
	}
	for _, h := range hs {
		var held int
		if !h.out.Scan() {
			return hs, errors.New("holder process ended early")
		}
		if _, err := fmt.Sscanf(h.out.Text(), "READY %d %d", &held, &h.failed); err != nil {
			return hs, fmt.Errorf("holder: %q", h.out.Text())
		}
	}
	return hs, nil
}

func (h *holder) check() (held, early, closed int, err error) {
	fmt.Fprintln(h.in, "CHECK")
	if !h.out.Scan() {
		return 0, 0, 0, errors.New("holder process ended early")
	}
	_, err = fmt.Sscanf(h.out.Text(), "RESULT %d %d %d", &held, &early, &closed)
	return held, early, closed, err
}

func (h *holder) stop() {
	h.in.Close()
	h.cmd.Wait()
}

// HoldPings is the child side of Idle: it reads "PING addr localIP
// base64(request)" lines up to "GO", opens a connection for each and
// writes the request, answers "READY held failed", then on "CHECK" counts
// the connections that got an answer ("RESULT held early"), and closes
// everything when its input ends.
func HoldPings(stdin io.Reader, stdout io.Writer, rate int) error {
	if _, err := RaiseFileLimit(maxPerProcess + 1000); err != nil {
		return err
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	type job struct {
		addr, local string
		req         []byte
	}
	var jobs []job
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 1 && f[0] == "GO" {
			break
		}
		if len(f) != 4 || f[0] != "PING" {
			return fmt.Errorf("hold-pings: bad line %q", sc.Text())
		}
		if err := CheckLoopback(f[1]); err != nil {
			return err
		}
		req, err := base64.StdEncoding.DecodeString(f[3])
		if err != nil {
			return err
		}
		jobs = append(jobs, job{f[1], f[2], req})
	}
	conns := make([]net.Conn, len(jobs))
	var failed atomic.Int64
	tick := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer tick.Stop()
	parallel(context.Background(), 64, len(jobs), func(i int) error {
		<-tick.C
		j := jobs[i]
		dl := net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(j.local)}}
		c, err := dl.Dial("tcp", j.addr)
		if err != nil {
			failed.Add(1)
			return nil
		}
		if _, err := c.Write(j.req); err != nil {
			c.Close()
			failed.Add(1)
			return nil
		}
		conns[i] = c
		return nil
	})
	fmt.Fprintf(stdout, "READY %d %d\n", len(jobs)-int(failed.Load()), failed.Load())
	buf := make([]byte, 64)
	for sc.Scan() {
		if sc.Text() != "CHECK" {
			continue
		}
		held, early, closed := 0, 0, 0
		for _, c := range conns {
			if c == nil {
				continue
			}
			c.SetReadDeadline(time.Now().Add(time.Millisecond))
			n, err := c.Read(buf)
			var ne net.Error
			switch {
			case n > 0:
				early++ // the server answered
			case errors.As(err, &ne) && ne.Timeout():
				held++ // nothing yet: the Ping is held
			default:
				closed++ // closed or reset without an answer
			}
		}
		fmt.Fprintf(stdout, "RESULT %d %d %d\n", held, early, closed)
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	return nil
}

// rawPing is a device's Ping as bytes on the wire (HTTP/1.1, WBXML body),
// for holding thousands without an HTTP client per connection.
func rawPing(d *Device, host string, heartbeat int) ([]byte, error) {
	d.mu.Lock()
	c := d.colls[TypeInbox]
	d.mu.Unlock()
	if c == nil {
		return nil, errors.New("device has no Inbox")
	}
	doc, root := newDoc("Ping:Ping")
	add(root, "Ping:HeartbeatInterval", strconv.Itoa(heartbeat))
	f := root.CreateElement("Ping:Folders").CreateElement("Ping:Folder")
	add(f, "Ping:Id", c.ID)
	add(f, "Ping:Class", "Email")
	body, err := wbxml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	id := d.Conn.ID
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST /Microsoft-Server-ActiveSync?%s HTTP/1.1\r\nHost: %s\r\n", d.Conn.Query("Ping"), host)
	fmt.Fprintf(&b, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(id.User+":"+id.Password)))
	fmt.Fprintf(&b, "User-Agent: %s\r\nMS-ASProtocolVersion: %s\r\nX-MS-PolicyKey: %s\r\n", id.UserAgent, id.Version, d.Conn.PolicyKey())
	fmt.Fprintf(&b, "Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes(), nil
}

// WakeResult is the wake-up latency of one delivery path.
type WakeResult struct {
	Path     string
	Samples  []time.Duration
	Timeouts int
	// Warmup are the first samples, taken just after the devices enrolled
	// and left out of the percentiles.
	Warmup []time.Duration
	// Accepted are, for the counted samples, the times from handing the
	// message over to the sender being told it was accepted (SMTP 250,
	// or the commit returning): the delivery's own share of Samples.
	Accepted []time.Duration
}

// Print writes the figure.
func (r *WakeResult) Print(w io.Writer) {
	p50, p95, p99, mx := Percentiles(r.Samples)
	fmt.Fprintf(w, "wake latency, %s: %d samples: p50 %s, p95 %s, p99 %s, max %s; %d without a wake-up within the timeout\n",
		r.Path, len(r.Samples), ms(p50), ms(p95), ms(p99), ms(mx), r.Timeouts)
	if len(r.Accepted) > 0 {
		a50, a95, a99, amx := Percentiles(r.Accepted)
		fmt.Fprintf(w, "  of which the delivery until accepted: p50 %s, p95 %s, p99 %s, max %s\n", ms(a50), ms(a95), ms(a99), ms(amx))
	}
	if len(r.Warmup) > 0 {
		_, _, _, wmx := Percentiles(r.Warmup)
		fmt.Fprintf(w, "  (%d warm-up samples left out, the slowest %s)\n", len(r.Warmup), ms(wmx))
	}
}

// Wake holds a Ping for each of `devices` devices (one user each) on node
// 0 and measures, message by message, the time from handing a message over
// (SMTP's final dot, or the database commit call) to the Ping's answer.
func (b *Bench) Wake(ctx context.Context, devices, samples int, timeout time.Duration) ([]*WakeResult, error) {
	us, err := b.users(ctx, devices)
	if err != nil {
		return nil, err
	}
	node0 := b.Cluster.Nodes[0]
	client := newHTTPClient(2 * devices)
	devs := make([]*Device, devices)
	if err := parallel(ctx, 16, devices, func(i int) error {
		d := b.device(fmt.Sprintf("w%d", i+1), us[i], []string{node0.URL}, client, i, TypeInbox)
		d.Heartbeat = 600 * time.Second
		devs[i] = d
		return d.Enrol(ctx)
	}); err != nil {
		return nil, err
	}
	type slot struct {
		ready atomic.Int64 // unix nanos when the Ping went out, 0 while none is held
		woke  chan time.Time
	}
	slots := make([]*slot, devices)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, d := range devs {
		s := &slot{woke: make(chan time.Time, 1)}
		slots[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				s.ready.Store(time.Now().UnixNano())
				changed, hier, err := d.Ping(runCtx)
				at := time.Now()
				s.ready.Store(0)
				if err != nil {
					sleep(runCtx, time.Second)
					continue
				}
				if len(changed) > 0 {
					select {
					case s.woke <- at:
					default:
					}
				}
				if hier {
					d.FolderSync(runCtx)
				}
				d.Sync(runCtx, TypeInbox)
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	type path struct {
		name string
		// deliver returns when the message was handed over and when
		// the sender was told it was accepted (SMTP 250, or the commit
		// returned).
		deliver func(u *User, tok string) (sent, accepted time.Time, err error)
	}
	var paths []path
	if len(b.Cluster.Nodes) > 0 && b.Cluster.Nodes[0].SMTP != "" {
		for _, n := range b.Cluster.Nodes {
			name := "SMTP to the Ping's node"
			if n != node0 {
				name = fmt.Sprintf("SMTP to another node (node %d; PostgreSQL NOTIFY)", n.Index)
			}
			paths = append(paths, path{name, func(u *User, tok string) (time.Time, time.Time, error) {
				r, err := SMTPSend(ctx, n.SMTP, "bench@outside.test", []string{u.Email}, Message(tok, "bench@outside.test", []string{u.Email}, "wake"))
				return r.Sent, time.Now(), err
			}})
		}
	}
	paths = append(paths, path{"database commit outside the nodes (PostgreSQL NOTIFY)", func(u *User, tok string) (time.Time, time.Time, error) {
		su, err := b.Store.UserByAddress(ctx, u.Email)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		f, err := b.Store.FolderByType(ctx, su.ID, store.FolderInbox)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		t0 := time.Now()
		err = deliverToken(ctx, b.Store, tok, "bench@outside.test", []*store.User{su}, []int64{f.ID}, "wake")
		return t0, time.Now(), err
	}})

	// The paths take turns, sample by sample, so that the load of this
	// shared machine (and the devices' own churn just after enrolment)
	// falls on all of them alike; measured one path after the other, the
	// first path alone took the start-up and showed it as its tail. The
	// first wakeWarmup rounds are kept apart (WakeResult.Warmup).
	rnd := rand.New(rand.NewPCG(7, 7))
	out := make([]*WakeResult, len(paths))
	for i, p := range paths {
		out[i] = &WakeResult{Path: p.name}
	}
	seq, last := 0, -1
	for n := 0; n < samples+wakeWarmup && ctx.Err() == nil; n++ {
		for i, p := range paths {
			res := out[i]
			// A device whose Ping has been held for half a second.
			var k int
			for tries := 0; ; tries++ {
				k = rnd.IntN(devices)
				if r := slots[k].ready.Load(); r != 0 && time.Since(time.Unix(0, r)) > 500*time.Millisecond {
					break
				}
				if tries > 10000 {
					return nil, errors.New("wake: no device holds a Ping")
				}
				sleep(ctx, 5*time.Millisecond)
			}
			// And the device woken last must have synced and be back in
			// its Ping: otherwise its Sync runs on node 0 during this
			// delivery, which then measures the two requests' contention
			// on node 0 (the same-node path only) rather than the wake-up.
			for tries := 0; last >= 0 && tries < 1000; tries++ {
				if r := slots[last].ready.Load(); r != 0 && time.Since(time.Unix(0, r)) > 100*time.Millisecond {
					break
				}
				sleep(ctx, 5*time.Millisecond)
			}
			last = k
			select { // forget a stale wake-up
			case <-slots[k].woke:
			default:
			}
			seq++
			t0, acc, err := p.deliver(us[k], NewToken(b.run, "w", "", seq))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			t := time.NewTimer(timeout)
			select {
			case at := <-slots[k].woke:
				if n < wakeWarmup {
					res.Warmup = append(res.Warmup, at.Sub(t0))
				} else {
					res.Samples = append(res.Samples, at.Sub(t0))
					res.Accepted = append(res.Accepted, acc.Sub(t0))
				}
			case <-t.C:
				res.Timeouts++
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	return out, nil
}

// wakeWarmup is how many rounds of the wake benchmark are not counted.
const wakeWarmup = 5

// BigSyncResult is the initial sync of a large Inbox.
type BigSyncResult struct {
	Messages, Window, Requests  int
	Total                       time.Duration
	P50, P95, Max               time.Duration
	MaxPerResponse              int
	Lost, Duplicated, Divergent int
	PeakRSS                     int64
}

// Print writes the figure.
func (r *BigSyncResult) Print(w io.Writer) {
	fmt.Fprintf(w, "initial sync of a %d-message Inbox, WindowSize %d: %s in %d Sync requests (%.0f messages/s); per request p50 %s, p95 %s, max %s; at most %d items per response; server peak RSS %s; lost %d, duplicated %d, divergent %d\n",
		r.Messages, r.Window, r.Total.Round(time.Millisecond), r.Requests, float64(r.Messages)/r.Total.Seconds(),
		ms(r.P50), ms(r.P95), ms(r.Max), r.MaxPerResponse, mib(r.PeakRSS), r.Lost, r.Duplicated, r.Divergent)
}

// BigSync fills one Inbox with n messages and times a new device's
// initial sync of it at each window size.
func (b *Bench) BigSync(ctx context.Context, n int, windows []int) ([]*BigSyncResult, error) {
	us, err := b.users(ctx, 1)
	if err != nil {
		return nil, err
	}
	u := us[0]
	fmt.Fprintf(b.Out, "seeding %d messages\n", n)
	su, err := b.Store.UserByAddress(ctx, u.Email)
	if err != nil {
		return nil, err
	}
	inbox, err := b.Store.FolderByType(ctx, su.ID, store.FolderInbox)
	if err != nil {
		return nil, err
	}
	if err := parallel(ctx, 4, n, func(i int) error {
		return deliverToken(ctx, b.Store, NewToken(b.run, "b", "", i), "bench@outside.test", []*store.User{su}, []int64{inbox.ID}, "large inbox")
	}); err != nil {
		return nil, err
	}
	truth, err := StoreTruth{Store: b.Store}.View(ctx, u)
	if err != nil {
		return nil, err
	}
	node := b.Cluster.Nodes[0]
	client := newHTTPClient(4)
	var out []*BigSyncResult
	for i, win := range windows {
		d := b.device(fmt.Sprintf("big%d", i+1), u, []string{node.URL}, client, i, TypeInbox)
		d.Window = win
		if err := d.Conn.Provision(ctx); err != nil {
			return nil, err
		}
		if err := d.FolderSync(ctx); err != nil {
			return nil, err
		}
		b.Stats.Reset()
		w := WatchProcs(func() []int { return []int{node.PID()} })
		start := time.Now()
		if err := d.SyncAll(ctx); err != nil {
			w.Stop()
			return nil, err
		}
		total := time.Since(start)
		w.Stop()
		r := &BigSyncResult{Messages: n, Window: win, Total: total, MaxPerResponse: d.maxCmds}
		for _, c := range b.Stats.Summary().Commands {
			if c.Command == "Sync" {
				r.Requests, r.P50, r.P95, r.Max = int(c.Requests), c.P50, c.P95, c.Max
			}
		}
		for _, p := range w.Summary() {
			r.PeakRSS = max(r.PeakRSS, p.Peak)
		}
		v := &Verdict{}
		compare(v, d.Name, d.Snapshot(), View{TypeInbox: truth[TypeInbox]})
		_, _, _, nDup := b.Rec.Take()
		r.Lost, r.Divergent, r.Duplicated = v.Lost, v.Divergent, nDup
		out = append(out, r)
	}
	return out, nil
}

// httpClient is an *http.Client that can drop its idle connections.
type httpClient struct {
	*http.Client
}

func newHTTPClient(n int) *httpClient { return &httpClient{NewHTTPClient(n)} }
