package store

import "context"

// ReopenKeys opens the store's keys again, as Open does: for a test that
// emptied the schema under an open store.
func ReopenKeys(ctx context.Context, s *Store) error { return s.openKeys(ctx, s.keySource) }
