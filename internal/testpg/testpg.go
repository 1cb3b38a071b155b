// Package testpg starts a throwaway PostgreSQL server for tests.
//
// The server comes from the Debian packages (/usr/lib/postgresql/<ver>/bin),
// is initialised into a temporary directory and listens only on a unix
// socket inside it, so concurrent test packages never clash on a port.
// PostgreSQL refuses to run as root, so when the tests run as root the
// server runs as an unprivileged system user (created on demand).
//
// One server is shared by all tests of a package (Start in TestMain or lazily
// through Shared); each test gets a fresh database cloned from a template the
// caller prepared once (for example a migrated schema), which takes tens of
// milliseconds rather than a full migration per test.
//
// When no PostgreSQL binaries are installed, Start returns ErrUnavailable.
// Callers skip only outside CI: in CI a missing server is a failure, because
// the test command is expected to install it.
package testpg

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// ErrUnavailable means no PostgreSQL server binaries were found.
var ErrUnavailable = errors.New("testpg: no PostgreSQL server binaries under /usr/lib/postgresql")

// unprivilegedUser runs the server when the tests run as root.
const unprivilegedUser = "airlock-pgtest"

// Server is a running throwaway PostgreSQL.
type Server struct {
	dir     string // temp dir holding data/ and the socket
	bin     string
	port    int
	cred    *syscall.Credential
	mu      sync.Mutex
	counter int
}

// Start initialises and starts a server. Stop it with Stop.
func Start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "airlock-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin, port: 50000 + int(time.Now().UnixNano()%10000)}
	if os.Geteuid() == 0 {
		cred, err := ensureUser()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.cred = cred
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := s.run("initdb", "-D", s.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Durability is irrelevant for a throwaway server; speed matters.
	opts := fmt.Sprintf("-k %s -p %d -c listen_addresses='' -F -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", s.dir, s.port)
	if err := s.run("pg_ctl", "-D", s.dataDir(), "-l", filepath.Join(s.dir, "pg.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "pg.log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return s, nil
}

// Stop shuts the server down and removes its files.
func (s *Server) Stop() {
	_ = s.run("pg_ctl", "-D", s.dataDir(), "-m", "immediate", "-w", "stop")
	os.RemoveAll(s.dir)
}

// Restart stops the server abruptly and starts it again on the same data,
// for tests of how callers survive a database restart.
func (s *Server) Restart() error {
	if err := s.run("pg_ctl", "-D", s.dataDir(), "-m", "immediate", "-w", "stop"); err != nil {
		return err
	}
	opts := fmt.Sprintf("-k %s -p %d -c listen_addresses='' -F -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", s.dir, s.port)
	return s.run("pg_ctl", "-D", s.dataDir(), "-l", filepath.Join(s.dir, "pg.log"), "-w", "-t", "60", "-o", opts, "start")
}

// DSN returns a key/value connection string for the named database.
func (s *Server) DSN(dbname string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", s.dir, s.port, dbname)
}

// URL returns a postgres:// URL for the named database, the form the
// airlock binary accepts in --db.
func (s *Server) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", dbname, s.dir, s.port)
}

// CreateDatabase creates an empty database, or a copy of template when it is
// not empty, and returns its name.
func (s *Server) CreateDatabase(template string) (string, error) {
	s.mu.Lock()
	s.counter++
	name := fmt.Sprintf("t%d_%s", s.counter, strings.ToLower(rand.Text()[:8]))
	s.mu.Unlock()
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	stmt := "CREATE DATABASE " + name
	if template != "" {
		stmt += " TEMPLATE " + template
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return "", fmt.Errorf("testpg: %s: %w", stmt, err)
	}
	return name, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *Server) run(tool string, args ...string) error {
	cmd := exec.Command(filepath.Join(s.bin, tool), args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("testpg: %s: %w: %s", tool, err, out)
	}
	return nil
}

// findBin picks the newest installed server version.
func findBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", ErrUnavailable
	}
	sort.Slice(matches, func(i, j int) bool {
		return versionOf(matches[i]) > versionOf(matches[j])
	})
	return filepath.Dir(matches[0]), nil
}

func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

func ensureUser() (*syscall.Credential, error) {
	u, err := user.Lookup(unprivilegedUser)
	if err != nil {
		out, aerr := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", unprivilegedUser).CombinedOutput()
		if aerr != nil && !strings.Contains(string(out), "already exists") {
			return nil, fmt.Errorf("testpg: useradd: %v: %s", aerr, out)
		}
		if u, err = user.Lookup(unprivilegedUser); err != nil {
			return nil, err
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns one server per test binary, started on first use. Call
// StopShared from TestMain after m.Run.
func Shared() (*Server, error) {
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	return shared, sharedErr
}

// StopShared stops the server Shared started, if any.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// MustSkip reports whether a test should skip for want of PostgreSQL: only
// outside CI. In CI the caller must fail instead.
func MustSkip(err error) bool {
	return errors.Is(err, ErrUnavailable) && os.Getenv("CI") == ""
}
