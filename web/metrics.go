package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"airlock/activesync"
	"airlock/internal/metrics"
	"airlock/store"
)

// countEAS counts ActiveSync requests by command and HTTP status, times
// them, and keeps the gauge of held Pings. The command comes from the
// request line (plain or base64 form).
func countEAS(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		cmd := "OPTIONS"
		if c.Request().Method != "OPTIONS" {
			q, _ := activesync.ParseQuery(c.Request())
			cmd = q.Cmd
		}
		if cmd == "Ping" {
			metrics.ActivePings.Inc()
			defer metrics.ActivePings.Dec()
		}
		err := next(c)
		status := c.Response().Status
		if he, ok := err.(*echo.HTTPError); ok {
			status = he.Code
		}
		took := time.Since(start).Seconds()
		label := metrics.CommandLabel(cmd)
		metrics.EASRequests.WithLabelValues(label, metrics.StatusLabel(status)).Inc()
		metrics.EASDuration.WithLabelValues(label).Observe(took)
		if cmd == "Sync" {
			metrics.SyncLatency.Observe(took)
		}
		return err
	}
}

// countWeb counts the other HTTP requests by area and status.
func countWeb(area string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			status := c.Response().Status
			if he, ok := err.(*echo.HTTPError); ok {
				status = he.Code
			} else if err != nil && !c.Response().Committed {
				status = 500
			}
			metrics.WebRequests.WithLabelValues(area, metrics.StatusLabel(status)).Inc()
			return err
		}
	}
}

// deviceCollector reports devices by state, read from the database at
// scrape time (one GROUP BY over an indexed column).
type deviceCollector struct {
	st *store.Store
}

var devicesDesc = prometheus.NewDesc("airlock_devices", "Devices by access state.", []string{"state"}, nil)
var scrapeErrDesc = prometheus.NewDesc("airlock_devices_scrape_error", "1 if reading device counts failed during this scrape.", nil, nil)

func (d *deviceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- devicesDesc
	ch <- scrapeErrDesc
}

func (d *deviceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := d.st.CountDevicesBy(ctx, "state")
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, failed)
	seen := map[string]bool{}
	for _, c := range counts {
		seen[c.Key] = true
		ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(c.Count), c.Key)
	}
	if err == nil {
		// Every state is reported, zero included, so alerts see it.
		for _, st := range stateOrder {
			if !seen[string(st)] {
				ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, 0, string(st))
			}
		}
	}
}

// MetricsHandler serves the process-wide metrics plus this server's
// database collector. It is not routed on the main listener: device counts
// by state and request rates are reconnaissance for an attacker, so the
// server serves them on a listener of their own, loopback by default.
func (s *Server) MetricsHandler() http.Handler {
	local := prometheus.NewRegistry()
	local.MustRegister(s.metrics)
	return promhttp.HandlerFor(prometheus.Gatherers{metrics.Registry, local}, promhttp.HandlerOpts{ErrorLog: nil})
}
