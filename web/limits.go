package web

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet keeps one token bucket per key (a client address, an
// account), forgetting idle ones so the map stays bounded. Limits are per
// node: with N nodes behind a balancer a guesser gets N times the rate,
// which the store-backed EAS lockout (shared by all nodes) still caps for
// passwords.
type limiterSet struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	m     map[string]*limiterEntry
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const limiterIdle = 30 * time.Minute

func newLimiterSet(perSecond float64, burst int) *limiterSet {
	return &limiterSet{every: rate.Limit(perSecond), burst: burst, m: map[string]*limiterEntry{}}
}

func (l *limiterSet) get(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.m) > 50000 {
		for k, e := range l.m {
			if now.Sub(e.seen) > limiterIdle {
				delete(l.m, k)
			}
		}
	}
	e, ok := l.m[key]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(l.every, l.burst)}
		l.m[key] = e
	}
	e.seen = now
	return e.lim
}

// allow takes a token for key if one is available.
func (l *limiterSet) allow(key string) bool { return l.get(key).Allow() }

// loginLimits slow sign-in attempts per client address on this node,
// before any lookup. The lockout itself (per account and per address,
// shared by all nodes and entry points) is authguard's.
type loginLimits struct {
	ip *limiterSet
}

func newLoginLimits() *loginLimits {
	return &loginLimits{
		ip: newLimiterSet(1.0/3, 20), // 20 at once, then one every 3 s
	}
}
