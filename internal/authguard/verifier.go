package authguard

import (
	"context"
	"errors"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"airlock/internal/password"
)

// ErrBusy is returned when no verification slot came free in time: the
// client should retry later (EAS 503 with Retry-After, HTTP 503, an IMAP or
// SMTP temporary failure).
var ErrBusy = errors.New("too many password verifications at once; retry later")

// Verifier runs argon2id verifications, at most a fixed number at once.
// Each takes 19 MiB (password.Default), so the bound is a bound on memory:
// without it, a burst of requests, real or naming unknown accounts, grows
// the heap by 19 MiB per request in flight.
type Verifier struct {
	slots chan struct{}
	wait  time.Duration
	runs  atomic.Int64
	busy  atomic.Int64 // verifications running now
	peak  atomic.Int64 // the most that ever ran at once
}

// NewVerifier allows n verifications at once; a caller waits up to wait
// for a slot, then gets ErrBusy.
func NewVerifier(n int, wait time.Duration) *Verifier {
	if n < 1 {
		n = 1
	}
	return &Verifier{slots: make(chan struct{}, n), wait: wait}
}

// DefaultSlots is one verification per two CPUs, at most two. A
// verification in flight costs about 40 MB of resident memory in a burst
// (its 19 MiB block, and the pages of the one before until they are
// reused), so two keep a burst of any size under 100 MB; at 20 ms each
// they still verify 100 passwords a second per node, and EAS devices are
// mostly served from BasicAuth's credential cache.
func DefaultSlots() int { return min(max(runtime.NumCPU()/2, 1), 2) }

var shared = NewVerifier(DefaultSlots(), 10*time.Second)

// Shared is the process's verifier, used by every Guard not given its own.
func Shared() *Verifier { return shared }

// Verify checks pw against hash within the bound. An empty hash runs the
// dummy verification (an unknown account), at the same cost and under the
// same bound as a real one.
func (v *Verifier) Verify(ctx context.Context, pw, hash string) error {
	t := time.NewTimer(v.wait)
	defer t.Stop()
	select {
	case v.slots <- struct{}{}:
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { v.busy.Add(-1); <-v.slots }()
	v.reclaim()
	v.runs.Add(1)
	if n := v.busy.Add(1); n > v.peak.Load() {
		v.peak.Store(n) // racy max, exact enough for a high-water mark
	}
	if hash == "" {
		return password.VerifyDummy(pw)
	}
	return password.Verify(pw, hash)
}

// reclaim collects garbage before a verification allocates its block
// when the dead blocks of earlier ones exceed one slot per slot. Left to
// the pacer (GOGC=100), the heap grows to twice its live size before a
// collection, so under a burst of sign-ins the dead 19 MiB blocks would
// double what the bound allows. The blocks hold no pointers, so a cycle
// has little to mark (a millisecond or two of CPU against argon2id's 20
// ms), and only a burst pays it: at a normal rate the pacer's own cycles
// keep the garbage under the threshold.
func (v *Verifier) reclaim() {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return
	}
	if s[0].Value.Uint64() > s[1].Value.Uint64()+uint64(cap(v.slots))*blockBytes {
		runtime.GC()
	}
}

// blockBytes is what one verification allocates (password.Default).
const blockBytes = uint64(password.DefaultMemoryKiB) << 10

// Peak is the most verifications that ran at once.
func (v *Verifier) Peak() int64 { return v.peak.Load() }

// Slots is how many verifications may run at once.
func (v *Verifier) Slots() int { return cap(v.slots) }

// Runs is how many verifications have run: for tests and metrics.
func (v *Verifier) Runs() int64 { return v.runs.Load() }
