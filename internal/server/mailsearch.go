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
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic in search text backfill", "panic", p, "stack", string(debug.Stack()))
			}
		}()
		total, start := 0, time.Now()
		for ctx.Err() == nil {
			n, err := st.BackfillSearchText(ctx, message.SearchText, 200)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("search text backfill", "err", err, "done", total)
				}
				return
			}
			if n == 0 {
				break
			}
			total += n
		}
		if total > 0 {
			log.Info("search text backfill done", "messages", total, "took", time.Since(start))
		}
	}()
	return func() { <-done }
}
