package activesync_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

// Sync as push: a Sync with HeartbeatInterval and nothing to send waits,
// and returns as soon as mail arrives (the notifier wakes it).
func TestSyncHeartbeatWakesOnNewMail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "push@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		dev := e.device(scIPhone)
		coll := strconv.FormatInt(inbox.ID, 10)
		rp := newReplica(coll)
		rp.initial(t, dev, plainBody)
		rp.drain(t, dev, 10, plainBody)
		done := make(chan *eastest.Result, 1)
		start := time.Now()
		go func() {
			done <- dev.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>`+rp.key+`</AirSync:SyncKey><AirSync:CollectionId>`+coll+`</AirSync:CollectionId>`+plainBody+`</AirSync:Collection></AirSync:Collections><AirSync:HeartbeatInterval>60</AirSync:HeartbeatInterval></AirSync:Sync>`)
		}()
		select {
		case r := <-done:
			t.Fatalf("Sync returned before any change: %s", r.XML())
		case <-time.After(500 * time.Millisecond):
		}
		e.deliver(inbox, 1, "urgent")
		select {
		case r := <-done:
			rp.apply(t, r)
			if len(rp.items) != 1 || time.Since(start) > 20*time.Second {
				t.Fatalf("after %v: %v", time.Since(start), rp.items)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Sync with HeartbeatInterval did not wake on new mail")
		}
	})
}

// A resend of a lost request that differs from the first (the device added
// one more note meanwhile): the Adds already applied keep their ServerIds,
// the new one is added once.
func TestSyncResendWithDifferentCommands(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "diff@example.nhs.uk")
		notes := e.folder(store.FolderNotes)
		coll := strconv.FormatInt(notes.ID, 10)
		dev := e.device(scIPhone)
		rp := newReplica(coll)
		rp.initial(t, dev, "")
		first := addResponses(t, dev.Do("Sync", syncXML(coll, rp.key, 50, noteAdds(3, "n"))), coll)
		second := addResponses(t, dev.Do("Sync", syncXML(coll, rp.key, 50, noteAdds(4, "n"))), coll)
		for cid, sid := range first {
			if second[cid] != sid {
				t.Fatalf("%s: %s then %s", cid, sid, second[cid])
			}
		}
		if len(second) != 4 || second["c3"] == "" {
			t.Fatalf("second: %v", second)
		}
		if n, _ := st.CountItems(scCtx, e.user.ID, notes.ID); n != 4 {
			t.Fatalf("%d notes, want 4", n)
		}
	})
}

// A 12.1 device: Class is echoed, no 14.0 elements (Email2, Preview)
// appear, and MIMESupport 2 with BodyPreference 4 sends the MIME.
func TestSync121Device(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "wm@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		e.deliver(inbox, 2, "old phone")
		p := scIPhone
		p.Version = "12.1"
		dev := e.device(p)
		dev.SendSettingsDeviceInformation()
		coll := strconv.FormatInt(inbox.ID, 10)
		opts := `<AirSync:Options><AirSync:MIMESupport>2</AirSync:MIMESupport><AirSyncBase:BodyPreference><AirSyncBase:Type>4</AirSyncBase:Type><AirSyncBase:TruncationSize>100000</AirSyncBase:TruncationSize><AirSyncBase:Preview>100</AirSyncBase:Preview></AirSyncBase:BodyPreference></AirSync:Options>`
		body := func(key string) string {
			return `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:Class>Email</AirSync:Class><AirSync:SyncKey>` + key + `</AirSync:SyncKey><AirSync:CollectionId>` + coll + `</AirSync:CollectionId>` + opts + `</AirSync:Collection></AirSync:Collections></AirSync:Sync>`
		}
		r := dev.Do("Sync", body("0"))
		key := r.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey")
		if r.Text("AirSync:Collections/AirSync:Collection/AirSync:Class") != "Email" || key == "" {
			t.Fatalf("12.1 initial: %s", r.XML())
		}
		r = dev.Do("Sync", body(key))
		x := r.XML()
		if strings.Contains(x, "Email2:") || strings.Contains(x, "Preview") || !strings.Contains(x, "<AirSyncBase:Type>4</AirSyncBase:Type>") || !strings.Contains(x, "Message-ID: &lt;m0.") {
			t.Fatalf("12.1 items: %s", x)
		}
	})
}

// A lost response to a request with a Delete and a Change: the resend
// answers Delete with success (not 8), applies the Change once, and sends
// no Delete or Change of those items back (case A5).
func TestSyncLostResponseWithDeleteAndChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "dc@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		items := e.deliver(inbox, 3, "m")
		dev := e.device(scIPhone)
		coll := strconv.FormatInt(inbox.ID, 10)
		rp := newReplica(coll)
		rp.initial(t, dev, plainBody)
		rp.drain(t, dev, 10, plainBody)
		x, y := strconv.FormatInt(items[0].ID, 10), strconv.FormatInt(items[1].ID, 10)
		cmds := `<AirSync:DeletesAsMoves>0</AirSync:DeletesAsMoves>` + plainBody + `<AirSync:Commands><AirSync:Delete><AirSync:ServerId>` + x + `</AirSync:ServerId></AirSync:Delete>` +
			`<AirSync:Change><AirSync:ServerId>` + y + `</AirSync:ServerId><AirSync:ApplicationData><Email:Read>1</Email:Read></AirSync:ApplicationData></AirSync:Change></AirSync:Commands>`
		dev.Do("Sync", syncXML(coll, rp.key, 10, cmds)) // lost
		after1, _ := st.ItemByID(scCtx, e.user.ID, items[1].ID)
		res := dev.Do("Sync", syncXML(coll, rp.key, 10, cmds))
		if x := res.XML(); strings.Contains(x, "<AirSync:Responses>") || strings.Contains(x, "<AirSync:Commands>") {
			t.Fatalf("resend: %s", x)
		}
		after2, _ := st.ItemByID(scCtx, e.user.ID, items[1].ID)
		if !after2.Read || after2.Modseq != after1.Modseq {
			t.Fatalf("change applied again: modseq %d then %d", after1.Modseq, after2.Modseq)
		}
		rp.apply(t, res)
		delete(rp.items, x)
		rp.items[y]["Read"] = "1"
		rp.drain(t, dev, 10, plainBody)
		for _, l := range rp.log {
			if strings.HasSuffix(l, " "+x) && strings.HasPrefix(l, "Delete") || strings.HasPrefix(l, "Change "+y) {
				t.Fatalf("own change came back: %v", rp.log)
			}
		}
		rp.sameAsServer(t, e.serverView(inbox))
	})
}
