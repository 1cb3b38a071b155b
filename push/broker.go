package push

import (
	"sync"

	"airlock/store"
)

// Resync is sent to every subscriber by WakeAll: changes may have been
// missed, re-read the counters.
const Resync int64 = -1

// Broker fans changes out to in-process subscribers. The zero value is not
// usable; create it with NewBroker. It is safe for concurrent use.
type Broker struct {
	mu    sync.Mutex
	users map[int64][]*subscription
	n     int

	arrivals arrivals // device requests between nodes (arrivals.go)
}

type subscription struct {
	user    int64
	folders []int64
	ch      chan int64
}

// NewBroker returns an empty broker.
func NewBroker() *Broker {
	return &Broker{users: map[int64][]*subscription{}, arrivals: arrivals{node: nodeName()}}
}

// Subscribe registers interest in some of a user's folders and in the user's
// hierarchy (activesync.Notifier). The channel receives a folder id when
// that folder changes, 0 when the hierarchy changes and Resync after a
// reconnect; it has a buffer of one and is never closed. cancel must be
// called; calling it again is harmless.
func (b *Broker) Subscribe(userID int64, folderIDs []int64) (<-chan int64, func()) {
	s := &subscription{user: userID, folders: append([]int64(nil), folderIDs...), ch: make(chan int64, 1)}
	b.mu.Lock()
	b.users[userID] = append(b.users[userID], s)
	b.n++
	b.mu.Unlock()
	var once sync.Once
	return s.ch, func() { once.Do(func() { b.remove(s) }) }
}

func (b *Broker) remove(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	subs := b.users[s.user]
	for i, x := range subs {
		if x == s {
			last := len(subs) - 1
			subs[i] = subs[last]
			subs[last] = nil
			subs = subs[:last]
			b.n--
			break
		}
	}
	if len(subs) == 0 {
		delete(b.users, s.user)
	} else {
		b.users[s.user] = subs
	}
}

// Publish wakes the user's subscribers that watch the changed folder, and
// all of them for a hierarchy change. It never blocks.
func (b *Broker) Publish(c store.Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.users[c.UserID] {
		if c.FolderID == 0 || watches(s.folders, c.FolderID) {
			send(s.ch, c.FolderID)
		}
	}
}

// WakeAll sends Resync to every subscriber.
func (b *Broker) WakeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, subs := range b.users {
		for _, s := range subs {
			send(s.ch, Resync)
		}
	}
}

// Subscribers returns how many subscriptions are open (the number of held
// Pings), for metrics and tests.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

func watches(folders []int64, id int64) bool {
	for _, f := range folders {
		if f == id {
			return true
		}
	}
	return false
}

// send delivers v unless a wake-up is already pending.
func send(ch chan int64, v int64) {
	select {
	case ch <- v:
	default:
	}
}
