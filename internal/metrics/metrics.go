// Package metrics holds Airlock's process-wide Prometheus metrics, so that
// every package (the web layer, the EAS engine, Ping) can count into the
// same series without importing each other. The web layer serves them at
// /metrics together with the collectors that read the database at scrape
// time.
//
// Labels never carry user or device ids: commands come from a
// fixed list, everything else is folded into "other".
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry holds the process-wide metrics below, plus the Go runtime and
// process collectors.
var Registry = prometheus.NewRegistry()

var (
	// EASRequests counts ActiveSync requests by command and HTTP status.
	EASRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "airlock", Name: "eas_requests_total",
		Help: "ActiveSync requests by command (from the request line) and HTTP status code.",
	}, []string{"command", "status"})

	// EASDuration is how long ActiveSync requests took, by command. Ping
	// and Sync with Wait are long polls: their durations measure the hold,
	// not the server's work; SyncLatency is the one to watch for those.
	EASDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "airlock", Name: "eas_request_duration_seconds",
		Help:    "ActiveSync request duration by command (long polls included).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600},
	}, []string{"command"})

	// SyncLatency is how long Sync requests take, with finer buckets than
	// EASDuration. A Sync with Wait is a long poll and lands in the top
	// buckets. The web layer's EAS middleware observes it.
	SyncLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "airlock", Name: "sync_latency_seconds",
		Help:    "Duration of ActiveSync Sync requests (a Sync with Wait includes its hold).",
		Buckets: []float64{.005, .01, .025, .05, .075, .1, .15, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})

	// ActivePings is the number of Ping requests in flight: a Ping is held
	// for its heartbeat, so this is the number of devices waiting for
	// changes on this node. The web layer's EAS middleware keeps it (Inc
	// when a Ping arrives, Dec when its handler returns), and the EAS
	// handler for a Ping that waits after taking its connection over from
	// net/http (Inc then, Dec when it is answered: activesync/ping_detach.go);
	// nothing else should change it.
	ActivePings = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "airlock", Name: "eas_active_pings",
		Help: "Ping requests currently held open on this node.",
	})

	// PanicsRecovered counts panics caught at an edge (HTTP handlers,
	// goroutines). Tests fail when it moves.
	PanicsRecovered = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "airlock", Name: "panics_recovered_total",
		Help: "Panics recovered at the edges of the server.",
	})

	// WebRequests counts dashboard, API and autodiscover requests by route
	// group and status class.
	WebRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "airlock", Name: "web_requests_total",
		Help: "Web requests by area (dashboard, api, autodiscover, setup, other) and status code.",
	}, []string{"area", "status"})
)

func init() {
	Registry.MustRegister(EASRequests, EASDuration, SyncLatency, ActivePings, PanicsRecovered, WebRequests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// easCommands are the command names (MS-ASCMD 2.2.1) that may appear as a
// label value.
var easCommands = map[string]bool{
	"Autodiscover": true, "Find": true, "FolderCreate": true, "FolderDelete": true, "FolderSync": true,
	"FolderUpdate": true, "GetAttachment": true, "GetItemEstimate": true, "ItemOperations": true,
	"MeetingResponse": true, "MoveItems": true, "Ping": true, "Provision": true, "ResolveRecipients": true,
	"Search": true, "SendMail": true, "Settings": true, "SmartForward": true, "SmartReply": true,
	"Sync": true, "ValidateCert": true, "OPTIONS": true,
}

// CommandLabel maps a command name from a request to a bounded label value.
func CommandLabel(cmd string) string {
	if easCommands[cmd] {
		return cmd
	}
	if cmd == "" {
		return "none"
	}
	return "other"
}

// StatusLabel turns an HTTP status code into a label value.
func StatusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}
