package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock/internal/server"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// cliEnv is one database and data directory, as serve left them.
type cliEnv struct {
	t        *testing.T
	db, data string
}

// newCLIEnv prepares a database whose audit chain is keyed, as after the
// server's first start.
func newCLIEnv(t *testing.T, dialect string) *cliEnv {
	t.Helper()
	c := &cliEnv{t: t, db: storetest.DSN(t, dialect), data: t.TempDir()}
	if _, err := server.AuditKey(c.data, true); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cliEnv) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	return runCLI(c.t, stdin, append(args, "--db", c.db, "--data-dir", c.data)...)
}

func (c *cliEnv) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	return out
}

// store opens the database with the audit key, as the server does.
func (c *cliEnv) store() *store.Store {
	c.t.Helper()
	key, err := server.AuditKey(c.data, false)
	if err != nil {
		c.t.Fatal(err)
	}
	st, err := store.Open(context.Background(), c.db, store.Options{AuditKey: key})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	return st
}

// events returns every audit event, oldest first.
func (c *cliEnv) events(st *store.Store) []store.AuditEvent {
	c.t.Helper()
	evs, err := st.ListAudit(context.Background(), store.AuditFilter{Limit: 10000})
	if err != nil {
		c.t.Fatal(err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

// osActor is who the audit log must name: the process's account.
func osActor(t *testing.T) string {
	u, err := user.LookupId(strconv.Itoa(os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("cli:%s (uid %d)", u.Username, os.Getuid())
}

// Every user-management command leaves an audit row naming the operating
// system account that ran it, whatever $USER says; a password change
// revokes the user's sessions and API tokens.
func TestCLIUserManagementAudited(t *testing.T) {
	t.Setenv("USER", "forged-admin")
	t.Setenv("SUDO_USER", "")
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			c := newCLIEnv(t, dialect)
			const email = "wendy@example.nhs.uk"
			steps := []struct {
				stdin  string
				args   []string
				action string
			}{
				{"first-password-1\n", []string{"user", "add", "--email", email, "--name", "Wendy Ward"}, "user.created"},
				{"second-password-2\n", []string{"user", "passwd", "--email", email}, "user.password_changed"},
				{"", []string{"user", "disable", "--email", email}, "user.disable"},
				{"", []string{"user", "enable", "--email", email}, "user.enable"},
				{"", []string{"user", "set-role", "--email", email, "--role", "admin"}, "user.make-admin"},
				{"", []string{"rule", "add", "--field", "model", "--match", "exact", "--pattern", "Evil 1", "--action", "block"}, "rule.added"},
				{"", []string{"user", "delete", "--email", email}, "user.deleted"},
			}
			st := c.store()
			var uid int64
			for _, s := range steps {
				c.ok(s.stdin, s.args...)
				if s.action == "user.created" {
					u, err := st.UserByAddress(context.Background(), email)
					if err != nil {
						t.Fatal(err)
					}
					uid = u.ID
				}
				if s.action == "user.password_changed" {
					if gen, err := st.SessionGeneration(context.Background(), uid); err != nil || gen != 1 {
						t.Errorf("session generation after user passwd: %d %v, want 1 (sessions revoked)", gen, err)
					}
				}
			}
			want := osActor(t)
			seen := map[string]bool{}
			commands := map[string]int{}
			for _, ev := range c.events(st) {
				if strings.Contains(ev.Actor, "forged-admin") || strings.Contains(ev.Detail, "forged-admin") {
					t.Errorf("audit names $USER: %+v", ev)
				}
				if strings.HasPrefix(ev.Actor, "cli:") && ev.Actor != want {
					t.Errorf("actor %q, want %q", ev.Actor, want)
				}
				seen[ev.Action] = true
				if ev.Action == "cli.command" && ev.Outcome == "success" {
					commands[ev.Target]++
				}
			}
			for _, s := range steps {
				if !seen[s.action] {
					t.Errorf("%v left no %s audit row", s.args, s.action)
				}
				if name := s.args[0] + " " + s.args[1]; commands[name] == 0 {
					t.Errorf("%s: no cli.command row", name)
				}
			}
			if bad, err := st.VerifyAuditChain(context.Background()); err != nil || bad != 0 {
				t.Fatalf("chain after the commands: %d %v", bad, err)
			}
		})
	}
}

// chainHashes recomputes evs' hashes from index from on with hash, and
// writes them, as someone with write access to the database would.
func rewriteChain(t *testing.T, st *store.Store, evs []store.AuditEvent, from int, hash func(*store.AuditEvent) string) {
	t.Helper()
	db, _ := st.SQL()
	evs[from].Detail = "nothing to see here"
	prev := ""
	if from > 0 {
		prev = evs[from-1].Hash
	}
	for i := from; i < len(evs); i++ {
		e := &evs[i]
		e.PrevHash = prev
		e.Hash = hash(e)
		prev = e.Hash
		if _, err := db.Exec("UPDATE audit_events SET detail = $1, prev_hash = $2, hash = $3 WHERE id = $4", e.Detail, e.PrevHash, e.Hash, e.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// The attacker's hashes: the public algorithm, unkeyed or under a key of
// their own (they do not have the server's).
func fields(e *store.AuditEvent) []byte {
	var b bytes.Buffer
	opt := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	for _, f := range []string{e.PrevHash, e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.ActorIP, e.Action, e.TargetType, e.Target, opt(e.UserID), opt(e.DevicePK), e.Outcome, e.Detail} {
		fmt.Fprintf(&b, "%d:%s", len(f), f)
	}
	return b.Bytes()
}

func unkeyedHash(e *store.AuditEvent) string {
	h := sha256.Sum256(fields(e))
	return hex.EncodeToString(h[:])
}

func ownKeyHash(e *store.AuditEvent) string {
	m := hmac.New(sha256.New, []byte("the attacker's own key, 32 bytes"))
	m.Write(fields(e))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// airlock audit verify finds an edited event whose unkeyed hash was
// recomputed, a chain recomputed without the key, and the newest events
// deleted.
func TestAuditVerifyDetectsRewriteAndTruncation(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				attack func(t *testing.T, st *store.Store, evs []store.AuditEvent)
				want   string
			}{
				{"intact", func(*testing.T, *store.Store, []store.AuditEvent) {}, ""},
				{"newest events deleted", func(t *testing.T, st *store.Store, evs []store.AuditEvent) {
					db, _ := st.SQL()
					if _, err := db.Exec("DELETE FROM audit_events WHERE id >= $1", evs[len(evs)-3].ID); err != nil {
						t.Fatal(err)
					}
				}, "truncated"},
				{"event edited, unkeyed hash recomputed", func(t *testing.T, st *store.Store, evs []store.AuditEvent) {
					rewriteChain(t, st, evs, len(evs)-4, unkeyedHash)
				}, "unkeyed hash after the keyed chain began"},
				{"whole chain recomputed unkeyed", func(t *testing.T, st *store.Store, evs []store.AuditEvent) {
					rewriteChain(t, st, evs, 0, unkeyedHash)
				}, "rewritten"},
				{"chain recomputed under another key", func(t *testing.T, st *store.Store, evs []store.AuditEvent) {
					rewriteChain(t, st, evs, 2, ownKeyHash)
				}, "does not match its keyed hash"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := newCLIEnv(t, dialect)
					for i := range 3 {
						c.ok(fmt.Sprintf("password-%d-long\n", i), "user", "add", "--email", fmt.Sprintf("u%d@example.nhs.uk", i), "--name", "U")
					}
					if out := c.ok("", "audit", "verify"); !strings.Contains(out, "intact") {
						t.Fatalf("before the attack: %s", out)
					}
					st := c.store()
					tc.attack(t, st, c.events(st))
					for range 2 { // a failed verify must not anchor the damage away
						out, errOut, code := c.run("", "audit", "verify")
						if tc.want == "" {
							if code != 0 || !strings.Contains(out, "intact") {
								t.Fatalf("intact log: exit %d %s %s", code, out, errOut)
							}
							continue
						}
						if code != 1 || !strings.Contains(out+errOut, tc.want) {
							t.Fatalf("exit %d, output %q %q; want a failure naming %q", code, out, errOut, tc.want)
						}
					}
				})
			}
		})
	}
}
