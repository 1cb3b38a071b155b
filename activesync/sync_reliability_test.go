package activesync_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"airlock/activesync/eastest"
	"airlock/policies"
	"airlock/store"
	"airlock/store/storetest"
)

const plainBody = `<AirSync:Options><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type></AirSyncBase:BodyPreference></AirSync:Options>`

// A lost response: the device sends key N again and gets the same items
// and a key that works; the drain ends with every item exactly once
// (MS-ASCMD 3.1.5.9 / R5106-R5122).
func TestSyncLostResponseReplaysSameItems(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "lost@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		e.deliver(inbox, 30, "m")
		dev := e.device(scIPhone)
		scFolderSync(t, dev, "0")
		coll := strconv.FormatInt(inbox.ID, 10)
		rp := newReplica(coll)
		rp.initial(t, dev, plainBody)
		rp.apply(t, dev.Do("Sync", syncXML(coll, rp.key, 10, plainBody))) // window 1 received

		keyN := rp.key
		lost := dev.Do("Sync", syncXML(coll, keyN, 10, plainBody)) // response lost
		// New mail arrives in between; it must come later, once.
		e.deliver(inbox, 3, "late")
		again := dev.Do("Sync", syncXML(coll, keyN, 10, plainBody))
		if a, b := serverIDs(lost, coll), serverIDs(again, coll); strings.Join(a, ",") != strings.Join(b, ",") || len(a) != 10 {
			t.Fatalf("replay differs:\n first %v\n again %v", a, b)
		}
		rp.apply(t, again)
		rp.drain(t, dev, 10, plainBody)
		for id, n := range rp.adds {
			if n != 1 {
				t.Fatalf("item %s added %d times", id, n)
			}
		}
		rp.sameAsServer(t, e.serverView(inbox))

		// A key older than the previous one is refused, and nothing moves.
		res := dev.Do("Sync", syncXML(coll, keyN, 10, plainBody))
		if c := collection(res, coll); c == nil || textOf(c, "Status") != "3" {
			t.Fatalf("stale key: %s", res.XML())
		}
	})
}

func serverIDs(res *eastest.Result, coll string) []string {
	var out []string
	c := collection(res, coll)
	if c == nil {
		return nil
	}
	for _, el := range c.ChildElements() {
		if el.Tag == "Commands" {
			for _, cmd := range el.ChildElements() {
				out = append(out, cmd.Tag+":"+textOf(cmd, "ServerId"))
			}
		}
	}
	return out
}

func addResponses(t testing.TB, res *eastest.Result, coll string) map[string]string {
	t.Helper()
	out := map[string]string{}
	c := collection(res, coll)
	if c == nil {
		t.Fatalf("no collection: %s", res.XML())
	}
	for _, el := range c.ChildElements() {
		if el.Tag == "Responses" {
			for _, r := range el.ChildElements() {
				if r.Tag == "Add" {
					if textOf(r, "Status") != "1" {
						t.Fatalf("add refused: %s", res.XML())
					}
					out[textOf(r, "ClientId")] = textOf(r, "ServerId")
				}
			}
		}
	}
	return out
}

func noteAdds(n int, prefix string) string {
	var b strings.Builder
	b.WriteString("<AirSync:Commands>")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `<AirSync:Add><AirSync:ClientId>c%d</AirSync:ClientId><AirSync:ApplicationData><Notes:Subject>%s %d</Notes:Subject><AirSyncBase:Body><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:Data>ward round %d</AirSyncBase:Data></AirSyncBase:Body></AirSync:ApplicationData></AirSync:Add>`, i, prefix, i, i)
	}
	b.WriteString("</AirSync:Commands>")
	return b.String()
}

