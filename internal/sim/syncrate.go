package sim

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"airlock/store"
)

// SyncRateResult is sustained Sync throughput at one load: some devices in
// a closed loop, in one mode, for a while.
type SyncRateResult struct {
	Mode          string
	Devices       int
	Duration      time.Duration
	Requests      int64
	P50, P95, P99 time.Duration
	ServerCPU     time.Duration
	PGCPU, SimCPU time.Duration
	Errors        int64
	// Delivered and Received count, in mode "incoming", the messages put in
	// the Inboxes and the Adds the devices got: equal when nothing was
	// missed.
	Delivered, Received int64
	DB                  map[string]int64 // pg_stat_database and pg_stat_user_tables deltas
}

// Rate is Sync requests per second.
func (r *SyncRateResult) Rate() float64 { return float64(r.Requests) / r.Duration.Seconds() }

// Print writes the figure.
func (r *SyncRateResult) Print(w io.Writer) {
	fmt.Fprintf(w, "sustained Sync (%s), %d devices in a closed loop for %s: %d requests, %.0f req/s; p50 %s, p95 %s, p99 %s; %d errors\n",
		r.Mode, r.Devices, r.Duration, r.Requests, r.Rate(), ms(r.P50), ms(r.P95), ms(r.P99), r.Errors)
	if r.Mode == "incoming" {
		fmt.Fprintf(w, "  %d messages delivered, %d received by the devices\n", r.Delivered, r.Received)
	}
	if r.Requests == 0 {
		return
	}
	for _, x := range []struct {
		name string
		d    time.Duration
	}{{"airlock", r.ServerCPU}, {"PostgreSQL", r.PGCPU}, {"simulator", r.SimCPU}} {
		fmt.Fprintf(w, "  %-10s CPU %5.1fs = %.2f ms per request (%.0f%% of one core)\n", x.name, x.d.Seconds(),
			1000*x.d.Seconds()/float64(r.Requests), 100*x.d.Seconds()/r.Duration.Seconds())
	}
	keys := make([]string, 0, len(r.DB))
	for k := range r.DB {
		if !strings.HasPrefix(k, "table ") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  PostgreSQL %-24s %10d  = %6.1f per request\n", k, r.DB[k], float64(r.DB[k])/float64(r.Requests))
	}
	// The tables that cost most, by rows read.
	type tr struct {
		name       string
		scans, rws int64
	}
	per := map[string]*tr{}
	for k, v := range r.DB {
		name, what, ok := strings.Cut(strings.TrimPrefix(k, "table "), ": ")
		if !ok || !strings.HasPrefix(k, "table ") {
			continue
		}
		t := per[name]
		if t == nil {
			t = &tr{name: name}
			per[name] = t
		}
		if strings.HasPrefix(what, "rows") {
			t.rws += v
		} else {
			t.scans += v
		}
	}
	var ts []*tr
	for _, t := range per {
		if t.scans > 0 || t.rws > 0 {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].rws > ts[j].rws })
	for i, t := range ts {
		if i == 6 {
			break
		}
		fmt.Fprintf(w, "    table %-22s %6.1f scans, %7.1f rows read per request\n", t.name, float64(t.scans)/float64(r.Requests), float64(t.rws)/float64(r.Requests))
	}
}

// PrintRamp writes one line per load of each mode and where the rate
// stopped growing: the first load at which doubling (or more) the devices
// gained less than 10% in requests per second.
func PrintRamp(w io.Writer, rs []*SyncRateResult) {
	modes := []string{}
	by := map[string][]*SyncRateResult{}
	for _, r := range rs {
		if by[r.Mode] == nil {
			modes = append(modes, r.Mode)
		}
		by[r.Mode] = append(by[r.Mode], r)
	}
	fmt.Fprintln(w, "ramp (mode, devices: req/s, p50, p99; CPU ms per request airlock / PostgreSQL; PostgreSQL transactions and rows fetched per request):")
	for _, m := range modes {
		var sat *SyncRateResult
		for i, r := range by[m] {
			per := func(k string) float64 { return float64(r.DB[k]) / float64(max(r.Requests, 1)) }
			fmt.Fprintf(w, "  %-8s %4d devices: %6.0f req/s, p50 %s, p99 %s; CPU %.2f / %.2f ms; %.1f transactions, %.0f rows fetched\n",
				m, r.Devices, r.Rate(), ms(r.P50), ms(r.P99),
				1000*r.ServerCPU.Seconds()/float64(max(r.Requests, 1)), 1000*r.PGCPU.Seconds()/float64(max(r.Requests, 1)),
				per("transactions"), per("rows fetched"))
			if i > 0 && sat == nil {
				prev := by[m][i-1]
				if r.Rate() < 1.1*prev.Rate() {
					sat = prev
				}
			}
		}
		if sat != nil {
			fmt.Fprintf(w, "  %s saturates at about %.0f req/s (%d devices; more devices only add latency)\n", m, sat.Rate(), sat.Devices)
		} else {
			fmt.Fprintf(w, "  %s did not saturate up to %d devices\n", m, by[m][len(by[m])-1].Devices)
		}
	}
}

