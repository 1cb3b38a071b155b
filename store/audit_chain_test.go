package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

var auditKey = bytes.Repeat([]byte{7}, 32)

// keyedChain writes two events before the audit key existed and three
// after, and returns the keyed store, a keyless one on the same database,
// and the events in order.
func keyedChain(t *testing.T, dialect string) (*store.Store, *store.Store, []store.AuditEvent) {
	t.Helper()
	dsn := storetest.DSN(t, dialect)
	open := func(key []byte) *store.Store {
		s, err := store.Open(ctx, dsn, store.Options{AuditKey: key})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	keyless, keyed := open(nil), open(auditKey)
	for i := 0; i < 5; i++ {
		s := keyless
		if i >= 2 {
			s = keyed
		}
		if err := s.Audit(ctx, &store.AuditEvent{Actor: "admin@example.nhs.uk", ActorIP: "127.0.0.1", Action: "device.block", Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := keyed.ListAudit(ctx, store.AuditFilter{Limit: 100})
	if err != nil || len(evs) != 5 {
		t.Fatalf("list: %d %v", len(evs), err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return keyed, keyless, evs
}

// rewrite edits event from (an index into evs) and recomputes every hash
// from there on with hash, as someone who can write the database would.
func rewrite(t *testing.T, s *store.Store, evs []store.AuditEvent, from int, hash func(*store.AuditEvent) string) {
	t.Helper()
	sqlDB, _ := s.SQL()
	evs[from].Target = "edited"
	prev := ""
	if from > 0 {
		prev = evs[from-1].Hash
	}
	for i := from; i < len(evs); i++ {
		e := &evs[i]
		e.PrevHash = prev
		e.Hash = hash(e)
		prev = e.Hash
		if _, err := sqlDB.Exec("UPDATE audit_events SET target = $1, prev_hash = $2, hash = $3 WHERE id = $4", e.Target, e.PrevHash, e.Hash, e.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditChainRewriteDetected(t *testing.T) {
	attackerKey := bytes.Repeat([]byte{9}, 32)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Run("intact", func(t *testing.T) {
				s, keyless, evs := keyedChain(t, dialect)
				r, err := s.VerifyAudit(ctx)
				if err != nil || r.BadID != 0 || r.Events != 5 || r.LegacyEvents != 2 || r.FirstKeyedID != evs[2].ID || r.Head.ID != evs[4].ID {
					t.Fatalf("intact chain: %+v %v", r, err)
				}
				// Without the key nothing can be appended or checked.
				if err := keyless.Audit(ctx, &store.AuditEvent{Action: "forged"}); !errors.Is(err, store.ErrAuditKeyRequired) {
					t.Fatalf("keyless append to a keyed chain: %v", err)
				}
				if _, err := keyless.VerifyAudit(ctx); !errors.Is(err, store.ErrAuditKeyRequired) {
					t.Fatalf("keyless verify of a keyed chain: %v", err)
				}
			})
			for _, tc := range []struct {
				name     string
				from, to int // the events rewritten: evs[from:to]
				hash     func(*store.AuditEvent) string
				bad      int // index of the event reported
			}{
				{"keyed event edited, unkeyed hashes recomputed", 3, 5, store.LegacyAuditHash, 3},
				{"keyed event edited, chain recomputed under another key", 3, 5, func(e *store.AuditEvent) string { return store.KeyedAuditHash(attackerKey, e) }, 3},
				{"legacy event edited, legacy prefix recomputed", 0, 2, store.LegacyAuditHash, 2},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s, _, evs := keyedChain(t, dialect)
					rewrite(t, s, evs[:tc.to], tc.from, tc.hash)
					r, err := s.VerifyAudit(ctx)
					if err != nil || r.BadID != evs[tc.bad].ID {
						t.Fatalf("reported %+v (%v), want event %d", r, err, evs[tc.bad].ID)
					}
				})
			}
		})
	}
}