// A lost response to a request with client Adds: the resend maps every
// ClientId to the same ServerId, exactly one copy is stored, and the
// device's other partner never sees a second one (case A4).
func TestSyncLostResponseWithClientAdds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "adds@example.nhs.uk")
		notes := e.folder(store.FolderNotes)
		coll := strconv.FormatInt(notes.ID, 10)
		a := e.device(scIPhone)
		b := e.device(scIPhone)
		ra, rb := newReplica(coll), newReplica(coll)
		ra.initial(t, a, "")
		rb.initial(t, b, "")
		ra.drain(t, a, 50, "")

		keyN := ra.key
		first := addResponses(t, a.Do("Sync", syncXML(coll, keyN, 50, noteAdds(5, "note"))), coll) // lost
		second := addResponses(t, a.Do("Sync", syncXML(coll, keyN, 50, noteAdds(5, "note"))), coll)
		if len(first) != 5 || fmt.Sprint(first) != fmt.Sprint(second) {
			t.Fatalf("ClientId map differs: %v vs %v", first, second)
		}
		// A third, identical resend (still the lost key) is answered alike.
		third := dev3(t, a, coll, keyN)
		if fmt.Sprint(third) != fmt.Sprint(first) {
			t.Fatalf("third resend: %v", third)
		}
		if n, _ := st.CountItems(scCtx, e.user.ID, notes.ID); n != 5 {
			t.Fatalf("%d notes stored, want 5", n)
		}
		res := a.Do("Sync", syncXML(coll, keyN, 50, noteAdds(5, "note")))
		for _, sid := range addResponses(t, res, coll) {
			ra.items[sid] = map[string]string{"Subject": "?"}
		}
		ra.apply(t, res)
		ra.drain(t, a, 50, "")
		if len(ra.items) != 5 || len(ra.log) != 0 {
			t.Fatalf("device A echoed its own adds: %v", ra.log)
		}
		rb.drain(t, b, 50, "")
		if len(rb.items) != 5 {
			t.Fatalf("device B has %d notes: %v", len(rb.items), rb.log)
		}
		for id, n := range rb.adds {
			if n != 1 {
				t.Fatalf("B got %s %d times", id, n)
			}
		}
	})
}

func dev3(t *testing.T, d *eastest.Device, coll, key string) map[string]string {
	return addResponses(t, d.Do("Sync", syncXML(coll, key, 50, noteAdds(5, "note"))), coll)
}

// Read, flag, move and delete on device A reach device B.
func TestSyncChangesFromOneDeviceReachAnother(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "two@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		trash := e.folder(store.FolderDeletedItems)
		work, err := st.CreateFolder(scCtx, e.user.ID, 0, "Ward 7", store.FolderUserMail)
		if err != nil {
			t.Fatal(err)
		}
		items := e.deliver(inbox, 6, "msg")
		a, b := e.device(scIPhone), e.device(scIPhone)
		coll := strconv.FormatInt(inbox.ID, 10)
		ra, rb := newReplica(coll), newReplica(coll)
		for _, x := range []struct {
			d *eastest.Device
			r *replica
		}{{a, ra}, {b, rb}} {
			scFolderSync(t, x.d, "0")
			x.r.initial(t, x.d, plainBody)
			x.r.drain(t, x.d, 100, plainBody)
		}
		id := func(i int) string { return strconv.FormatInt(items[i].ID, 10) }
		cmds := `<AirSync:Commands>` +
			`<AirSync:Change><AirSync:ServerId>` + id(0) + `</AirSync:ServerId><AirSync:ApplicationData><Email:Read>1</Email:Read></AirSync:ApplicationData></AirSync:Change>` +
			`<AirSync:Change><AirSync:ServerId>` + id(1) + `</AirSync:ServerId><AirSync:ApplicationData><Email:Flag><Email:Status>2</Email:Status><Email:FlagType>for Follow Up</Email:FlagType></Email:Flag></AirSync:ApplicationData></AirSync:Change>` +
			`<AirSync:Delete><AirSync:ServerId>` + id(2) + `</AirSync:ServerId></AirSync:Delete>` +
			`</AirSync:Commands>`
		res := a.Do("Sync", syncXML(coll, ra.key, 100, `<AirSync:DeletesAsMoves>1</AirSync:DeletesAsMoves>`+plainBody+cmds))
		ra.apply(t, res)
		delete(ra.items, id(2))
		ra.items[id(0)]["Read"] = "1"
		ra.items[id(1)]["Flag"] = "2"
		mv := a.Do("MoveItems", `<Move:MoveItems><Move:Move><Move:SrcMsgId>`+id(3)+`</Move:SrcMsgId><Move:SrcFldId>`+coll+`</Move:SrcFldId><Move:DstFldId>`+strconv.FormatInt(work.ID, 10)+`</Move:DstFldId></Move:Move></Move:MoveItems>`)
		if mv.Text("Move:Response/Move:Status") != "3" || mv.Text("Move:Response/Move:DstMsgId") == "" {
			t.Fatalf("MoveItems: %s", mv.XML())
		}
		// A does not get its own changes back; the moved item leaves.
		ra.drain(t, a, 100, plainBody)
		for _, l := range ra.log {
			if strings.HasPrefix(l, "Change "+id(0)) || strings.HasPrefix(l, "Change "+id(1)) {
				t.Fatalf("device A got its own change back: %v", ra.log)
			}
		}
		rb.drain(t, b, 100, plainBody)
		if rb.items[id(0)]["Read"] != "1" || rb.items[id(1)]["Flag"] != "2" {
			t.Fatalf("B: read %q flag %q", rb.items[id(0)]["Read"], rb.items[id(1)]["Flag"])
		}
		if _, ok := rb.items[id(2)]; ok {
			t.Fatal("deleted item still on B")
		}
		if _, ok := rb.items[id(3)]; ok {
			t.Fatal("moved item still in B's Inbox")
		}
		rb.sameAsServer(t, e.serverView(inbox))
		ra.sameAsServer(t, e.serverView(inbox))
		// Deleted as a move: it is in Deleted Items; the moved one in Ward 7.
		if len(e.serverView(trash)) != 1 || len(e.serverView(work)) != 1 {
			t.Fatalf("trash %v, work %v", e.serverView(trash), e.serverView(work))
		}
		wc := strconv.FormatInt(work.ID, 10)
		rw := newReplica(wc)
		rw.initial(t, b, plainBody)
		rw.drain(t, b, 100, plainBody)
		rw.sameAsServer(t, e.serverView(work))
	})
}

