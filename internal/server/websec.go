package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// WebSecurityConfig is the part of Config about the dashboard's sessions
// and the metrics listener.
type WebSecurityConfig struct {
	// MetricsListen is HOST:PORT of the Prometheus listener, kept off the
	// main listener that phones and the internet reach. The command line
	// defaults it to 127.0.0.1:9464; empty: metrics are not served.
	MetricsListen string
	// SessionMaxAge and AdminSessionMaxAge bound a browser session however
	// active it is (defaults 12 h and 8 h).
	SessionMaxAge, AdminSessionMaxAge time.Duration
}

func (c *Config) webSecurityValidate() error {
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("--metrics-listen %q: want HOST:PORT", c.MetricsListen)
		}
	}
	if c.SessionMaxAge < 0 || c.AdminSessionMaxAge < 0 {
		return errors.New("session lifetimes cannot be negative")
	}
	return nil
}

// startMetrics serves h on cfg.MetricsListen. Metrics are not worth
// failing the start for: a busy address is logged and skipped.
func startMetrics(cfg Config, h http.Handler, log *slog.Logger, out io.Writer) (stop func()) {
	if cfg.MetricsListen == "" {
		return func() {}
	}
	ln, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		log.Error("metrics listener not started", "addr", cfg.MetricsListen, "err", err)
		return func() {}
	}
	fmt.Fprintf(out, "Metrics on http://%s/metrics\n", ln.Addr())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	var wg sync.WaitGroup
	goRecover(&wg, log, "metrics listener", func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "err", err)
		}
	})
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		wg.Wait()
	}
}
