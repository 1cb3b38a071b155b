package activesync_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/activesync/wbxml"
	"airlock/devices"
	"airlock/internal/password"
	"airlock/store"
	"airlock/store/storetest"
)

// BenchmarkIdlePingMemory holds many Pings (default 10,000; set
// AIRLOCK_BENCH_PINGS) against one in-process server on SQLite and reports
// what each held Ping costs the server: heap and stack bytes, and
// goroutines, from runtime.MemStats deltas after a GC. The clients run in a
// child process (this test binary again, TestPingClientHelper), so their
// sockets and buffers do not count, and the file descriptors of the two
// sides do not share one RLIMIT_NOFILE. Run with -benchtime=1x.
func BenchmarkIdlePingMemory(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("AIRLOCK_BENCH_PINGS")); err == nil && v > 0 {
		n = v
	}
	raiseNoFile(b, uint64(n+1000))
	st := storetest.OpenSQLite(b)
	srv := eastest.StartServer(b, st)
	bu := srv.AddUser(b, "alice@example.nhs.uk", pmPassword)
	// Every device verifies its password once (the cache is per device):
	// a cheap hash keeps 10,000 argon2id runs out of the measurement.
	cheap, err := password.Hash(pmPassword, password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.SetPasswordHash(context.Background(), bu.ID, cheap); err != nil {
		b.Fatal(err)
	}
	if err := st.SetSetting(context.Background(), devices.SettingMaxDevices, strconv.Itoa(n+10)); err != nil {
		b.Fatal(err)
	}
	srv.Devices.Invalidate()
	tmplDev := eastest.NewDevice(b, srv.URL, pmIPhone, "alice@example.nhs.uk", pmPassword)
	tmplDev.CheckWithLibwbxml = false
	if res := tmplDev.Provision(1); res.Text("Provision:Policies/Provision:Policy/Provision:Status") != "1" {
		b.Fatalf("provision: %s", res.XML())
	}
	_, adds, _ := scFolderSync(b, tmplDev, "0")
	inbox := ""
	for id, name := range adds {
		if name == "Inbox" {
			inbox = id
		}
	}
	// Clone the provisioned device (policy key, folder hierarchy state)
	// n times in the store: n Provision and FolderSync round trips would
	// only slow the set-up.
	ctx := context.Background()
	u, _ := st.UserByAddress(ctx, "alice@example.nhs.uk")
	tmpl, err := st.DeviceByEASID(ctx, u.ID, tmplDev.DeviceID)
	if err != nil {
		b.Fatal(err)
	}
	hier, err := st.LatestSyncState(ctx, tmpl.ID, "hierarchy")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		d := *tmpl
		d.ID, d.DeviceID, d.LastSeen = 0, fmt.Sprintf("bench%06d", i), &now
		dev, _, err := st.EnsureDevice(ctx, &d)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.SaveSyncState(ctx, &store.SyncState{DevicePK: dev.ID, Collection: "hierarchy", SyncKey: hier.SyncKey, Data: hier.Data}); err != nil {
			b.Fatal(err)
		}
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()

	b.ResetTimer()
	child := exec.Command(os.Args[0], "-test.run=^TestPingClientHelper$", "-test.v")
	child.Env = append(os.Environ(), "AIRLOCK_PING_CLIENT="+strings.Join([]string{
		srv.URL, strconv.Itoa(n), "alice@example.nhs.uk", pmPassword, tmplDev.PolicyKey, inbox, pmIPhone.UserAgent,
	}, "\x1f"))
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer child.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	start := time.Now()
	deadline := start.Add(10 * time.Minute)
	for srv.Handler.HeldPings() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d Pings held after 10 min", srv.Handler.HeldPings(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ramp := time.Since(start)
	time.Sleep(time.Second) // let the ramp's garbage go
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	b.StopTimer()
	if path := os.Getenv("AIRLOCK_BENCH_HEAPPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}

	// HeapAlloc: bytes of live objects (HeapInuse would also count the
	// ramp's fragmentation).
	heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	stack := float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)
	b.ReportMetric(heap, "heap-B/ping")
	b.ReportMetric(stack, "stack-B/ping")
	b.ReportMetric(heap+stack, "B/ping")
	b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/ping")
	b.ReportMetric(float64(n)/ramp.Seconds(), "pings-held/s")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(n), "heapinuse-B/ping")
	b.Logf("%d Pings held after %v: heap %+.0f B, stack %+.0f B, %+d goroutines (%.0f B, %.2f goroutines each); Sys %d MiB",
		n, ramp.Round(time.Millisecond), heap*float64(n), stack*float64(n), g1-g0, heap+stack, float64(g1-g0)/float64(n), after.Sys>>20)

	// Shutdown answers every one of them with Status 1.
	srv.Handler.EndHeldRequests()
	stdin.Close()
	var answered string
	for lines.Scan() {
		if l := lines.Text(); strings.HasPrefix(l, "answered ") {
			answered = l
		}
	}
	if answered != fmt.Sprintf("answered %d", n) {
		b.Fatalf("child reported %q, want %d answers", answered, n)
	}
}