// SyncRate measures Sync requests per second with devices in a closed
// loop, at each load in steps (devices, one user each), in each mode:
//
//   - "poll": an empty-handed Sync that finds nothing new;
//   - "change": the device sends a read/unread Change (a commit per request);
//   - "incoming": a message is delivered to the user's Inbox (a commit by
//     the simulator, as an MTA's delivery would make), then the device
//     Syncs and must receive it: the incremental sync of a pushed phone.
func (b *Bench) SyncRate(ctx context.Context, steps []int, d time.Duration, modes []string) ([]*SyncRateResult, error) {
	for _, mode := range modes {
		if mode != "change" && mode != "poll" && mode != "incoming" {
			return nil, fmt.Errorf("syncrate mode %q: poll, change or incoming", mode)
		}
	}
	devices := 0
	for _, n := range steps {
		if n <= 0 {
			return nil, fmt.Errorf("syncrate: %d devices", n)
		}
		devices = max(devices, n)
	}
	us, err := b.users(ctx, devices)
	if err != nil {
		return nil, err
	}
	if err := parallel(ctx, 4, len(us), func(i int) error { return Seed(ctx, b.Store, nil, b.run, us[i], 20) }); err != nil {
		return nil, err
	}
	// The simulator's deliveries, in mode incoming: the user and Inbox of
	// each device.
	sus := make([]*store.User, devices)
	inboxes := make([]int64, devices)
	if err := parallel(ctx, 4, devices, func(i int) error {
		su, err := b.Store.UserByAddress(ctx, us[i].Email)
		if err != nil {
			return err
		}
		f, err := b.Store.FolderByType(ctx, su.ID, store.FolderInbox)
		if err != nil {
			return err
		}
		sus[i], inboxes[i] = su, f.ID
		return nil
	}); err != nil {
		return nil, err
	}
	node := b.Cluster.Nodes[0]
	client := newHTTPClient(devices)
	devs := make([]*Device, devices)
	fmt.Fprintf(b.Out, "enrolling %d devices\n", devices)
	if err := parallel(ctx, 16, devices, func(i int) error {
		devs[i] = b.device(fmt.Sprintf("s%d", i+1), us[i], []string{node.URL}, client, i, TypeInbox)
		return devs[i].Enrol(ctx)
	}); err != nil {
		return nil, err
	}
	var out []*SyncRateResult
	var seq atomic.Int64
	for _, mode := range modes {
		for _, n := range steps {
			r, err := b.syncRateStep(ctx, mode, devs[:n], sus, inboxes, d, &seq)
			if err != nil {
				return out, err
			}
			r.Print(b.Out)
			out = append(out, r)
		}
	}
	return out, nil
}

// syncRateStep runs devs in a closed loop for d in one mode.
func (b *Bench) syncRateStep(ctx context.Context, mode string, devs []*Device, sus []*store.User, inboxes []int64, d time.Duration, seq *atomic.Int64) (*SyncRateResult, error) {
	node := b.Cluster.Nodes[0]
	before, err := b.Cluster.DBCounters(ctx)
	if err != nil {
		return nil, err
	}
	b.Stats.Reset()
	w := WatchProcs(func() []int { return []int{node.PID()} })
	pg0, err := b.Cluster.PGCPU()
	if err != nil {
		return nil, err
	}
	me0, _ := ReadProc(os.Getpid())
	var delivered, received atomic.Int64
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, d)
	var wg sync.WaitGroup
	for i, dev := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				var cmds []clientCmd
				switch mode {
				case "change":
					if sid, fp := dev.pickItem(TypeInbox); sid != "" {
						r := !fp.Read
						cmds = []clientCmd{{Kind: "Change", ServerID: sid, Read: &r}}
					}
				case "incoming":
					tok := NewToken(b.run, "r", "", int(seq.Add(1)))
					if err := deliverToken(runCtx, b.Store, tok, "bench@outside.test", []*store.User{sus[i]}, []int64{inboxes[i]}, "incoming"); err != nil {
						if runCtx.Err() == nil {
							b.Stats.Error("deliver", short(err))
						}
						continue
					}
					delivered.Add(1)
				}
				had := dev.inboxSize()
				if _, err := dev.syncOnce(runCtx, []int{TypeInbox}, cmds); err != nil {
					if runCtx.Err() == nil {
						b.Stats.Error("Sync", short(err))
					}
					continue
				}
				if mode == "incoming" {
					received.Add(int64(dev.inboxSize() - had))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cancel()
	w.Stop()
	pg1, err := b.Cluster.PGCPU()
	if err != nil {
		return nil, err
	}
	me1, _ := ReadProc(os.Getpid())
	after, err := b.Cluster.DBCounters(ctx)
	if err != nil {
		return nil, err
	}
	r := &SyncRateResult{Mode: mode, Devices: len(devs), Duration: elapsed, DB: map[string]int64{}, PGCPU: pg1 - pg0, SimCPU: me1.CPU - me0.CPU,
		Delivered: delivered.Load(), Received: received.Load()}
	sum := b.Stats.Summary()
	for _, c := range sum.Commands {
		if c.Command == "Sync" {
			r.Requests, r.P50, r.P95, r.P99 = c.Requests, c.P50, c.P95, c.P99
		}
	}
	for _, n := range sum.Errors {
		r.Errors += n
	}
	for _, p := range w.Summary() {
		r.ServerCPU += p.CPU
	}
	for k, v := range after {
		r.DB[k] = v - before[k]
	}
	// A delivery the device had not yet synced when time ran out.
	if mode == "incoming" {
		for _, dev := range devs {
			had := dev.inboxSize()
			if _, err := dev.syncOnce(ctx, []int{TypeInbox}, nil); err == nil {
				r.Received += int64(dev.inboxSize() - had)
			}
		}
	}
	return r, nil
}

// inboxSize is how many items the device holds in its Inbox.
func (d *Device) inboxSize() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.colls[TypeInbox]; c != nil {
		return len(c.Items)
	}
	return 0
}