// Mail arriving, changing and going between the windows of a drain: the
// final replica equals the server (case C22).
func TestSyncChangesDuringDrain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "drain@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		items := e.deliver(inbox, 200, "old")
		dev := e.device(scIPhone)
		coll := strconv.FormatInt(inbox.ID, 10)
		rp := newReplica(coll)
		rp.initial(t, dev, plainBody)
		more := rp.apply(t, dev.Do("Sync", syncXML(coll, rp.key, 25, plainBody)))
		step := 0
		for more {
			switch step {
			case 0: // delete one already sent and one not yet sent
				st.DeleteItem(scCtx, e.user.ID, items[3].ID)
				st.DeleteItem(scCtx, e.user.ID, items[150].ID)
			case 1:
				e.deliver(inbox, 7, "new")
				read := true
				st.UpdateItem(scCtx, e.user.ID, items[5].ID, store.FlagChange{Read: &read})
			case 2:
				trash := e.folder(store.FolderDeletedItems)
				st.MoveItem(scCtx, e.user.ID, items[180].ID, trash.ID)
				st.MoveItem(scCtx, e.user.ID, items[10].ID, trash.ID)
			}
			step++
			more = rp.apply(t, dev.Do("Sync", syncXML(coll, rp.key, 25, plainBody)))
		}
		rp.drain(t, dev, 25, plainBody)
		rp.sameAsServer(t, e.serverView(inbox))
		for id, n := range rp.adds {
			if n != 1 {
				t.Fatalf("item %s added %d times", id, n)
			}
		}
		if rp.items[strconv.FormatInt(items[5].ID, 10)]["Read"] != "1" {
			t.Fatal("read change lost")
		}
		if rp.adds[strconv.FormatInt(items[150].ID, 10)] != 0 {
			t.Fatal("an item deleted before it was sent was sent")
		}
	})
}

