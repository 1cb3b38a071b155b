package push_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"airlock/push"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

func TestBrokerDeliversOnlyWatchedFoldersAndNeverBlocks(t *testing.T) {
	b := push.NewBroker()
	ch, cancel := b.Subscribe(1, []int64{10, 11})
	other, cancelOther := b.Subscribe(2, []int64{10})
	defer cancelOther()
	if n := b.Subscribers(); n != 2 {
		t.Fatalf("subscribers %d, want 2", n)
	}

	b.Publish(store.Change{UserID: 1, FolderID: 12}) // not watched
	b.Publish(store.Change{UserID: 3, FolderID: 10}) // another user
	expectNone(t, ch)
	b.Publish(store.Change{UserID: 1, FolderID: 11})
	if got := expectOne(t, ch); got != 11 {
		t.Fatalf("got %d, want 11", got)
	}
	b.Publish(store.Change{UserID: 1}) // hierarchy: every subscriber of the user
	if got := expectOne(t, ch); got != 0 {
		t.Fatalf("got %d, want 0 (hierarchy)", got)
	}
	expectNone(t, other)

	// A full buffer never blocks the publisher; one wake-up stays pending.
	for i := 0; i < 100; i++ {
		b.Publish(store.Change{UserID: 1, FolderID: 10})
	}
	expectOne(t, ch)
	expectNone(t, ch)

	b.WakeAll()
	if got := expectOne(t, ch); got != push.Resync {
		t.Fatalf("got %d, want Resync", got)
	}
	if got := expectOne(t, other); got != push.Resync {
		t.Fatalf("other got %d, want Resync", got)
	}

	cancel()
	cancel() // harmless twice
	if n := b.Subscribers(); n != 1 {
		t.Fatalf("subscribers %d after cancel, want 1", n)
	}
	b.Publish(store.Change{UserID: 1, FolderID: 10})
	expectNone(t, ch)
}

func expectOne(t *testing.T, ch <-chan int64) int64 {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(2 * time.Second):
		t.Fatal("no notification within 2 s")
		return 0
	}
}

func expectNone(t *testing.T, ch <-chan int64) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected notification %d", v)
	case <-time.After(50 * time.Millisecond):
	}
}

func newUser(t *testing.T, st *store.Store, email string) (*store.User, *store.Folder) {
	t.Helper()
	u := &store.User{Email: email}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	f, err := st.FolderByType(ctx, u.ID, store.FolderInbox)
	if err != nil {
		t.Fatal(err)
	}
	return u, f
}

