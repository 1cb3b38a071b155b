package authguard_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"airlock/internal/authguard"
	"airlock/store"
	"airlock/store/storetest"
)

// Unauthenticated memory exhaustion: each argon2id verification, real or
// the dummy one for an unknown account, takes 19 MiB. 300 parallel
// sign-ins naming unknown accounts, over every entry point, go through the
// process's one bounded verifier. The server runs in a child process (this
// test binary, TestMemoryChildServer) with the production verifier, and
// its peak resident set (VmHWM, reset first) is read from /proc.
func TestUnknownAccountsMemoryBounded(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			dsn := storetest.DSN(t, dialect)
			st, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			r, pid := startChildServer(t, dsn)
			time.Sleep(200 * time.Millisecond) // let it settle
			rss0 := resetPeakRSS(t, pid)
			var wg sync.WaitGroup
			var mu sync.Mutex
			answers := map[outcome]int{}
			for i := 0; i < 300; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e := entries[i%len(entries)]
					o, why := e.try(r, sources[i%len(sources)], fmt.Sprintf("nobody%d@example.nhs.uk", i), "guess")
					mu.Lock()
					answers[o]++
					mu.Unlock()
					if o == tooLong || o == accepted && e.name != "eas" { // EAS answers "busy" with 200 and a status
						t.Errorf("%s: %v (%s)", e.name, o, why)
					}
				}()
			}
			wg.Wait()
			grew := float64(procStatus(t, pid, "VmHWM:")-rss0) / (1 << 20)
			t.Logf("300 parallel unknown-account sign-ins (%d refused, %d busy or other): server peak RSS +%.0f MB (verifier: %d at once)",
				answers[refused], 300-answers[refused], grew, authguard.DefaultSlots())
			if answers[refused] < 150 {
				t.Errorf("only %d sign-ins were verified and refused: the test did not load the verifier", answers[refused])
			}
			if grew >= 100 {
				t.Fatalf("the server's memory grew by %.0f MB; want under 100 MB", grew)
			}
		})
	}
}

// TestMemoryChildServer is the server of TestUnknownAccountsMemoryBounded,
// run in a child process; on its own it does nothing.
func TestMemoryChildServer(t *testing.T) {
	dsn := os.Getenv("AUTHGUARD_CHILD_DSN")
	if dsn == "" {
		t.Skip("runs as TestUnknownAccountsMemoryBounded's child")
	}
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The production verifier (authguard.Shared) and lockout, with room for
	// every request from loopback: a real attack comes from many addresses.
	g := &authguard.Guard{Store: st, Policy: authguard.DefaultPolicy}
	g.Policy.AddressLimit, g.Policy.Delay = 1000000, time.Millisecond
	if n, _ := strconv.Atoi(os.Getenv("AUTHGUARD_CHILD_SLOTS")); n > 0 {
		g.Verifier = authguard.NewVerifier(n, 10*time.Second)
	}
	g.Init()
	r := newRig(t, st, g)
	json.NewEncoder(os.Stdout).Encode(map[string]string{"http": r.http, "imap": r.imap, "smtp": r.smtp})
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
}

// startChildServer runs TestMemoryChildServer on dsn and returns a rig
// pointing at it, and its process id.
func startChildServer(t *testing.T, dsn string) (*rig, int) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChildServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AUTHGUARD_CHILD_DSN="+dsn)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var addrs map[string]string
	if err := json.NewDecoder(stdout).Decode(&addrs); err != nil {
		t.Fatalf("child server: %v", err)
	}
	// The child's certificate is a throwaway one made at its start.
	tc := &tls.Config{InsecureSkipVerify: true}
	return &rig{t: t, http: addrs["http"], imap: addrs["imap"], smtp: addrs["smtp"], clientTC: tc}, cmd.Process.Pid
}

// resetPeakRSS resets the kernel's peak resident set of process pid
// (clear_refs 5) and returns its current resident set.
func resetPeakRSS(t *testing.T, pid int) uint64 {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS here: %v", err)
	}
	return procStatus(t, pid, "VmRSS:")
}

func procStatus(t *testing.T, pid int, field string) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("%s not in /proc/%d/status", field, pid)
	return 0
}
