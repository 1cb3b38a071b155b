package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"airlock/store"
)

// PGListener holds one dedicated PostgreSQL connection doing LISTEN on
// store.ChangeChannel and hands every change it hears to Publish. It
// reconnects with exponential backoff (and jitter) when the connection
// fails, and calls Resync after every reconnect, because NOTIFYs sent while
// it was away are lost.
type PGListener struct {
	// Dial opens the dedicated connection (store.Store.DialNotify).
	Dial func(ctx context.Context) (*pgx.Conn, error)
	// Publish receives each change; it must not block (Broker.Publish).
	Publish func(store.Change)
	// Resync is called after a reconnect (Broker.WakeAll); may be nil.
	Resync func()
	// Arrival, when set, also LISTENs on store.ArrivalChannel and receives
	// each device request announced by any node (Broker.arrived); it must
	// not block.
	Arrival func(store.Arrival)
	Log     *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between reconnects; defaults
	// 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// HealthInterval is how long the connection may stay silent before it
	// is checked with a round trip; default 30 s. A connection that died
	// without a reset is noticed within about twice this.
	HealthInterval time.Duration

	readyOnce sync.Once
	ready     chan struct{}
	mu        sync.Mutex
	// Reconnects counts successful connections after the first.
	Reconnects atomic.Int64
	// PanicsRecovered counts panics caught in the loop.
	PanicsRecovered atomic.Int64
}

func (l *PGListener) init() {
	l.mu.Lock()
	if l.ready == nil {
		l.ready = make(chan struct{})
	}
	l.mu.Unlock()
}

// Ready is closed once the first LISTEN is in place: from then on no
// committed change is missed (or, after a reconnect, all get a Resync).
func (l *PGListener) Ready() <-chan struct{} {
	l.init()
	return l.ready
}

// Run listens until ctx is done. It returns nil then; it never gives up
// before.
func (l *PGListener) Run(ctx context.Context) error {
	l.init()
	if l.Log == nil {
		l.Log = slog.New(slog.DiscardHandler)
	}
	minB, maxB := l.MinBackoff, l.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB < minB {
		maxB = max(10*time.Second, minB)
	}
	backoff := minB
	connected := false
	for {
		start := time.Now()
		err := l.session(ctx, &connected)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			backoff = minB // it worked for a while: start over
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		l.Log.Warn("change listener disconnected; reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxB)
	}
}

// session connects, listens and forwards notifications until the
// connection fails or ctx ends.
func (l *PGListener) session(ctx context.Context, connected *bool) (err error) {
	defer func() {
		if p := recover(); p != nil {
			l.PanicsRecovered.Add(1)
			l.Log.Error("panic in change listener", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := l.Dial(dialCtx)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		cancel()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{store.ChangeChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if l.Arrival != nil {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{store.ArrivalChannel}.Sanitize()); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	if *connected {
		l.Reconnects.Add(1)
		l.Log.Info("change listener reconnected")
		if l.Resync != nil {
			l.Resync()
		}
	}
	*connected = true
	l.readyOnce.Do(func() { close(l.ready) })

	health := l.HealthInterval
	if health <= 0 {
		health = 30 * time.Second
	}
	for {
		waitCtx, cancel := context.WithTimeout(ctx, health)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil && n.Channel == store.ArrivalChannel:
			if l.Arrival == nil {
				continue
			}
			a, perr := store.ParseArrival(n.Payload)
			if perr != nil {
				l.Log.Warn("ignoring malformed arrival notification", "err", perr)
				continue
			}
			l.Arrival(a)
		case err == nil:
			c, perr := store.ParseChange(n.Payload)
			if perr != nil {
				l.Log.Warn("ignoring malformed change notification", "err", perr)
				continue
			}
			l.Publish(c)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || waitCtx.Err() != nil:
			// Silent for a while: make sure the connection is alive. A
			// timed-out wait leaves a pgx connection usable.
			pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return fmt.Errorf("health check: %w", err)
			}
		default:
			return err
		}
	}
}
