// Package web serves everything people and devices reach over HTTP: the
// ActiveSync endpoint (mounted from package activesync), autodiscover, the
// admin dashboard, the users' device page, setup guides, the admin JSON API,
// health checks and metrics.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"airlock/store"
)

// Deps are what the web layer needs from the rest of Airlock.
type Deps struct {
	Store    *store.Store
	Log      *slog.Logger
	Hostname string
	// EAS serves /Microsoft-Server-ActiveSync; nil leaves it unmounted.
	EAS http.Handler
}

// New returns the HTTP handler of the whole server.
func New(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := d.Store.Ping(ctx); err != nil {
			d.Log.Warn("readiness check failed", "err", err)
			return c.String(http.StatusServiceUnavailable, "database unavailable\n")
		}
		return c.String(http.StatusOK, "ready\n")
	})
	if d.EAS != nil {
		h := echo.WrapHandler(d.EAS)
		e.Any("/Microsoft-Server-ActiveSync", h)
		e.Any("/Microsoft-Server-ActiveSync/*", h)
	}
	return e
}
