package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"airlock/migrations"
	"airlock/store"
)

// Attach connects a new Broker to st's changes: the OnCommit hook on SQLite,
// a PGListener goroutine on PostgreSQL. On PostgreSQL it waits (up to 10 s)
// for the first LISTEN, so no change committed after Attach returns is
// missed. stop ends the listener (or removes the hook) and waits for it.
func Attach(ctx context.Context, st *store.Store, log *slog.Logger) (b *Broker, stop func(), err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b = NewBroker()
	if st.Dialect() != migrations.Postgres {
		remove := st.OnCommit(b.Publish)
		return b, remove, nil
	}
	b.arrivals.announce, b.arrivals.log = st.NotifyArrival, log
	l := &PGListener{Dial: st.DialNotify, Publish: b.Publish, Resync: b.WakeAll, Arrival: b.arrived, Log: log}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic in change listener", "panic", p, "stack", string(debug.Stack()))
			}
		}()
		l.Run(runCtx)
	}()
	stop = func() { cancel(); wg.Wait() }
	select {
	case <-l.Ready():
		return b, stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return nil, nil, errors.New("push: could not LISTEN on PostgreSQL within 10 s")
	case <-ctx.Done():
		stop()
		return nil, nil, fmt.Errorf("push: %w", ctx.Err())
	}
}
