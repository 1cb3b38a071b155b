package cli

import (
	"flag"
	"time"

	"airlock/internal/server"
)

// webSecurityFlags declares serve's session-lifetime and metrics flags.
func webSecurityFlags(fs *flag.FlagSet, c *server.WebSecurityConfig) {
	fs.StringVar(&c.MetricsListen, "metrics-listen", envOr("AIRLOCK_METRICS_LISTEN", "127.0.0.1:9464"), "Prometheus /metrics address, apart from the main listener; empty: off ($AIRLOCK_METRICS_LISTEN)")
	staff, _ := time.ParseDuration(envOr("AIRLOCK_SESSION_MAX_AGE", "12h"))
	admin, _ := time.ParseDuration(envOr("AIRLOCK_ADMIN_SESSION_MAX_AGE", "8h"))
	fs.DurationVar(&c.SessionMaxAge, "session-max-age", staff, "longest a dashboard session lasts, however active ($AIRLOCK_SESSION_MAX_AGE)")
	fs.DurationVar(&c.AdminSessionMaxAge, "admin-session-max-age", admin, "the same for administrators ($AIRLOCK_ADMIN_SESSION_MAX_AGE)")
}
