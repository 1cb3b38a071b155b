package delivery_test

import (
	"bytes"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"airlock/delivery"
	"airlock/delivery/deliverytest"
	"airlock/store"
	"airlock/store/storetest"
)

// Environment of the crash helper process (TestRelayCrashWorkerProcess).
const (
	crashEnvDSN   = "AIRLOCK_RELAY_CRASH_DSN"
	crashEnvRelay = "AIRLOCK_RELAY_CRASH_RELAY"
	crashLease    = 2 * time.Second
)

func crashRelayConfig(addr string) delivery.RelayConfig {
	return delivery.RelayConfig{Addr: addr, DisableStartTLS: true, Hostname: "mx.test", Lease: crashLease}
}

// TestRelayCrashWorkerProcess is not a test: it is the relay worker that
// TestRelayCrashSendsOnceMoreAtMostAndNeverLoses runs as a child process
// and kills. It claims the queued message and works on it until killed.
func TestRelayCrashWorkerProcess(t *testing.T) {
	dsn := os.Getenv(crashEnvDSN)
	if dsn == "" {
		t.Skip("helper process of TestRelayCrashSendsOnceMoreAtMostAndNeverLoses")
	}
	st, err := store.Open(ctx, dsn, store.Options{SkipMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	r := delivery.NewRelay(st, crashRelayConfig(os.Getenv(crashEnvRelay)), nil)
	n, err := r.RunOnce(ctx)
	t.Logf("worker was not killed: attempted %d, %v", n, err)
}

// A relay worker process is SIGKILLed in the middle of sending a queued
// message: after the smarthost's 250 and before the worker records it (the
// worker is stopped while the 250 goes out, then killed), or before DATA.
// Another worker takes the message once the lease ends. After the 250 the
// message goes once more, at most, with the same Message-ID (RFC 5321 6.1:
// a duplicate rather than a loss) and the retry is counted as in doubt;
// before DATA it goes exactly once. Never lost, never a third copy.
func TestRelayCrashSendsOnceMoreAtMostAndNeverLoses(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("starts, stops and kills a child process (Linux /proc)")
	}
	cases := []struct {
		name      string
		killAt    string // "data": after the relay's 250; "rcpt": before DATA
		queued    bool   // queued directly, without a Message-ID of its own
		wantSends int
	}{
		{"killed after the 250", "data", false, 2},
		{"killed after the 250, message without Message-ID", "data", true, 2},
		{"killed before DATA", "rcpt", false, 1},
	}
	for _, dialect := range []string{"sqlite", "postgres"} {
		for _, tc := range cases {
			t.Run(dialect+"/"+tc.name, func(t *testing.T) {
				dsn := storetest.DSN(t, dialect)
				st, err := store.Open(ctx, dsn, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				relay := deliverytest.Start(t, deliverytest.Options{})
				cfg := crashRelayConfig(relay.Addr)
				alice := addUser(t, st, "alice@example.nhs.uk")

				wantID := ""
				if tc.queued {
					uid := alice.ID
					msg := "From: alice@example.nhs.uk\r\nTo: far@other.example\r\nSubject: Referral\r\n\r\nPlease see.\r\n"
					if err := st.Enqueue(ctx, &store.OutboundMail{UserID: &uid, MailFrom: alice.Email, RcptTo: "far@other.example", Data: []byte(msg)}); err != nil {
						t.Fatal(err)
					}
				} else {
					svc := &delivery.Service{Store: st, Hostname: "mx.test", Relay: delivery.NewRelay(st, cfg, nil)}
					res, err := svc.Submit(ctx, delivery.Submission{User: alice, MIME: []byte("To: far@other.example\r\nSubject: Referral\r\n\r\nPlease see.\r\n")})
					if err != nil {
						t.Fatal(err)
					}
					wantID = res.MessageID
				}

				child := exec.Command(os.Args[0], "-test.run=^TestRelayCrashWorkerProcess$", "-test.count=1", "-test.v")
				child.Env = append(os.Environ(), crashEnvDSN+"="+dsn, crashEnvRelay+"="+relay.Addr)
				var out bytes.Buffer
				child.Stdout, child.Stderr = &out, &out
				// The hooks run on the relay's goroutines: they get the
				// process through proc, not through child.
				var proc atomic.Pointer[os.Process]
				killed := make(chan struct{})
				// killed is closed before the signal, so a worker that
				// dies of it is never taken for one that ended early.
				kill := func() {
					close(killed)
					proc.Load().Signal(syscall.SIGKILL)
				}
				switch tc.killAt {
				case "data":
					// Stopped before the 250 is written, killed after: the
					// relay has answered, the worker never learns it.
					relay.OnData(func(deliverytest.Message) {
						proc.Load().Signal(syscall.SIGSTOP)
						waitStopped(t, proc.Load().Pid)
						time.AfterFunc(200*time.Millisecond, kill)
					})
				case "rcpt":
					relay.OnRcpt(func(string) { kill() })
				}
				if err := child.Start(); err != nil {
					t.Fatal(err)
				}
				proc.Store(child.Process)
				waited := make(chan error, 1)
				go func() { waited <- child.Wait() }()
				select {
				case <-killed:
					if err := <-waited; err == nil {
						t.Fatalf("worker exited normally:\n%s", out.String())
					}
				case err := <-waited:
					select {
					case <-killed: // it died of our SIGKILL: both were ready
					default:
						t.Fatalf("worker ended (%v) before the crash point:\n%s", err, out.String())
					}
				case <-time.After(30 * time.Second):
					child.Process.Kill()
					t.Fatalf("worker never reached the crash point:\n%s", out.String())
				}
				relay.OnData(nil)
				relay.OnRcpt(nil)

				q, err := st.OutboundQueue(ctx)
				if err != nil || len(q) != 1 {
					t.Fatalf("after the crash the queue holds %d messages (%v), want the one", len(q), err)
				}
				if inDoubt := q[0].DataStartedAt != nil; inDoubt != (tc.killAt == "data") {
					t.Fatalf("after a crash at %s the message is marked in doubt: %v", tc.killAt, inDoubt)
				}
				if n := len(relay.Messages()); n != tc.wantSends-1 {
					t.Fatalf("the relay had %d copies at the crash, want %d", n, tc.wantSends-1)
				}

				// Another worker (another node, or this one restarted) takes
				// the message over once the lease ends.
				r := delivery.NewRelay(st, cfg, nil)
				deadline := time.Now().Add(crashLease + 10*time.Second)
				for {
					n, err := r.RunOnce(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if n > 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the message was never taken over after the lease")
					}
					time.Sleep(100 * time.Millisecond)
				}
				if n, _ := r.RunOnce(ctx); n != 0 {
					t.Fatalf("attempted %d more after the recovery", n)
				}
				got := relay.Messages()
				if len(got) != tc.wantSends {
					t.Fatalf("relay got %d copies, want %d", len(got), tc.wantSends)
				}
				if q, _ := st.OutboundQueue(ctx); len(q) != 0 {
					t.Fatalf("queue not emptied: %+v", q)
				}
				if want := int64(tc.wantSends - 1); r.InDoubt.Load() != want {
					t.Fatalf("in-doubt attempts %d, want %d", r.InDoubt.Load(), want)
				}
				for i, m := range got {
					msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
					if err != nil {
						t.Fatal(err)
					}
					id := msg.Header.Get("Message-Id")
					if id == "" || (wantID != "" && strings.Trim(id, "<>") != wantID) || id != mustMessageID(t, got[0].Data) {
						t.Fatalf("copy %d has Message-ID %q; want %q on every copy", i, id, mustMessageID(t, got[0].Data))
					}
					if len(m.To) != 1 || m.To[0] != "far@other.example" || !strings.Contains(string(m.Data), "Please see.") {
						t.Fatalf("copy %d: %+v", i, m)
					}
				}
			})
		}
	}
}

func mustMessageID(t *testing.T, data []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header.Get("Message-Id")
}

// waitStopped waits until every thread of the process is stopped: a stop
// signal reaches the threads of a Go process one by one, and a thread still
// running could read the 250 that is about to go out.
func waitStopped(t *testing.T, pid int) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
		stopped := len(tasks) > 0
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			_, rest, ok := strings.Cut(string(b), ") ")
			if err != nil || !ok || (rest[0] != 'T' && rest[0] != 't') {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Errorf("process %d did not stop within 5 s", pid)
}

// The database connections drop while the relay is taking the message
// (PostgreSQL terminates them after the 250 is decided): the worker does
// not leave the outcome to the lease, which would send the message again;
// it records it once the database answers. Exactly one copy.
func TestRelaySettlesAfterADatabaseBlipWithoutResending(t *testing.T) {
	dsn := storetest.DSN(t, "postgres")
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	relay := deliverytest.Start(t, deliverytest.Options{})
	cfg := crashRelayConfig(relay.Addr)
	cfg.Lease = time.Minute
	r := delivery.NewRelay(st, cfg, nil)
	alice := addUser(t, st, "alice@example.nhs.uk")
	svc := &delivery.Service{Store: st, Hostname: "mx.test", Relay: r}
	if _, err := svc.Submit(ctx, delivery.Submission{User: alice, MIME: []byte("To: far@other.example\r\nSubject: Blip\r\n\r\nx\r\n")}); err != nil {
		t.Fatal(err)
	}
	var terminated atomic.Int64
	relay.OnData(func(deliverytest.Message) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		var n int64
		err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
		if err != nil {
			t.Error(err)
		}
		terminated.Store(n)
	})
	if n, err := r.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	if terminated.Load() == 0 {
		t.Fatal("no database connection was terminated: the test proves nothing")
	}
	if q, err := st.OutboundQueue(ctx); err != nil || len(q) != 0 {
		t.Fatalf("queue after the blip: %+v, %v", q, err)
	}
	if n, _ := r.RunOnce(ctx); n != 0 || len(relay.Messages()) != 1 {
		t.Fatalf("relay got %d copies, want 1", len(relay.Messages()))
	}
}
