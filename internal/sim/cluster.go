package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"airlock/internal/keyring"
	"airlock/internal/testpg"
)

// Cluster is a throwaway Airlock installation on loopback: a PostgreSQL
// server (internal/testpg) and any number of `airlock serve --plain-http`
// nodes sharing its database, each a child process that can be killed and
// restarted.
type Cluster struct {
	Bin   string // the airlock binary
	PG    *testpg.Server
	DB    string // postgres:// URL of the database
	Nodes []*Node
	Dir   string
	// SMTPFlag is serve's flag for an SMTP listener address, if it has
	// one ("" otherwise; the injector then writes to the database).
	SMTPFlag string
	Out      io.Writer
}

// Node is one `airlock serve` process.
type Node struct {
	Index  int
	Addr   string // 127.0.0.1:PORT, kept across restarts
	SMTP   string // SMTP listener, if any
	URL    string
	Log    string // file with the node's stderr
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// PID returns the node's process id, or 0 when it is not running.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	select {
	case <-n.exited:
		return 0
	default:
	}
	return n.cmd.Process.Pid
}

// ModuleRoot finds the airlock module's directory from the working
// directory upwards.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && regexp.MustCompile(`(?m)^module airlock\s*$`).Match(b) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the airlock module: pass --airlock BINARY")
		}
		dir = parent
	}
}

// BuildAirlock builds ./cmd/airlock into dir and returns the binary's path.
func BuildAirlock(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "airlock")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/airlock")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/airlock: %v\n%s", err, out)
	}
	return bin, nil
}

// RaiseFileLimit raises RLIMIT_NOFILE to n (soft and, when allowed, hard)
// for this process and the servers it starts.
func RaiseFileLimit(n uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= n {
		return lim.Cur, nil
	}
	want := lim
	want.Cur = n
	if want.Max < n {
		want.Max = n
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not allowed to raise the hard limit: take what it allows.
		want = lim
		want.Cur = lim.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return lim.Cur, err
		}
		return lim.Max, err
	}
	return n, nil
}

