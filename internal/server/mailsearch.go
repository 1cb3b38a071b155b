package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"airlock/message"
	"airlock/store"
)

// backfillSearchText gives mail stored before mailbox search looked in
// bodies (migration 00051) its searchable text, in the background, a batch
// at a time, so a large mailbox store does not delay the start. Until it
// is done such mail is still found by subject, addresses and preview.
// Several nodes may run it at once: each text is written once (the first
// wins), the others skip it. The returned function waits for it to stop
// (once ctx is cancelled), before the store closes.
func backfillSearchText(ctx context.Context, st *store.Store, log *slog.Logger) (wait func()) {
	return backfill(ctx, log, "search text", func(ctx context.Context) (int, error) {
		return st.BackfillSearchText(ctx, message.SearchText, 200)
	})
}

// backfillBodies renders the bodies of mail stored before they were kept
// rendered (migration 00090), in the background like backfillSearchText:
// until it reaches a message, Sync renders that message when it is read,
// as before. It resumes where it stopped: what is done is in blob_bodies.
func backfillBodies(ctx context.Context, st *store.Store, log *slog.Logger) (wait func()) {
	return backfill(ctx, log, "body", func(ctx context.Context) (int, error) {
		return st.BackfillBodies(ctx, message.Render, 200)
	})
}

// backfill runs batch until it returns 0, in a goroutine of its own that
// recovers; the returned function waits for it to stop.
func backfill(ctx context.Context, log *slog.Logger, what string, batch func(context.Context) (int, error)) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic in "+what+" backfill", "panic", p, "stack", string(debug.Stack()))
			}
		}()
		total, start := 0, time.Now()
		for ctx.Err() == nil {
			n, err := batch(ctx)
			if err != nil {
				if ctx.Err() == nil {
					log.Error(what+" backfill", "err", err, "done", total)
				}
				return
			}
			if n == 0 {
				break
			}
			total += n
		}
		if total > 0 {
			log.Info(what+" backfill done", "messages", total, "took", time.Since(start))
		}
	}()
	return func() { <-done }
}
