package push_test

import (
	"testing"
	"time"

	"airlock/push"
	"airlock/store"
	"airlock/store/storetest"
)

type heardArrival struct {
	device int64
	seq    uint64
	own    bool
}

func listenArrivals(b *push.Broker) (<-chan heardArrival, func()) {
	ch := make(chan heardArrival, 16)
	cancel := b.OnArrival(func(device int64, seq uint64, own bool) {
		select {
		case ch <- heardArrival{device, seq, own}:
		default:
		}
	})
	return ch, cancel
}

func nextArrival(t *testing.T, ch <-chan heardArrival) heardArrival {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("no arrival heard within 5 s")
		return heardArrival{}
	}
}

// Two nodes on one PostgreSQL database: a request announced on one is heard
// by both, as its own by the announcer only, in the order announced;
// malformed payloads are ignored. On SQLite there is one node and nothing
// to announce.
func TestArrivalsCrossNodesInOneOrder(t *testing.T) {
	srv, name := storetest.Postgres(t)
	st1, st2 := open(t, srv.URL(name)), open(t, srv.URL(name))
	b1, stop1, err := push.Attach(ctx, st1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop1()
	b2, stop2, err := push.Attach(ctx, st2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if !b1.CrossNode() || !b2.CrossNode() {
		t.Fatal("brokers on PostgreSQL do not cross nodes")
	}
	h1, cancel1 := listenArrivals(b1)
	defer cancel1()
	h2, cancel2 := listenArrivals(b2)
	defer cancel2()

	b1.Announce(42, 1)
	if err := st2.NotifyArrival(ctx, store.Arrival{DevicePK: 0, Node: "x", Seq: 1}); err != nil { // malformed: device 0
		t.Fatal(err)
	}
	b2.Announce(42, 7)
	b1.Announce(43, 2)
	for _, c := range []struct {
		ch   <-chan heardArrival
		want []heardArrival
	}{
		{h1, []heardArrival{{42, 1, true}, {42, 7, false}, {43, 2, true}}},
		{h2, []heardArrival{{42, 1, false}, {42, 7, true}, {43, 2, false}}},
	} {
		for i, want := range c.want {
			if got := nextArrival(t, c.ch); got != want {
				t.Fatalf("arrival %d: %+v, want %+v", i, got, want)
			}
		}
	}
	// Unregistered: heard no more.
	cancel1()
	b2.Announce(44, 8)
	if got := nextArrival(t, h2); got != (heardArrival{44, 8, true}) {
		t.Fatalf("after cancel: %+v", got)
	}
	select {
	case a := <-h1:
		t.Fatalf("a cancelled listener heard %+v", a)
	case <-time.After(200 * time.Millisecond):
	}

	sq := storetest.OpenSQLite(t)
	b3, stop3, err := push.Attach(ctx, sq, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop3()
	if b3.CrossNode() {
		t.Fatal("a SQLite broker claims to cross nodes")
	}
	b3.Announce(1, 1) // does nothing, and does not fail
}
