package activesync_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/activesync/wbxml"
	"airlock/policies"
	"airlock/store"
	"airlock/store/storetest"
)

// Mail flow gaps: 12.x resends of SendMail/SmartReply/
// SmartForward, ItemOperations Fetch of a Search result by LongId, and a
// held Ping superseded by a request on another node. Helpers carry an "mf"
// prefix.

// A 12.1 device resends its message after losing the response (iOS and
// Windows Mobile keep it in the Outbox and send it again): the recipients
// get it once, the Sent Items copy is kept once, the relay sends it once,
// and both requests are answered as a success. A different message, or the
// same bytes from another device, goes out as usual.
func TestSendMail12ResendAfterLostResponseDeliversOnce(t *testing.T) {
	const withID = "To: bob@example.nhs.uk, gp@surgery.example\r\nSubject: Ward round\r\nDate: Mon, 10 Jun 2024 10:00:00 +0000\r\nMessage-ID: <wr-1@iphone.example>\r\nMIME-Version: 1.0\r\n\r\nBed 4 for review.\r\n"
	const withoutID = "To: bob@example.nhs.uk\r\nSubject: OK\r\n\r\nOK\r\n"
	const reply = "To: bob@example.nhs.uk\r\nSubject: RE: Results ready\r\nMessage-ID: <re-1@wm.example>\r\n\r\nSeen, thanks.\r\n"
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e, relay, r := relayEnv(t, st)
		orig := e.original(t)
		inbox, _ := st.FolderByType(context.Background(), e.alice.ID, store.FolderInbox)
		iphone := e.device(eastest.IPhone3GS, "alice@example.nhs.uk")
		wm := e.device(eastest.WindowsMobile65, "alice@example.nhs.uk")
		for _, d := range []*eastest.Device{iphone, wm} {
			d.CheckWithLibwbxml = false
		}
		// Windows Mobile waits in quarantine by default: approve it.
		if dev, err := st.DeviceByEASID(context.Background(), e.alice.ID, wm.DeviceID); err != nil {
			t.Fatal(err)
		} else if _, err := e.srv.Devices.SetAccess(context.Background(), eastest.Admin, dev.ID, policies.ActionAllow); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name      string
			dev       *eastest.Device
			cmd, mime string
			params    map[string]string
			sends     int
			wantBob   int // new copies in bob's Inbox
			wantSent  int // new copies in alice's Sent Items
			wantRelay int // new messages at the relay
		}{
			{"SendMail with a Message-ID, resent", iphone, "SendMail", withID, map[string]string{"SaveInSent": "T"}, 2, 1, 1, 1},
			{"SendMail resent twice more", iphone, "SendMail", withID, map[string]string{"SaveInSent": "T"}, 2, 0, 0, 0},
			{"SendMail without Message-ID or Date, resent", iphone, "SendMail", withoutID, nil, 3, 1, 0, 0},
			{"SmartReply from Windows Mobile, resent", wm, "SmartReply", reply, map[string]string{"ItemId": itoa64(orig.ID), "CollectionId": itoa64(inbox.ID)}, 2, 1, 0, 0},
			{"the same reply bytes as a SendMail: another command", wm, "SendMail", reply, nil, 1, 1, 0, 0},
			{"a new message (new Message-ID)", iphone, "SendMail", strings.Replace(withID, "wr-1@", "wr-2@", 1), map[string]string{"SaveInSent": "T"}, 1, 1, 1, 1},
			{"the same bytes from another device of the user", wm, "SendMail", withID, nil, 1, 1, 0, 1},
		}
		for _, c := range cases {
			bob0, sent0, relay0 := len(pmItems(t, st, e.bob, store.FolderInbox)), len(pmItems(t, st, e.alice, store.FolderSentItems)), len(relay.Messages())
			for i := 0; i < c.sends; i++ {
				// Every send but the last is a response the device lost.
				if res := c.dev.DoRaw(c.cmd, []byte(c.mime), "message/rfc822", c.params); res.HTTP != 200 || len(res.Raw) != 0 {
					t.Fatalf("%s: send %d: HTTP %d %q", c.name, i+1, res.HTTP, res.Raw)
				}
			}
			if _, err := r.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			bob, sent := len(pmItems(t, st, e.bob, store.FolderInbox))-bob0, len(pmItems(t, st, e.alice, store.FolderSentItems))-sent0
			if got := len(relay.Wait(relay0+c.wantRelay, 2*time.Second)) - relay0; bob != c.wantBob || sent != c.wantSent || got != c.wantRelay {
				t.Fatalf("%s: bob got %d, Sent Items %d, relay %d; want %d, %d, %d", c.name, bob, sent, got, c.wantBob, c.wantSent, c.wantRelay)
			}
		}
		// The reply marked the original once (LastVerbExecuted 1).
		if it, err := st.ItemByID(context.Background(), e.alice.ID, orig.ID); err != nil || it.LastVerb != 1 {
			t.Fatalf("original after the reply: %+v, %v", it, err)
		}
		// 14.0+ keeps the ClientId rule: a reused ClientId is 118.
		e.dev.Do("SendMail", composeXML("SendMail", "CID-9", withoutID, false, "", "")).Expect(200, "", "")
		e.dev.Do("SendMail", composeXML("SendMail", "CID-9", withoutID, false, "", "")).Expect(200, "ComposeMail:Status", "118")
	})
}

