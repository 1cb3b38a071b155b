package push

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"time"

	"airlock/store"
)

// announceTimeout bounds the NOTIFY a request waits for. An announcement
// that fails only costs cross-node supersession (the old Ping then ends at
// its heartbeat), so it is never worth holding a request up for long.
const announceTimeout = time.Second

// arrivals carries device requests between nodes (activesync's
// supersession of held Pings and Syncs by a newer Ping or Sync): Announce
// sends one, and every node's listener, this one's included, hands it to
// the functions registered with OnArrival. Without PostgreSQL there is one node and nothing to carry.
type arrivals struct {
	node     string
	announce func(context.Context, store.Arrival) error // nil: one node
	log      *slog.Logger

	mu   sync.RWMutex
	next int
	fns  map[int]func(devicePK int64, seq uint64, own bool)
}

// Announce tells every node that a request of the device arrived here; seq
// is this node's order of the request. It waits for the NOTIFY (at most
// announceTimeout) so that the announcement takes its place in PostgreSQL's
// order before the request goes on. It does nothing on SQLite.
func (b *Broker) Announce(devicePK int64, seq uint64) {
	a := &b.arrivals
	if a.announce == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
	defer cancel()
	if err := a.announce(ctx, store.Arrival{DevicePK: devicePK, Node: a.node, Seq: seq}); err != nil {
		a.logger().Debug("could not announce a request to the other nodes", "err", err)
	}
}

// CrossNode reports whether announcements reach other nodes (PostgreSQL).
func (b *Broker) CrossNode() bool { return b.arrivals.announce != nil }

// OnArrival registers fn for every announced request: devicePK and seq as
// announced, own when this node announced it. PostgreSQL delivers
// notifications in commit order, the same order to every node, so a node
// that hears its own announcement of a request and then another node's
// knows the other request is the newer one. fn must not block. The
// returned function unregisters it.
func (b *Broker) OnArrival(fn func(devicePK int64, seq uint64, own bool)) (cancel func()) {
	a := &b.arrivals
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fns == nil {
		a.fns = map[int]func(int64, uint64, bool){}
	}
	a.next++
	id := a.next
	a.fns[id] = fn
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			delete(a.fns, id)
			a.mu.Unlock()
		})
	}
}

// arrived hands an announcement heard by the listener to the registered
// functions.
func (b *Broker) arrived(x store.Arrival) {
	a := &b.arrivals
	own := x.Node == a.node
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, fn := range a.fns {
		fn(x.DevicePK, x.Seq, own)
	}
}

func (a *arrivals) logger() *slog.Logger {
	if a.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.log
}

// nodeName is a random name for this process, unique among the nodes.
func nodeName() string { return rand.Text()[:16] }