// StartCluster builds (unless bin is set) and starts PostgreSQL and
// `nodes` Airlock nodes. Stop it with Stop.
func StartCluster(ctx context.Context, bin string, nodes int, out io.Writer) (*Cluster, error) {
	if out == nil {
		out = io.Discard
	}
	dir, err := os.MkdirTemp("", "airlock-sim-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Bin: bin, Dir: dir, Out: out}
	if c.Bin != "" {
		if c.Bin, err = filepath.Abs(c.Bin); err != nil {
			c.Stop()
			return nil, err
		}
	} else {
		fmt.Fprintln(out, "building ./cmd/airlock")
		if c.Bin, err = BuildAirlock(dir); err != nil {
			c.Stop()
			return nil, err
		}
	}
	help, _ := exec.Command(c.Bin, "serve", "--help").CombinedOutput()
	c.SMTPFlag = smtpFlag(string(help))
	fmt.Fprintln(out, "starting PostgreSQL")
	if c.PG, err = testpg.Start(); err != nil {
		c.Stop()
		return nil, err
	}
	name, err := c.PG.CreateDatabase("")
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.DB = c.PG.URL(name)
	// Every node, and this process's own store, must open the database
	// with one master key: a throwaway one, in the environment they all
	// inherit, unless one is given.
	if os.Getenv(keyring.EnvKey) == "" {
		os.Setenv(keyring.EnvKey, keyring.Encode(keyring.GenerateKey()))
	}
	// Migrate once before the nodes start, so they do not race for it.
	if out, err := exec.Command(c.Bin, "migrate", "--db", c.DB).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("airlock migrate: %v: %s", err, out)
	}
	for i := 0; i < nodes; i++ {
		n := &Node{Index: i, Log: filepath.Join(dir, fmt.Sprintf("node%d.log", i))}
		if n.Addr, err = freePort(); err != nil {
			c.Stop()
			return nil, err
		}
		if c.SMTPFlag != "" {
			if n.SMTP, err = freePort(); err != nil {
				c.Stop()
				return nil, err
			}
		}
		n.URL = "http://" + n.Addr
		c.Nodes = append(c.Nodes, n)
		if err := c.Start(ctx, n); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// smtpFlag finds serve's SMTP listener flag in its --help text.
func smtpFlag(help string) string {
	m := regexp.MustCompile(`(?m)^\s+-(smtp(?:-listen|-addr)?)\s+string`).FindStringSubmatch(help)
	if m == nil {
		return ""
	}
	return m[1]
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Start starts (or restarts) a node and waits until it listens.
func (c *Cluster) Start(ctx context.Context, n *Node) error {
	args := []string{"serve", "--plain-http", "--listen", n.Addr, "--db", c.DB, "--hostname", "sim.airlock.test",
		"--domain", "sim.airlock.test", "--data-dir", filepath.Join(c.Dir, fmt.Sprintf("data%d", n.Index)), "--log-level", "warn"}
	if c.SMTPFlag != "" {
		args = append(args, "--"+c.SMTPFlag, n.SMTP)
	}
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.Bin, args...)
	cmd.Dir = c.Dir
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if !found && strings.Contains(sc.Text(), "listening on") {
				found = true
				ready <- nil
			}
		}
		if !found {
			ready <- errors.New("exited before listening")
		}
	}()
	t := time.NewTimer(90 * time.Second)
	defer t.Stop()
	select {
	case err := <-ready:
		if err != nil {
			log, _ := os.ReadFile(n.Log)
			return fmt.Errorf("node %d: %v\n%s", n.Index, err, tail(log, 2000))
		}
		return nil
	case <-t.C:
		cmd.Process.Kill()
		return fmt.Errorf("node %d did not listen within 90 s", n.Index)
	case <-ctx.Done():
		cmd.Process.Kill()
		return ctx.Err()
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Kill sends SIGKILL to a node and waits for it to die.
func (c *Cluster) Kill(n *Node) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return errors.New("node not running")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-exited
	return nil
}

// PIDs returns the running nodes' process ids.
func (c *Cluster) PIDs() []int {
	var out []int
	for _, n := range c.Nodes {
		if p := n.PID(); p != 0 {
			out = append(out, p)
		}
	}
	return out
}

// URLs returns the nodes' base URLs.
func (c *Cluster) URLs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.URL)
	}
	return out
}

// SMTPAddrs returns the nodes' SMTP listeners (empty without the flag).
func (c *Cluster) SMTPAddrs() []string {
	var out []string
	for _, n := range c.Nodes {
		if n.SMTP != "" {
			out = append(out, n.SMTP)
		}
	}
	return out
}

// Stop ends the nodes (interrupt, then kill), PostgreSQL, and removes the
// files unless keep is set in the environment (AIRLOCK_SIM_KEEP=1).
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.mu.Lock()
		cmd, exited := n.cmd, n.exited
		n.mu.Unlock()
		if cmd == nil || cmd.Process == nil {
			continue
		}
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	if c.PG != nil {
		c.PG.Stop()
	}
	if keep, _ := strconv.ParseBool(os.Getenv("AIRLOCK_SIM_KEEP")); !keep && c.Dir != "" {
		os.RemoveAll(c.Dir)
	} else if c.Dir != "" {
		fmt.Fprintf(c.Out, "kept %s (node logs)\n", c.Dir)
	}
}

// NodeLogErrors returns the lines of the nodes' logs at level ERROR or
// with a panic, for the report.
func (c *Cluster) NodeLogErrors(max int) []string {
	var out []string
	for _, n := range c.Nodes {
		b, err := os.ReadFile(n.Log)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic") {
				if len(out) < max {
					out = append(out, fmt.Sprintf("node%d: %s", n.Index, line))
				}
			}
		}
	}
	return out
}
