package activesync_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// Helpers of the Sync-as-push supersession tests carry an "sw" prefix.

// swWaitXML is a one-collection Sync held as push for a minute.
func swWaitXML(coll, key string) string {
	return `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>` + key + `</AirSync:SyncKey><AirSync:CollectionId>` + coll +
		`</AirSync:CollectionId><AirSync:WindowSize>100</AirSync:WindowSize></AirSync:Collection></AirSync:Collections><AirSync:Wait>1</AirSync:Wait></AirSync:Sync>`
}

// swAsync sends a request in the background.
func swAsync(dev *eastest.Device, cmd, body string) <-chan *eastest.Result {
	ch := make(chan *eastest.Result, 1)
	go func() { ch <- dev.Do(cmd, body) }()
	return ch
}

// swWaitHeld waits until h holds n requests (Pings and Syncs).
func swWaitHeld(t *testing.T, srv *eastest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Handler.HeldRequests() != n {
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d requests, want %d", srv.Handler.HeldRequests(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// swDeliver stores n messages in alice's Inbox and returns their ServerIds.
func swDeliver(t *testing.T, e *pmEnv, n int, prefix string) []string {
	t.Helper()
	inbox, err := e.st.FolderByType(context.Background(), e.alice.ID, store.FolderInbox)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		raw := rawMail(i, fmt.Sprintf("%s %d", prefix, i), time.Now().UTC())
		it, err := message.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		it.UserID, it.FolderID = e.alice.ID, inbox.ID
		if err := e.st.Deliver(context.Background(), store.Delivery{Raw: raw, Items: []*store.Item{it}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strconv.FormatInt(it.ID, 10))
	}
	return ids
}

// swEndedEmpty fails unless res is the answer of a Sync ended early: the
// empty Sync response (12.1+), within d of the newer request.
func swEndedEmpty(t *testing.T, name string, held <-chan *eastest.Result, d time.Duration) {
	t.Helper()
	select {
	case res := <-held:
		if res.HTTP != 200 || len(res.Raw) != 0 {
			t.Fatalf("%s: the ended Sync answered %s, want the empty Sync response", name, res.XML())
		}
	case <-time.After(d):
		t.Fatalf("%s: the held Sync was not ended within %v", name, d)
	}
}

// swEveryItemOnce delivers mail after the ended Sync and checks that the
// device, continuing with the key it holds, gets each message exactly once
// and ends with the server's Inbox.
func swEveryItemOnce(t *testing.T, e *pmEnv, prefix string) {
	t.Helper()
	ids := swDeliver(t, e, 3, prefix)
	e.inbox.drain(t, e.dev, 100, "")
	for _, id := range ids {
		if e.inbox.adds[id] != 1 {
			t.Fatalf("%s: message %s added %d times, want once (%v)", prefix, id, e.inbox.adds[id], e.inbox.log)
		}
	}
	for id, n := range e.inbox.adds {
		if n != 1 {
			t.Fatalf("%s: message %s added %d times", prefix, id, n)
		}
	}
	inbox, _ := e.st.FolderByType(context.Background(), e.alice.ID, store.FolderInbox)
	items, err := e.st.ListItems(context.Background(), e.alice.ID, inbox.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(e.inbox.items) {
		t.Fatalf("%s: device holds %d messages, server %d", prefix, len(e.inbox.items), len(items))
	}
}

// A Sync with Wait held on one node ends at once, with the empty Sync
// response and its key unchanged, when the same device sends a newer Ping
// or Sync; its other commands (Settings) and another device of the user do
// not end it. The device then continues with its key and gets every
// message exactly once.
func TestSyncWaitSupersededOnOneNode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{})
		inbox := e.folders["Inbox"]
		other := e.device(eastest.Android4, "alice@example.nhs.uk")
		scFolderSync(t, other, "0") // so that its Ping waits
		cases := []struct {
			name      string
			newer     func() <-chan *eastest.Result
			ends      bool
			newerHeld int  // the newer request waits itself (a Ping)
			answered  bool // the newer request is answered at once
		}{
			{"a Ping of the same device", func() <-chan *eastest.Result { return swAsync(e.dev, "Ping", pingXML(600, inbox)) }, true, 1, false},
			{"a Sync of the same device", func() <-chan *eastest.Result {
				return swAsync(e.dev, "Sync", syncXML(inbox, e.inbox.key, 100, ""))
			}, true, 0, false},
			{"a Settings of the same device", func() <-chan *eastest.Result {
				return swAsync(e.dev, "Settings", `<Settings:Settings><Settings:UserInformation><Settings:Get/></Settings:UserInformation></Settings:Settings>`)
			}, false, 0, true},
			{"a Ping of another device of the user", func() <-chan *eastest.Result { return swAsync(other, "Ping", pingXML(600, inbox)) }, false, 0, false},
		}
		for _, c := range cases {
			key := e.inbox.key
			held := swAsync(e.dev, "Sync", swWaitXML(inbox, key))
			swWaitHeld(t, e.srv, 1)
			newer := c.newer()
			var answer *eastest.Result
			if c.ends {
				swEndedEmpty(t, c.name, held, 5*time.Second)
			} else {
				if c.answered {
					answer = pmResult(t, newer, 5*time.Second)
				} else {
					swWaitHeld(t, e.srv, 2) // the other device's Ping waits too
				}
				select {
				case res := <-held:
					t.Fatalf("%s: ended the held Sync: %s", c.name, res.XML())
				case <-time.After(300 * time.Millisecond):
				}
				// End it the usual way: a newer request of the device.
				e.dev.Do("Ping", pingXML(1)).Expect(200, "Ping:Status", "5")
				swEndedEmpty(t, c.name, held, 5*time.Second)
				if !c.answered {
					other.Do("Ping", pingXML(1)).Expect(200, "Ping:Status", "5")
				}
			}
			// The newer request itself is answered normally (a Ping of the
			// same device is ended by the device's next Sync below).
			swWaitHeld(t, e.srv, c.newerHeld)
			if e.inbox.key != key {
				t.Fatalf("%s: key moved from %s to %s", c.name, key, e.inbox.key)
			}
			swEveryItemOnce(t, e, c.name)
			r := answer
			if r == nil {
				r = pmResult(t, newer, 5*time.Second)
			}
			if r.HTTP != 200 {
				t.Fatalf("%s: newer request: %s", c.name, r.XML())
			}
		}
		// Shutdown ends a held Sync too.
		held := swAsync(e.dev, "Sync", swWaitXML(inbox, e.inbox.key))
		swWaitHeld(t, e.srv, 1)
		e.srv.Handler.EndHeldRequests()
		swEndedEmpty(t, "shutdown", held, 5*time.Second)
	})
}

