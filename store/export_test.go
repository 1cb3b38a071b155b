package store

import (
	"context"
	"encoding/hex"
)

// The attacker's tools: the hash algorithms are public, only the key is
// not.

// LegacyAuditHash is the unkeyed hash anyone can recompute.
var LegacyAuditHash = auditHash

// KeyedAuditHash is the keyed hash under key (the attacker's own key, in
// the tests).
func KeyedAuditHash(key []byte, e *AuditEvent) string {
	return keyedPrefix + hex.EncodeToString(auditMAC(key, e))
}

// ReopenKeys opens the store's keys again, as Open does: for a test that
// emptied the schema under an open store.
func ReopenKeys(ctx context.Context, s *Store) error { return s.openKeys(ctx, s.keySource) }
