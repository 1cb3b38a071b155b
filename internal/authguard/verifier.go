package authguard

import (
	"context"
	"errors"
	"runtime"
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
}

// NewVerifier allows n verifications at once; a caller waits up to wait
// for a slot, then gets ErrBusy.
func NewVerifier(n int, wait time.Duration) *Verifier {
	if n < 1 {
		n = 1
	}
	return &Verifier{slots: make(chan struct{}, n), wait: wait}
}

// DefaultSlots is one verification per CPU, at most four: argon2id with
// one lane is CPU-bound, so more at once adds memory, not throughput, and
// four keep the verifier's memory under 80 MiB on any machine.
func DefaultSlots() int { return min(runtime.NumCPU(), 4) }

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
	defer func() { <-v.slots }()
	v.runs.Add(1)
	if hash == "" {
		return password.VerifyDummy(pw)
	}
	return password.Verify(pw, hash)
}

// Runs is how many verifications have run: for tests and metrics.
func (v *Verifier) Runs() int64 { return v.runs.Load() }
