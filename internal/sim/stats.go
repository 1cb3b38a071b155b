package sim

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Stats collects what the simulated devices saw: per command the number of
// requests, their latencies, and every error by HTTP status, EAS status or
// network failure, plus named events (faults injected, fail-overs,
// re-provisioning). It is safe for concurrent use.
type Stats struct {
	mu     sync.Mutex
	start  time.Time
	sent   map[string]int64 // requests sent, finished or not
	cmds   map[string]*cmdStats
	errs   map[string]int64
	events map[string]int64
}

type cmdStats struct {
	n   int64
	lat []int32 // microseconds; every sample (a 10-minute run of 500 devices keeps a few MB)
}

// NewStats starts the clock of a run.
func NewStats() *Stats {
	return &Stats{start: time.Now(), sent: map[string]int64{}, cmds: map[string]*cmdStats{}, errs: map[string]int64{}, events: map[string]int64{}}
}

// Reset restarts the clock and forgets every sample (after a set-up phase
// whose requests should not count).
func (s *Stats) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = time.Now()
	s.sent = map[string]int64{}
	s.cmds = map[string]*cmdStats{}
	s.errs = map[string]int64{}
	s.events = map[string]int64{}
}

// Sent records a request of cmd on its way (it may never finish: a Ping
// cancelled for a checkpoint, a connection cut).
func (s *Stats) Sent(cmd string) {
	s.mu.Lock()
	s.sent[cmd]++
	s.mu.Unlock()
}

// Request records one completed request of cmd.
func (s *Stats) Request(cmd string, d time.Duration) {
	us := d.Microseconds()
	if us > 1<<31-1 {
		us = 1<<31 - 1
	}
	s.mu.Lock()
	c := s.cmds[cmd]
	if c == nil {
		c = &cmdStats{}
		s.cmds[cmd] = c
	}
	c.n++
	c.lat = append(c.lat, int32(us))
	s.mu.Unlock()
}

// Error records one failure, keyed like "Sync HTTP 503", "Sync Status 3"
// or "Ping net: connection refused".
func (s *Stats) Error(cmd, what string) {
	s.mu.Lock()
	s.errs[cmd+" "+what]++
	s.mu.Unlock()
}

// Event counts a named occurrence that is not an error (a fault the
// simulator injected, a fail-over).
func (s *Stats) Event(name string) {
	s.mu.Lock()
	s.events[name]++
	s.mu.Unlock()
}

// Count returns an event's count.
func (s *Stats) Count(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events[name]
}

// CommandSummary is one command's line of the report.
type CommandSummary struct {
	Command            string
	Requests           int64
	PerSecond          float64
	P50, P95, P99, Max time.Duration
}

// Summary is the request and error part of a report.
type Summary struct {
	Elapsed  time.Duration
	Sent     map[string]int64 // requests sent per command, finished or not
	Commands []CommandSummary
	Errors   map[string]int64
	Events   map[string]int64
}

// Summary computes percentiles over every sample so far.
func (s *Stats) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := time.Since(s.start)
	out := Summary{Elapsed: el, Sent: map[string]int64{}, Errors: map[string]int64{}, Events: map[string]int64{}}
	for k, v := range s.sent {
		out.Sent[k] = v
	}
	for k, v := range s.errs {
		out.Errors[k] = v
	}
	for k, v := range s.events {
		out.Events[k] = v
	}
	for name, c := range s.cmds {
		lat := append([]int32(nil), c.lat...)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		cs := CommandSummary{Command: name, Requests: c.n, PerSecond: float64(c.n) / el.Seconds()}
		if len(lat) > 0 {
			cs.P50, cs.P95, cs.P99 = pct(lat, 0.50), pct(lat, 0.95), pct(lat, 0.99)
			cs.Max = time.Duration(lat[len(lat)-1]) * time.Microsecond
		}
		out.Commands = append(out.Commands, cs)
	}
	sort.Slice(out.Commands, func(i, j int) bool { return out.Commands[i].Command < out.Commands[j].Command })
	return out
}

func pct(sorted []int32, p float64) time.Duration {
	i := int(float64(len(sorted)-1) * p)
	return time.Duration(sorted[i]) * time.Microsecond
}

