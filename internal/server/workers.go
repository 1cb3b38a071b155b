package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"airlock/internal/authguard"
)

// goRecover runs fn in a goroutine counted in wg that survives (and logs)
// a panic: one background worker (a listener, the relay queue, a sweeper)
// failing must not take the node's EAS service down with it.
func goRecover(wg *sync.WaitGroup, log *slog.Logger, what string, fn func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic in "+what, "panic", p, "stack", string(debug.Stack()))
			}
		}()
		fn()
	}()
}

// sweepAuth runs the guard's sweep every minute (audit summaries written,
// old failure counters expired) until the returned stop is called, which
// also writes the summaries still pending.
func sweepAuth(ctx context.Context, g *authguard.Guard, log *slog.Logger) (stop func()) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	goRecover(&wg, log, "sign-in sweep", func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := g.Sweep(ctx); err != nil {
					log.Warn("sign-in sweep", "err", err)
				}
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		g.Flush(context.Background())
	}
}