func raiseNoFile(b *testing.B, want uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		b.Fatal(err)
	}
	if rl.Cur < want {
		rl.Cur = min(max(want, rl.Cur), rl.Max)
		if want > rl.Max {
			rl.Max, rl.Cur = want, want // needs CAP_SYS_RESOURCE
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			b.Fatalf("RLIMIT_NOFILE: need %d descriptors: %v", want, err)
		}
	}
}

// TestPingClientHelper is the client side of BenchmarkIdlePingMemory; it
// does nothing unless the benchmark started it.
func TestPingClientHelper(t *testing.T) {
	spec := os.Getenv("AIRLOCK_PING_CLIENT")
	if spec == "" {
		t.Skip("client process of BenchmarkIdlePingMemory")
	}
	f := strings.Split(spec, "\x1f")
	base, user, pass, key, inbox, ua := f[0], f[2], f[3], f[4], f[5], f[6]
	n, _ := strconv.Atoi(f[1])
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)

	doc, err := wbxml.ParseXML(strings.NewReader(pingXML(3540, inbox)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := wbxml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		req := fmt.Sprintf("POST /Microsoft-Server-ActiveSync?Cmd=Ping&User=%s&DeviceId=bench%06d&DeviceType=iPhone HTTP/1.1\r\nHost: %s\r\n"+
			"Authorization: Basic %s\r\nMS-ASProtocolVersion: 14.1\r\nX-MS-PolicyKey: %s\r\nUser-Agent: %s\r\n"+
			"Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: %d\r\n\r\n",
			url.QueryEscape(user), i, u.Host, auth, key, ua, len(body))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(body); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i%200 == 199 {
			time.Sleep(100 * time.Millisecond) // pace the ramp: each first Ping writes its parameters
		}
	}
	fmt.Println("sent", n)
	io.Copy(io.Discard, os.Stdin) // until the benchmark is done measuring
	answered := 0
	statuses := map[string]int{}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status := "?"
			if d, err := wbxml.Unmarshal(data); err == nil && d.Root() != nil {
				if s := d.Root().SelectElement("Status"); s != nil {
					status = s.Text()
				}
			}
			statuses[status]++
			if resp.StatusCode == 200 && status == "1" {
				answered++
			}
		}
		c.Close()
	}
	keys := make([]string, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("status %s: %d\n", k, statuses[k])
	}
	fmt.Println("answered", answered)
}

// BenchmarkPingWakeLatency measures, b.N times, the time from the start of
// an SMTP delivery to a local user to the moment that user's held Ping
// answers Status 2, on SQLite (in-process hook) and on PostgreSQL (NOTIFY
// through the listener). Run with -benchtime=200x; it reports p50, p99 and
// max. Between deliveries the device syncs, so each Ping starts current.
func BenchmarkPingWakeLatency(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			var st *store.Store
			if dialect == "sqlite" {
				st = storetest.OpenSQLite(b)
			} else {
				st = storetest.OpenPostgres(b)
			}
			e := pmSetup(b, st, eastest.ServerOptions{})
			addr := smtpListen(b, e.srv.Mail)
			inbox := e.folders["Inbox"]
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res := pingAsync(e.dev, pingXML(600, inbox))
				e.waitHeld(1)
				start := time.Now()
				smtpSend(b, addr, "alice@example.nhs.uk", fmt.Sprintf("lat%d", i))
				r := <-res
				lat = append(lat, time.Since(start))
				if r.Text("Ping:Status") != "2" {
					b.Fatalf("Ping: %s", r.XML())
				}
				b.StopTimer()
				e.inbox.drain(b, e.dev, 100, "")
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(lat)
			q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
			b.ReportMetric(float64(q(0.50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
			b.Logf("%s: %d deliveries: p50 %v, p99 %v, max %v", dialect, len(lat), q(0.5), q(0.99), lat[len(lat)-1])
		})
	}
}