// A failed 12.x send leaves no resend key: the device's retry is a first
// attempt and goes out.
func TestSendMail12FailedSendIsNotAResend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{})
		dev := e.device(eastest.IPhone3GS, "alice@example.nhs.uk")
		dev.CheckWithLibwbxml = false
		// A remote recipient and no relay: refused (HTTP 500), nothing kept.
		msg := "To: bob@example.nhs.uk, gp@surgery.example\r\nSubject: Try\r\nMessage-ID: <try-1@iphone.example>\r\n\r\nx\r\n"
		if res := dev.DoRaw("SendMail", []byte(msg), "message/rfc822", nil); res.HTTP != http.StatusInternalServerError {
			t.Fatalf("SendMail to a remote recipient without a relay: HTTP %d", res.HTTP)
		}
		// The user removes the remote recipient; the bytes change. The
		// original bytes without the remote recipient go once.
		local := strings.Replace(msg, ", gp@surgery.example", "", 1)
		for i := 0; i < 2; i++ {
			if res := dev.DoRaw("SendMail", []byte(local), "message/rfc822", nil); res.HTTP != 200 {
				t.Fatalf("send %d: HTTP %d", i+1, res.HTTP)
			}
		}
		if n := len(pmItems(t, st, e.bob, store.FolderInbox)); n != 1 {
			t.Fatalf("bob got %d copies, want 1", n)
		}
	})
}

// mfSearch runs a mailbox Search from dev and returns the results' LongIds
// by subject.
func mfSearch(t *testing.T, dev *eastest.Device, words string) map[string]string {
	t.Helper()
	res := dev.Do("Search", `<Search:Search><Search:Store><Search:Name>Mailbox</Search:Name><Search:Query><Search:And><AirSync:Class>Email</AirSync:Class>`+
		`<Search:FreeText>`+words+`</Search:FreeText></Search:And></Search:Query><Search:Options><Search:Range>0-9</Search:Range><Search:DeepTraversal/></Search:Options></Search:Store></Search:Search>`)
	if s := res.Text("Search:Response/Search:Store/Search:Status"); s != "1" {
		t.Fatalf("Search status %q: %s", s, res.XML())
	}
	out := map[string]string{}
	for _, r := range res.Find("Search:Response/Search:Store").ChildElements() {
		if r.Tag == "Result" {
			out[textOf(r.FindElement("Properties"), "Subject")] = textOf(r, "LongId")
		}
	}
	return out
}