// Bad input leaves nothing half-stored: an unknown collection (12), a key
// of another device (3), too many commands (4), malformed WBXML (HTTP 400).
func TestSyncBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "bad@example.nhs.uk")
		other := e.srv.AddUser(t, "mallory@example.nhs.uk", scPassword)
		notes := e.folder(store.FolderNotes)
		coll := strconv.FormatInt(notes.ID, 10)
		a, b := e.device(scIPhone), e.device(scIPhone)
		ra, rb := newReplica(coll), newReplica(coll)
		ra.initial(t, a, "")
		rb.initial(t, b, "")

		// Unknown collection, and another user's folder.
		theirs, _ := st.FolderByType(scCtx, other.ID, store.FolderInbox)
		for _, id := range []string{"999999", strconv.FormatInt(theirs.ID, 10), "abc"} {
			res := a.Do("Sync", syncXML(id, "0", 10, ""))
			if c := collection(res, id); c == nil || textOf(c, "Status") != "12" {
				t.Fatalf("collection %s: %s", id, res.XML())
			}
		}
		// B's key on A.
		res := a.Do("Sync", syncXML(coll, rb.key, 10, noteAdds(1, "x")))
		if c := collection(res, coll); c == nil || textOf(c, "Status") != "3" {
			t.Fatalf("foreign key: %s", res.XML())
		}
		// Garbage keys.
		for _, k := range []string{"{zzz}1", "12345", "{" + strings.Repeat("a", 70) + "}1"} {
			res := a.Do("Sync", syncXML(coll, k, 10, ""))
			if c := collection(res, coll); c == nil || textOf(c, "Status") != "3" {
				t.Fatalf("garbage key %q: %s", k, res.XML())
			}
		}
		// 201 commands: Status 4, nothing applied; 200 are applied.
		res = a.Do("Sync", syncXML(coll, ra.key, 10, noteAdds(201, "many")))
		if res.Text("AirSync:Status") != "4" {
			t.Fatalf("201 commands: %s", res.XML())
		}
		if n, _ := st.CountItems(scCtx, e.user.ID, notes.ID); n != 0 {
			t.Fatalf("%d items stored from a refused request", n)
		}
		// Malformed WBXML.
		raw := a.DoRaw("Sync", []byte{0x03, 0x01, 0x6a, 0x00, 0x45, 0x5c, 0x4f, 0x4b, 0x03, 0x31}, "application/vnd.ms-sync.wbxml", nil)
		if raw.HTTP != http.StatusBadRequest {
			t.Fatalf("malformed WBXML: HTTP %d", raw.HTTP)
		}
		if n, _ := st.CountItems(scCtx, e.user.ID, notes.ID); n != 0 {
			t.Fatal("malformed request stored something")
		}
		// The device's own key still works after all that.
		res = a.Do("Sync", syncXML(coll, ra.key, 10, noteAdds(200, "ok")))
		if len(addResponses(t, res, coll)) != 200 {
			t.Fatalf("200 adds: %s", res.XML()[:500])
		}
		if n, _ := st.CountItems(scCtx, e.user.ID, notes.ID); n != 200 {
			t.Fatalf("%d stored, want 200", n)
		}
		// Another user's item ids are not found.
		theirItem := &store.Item{UserID: other.ID, FolderID: theirs.ID, Subject: "private"}
		if err := st.AddItem(scCtx, theirItem, []byte("Subject: private\r\n\r\nsecret")); err != nil {
			t.Fatal(err)
		}
		ra.key = collection(res, coll).SelectElement("AirSync:SyncKey").Text()
		res = a.Do("Sync", syncXML(coll, ra.key, 10, `<AirSync:Commands><AirSync:Delete><AirSync:ServerId>`+strconv.FormatInt(theirItem.ID, 10)+`</AirSync:ServerId></AirSync:Delete><AirSync:Fetch><AirSync:ServerId>`+strconv.FormatInt(theirItem.ID, 10)+`</AirSync:ServerId></AirSync:Fetch></AirSync:Commands>`))
		if strings.Contains(res.XML(), "secret") || strings.Contains(res.XML(), "private") {
			t.Fatal("another user's item leaked")
		}
		if _, err := st.ItemByID(scCtx, other.ID, theirItem.ID); err != nil {
			t.Fatal("another user's item was deleted")
		}
	})
}

