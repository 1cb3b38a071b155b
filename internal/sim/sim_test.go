package sim

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/activesync/wbxml"
	"airlock/delivery"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// serve runs the real EAS handler on st, wrapped by mw (nil: unwrapped).
func serve(t *testing.T, st *store.Store, mw func(http.Handler) http.Handler) string {
	t.Helper()
	s := eastest.StartServerWith(t, st, eastest.ServerOptions{Ping: activesync.PingOptions{MinHeartbeat: time.Second}})
	var h http.Handler = s.Handler
	if mw != nil {
		h = mw(h)
	}
	mux := http.NewServeMux()
	mux.Handle("/Microsoft-Server-ActiveSync", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func smallConfig(url string, st *store.Store) Config {
	return Config{
		Servers: []string{url}, Store: st, Users: 3, Devices: 6, Duration: 6 * time.Second,
		Rate: 25, InjectRate: 4, SeedMessages: 12, Oracle: true, Checkpoint: 3 * time.Second,
		Heartbeat: 2 * time.Second, Window: 7, Seed: 42,
	}
}

func runSim(t *testing.T, cfg Config) *Report {
	t.Helper()
	var out bytes.Buffer
	cfg.Out = &out
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	rep.Print(&out)
	t.Log("\n" + out.String())
	return rep
}

// smtpListener serves the real SMTP listener on st.
func smtpListener(t *testing.T, st *store.Store) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := delivery.NewListeners(&delivery.Service{Store: st, Hostname: "airlock.test"}, delivery.ListenerConfig{}, nil)
	go l.ServeSMTP(ln)
	t.Cleanup(func() { l.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// The real server, with dropped and cut responses and mail arriving over
// SMTP, passes every check.
func TestRealServerPasses(t *testing.T) {
	st := storetest.OpenSQLite(t)
	cfg := smallConfig(serve(t, st, nil), st)
	cfg.SMTP = []string{smtpListener(t, st)}
	cfg.Faults = Faults{Drop: 0.15, Cut: 0.05}
	// Every kind of action must happen at least once even when a loaded
	// machine makes many of them wait ("device busy"): weight the rarer
	// ones up and give the run time.
	cfg.Mix = Mix{Change: 30, Move: 30, Delete: 10, Send: 30}
	cfg.Duration = 10 * time.Second
	cfg.EveryActionOnce = true
	rep := runSim(t, cfg)
	if !rep.OK() {
		t.Fatal("the checker failed the real server")
	}
	sum := rep.Summary
	for _, want := range []string{"Sync", "Ping", "MoveItems", "SendMail"} {
		if sum.Sent[want] == 0 {
			t.Errorf("no %s request was made", want)
		}
	}
	if f := rep.Final(); f.Messages[Accepted] == 0 {
		t.Error("no message was accepted")
	}
	smtp := false
	for _, c := range sum.Commands {
		smtp = smtp || (c.Command == "SMTP" && c.Requests > 0)
	}
	if !smtp {
		t.Error("no message was delivered over SMTP")
	}
	if sum.Events["fault: response dropped, Sync resent"] == 0 {
		t.Error("no Sync response was dropped: the fault path went untested")
	}
	if f := rep.Final(); f.Items == 0 || f.Messages[Accepted] == 0 {
		t.Errorf("nothing was checked: %d items, %d accepted messages", f.Items, f.Messages[Accepted])
	}
}

// mangle returns middleware that rewrites the first Sync response with an
// Add sent to the device whose DeviceId ends in "d1".
func mangle(edit func(cmds *etree.Element, add *etree.Element)) (func(http.Handler) http.Handler, *atomic.Bool) {
	var fired atomic.Bool
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if q.Get("Cmd") != "Sync" || !strings.HasSuffix(q.Get("DeviceId"), "d1") || fired.Load() {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if doc, err := wbxml.Unmarshal(body); err == nil && len(body) > 0 {
				for _, c := range doc.FindElements("//AirSync:Commands") {
					if a := child(c, "AirSync:Add"); a != nil && !fired.Load() {
						fired.Store(true)
						edit(c, a)
					}
				}
				if fired.Load() {
					body, _ = wbxml.Marshal(doc)
				}
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}, &fired
}

// A server that loses, duplicates or corrupts one item on its way to one
// device fails the check: the checker can fail.
func TestCheckerCatchesBrokenServer(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(cmds, add *etree.Element)
		check func(v *Verdict) bool
	}{
		{"drops one Add", func(cmds, add *etree.Element) { cmds.RemoveChild(add) },
			func(v *Verdict) bool { return v.Lost == 1 && v.Duplicated == 0 && v.Divergent == 0 }},
		{"sends one Add twice", func(cmds, add *etree.Element) { cmds.AddChild(add.Copy()) },
			func(v *Verdict) bool { return v.Duplicated >= 1 }},
		{"sends a copy under a new ServerId", func(cmds, add *etree.Element) {
			c := add.Copy()
			child(c, "AirSync:ServerId").SetText("987654321")
			cmds.AddChild(c)
		}, func(v *Verdict) bool { return v.Duplicated >= 1 && v.Divergent >= 1 }},
		{"flips one Read flag", func(cmds, add *etree.Element) {
			r := find(add, "AirSync:ApplicationData", "Email:Read")
			r.SetText(map[string]string{"0": "1", "1": "0"}[strings.TrimSpace(r.Text())])
		}, func(v *Verdict) bool { return v.Divergent >= 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := storetest.OpenSQLite(t)
			mw, fired := mangle(tc.edit)
			cfg := smallConfig(serve(t, st, mw), st)
			// Only flag changes by the devices (a move could carry the
			// damaged item away and heal it), and none for the flipped flag.
			cfg.Duration, cfg.Checkpoint, cfg.Rate, cfg.InjectRate, cfg.Mix = 3*time.Second, 0, 5, 2, Mix{Change: 1}
			if strings.Contains(tc.name, "flips") {
				cfg.Rate = 0
			}
			rep := runSim(t, cfg)
			if !fired.Load() {
				t.Fatal("the broken server never got to break anything")
			}
			if rep.OK() {
				t.Fatal("the checker passed a server that broke a Sync response")
			}
			if f := rep.Final(); !tc.check(f) {
				t.Fatalf("wrong finding: lost %d, duplicated %d, divergent %d", f.Lost, f.Duplicated, f.Divergent)
			}
		})
	}
}
