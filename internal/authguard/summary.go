package authguard

import (
	"context"
	"fmt"
	"sync"
	"time"

	"airlock/store"
)

// summariser writes the first failure of a kind from one source against
// one account in a period, and folds the rest into one row written when
// the period ends: a guesser's thousands of attempts become a few rows a
// minute, and each row still says how many there were.
type summariser struct {
	mu     sync.Mutex
	period time.Duration
	max    int
	write  func(ctx context.Context, e *store.AuditEvent)
	now    func() time.Time
	open   map[summaryKey]*summaryEntry
}

type summaryKey struct{ action, ip, account, outcome string }

type summaryEntry struct {
	start  time.Time
	more   int    // failures folded since the row at start
	detail string // the last one's reason
	event  store.AuditEvent
}

// add records one event: written at once if it is the first of its key in
// the period, counted otherwise.
func (s *summariser) add(ctx context.Context, e *store.AuditEvent, account string) {
	k := summaryKey{e.Action, e.ActorIP, account, e.Outcome}
	now := s.now()
	s.mu.Lock()
	ent, ok := s.open[k]
	if ok && now.Sub(ent.start) < s.period {
		ent.more++
		ent.detail = e.Detail
		s.mu.Unlock()
		return
	}
	var due []store.AuditEvent
	if ok {
		due = append(due, ent.summary())
	}
	if len(s.open) >= s.max { // bounded memory: flush everything early
		due = append(due, s.takeAll(time.Time{})...)
	}
	s.open[k] = &summaryEntry{start: now, event: *e}
	s.mu.Unlock()
	for i := range due {
		s.write(ctx, &due[i])
	}
	s.write(ctx, e)
}

// flush writes the summaries of periods that ended (all of them when
// before is zero).
func (s *summariser) flush(ctx context.Context, all bool) {
	cutoff := s.now().Add(-s.period)
	if all {
		cutoff = time.Time{}
	}
	s.mu.Lock()
	due := s.takeAll(cutoff)
	s.mu.Unlock()
	for i := range due {
		s.write(ctx, &due[i])
	}
}

// takeAll removes the entries that started before cutoff (every one when
// cutoff is zero) and returns the summary rows owed for them.
func (s *summariser) takeAll(cutoff time.Time) []store.AuditEvent {
	var due []store.AuditEvent
	for k, ent := range s.open {
		if !cutoff.IsZero() && !ent.start.Before(cutoff) {
			continue
		}
		delete(s.open, k)
		if ent.more > 0 {
			due = append(due, ent.summary())
		}
	}
	return due
}

func (ent *summaryEntry) summary() store.AuditEvent {
	e := ent.event
	e.ID, e.At = 0, time.Time{}
	e.Detail = fmt.Sprintf("%d more from this address since %s (last: %s)", ent.more, ent.start.UTC().Format(time.RFC3339), ent.detail)
	return e
}