// Quarantine view → the admin allows → the same device continues with its
// keys: the notice goes, the folders and the mail come.
func TestSyncQuarantineViewThenAllowed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "q@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		e.deliver(inbox, 5, "real")
		unknown := eastest.Profile{Name: "Gadget", DeviceType: "Gadget", UserAgent: "Gadget/1.0", Version: "14.1", Model: "G1", OS: "GadgetOS 1"}
		dev := e.device(unknown)
		hkey, folders, res := scFolderSync(t, dev, "0")
		coll := strconv.FormatInt(inbox.ID, 10)
		if len(folders) != 1 || folders[coll] != "Inbox" {
			t.Fatalf("quarantine FolderSync: %s", res.XML())
		}
		rp := newReplica(coll)
		rp.initial(t, dev, plainBody)
		rp.drain(t, dev, 100, plainBody)
		if len(rp.items) != 1 || rp.items["q:1"] == nil || !strings.Contains(rp.items["q:1"]["Subject"], "approval") || !strings.Contains(rp.items["q:1"]["Body"], "Reason:") {
			t.Fatalf("quarantine Inbox: %v", rp.items)
		}
		// Calendar syncs nothing.
		cal := strconv.FormatInt(e.folder(store.FolderCalendar).ID, 10)
		res = dev.Do("Sync", syncXML(cal, "0", 10, ""))
		if c := collection(res, cal); c == nil || textOf(c, "Status") != "1" {
			t.Fatalf("calendar in quarantine: %s", res.XML())
		}
		// Other users' devices never see the notice: it is not stored.
		if v := e.serverView(inbox); len(v) != 5 {
			t.Fatalf("notice stored: %v", v)
		}
		// Other commands are refused while quarantined.
		if r := dev.Do("GetItemEstimate", `<GetItemEstimate:GetItemEstimate><GetItemEstimate:Collections><GetItemEstimate:Collection><AirSync:SyncKey>`+rp.key+`</AirSync:SyncKey><GetItemEstimate:CollectionId>`+coll+`</GetItemEstimate:CollectionId></GetItemEstimate:Collection></GetItemEstimate:Collections></GetItemEstimate:GetItemEstimate>`); r.Text("GetItemEstimate:Status") != "129" {
			t.Fatalf("GetItemEstimate while quarantined: %s", r.XML())
		}

		d, err := st.DeviceByEASID(scCtx, e.user.ID, dev.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.srv.Devices.SetAccess(scCtx, eastest.Admin, d.ID, policies.ActionAllow); err != nil {
			t.Fatal(err)
		}
		hkey2, folders, res := scFolderSync(t, dev, hkey)
		if hkey2 == "" || len(folders) != 8 {
			t.Fatalf("FolderSync after approval: %s", res.XML())
		}
		rp.drain(t, dev, 100, plainBody)
		if _, ok := rp.items["q:1"]; ok {
			t.Fatal("notice still there")
		}
		rp.sameAsServer(t, e.serverView(inbox))
	})
}

// A device that never acknowledges (keeps resending its key) gets smaller
// windows, then the one item it chokes on is set aside and reported; the
// rest of the folder still syncs and nothing loops for ever (case C25).
func TestSyncLoopDetectionSetsAsidePoisonItem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "loop@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		items := e.deliver(inbox, 60, "m")
		poison := strconv.FormatInt(items[0].ID, 10)
		dev := e.device(scIPhone)
		coll := strconv.FormatInt(inbox.ID, 10)
		rp := newReplica(coll)
		rp.initial(t, dev, plainBody)
		key := rp.key
		// The device rejects every response that contains the poison item
		// and sends the same request again.
		var sizes []int
		for attempt := 0; attempt < 12; attempt++ {
			res := dev.Do("Sync", syncXML(coll, key, 100, plainBody))
			ids := serverIDs(res, coll)
			sizes = append(sizes, len(ids))
			hasPoison := false
			for _, id := range ids {
				hasPoison = hasPoison || id == "Add:"+poison
			}
			if !hasPoison {
				rp.apply(t, res)
				break
			}
		}
		if len(sizes) < 4 || sizes[0] != 60 || sizes[2] != 25 || sizes[3] != 1 {
			t.Fatalf("window sizes per attempt: %v", sizes)
		}
		if len(sizes) > 6 {
			t.Fatalf("took %d attempts", len(sizes))
		}
		rp.drain(t, dev, 100, plainBody)
		if _, ok := rp.items[poison]; ok || len(rp.items) != 59 {
			t.Fatalf("replica: %d items, poison present %v", len(rp.items), ok)
		}
		events, err := st.ListAudit(scCtx, store.AuditFilter{Action: "eas.sync_item_set_aside"})
		if err != nil || len(events) != 1 || events[0].Target != poison {
			t.Fatalf("audit: %+v %v", events, err)
		}
	})
}