// Two nodes on one PostgreSQL database: a device's Sync with Wait is held
// on node 1 and its next request reaches node 2. Node 1 ends the Sync at
// once with the empty response; another device of the user on node 2 does
// not end it; the device's key stays good on either node.
func TestSyncWaitSupersededAcrossNodes(t *testing.T) {
	node1, node2 := twoNodes(t)
	e := pmSetup(t, node1, eastest.ServerOptions{})
	n2 := eastest.StartServer(t, node2)
	inbox := e.folders["Inbox"]
	onNode2 := *e.dev
	onNode2.BaseURL = n2.URL
	other := e.device(eastest.Android4, "alice@example.nhs.uk")
	other.BaseURL = n2.URL
	scFolderSync(t, other, "0") // so that its Ping waits

	cases := []struct {
		name  string
		newer func() <-chan *eastest.Result // sent to node 2
		ends  bool
	}{
		{"a Ping of the same device", func() <-chan *eastest.Result { return swAsync(&onNode2, "Ping", pingXML(600, inbox)) }, true},
		{"a Sync of the same device", func() <-chan *eastest.Result {
			return swAsync(&onNode2, "Sync", syncXML(inbox, e.inbox.key, 100, ""))
		}, true},
		{"a Ping of another device of the user", func() <-chan *eastest.Result { return swAsync(other, "Ping", pingXML(600, inbox)) }, false},
	}
	for _, c := range cases {
		key := e.inbox.key
		held := swAsync(e.dev, "Sync", swWaitXML(inbox, key))
		swWaitHeld(t, e.srv, 1)
		start := time.Now()
		newer := c.newer()
		if c.ends {
			swEndedEmpty(t, c.name, held, 10*time.Second)
			t.Logf("%s: the Sync on node 1 ended %v after the request to node 2 was sent", c.name, time.Since(start))
		} else {
			// Node 2 holds its Ping (so its announcement went out), and a
			// little more.
			swWaitHeld(t, n2, 1)
			select {
			case res := <-held:
				t.Fatalf("%s: ended the Sync held on node 1: %s", c.name, res.XML())
			case <-time.After(500 * time.Millisecond):
			}
			e.dev.Do("Ping", pingXML(1)).Expect(200, "Ping:Status", "5")
			swEndedEmpty(t, c.name, held, 5*time.Second)
		}
		swWaitHeld(t, e.srv, 0)
		if e.inbox.key != key {
			t.Fatalf("%s: key moved from %s to %s", c.name, key, e.inbox.key)
		}
		// Whatever node 2 holds ends here; the next case gets a new node 2.
		n2.Handler.EndHeldRequests()
		if r := pmResult(t, newer, 5*time.Second); r.HTTP != 200 {
			t.Fatalf("%s: newer request: %s", c.name, r.XML())
		}
		swEveryItemOnce(t, e, c.name)
		n2 = eastest.StartServer(t, node2)
		onNode2.BaseURL, other.BaseURL = n2.URL, n2.URL
	}
}

// A 12.0 device has no empty Sync response: its ended Sync is answered
// with each collection, Status 1 and the key it sent.
func TestSyncWaitSupersededV120(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{})
		p := pmIPhone
		p.Name, p.Version = "iPhone12.0", "12.0"
		dev := e.device(p, "alice@example.nhs.uk")
		_, adds, _ := scFolderSync(t, dev, "0")
		var inbox string
		for id, name := range adds {
			if name == "Inbox" {
				inbox = id
			}
		}
		rp := newReplica(inbox)
		rp.initial(t, dev, "")
		rp.drain(t, dev, 100, "")
		key := rp.key
		held := swAsync(dev, "Sync", swWaitXML(inbox, key))
		swWaitHeld(t, e.srv, 1)
		dev.Do("Ping", pingXML(1, inbox)).Expect(200, "Ping:Status", "5")
		res := pmResult(t, held, 5*time.Second)
		c := collection(res, inbox)
		if res.HTTP != 200 || c == nil || textOf(c, "Status") != "1" || textOf(c, "SyncKey") != key || len(edCommands(c)) != 0 {
			t.Fatalf("the ended 12.0 Sync answered %s, want Status 1 and key %s", res.XML(), key)
		}
	})
}
