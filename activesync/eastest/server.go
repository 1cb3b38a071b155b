package eastest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/delivery"
	"airlock/devices"
	"airlock/internal/password"
	"airlock/push"
	"airlock/store"
)

// Server is a real Airlock HTTP stack on a loopback port.
type Server struct {
	URL     string
	Store   *store.Store
	Devices *devices.Service
	Handler *activesync.Handler
	Auth    *activesync.BasicAuth
	// Broker carries committed changes to held Pings and Syncs with Wait
	// (the store's commit hook on SQLite, LISTEN on PostgreSQL).
	Broker *push.Broker
	// Mail stores what devices send; without a Relay it takes local
	// recipients only.
	Mail *delivery.Service
}

// ServerOptions change what StartServerWith builds.
type ServerOptions struct {
	// Mail replaces the default local-only delivery service.
	Mail *delivery.Service
	// Ping bounds Ping requests.
	Ping activesync.PingOptions
	// SMSDomain is the handler's SMS domain (SMS items).
	SMSDomain string
	// Limits bound request bodies and requests in flight.
	Limits activesync.Limits
}

// StartServer serves the EAS handler on st, on a loopback port. The test fails at cleanup if any request
// panicked.
func StartServer(t testing.TB, st *store.Store) *Server {
	t.Helper()
	return StartServerWith(t, st, ServerOptions{})
}

// StartServerWith is StartServer with options.
func StartServerWith(t testing.TB, st *store.Store, o ServerOptions) *Server {
	t.Helper()
	ctx := context.Background()
	dev := devices.New(st, nil)
	dev.ConfigTTL = 0 // tests change rules and expect the next request to see them
	if err := dev.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	auth := &activesync.BasicAuth{Store: st, Audit: dev}
	auth.Lockout = activesync.DefaultLockout
	auth.Lockout.Delay = time.Millisecond
	broker, stopBroker, err := push.Attach(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mail == nil {
		o.Mail = &delivery.Service{Store: st, Hostname: "airlock.test"}
	}
	h := activesync.New(activesync.Options{Store: st, Devices: dev, Authenticator: auth, Notifier: broker, Mail: o.Mail, Ping: o.Ping, SMSDomain: o.SMSDomain, Limits: o.Limits})
	// The handler is served as web mounts it, at /Microsoft-Server-ActiveSync;
	// serving it directly keeps protocol tests free of the dashboard.
	mux := http.NewServeMux()
	mux.Handle("/Microsoft-Server-ActiveSync", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		h.EndHeldRequests() // or Close waits for every held Ping
		srv.Close()
		stopBroker()
		if n := h.PanicsRecovered.Load(); n != 0 {
			t.Errorf("%d panics recovered while serving", n)
		}
	})
	return &Server{URL: srv.URL, Store: st, Devices: dev, Handler: h, Auth: auth, Broker: broker, Mail: o.Mail}
}

// AddUser creates a user with a password and returns it.
func (s *Server) AddUser(t testing.TB, email, pw string) *store.User {
	t.Helper()
	h, err := password.Hash(pw, password.Default)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: email, DisplayName: email, PasswordHash: h}
	if err := s.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// Admin is an administrator acting from the tests.
var Admin = devices.Actor{Email: "admin@example.nhs.uk", Admin: true, IP: "127.0.0.1"}
