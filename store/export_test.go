package store

import "encoding/hex"

// The attacker's tools: the hash algorithms are public, only the key is
// not.

// LegacyAuditHash is the unkeyed hash anyone can recompute.
var LegacyAuditHash = auditHash

// KeyedAuditHash is the keyed hash under key (the attacker's own key, in
// the tests).
func KeyedAuditHash(key []byte, e *AuditEvent) string {
	return keyedPrefix + hex.EncodeToString(auditMAC(key, e))
}
