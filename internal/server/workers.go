package server

import (
	"log/slog"
	"runtime/debug"
	"sync"
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
