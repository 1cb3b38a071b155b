package governance_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"airlock/delivery"
	"airlock/governance"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

func addUser(t testing.TB, st *store.Store, email string) *store.User {
	t.Helper()
	u := &store.User{Email: email, DisplayName: strings.Split(email, "@")[0]}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newService(st *store.Store) (*governance.Service, *clock) {
	c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	return &governance.Service{Store: st, Hostname: "mail.example.nhs.uk", Now: c.Now}, c
}

func inbox(t testing.TB, st *store.Store, u *store.User) []store.Item {
	t.Helper()
	f, err := st.FolderByType(ctx, u.ID, store.FolderInbox)
	if err != nil {
		t.Fatal(err)
	}
	its, err := st.ListItems(ctx, u.ID, f.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return its
}

func auditActions(t testing.TB, st *store.Store, prefix string) []store.AuditEvent {
	t.Helper()
	evs, err := st.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for i := len(evs) - 1; i >= 0; i-- { // oldest first
		if strings.HasPrefix(evs[i].Action, prefix) {
			out = append(out, evs[i])
		}
	}
	return out
}

// mailEnv is a delivery service with the rules, and its SMTP listener.
type mailEnv struct {
	st       *store.Store
	g        *governance.Service
	clk      *clock
	rules    *governance.Rules
	svc      *delivery.Service
	smtpAddr string
}

func newMailEnv(t *testing.T, st *store.Store, relay *delivery.Relay) *mailEnv {
	t.Helper()
	g, clk := newService(st)
	e := &mailEnv{st: st, g: g, clk: clk, rules: &governance.Rules{Service: g}}
	e.svc = &delivery.Service{Store: st, Hostname: "mx.example.nhs.uk", Relay: relay, Rules: e.rules}
	l := delivery.NewListeners(e.svc, delivery.ListenerConfig{}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go l.ServeSMTP(ln)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(c)
		if n := l.PanicsRecovered.Load(); n != 0 {
			t.Errorf("%d panics recovered in SMTP sessions", n)
		}
	})
	e.smtpAddr = ln.Addr().String()
	return e
}

// sendSMTP sends one message over SMTP and returns the error of the
// first refused step.
func (e *mailEnv) sendSMTP(t *testing.T, from string, to []string, data string) error {
	t.Helper()
	c, err := smtp.Dial(e.smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.SendMail(from, to, strings.NewReader(data))
}

// setLevel puts the user on a new level with quota bytes and usage used.
func setLevel(t *testing.T, st *store.Store, g *governance.Service, u *store.User, name string, quota, used int64) {
	t.Helper()
	if _, err := st.ServiceLevelByName(ctx, name); err != nil {
		if _, err := g.AddServiceLevel(ctx, governance.Actor{Name: "test"}, name, quota); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.AssignServiceLevel(ctx, governance.Actor{Name: "test"}, name, []*store.User{u}); err != nil {
		t.Fatal(err)
	}
	db, err := st.SQL()
	if err != nil {
		t.Fatal(err)
	}
	q := "UPDATE users SET quota_used = $1 WHERE id = $2"
	if st.Dialect() == "sqlite" {
		q = "UPDATE users SET quota_used = ? WHERE id = ?"
	}
	if _, err := db.ExecContext(ctx, q, used, u.ID); err != nil {
		t.Fatal(err)
	}
}

func quotaOf(t *testing.T, st *store.Store, u *store.User) store.Quota {
	t.Helper()
	q, err := st.QuotaOf(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func countRows(t *testing.T, st *store.Store, table string) int {
	t.Helper()
	db, err := st.SQL()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// message returns a message of about size bytes.
func message(from, to, subject string, size int) string {
	h := "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@test>\r\nDate: Mon, 02 Mar 2026 09:00:00 +0000\r\n\r\n"
	body := strings.Repeat("Clinical letter text.\r\n", max(1, (size-len(h))/23))
	return h + body
}