// settle waits until every change committed so far on st has reached b
// (NOTIFY arrives in commit order: once a change committed now is heard,
// all earlier ones were published), then empties ch.
func settle(t *testing.T, st *store.Store, b *push.Broker, ch <-chan int64) {
	t.Helper()
	u := &store.User{Email: fmt.Sprintf("barrier%d@example.nhs.uk", time.Now().UnixNano())}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	bc, cancel := b.Subscribe(u.ID, nil)
	defer cancel()
	if _, err := st.CreateFolder(ctx, u.ID, 0, "Barrier", store.FolderUserMail); err != nil {
		t.Fatal(err)
	}
	for {
		if v := expectOne(t, bc); v == 0 {
			break
		}
	}
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func mail(u *store.User, f *store.Folder) *store.Item {
	return &store.Item{UserID: u.ID, FolderID: f.ID, Subject: "hello", MessageClass: "IPM.Note"}
}

// checkCommitOnly proves on one store that a committed write is published
// and a rolled-back one is not: the rolled-back Deliver bumps the Inbox
// counter before failing on its second recipient.
func checkCommitOnly(t *testing.T, writer *store.Store, b *push.Broker) {
	u, inbox := newUser(t, writer, "ward7@example.nhs.uk")
	sent, err := writer.FolderByType(ctx, u.ID, store.FolderSentItems)
	if err != nil {
		t.Fatal(err)
	}
	ch, cancel := b.Subscribe(u.ID, []int64{inbox.ID})
	defer cancel()
	settle(t, writer, b, ch) // the user's creation was a hierarchy change

	bad := store.Delivery{Raw: []byte("Subject: x\r\n\r\nx"), Items: []*store.Item{mail(u, inbox), {UserID: u.ID, FolderID: 1 << 40}}}
	if err := writer.Deliver(ctx, bad); err == nil {
		t.Fatal("delivery to a missing folder succeeded")
	}
	expectNone(t, ch)

	// A change in an unwatched folder of the same user is not delivered.
	if err := writer.AddItem(ctx, mail(u, sent), []byte("Subject: s\r\n\r\ns")); err != nil {
		t.Fatal(err)
	}
	expectNone(t, ch)

	start := time.Now()
	if err := writer.AddItem(ctx, mail(u, inbox), []byte("Subject: x\r\n\r\nx")); err != nil {
		t.Fatal(err)
	}
	if got := expectOne(t, ch); got != inbox.ID {
		t.Fatalf("got folder %d, want the Inbox %d", got, inbox.ID)
	}
	t.Logf("notified %v after the write began", time.Since(start))

	// A new folder is a hierarchy change.
	if _, err := writer.CreateFolder(ctx, u.ID, 0, "Projects", store.FolderUserMail); err != nil {
		t.Fatal(err)
	}
	if got := expectOne(t, ch); got != 0 {
		t.Fatalf("got %d, want 0 for the hierarchy", got)
	}
}

func TestSQLiteCommitWakesSubscriberInProcess(t *testing.T) {
	st := storetest.OpenSQLite(t)
	b, stop, err := push.Attach(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	checkCommitOnly(t, st, b)
}

// Two "nodes" (two Stores, each with its own pool) on one database: a
// subscriber on node 1 hears a write made through node 2.
func TestPostgresWriteOnOtherNodeWakesSubscriber(t *testing.T) {
	srv, name := storetest.Postgres(t)
	node1 := open(t, srv.URL(name))
	node2 := open(t, srv.URL(name))
	b, stop, err := push.Attach(ctx, node1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	checkCommitOnly(t, node2, b)
}

func open(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// After PostgreSQL restarts, the listener reconnects, wakes every
// subscriber once (changes made meanwhile were not heard), and hears new
// changes again.
func TestPostgresListenerSurvivesRestart(t *testing.T) {
	srv, name := storetest.Postgres(t)
	st := open(t, srv.URL(name))
	l := &push.PGListener{Dial: st.DialNotify, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	b := push.NewBroker()
	l.Publish, l.Resync = b.Publish, b.WakeAll
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	<-l.Ready()

	u, inbox := newUser(t, st, "theatre@example.nhs.uk")
	ch, unsub := b.Subscribe(u.ID, []int64{inbox.ID})
	defer unsub()
	settle(t, st, b, ch)

	// The test server runs with synchronous_commit=off and an immediate
	// stop is a crash: flush what we wrote so the restart keeps it.
	if db, err := st.SQL(); err != nil {
		t.Fatal(err)
	} else if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-ch:
		if v != push.Resync {
			t.Fatalf("got %d, want Resync after the reconnect", v)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no Resync within 15 s of the restart")
	}
	if l.Reconnects.Load() < 1 {
		t.Fatal("listener did not count a reconnect")
	}
	// The pool may still hold dead connections: retry the write briefly.
	var err error
	for i := 0; i < 20; i++ {
		if err = st.AddItem(ctx, mail(u, inbox), []byte("Subject: y\r\n\r\ny")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := expectOne(t, ch); got != inbox.ID {
		t.Fatalf("got %d, want the Inbox after the restart", got)
	}
	if n := l.PanicsRecovered.Load(); n != 0 {
		t.Fatalf("%d panics recovered in the listener", n)
	}
}