// A device opens a mailbox Search result: ItemOperations Fetch by the
// result's LongId (MS-ASCMD 2.2.3.98.1) returns the message with the body
// as asked (type, truncation, multipart), named by the same LongId. A
// LongId that is not the user's, or not a LongId at all, is Status 6.
func TestItemOperationsFetchBySearchLongId(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{})
		orig := e.original(t) // "Results ready", in alice's Inbox, body "Results for bed 12 attached."
		// The result is found wherever the message is: move it to a folder
		// the device has not synced.
		archive, err := st.CreateFolder(context.Background(), e.alice.ID, 0, "Archive", store.FolderUserMail)
		if err != nil {
			t.Fatal(err)
		}
		if orig, err = st.MoveItem(context.Background(), e.alice.ID, orig.ID, archive.ID); err != nil {
			t.Fatal(err)
		}
		bobOrig := *orig
		bobOrig.ID, bobOrig.UserID = 0, e.bob.ID
		bobInbox, _ := st.FolderByType(context.Background(), e.bob.ID, store.FolderInbox)
		bobOrig.FolderID = bobInbox.ID
		if err := st.AddItem(context.Background(), &bobOrig, []byte(pmOriginal)); err != nil {
			t.Fatal(err)
		}

		longID := mfSearch(t, e.dev, "bed")["Results ready"]
		if longID == "" {
			t.Fatal("Search did not find the message")
		}
		fetch := func(longID, options string, multipart bool) *eastest.Result {
			body := `<ItemOperations:ItemOperations><ItemOperations:Fetch><ItemOperations:Store>Mailbox</ItemOperations:Store><Search:LongId>` + longID +
				`</Search:LongId><ItemOperations:Options>` + options + `</ItemOperations:Options></ItemOperations:Fetch></ItemOperations:ItemOperations>`
			if !multipart {
				return e.dev.Do("ItemOperations", body)
			}
			doc, _ := wbxml.ParseXML(strings.NewReader(body))
			raw, _ := wbxml.Marshal(doc)
			saved := e.dev.Client.Transport
			e.dev.Client.Transport = headerRT{saved, "MS-ASAcceptMultiPart", "T"}
			defer func() { e.dev.Client.Transport = saved }()
			return e.dev.DoRaw("ItemOperations", raw, "application/vnd.ms-sync.wbxml", nil)
		}
		const f = "ItemOperations:Response/ItemOperations:Fetch/"
		cases := []struct {
			name, longID, options string
			status, data          string
			truncated             bool
		}{
			{"plain text", longID, `<AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type></AirSyncBase:BodyPreference>`, "1", "Results for bed 12 attached.", false},
			{"truncated", longID, `<AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:TruncationSize>7</AirSyncBase:TruncationSize></AirSyncBase:BodyPreference>`, "1", "Results", true},
			{"MIME", longID, `<AirSync:MIMESupport>2</AirSync:MIMESupport><AirSyncBase:BodyPreference><AirSyncBase:Type>4</AirSyncBase:Type></AirSyncBase:BodyPreference>`, "1", "Message-ID: <res-42@path.example>", false},
			{"another user's item", itoa64(bobOrig.ID), ``, "6", "", false},
			{"not a LongId", "R:12:abc", ``, "6", "", false},
		}
		for _, c := range cases {
			res := fetch(c.longID, c.options, false)
			if got := res.Text(f + "ItemOperations:Status"); got != c.status {
				t.Fatalf("%s: status %q, want %s: %s", c.name, got, c.status, res.XML())
			}
			if got := res.Text(f + "Search:LongId"); got != c.longID {
				t.Fatalf("%s: the answer names %q, want the LongId %q", c.name, got, c.longID)
			}
			if c.status != "1" {
				if res.Find(f+"ItemOperations:Properties") != nil {
					t.Fatalf("%s: properties of an item not found: %s", c.name, res.XML())
				}
				continue
			}
			body := f + "ItemOperations:Properties/AirSyncBase:Body/"
			if res.Text(f+"AirSync:Class") != "Email" || res.Text(f+"ItemOperations:Properties/Email:Subject") != "Results ready" ||
				!strings.Contains(res.Text(body+"AirSyncBase:Data"), c.data) || (res.Text(body+"AirSyncBase:Truncated") == "1") != c.truncated {
				t.Fatalf("%s: %s", c.name, res.XML())
			}
		}
		// Multipart: the body in part 1.
		m := fetch(longID, `<AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type></AirSyncBase:BodyPreference>`, true)
		if m.Header.Get("Content-Type") != "application/vnd.ms-sync.multipart" || len(m.Raw) < 20 || binary.LittleEndian.Uint32(m.Raw) != 2 {
			t.Fatalf("multipart: %q %d bytes", m.Header.Get("Content-Type"), len(m.Raw))
		}
		off, ln := binary.LittleEndian.Uint32(m.Raw[12:]), binary.LittleEndian.Uint32(m.Raw[16:])
		if !bytes.Contains(m.Raw[off:off+ln], []byte("Results for bed 12 attached.")) {
			t.Fatalf("multipart body part %q", m.Raw[off:off+ln])
		}
		// A result deleted since the Search is gone: Status 6.
		if err := st.DeleteItem(context.Background(), e.alice.ID, orig.ID); err != nil {
			t.Fatal(err)
		}
		if got := fetch(longID, "", false).Text(f + "ItemOperations:Status"); got != "6" {
			t.Fatalf("fetch of a deleted result: status %q", got)
		}
	})
}

