package eastest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/devices"
	"airlock/internal/password"
	"airlock/store"
)

// Server is a real Airlock HTTP stack on a loopback port.
type Server struct {
	URL     string
	Store   *store.Store
	Devices *devices.Service
	Handler *activesync.Handler
	Auth    *activesync.BasicAuth
}

// StartServer serves the EAS handler on st, on a loopback port. The test fails at cleanup if any request
// panicked.
func StartServer(t testing.TB, st *store.Store) *Server {
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
	h := activesync.New(activesync.Options{Store: st, Devices: dev, Authenticator: auth})
	// The handler is served as web mounts it, at /Microsoft-Server-ActiveSync;
	// serving it directly keeps protocol tests free of the dashboard.
	mux := http.NewServeMux()
	mux.Handle("/Microsoft-Server-ActiveSync", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		if n := h.PanicsRecovered.Load(); n != 0 {
			t.Errorf("%d panics recovered while serving", n)
		}
	})
	return &Server{URL: srv.URL, Store: st, Devices: dev, Handler: h, Auth: auth}
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
