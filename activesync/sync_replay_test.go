package activesync_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// deliverWhile delivers mail to f, one message every few milliseconds,
// until stop is closed; it returns how many it delivered.
func deliverWhile(st *store.Store, u *store.User, f *store.Folder, stop <-chan struct{}) (done func() (int, error)) {
	var (
		wg  sync.WaitGroup
		n   int
		err error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond): // a steady trickle
			}
			raw := rawMail(n, fmt.Sprintf("arriving %d", n), time.Now().UTC())
			it, perr := message.Parse(raw)
			if perr != nil {
				err = perr
				return
			}
			it.UserID, it.FolderID = u.ID, f.ID
			if err = st.Deliver(context.Background(), store.Delivery{Raw: raw, Items: []*store.Item{it}}); err != nil {
				return
			}
			n++
		}
	}()
	return func() (int, error) { wg.Wait(); return n, err }
}

// The replay promise (MS-ASCMD 3.1.5.9; sync.go "Lost responses"): a Sync
// resent with the key whose response was lost is answered with the same
// new key, and with the lost response's commands first, in the same order,
// then whatever arrived since, up to the window; the state of that key
// covers exactly what the replay carried. While mail keeps arriving, a
// device that loses every other response ends with every message exactly
// once.
func TestSyncReplayAfterDroppedResponseUnderDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "replay@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		e.deliver(inbox, 12, "before")
		dev := e.device(scIPhone)
		scFolderSync(t, dev, "0")
		coll := fmt.Sprint(inbox.ID)
		rp := newReplica(coll)
		rp.initial(t, dev, plainBody)

		stop := make(chan struct{})
		done := deliverWhile(st, e.user, inbox, stop)
		const window = 6
		var identical, extended int
		for round := 0; round < 25; round++ {
			keyN := rp.key
			lost := dev.Do("Sync", syncXML(coll, keyN, window, plainBody)) // the response is dropped
			e.deliver(inbox, 1, fmt.Sprintf("between %d", round))          // and more arrives
			again := dev.Do("Sync", syncXML(coll, keyN, window, plainBody))
			if lost.Doc == nil {
				// Nothing was sent and the key stayed: a resend is an
				// ordinary Sync.
				rp.apply(t, again)
				continue
			}
			lc, ac := collection(lost, coll), collection(again, coll)
			if ac == nil || textOf(ac, "SyncKey") != textOf(lc, "SyncKey") {
				t.Fatalf("round %d: replay key %v, lost key %s", round, ac, textOf(lc, "SyncKey"))
			}
			l, a := serverIDs(lost, coll), serverIDs(again, coll)
			if len(a) < len(l) || strings.Join(a[:len(l)], ",") != strings.Join(l, ",") || len(a) > window {
				t.Fatalf("round %d: replay %v does not start with the lost response's %v", round, a, l)
			}
			if len(a) == len(l) {
				identical++
			} else {
				extended++ // the lost response had room: the replay carries more under the same key
			}
			rp.apply(t, again)
		}
		close(stop)
		n, err := done()
		if err != nil {
			t.Fatal(err)
		}
		rp.drain(t, dev, window, plainBody)
		for id, k := range rp.adds {
			if k != 1 {
				t.Fatalf("item %s added %d times", id, k)
			}
		}
		rp.sameAsServer(t, e.serverView(inbox))
		t.Logf("%d messages arrived during the rounds; the device holds %d; %d replays as sent, %d with more", n, len(rp.items), identical, extended)
		if extended == 0 {
			t.Fatal("no replay carried more than the lost response: the case was not exercised")
		}
	})
}