// Percentiles returns p50, p95, p99 and max of durations.
func Percentiles(ds []time.Duration) (p50, p95, p99, max time.Duration) {
	if len(ds) == 0 {
		return
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(p float64) time.Duration { return s[int(float64(len(s)-1)*p)] }
	return at(0.5), at(0.95), at(0.99), s[len(s)-1]
}

// Print writes the summary as aligned text.
func (sum Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "requests over %s:\n", sum.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "  %-16s %9s %9s %9s %9s %9s %9s\n", "command", "requests", "req/s", "p50", "p95", "p99", "max")
	for _, c := range sum.Commands {
		fmt.Fprintf(w, "  %-16s %9d %9.1f %9s %9s %9s %9s\n", c.Command, c.Requests, c.PerSecond, ms(c.P50), ms(c.P95), ms(c.P99), ms(c.Max))
	}
	printCounts(w, "errors", sum.Errors)
	printCounts(w, "events", sum.Events)
}

func printCounts(w io.Writer, title string, m map[string]int64) {
	if len(m) == 0 {
		fmt.Fprintf(w, "%s: none\n", title)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "%s:\n", title)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-56s %8d\n", k, m[k])
	}
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(100 * time.Millisecond).String()
}

// ProcSample is one reading of a server process from /proc.
type ProcSample struct {
	At      time.Time
	PID     int
	RSS     int64 // bytes (VmRSS)
	HWM     int64 // bytes (VmHWM, peak RSS)
	CPU     time.Duration
	Threads int
}

// ReadProc reads /proc/<pid>/status and /proc/<pid>/stat.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now(), PID: pid}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			s.RSS = n << 10
		case "VmHWM":
			s.HWM = n << 10
		case "Threads":
			s.Threads = int(n)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces; fields count from ")".
	str := string(stat)
	if i := strings.LastIndexByte(str, ')'); i >= 0 {
		f := strings.Fields(str[i+1:])
		if len(f) > 13 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			s.CPU = time.Duration(ut+st) * time.Second / clockTicks
		}
	}
	return s, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcWatch samples server processes once a second: peak RSS and CPU per
// process, for the report. PIDs may change (a node killed and restarted);
// pids is asked at every tick.
type ProcWatch struct {
	mu    sync.Mutex
	pids  func() []int
	first map[int]ProcSample
	last  map[int]ProcSample
	peak  map[int]int64
	stop  chan struct{}
	done  chan struct{}
}

// WatchProcs starts sampling; Stop ends it.
func WatchProcs(pids func() []int) *ProcWatch {
	w := &ProcWatch{pids: pids, first: map[int]ProcSample{}, last: map[int]ProcSample{}, peak: map[int]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer func() { recover() }() //nolint: a sampler must never take the run down
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			w.sample()
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *ProcWatch) sample() {
	for _, pid := range w.pids() {
		s, err := ReadProc(pid)
		if err != nil {
			continue
		}
		w.mu.Lock()
		if _, ok := w.first[pid]; !ok {
			w.first[pid] = s
		}
		w.last[pid] = s
		if s.RSS > w.peak[pid] {
			w.peak[pid] = s.RSS
		}
		w.mu.Unlock()
	}
}

// Stop ends sampling after one last sample.
func (w *ProcWatch) Stop() {
	select {
	case <-w.stop:
	default:
		w.sample()
		close(w.stop)
	}
	<-w.done
}

// ProcSummary is one process's line of the report.
type ProcSummary struct {
	PID        int
	RSS, Peak  int64
	CPU        time.Duration // CPU time used while watched
	Wall       time.Duration
	CPUPercent float64 // of one core
}

// Summary returns a line per process seen.
func (w *ProcWatch) Summary() []ProcSummary {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []ProcSummary
	for pid, l := range w.last {
		f := w.first[pid]
		ps := ProcSummary{PID: pid, RSS: l.RSS, Peak: w.peak[pid], CPU: l.CPU - f.CPU, Wall: l.At.Sub(f.At)}
		if ps.Wall > 0 {
			ps.CPUPercent = 100 * ps.CPU.Seconds() / ps.Wall.Seconds()
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// PrintProcs writes the process lines.
func PrintProcs(w io.Writer, ps []ProcSummary) {
	if len(ps) == 0 {
		return
	}
	fmt.Fprintln(w, "server processes:")
	for _, p := range ps {
		fmt.Fprintf(w, "  pid %-8d RSS %8s  peak %8s  CPU %7.1fs over %6s (%5.1f%% of one core)\n",
			p.PID, mib(p.RSS), mib(p.Peak), p.CPU.Seconds(), p.Wall.Round(time.Second), p.CPUPercent)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