// Two nodes on one PostgreSQL database: a device's Ping is held on node 1;
// the device's next request reaches node 2 (a load balancer without
// affinity). A newer Ping of the device there makes node 1 end the old
// Ping with Status 1 at once, as it would for a newer Ping of its own; a
// FolderSync of the device, or another device of the user on node 2, does
// not end it.
func TestPingSupersededAcrossNodes(t *testing.T) {
	node1, node2 := twoNodes(t)
	e := pmSetup(t, node1, eastest.ServerOptions{})
	n2 := eastest.StartServer(t, node2)
	inbox := e.folders["Inbox"]
	// The same device (same DeviceId, policy key) talking to node 2.
	onNode2 := *e.dev
	onNode2.BaseURL = n2.URL
	// Another device of alice, on node 2.
	other := e.device(pmIPhone, "alice@example.nhs.uk")
	other.BaseURL = n2.URL
	other.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)

	cases := []struct {
		name     string
		newer    func() <-chan *eastest.Result // the request sent to node 2
		ends     bool
		answered bool // the request to node 2 is answered at once
	}{
		{"a Ping of the same device", func() <-chan *eastest.Result { return pingAsync(&onNode2, pingXML(600, inbox)) }, true, false},
		{"a FolderSync of the same device", func() <-chan *eastest.Result {
			ch := make(chan *eastest.Result, 1)
			go func() {
				ch <- onNode2.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
			}()
			return ch
		}, false, true},
		{"a Ping of another device of the user", func() <-chan *eastest.Result { return pingAsync(other, pingXML(600, inbox)) }, false, false},
	}
	for _, c := range cases {
		// A FolderSync from node 1 makes the hierarchy current again for
		// the Ping (the FolderSync case resets the device's keys).
		scFolderSync(t, e.dev, "0")
		held := pingAsync(e.dev, pingXML(600, inbox))
		e.waitHeld(1)
		before := e.srv.Handler.PingsSupersededRemotely()
		start := time.Now()
		newer := c.newer()
		// Node 2 admits the request (a password check, slow under the race
		// detector) and announces it; node 1 hears it within milliseconds.
		// When nothing should end, wait until node 2 answered its request
		// or holds its Ping (so an announcement would have gone out) and a
		// little more.
		within := 10 * time.Second
		var answer *eastest.Result
		if !c.ends {
			if c.answered {
				answer = pmResult(t, newer, within)
			}
			deadline := time.Now().Add(within)
			for !c.answered && n2.Handler.HeldPings() != 1 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			within = 500 * time.Millisecond
		}
		select {
		case r := <-held:
			if !c.ends {
				t.Fatalf("%s: ended the Ping held on node 1: %s", c.name, r.XML())
			}
			r.Expect(200, "Ping:Status", "1")
			if got := e.srv.Handler.PingsSupersededRemotely() - before; got != 1 {
				t.Fatalf("%s: %d Pings counted as superseded remotely", c.name, got)
			}
			t.Logf("%s: the Ping on node 1 ended %v after the request to node 2 was sent", c.name, time.Since(start))
		case <-time.After(within):
			if c.ends {
				t.Fatalf("%s: the Ping held on node 1 was not ended", c.name)
			}
			// End it the usual way: a newer request of the device here.
			e.dev.Do("Ping", pingXML(1)).Expect(200, "Ping:Status", "5")
			pmResult(t, held, 2*time.Second).Expect(200, "Ping:Status", "1")
		}
		e.waitHeld(0)
		// Whatever node 2 holds ends with node 2's cleanup or here.
		n2.Handler.EndHeldRequests()
		if answer == nil {
			pmResult(t, newer, 5*time.Second)
		}
		// EndHeldRequests is for shutdown: the next case gets a new node 2.
		n2 = eastest.StartServer(t, node2)
		onNode2.BaseURL, other.BaseURL = n2.URL, n2.URL
	}
}
