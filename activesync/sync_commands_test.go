package activesync_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/activesync/wbxml"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

func fsDo(dev *eastest.Device, cmd, body string) *eastest.Result {
	return dev.Do(cmd, "<FolderHierarchy:"+cmd+">"+body+"</FolderHierarchy:"+cmd+">")
}

// FolderSync answers with a true difference, FolderCreate/Update/Delete
// with their statuses, and a resent FolderCreate (lost response) with the
// same folder instead of "exists".
func TestFolderHierarchyCommands(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "fh@example.nhs.uk")
		dev := e.device(scIPhone)
		key, folders, _ := scFolderSync(t, dev, "0")
		if len(folders) != 9 {
			t.Fatalf("folders: %v", folders)
		}
		// Nothing changed: same key, no changes.
		if k2, adds, _ := scFolderSync(t, dev, key); k2 != key || len(adds) != 0 {
			t.Fatalf("idle FolderSync: %s %v", k2, adds)
		}
		for _, bad := range []string{"{nope}1", "7", ""} {
			if res := dev.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>`+bad+`</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`); res.Text("FolderHierarchy:Status") != "9" {
				t.Fatalf("key %q: %s", bad, res.XML())
			}
		}
		create := `<FolderHierarchy:SyncKey>` + key + `</FolderHierarchy:SyncKey><FolderHierarchy:ParentId>0</FolderHierarchy:ParentId><FolderHierarchy:DisplayName>Audits</FolderHierarchy:DisplayName><FolderHierarchy:Type>12</FolderHierarchy:Type>`
		res := fsDo(dev, "FolderCreate", create)
		id := res.Text("FolderHierarchy:ServerId")
		if res.Text("FolderHierarchy:Status") != "1" || id == "" {
			t.Fatalf("FolderCreate: %s", res.XML())
		}
		again := fsDo(dev, "FolderCreate", create) // lost response, resent
		if again.Text("FolderHierarchy:Status") != "1" || again.Text("FolderHierarchy:ServerId") != id || again.Text("FolderHierarchy:SyncKey") != res.Text("FolderHierarchy:SyncKey") {
			t.Fatalf("resent FolderCreate: %s", again.XML())
		}
		key = res.Text("FolderHierarchy:SyncKey")
		// The device's own folder is not added back by FolderSync.
		if k2, adds, r := scFolderSync(t, dev, key); len(adds) != 0 || k2 != key {
			t.Fatalf("FolderSync after own create: %s", r.XML())
		}
		dup := `<FolderHierarchy:SyncKey>` + key + `</FolderHierarchy:SyncKey><FolderHierarchy:ParentId>0</FolderHierarchy:ParentId><FolderHierarchy:DisplayName>Audits</FolderHierarchy:DisplayName><FolderHierarchy:Type>12</FolderHierarchy:Type>`
		if r := fsDo(dev, "FolderCreate", dup); r.Text("FolderHierarchy:Status") != "2" {
			t.Fatalf("duplicate name: %s", r.XML())
		}
		if r := fsDo(dev, "FolderCreate", `<FolderHierarchy:SyncKey>`+key+`</FolderHierarchy:SyncKey><FolderHierarchy:ParentId>99999</FolderHierarchy:ParentId><FolderHierarchy:DisplayName>X</FolderHierarchy:DisplayName><FolderHierarchy:Type>12</FolderHierarchy:Type>`); r.Text("FolderHierarchy:Status") != "5" {
			t.Fatalf("missing parent: %s", r.XML())
		}
		if r := fsDo(dev, "FolderCreate", `<FolderHierarchy:SyncKey>`+key+`</FolderHierarchy:SyncKey><FolderHierarchy:ParentId>0</FolderHierarchy:ParentId><FolderHierarchy:DisplayName>X</FolderHierarchy:DisplayName><FolderHierarchy:Type>2</FolderHierarchy:Type>`); r.Text("FolderHierarchy:Status") != "10" {
			t.Fatalf("Inbox type: %s", r.XML())
		}
		inbox := strconv.FormatInt(e.folder(store.FolderInbox).ID, 10)
		if r := fsDo(dev, "FolderUpdate", `<FolderHierarchy:SyncKey>`+key+`</FolderHierarchy:SyncKey><FolderHierarchy:ServerId>`+inbox+`</FolderHierarchy:ServerId><FolderHierarchy:ParentId>0</FolderHierarchy:ParentId><FolderHierarchy:DisplayName>Mine</FolderHierarchy:DisplayName>`); r.Text("FolderHierarchy:Status") != "2" {
			t.Fatalf("rename Inbox: %s", r.XML())
		}
		if r := fsDo(dev, "FolderUpdate", `<FolderHierarchy:SyncKey>`+key+`</FolderHierarchy:SyncKey><FolderHierarchy:ServerId>88888</FolderHierarchy:ServerId><FolderHierarchy:ParentId>0</FolderHierarchy:ParentId><FolderHierarchy:DisplayName>Mine</FolderHierarchy:DisplayName>`); r.Text("FolderHierarchy:Status") != "4" {
			t.Fatalf("update missing: %s", r.XML())
		}
		r := fsDo(dev, "FolderUpdate", `<FolderHierarchy:SyncKey>`+key+`</FolderHierarchy:SyncKey><FolderHierarchy:ServerId>`+id+`</FolderHierarchy:ServerId><FolderHierarchy:ParentId>0</FolderHierarchy:ParentId><FolderHierarchy:DisplayName>Audit 2026</FolderHierarchy:DisplayName>`)
		if r.Text("FolderHierarchy:Status") != "1" {
			t.Fatalf("rename: %s", r.XML())
		}
		key = r.Text("FolderHierarchy:SyncKey")
		if r := fsDo(dev, "FolderDelete", `<FolderHierarchy:SyncKey>`+key+`</FolderHierarchy:SyncKey><FolderHierarchy:ServerId>`+inbox+`</FolderHierarchy:ServerId>`); r.Text("FolderHierarchy:Status") != "3" {
			t.Fatalf("delete Inbox: %s", r.XML())
		}
		// Another device sees the server-side changes as a diff.
		other := e.device(scIPhone)
		okey, _, _ := scFolderSync(t, other, "0")
		r = fsDo(dev, "FolderDelete", `<FolderHierarchy:SyncKey>`+key+`</FolderHierarchy:SyncKey><FolderHierarchy:ServerId>`+id+`</FolderHierarchy:ServerId>`)
		if r.Text("FolderHierarchy:Status") != "1" {
			t.Fatalf("delete: %s", r.XML())
		}
		if _, err := st.CreateFolder(scCtx, e.user.ID, 0, "Rota", store.FolderUserMail); err != nil {
			t.Fatal(err)
		}
		res = other.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>`+okey+`</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
		ch := res.Find("FolderHierarchy:Changes")
		var got []string
		for _, c := range ch.ChildElements() {
			if c.Tag != "Count" {
				got = append(got, c.Tag+":"+firstNonEmptyStr(textOf(c, "DisplayName"), textOf(c, "ServerId")))
			}
		}
		if strings.Join(got, ",") != "Delete:"+id+",Add:Rota" || res.Text("FolderHierarchy:Changes/FolderHierarchy:Count") != "2" {
			t.Fatalf("diff: %v\n%s", got, res.XML())
		}
		// Sync of the deleted folder: 12.
		sres := dev.Do("Sync", syncXML(id, "0", 10, ""))
		if c := collection(sres, id); c == nil || textOf(c, "Status") != "12" {
			t.Fatalf("Sync of deleted folder: %s", sres.XML())
		}
	})
}

func firstNonEmptyStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

const attMail = "From: ward@example.nhs.uk\r\nTo: alice@example.nhs.uk\r\nSubject: scan\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <att1@x>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Caf\xc3\xa9 r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac</p>\r\n--b1\r\n" +
	"Content-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK\r\n--b1--\r\n"

func (e *scEnv) storeRaw(f *store.Folder, raw string) *store.Item {
	e.t.Helper()
	it, err := message.Parse([]byte(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	it.UserID, it.FolderID = e.user.ID, f.ID
	if err := e.st.AddItem(scCtx, it, []byte(raw)); err != nil {
		e.t.Fatal(err)
	}
	return it
}

// ItemOperations fetches items and attachments of the user only, inline
// and multipart; document libraries are refused and audited; GetAttachment
// returns the raw bytes; bodies truncate on a UTF-8 boundary.
func TestItemOperationsAndAttachments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "io@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		it := e.storeRaw(inbox, attMail)
		if len(it.Attachments) != 1 {
			t.Fatalf("attachments: %+v", it.Attachments)
		}
		ref := strconv.FormatInt(it.Attachments[0].ID, 10)
		coll, sid := strconv.FormatInt(inbox.ID, 10), strconv.FormatInt(it.ID, 10)
		dev := e.device(scIPhone)

		// Sync shows the attachment with its FileReference; a body cut at 8
		// bytes does not split "é".
		rp := newReplica(coll)
		rp.initial(t, dev, "")
		res := dev.Do("Sync", syncXML(coll, rp.key, 10, `<AirSync:Options><AirSyncBase:BodyPreference><AirSyncBase:Type>2</AirSyncBase:Type><AirSyncBase:TruncationSize>7</AirSyncBase:TruncationSize></AirSyncBase:BodyPreference></AirSync:Options>`))
		if !strings.Contains(res.XML(), "<AirSyncBase:FileReference>"+ref+"</AirSyncBase:FileReference>") {
			t.Fatalf("no FileReference: %s", res.XML())
		}
		add := res.Find("AirSync:Collections/AirSync:Collection/AirSync:Commands/AirSync:Add/AirSync:ApplicationData/AirSyncBase:Body")
		data := textOf(add, "Data")
		if textOf(add, "Truncated") != "1" || data != "<p>Caf" {
			t.Fatalf("truncated body %q: %s", data, res.XML())
		}

		fetch := func(inner string, multipart bool) *eastest.Result {
			body := `<ItemOperations:ItemOperations><ItemOperations:Fetch>` + inner + `</ItemOperations:Fetch></ItemOperations:ItemOperations>`
			if !multipart {
				return dev.Do("ItemOperations", body)
			}
			doc, _ := wbxml.ParseXML(strings.NewReader(body))
			raw, _ := wbxml.Marshal(doc)
			saved := dev.Client.Transport
			dev.Client.Transport = headerRT{saved, "MS-ASAcceptMultiPart", "T"}
			defer func() { dev.Client.Transport = saved }()
			return dev.DoRaw("ItemOperations", raw, "application/vnd.ms-sync.wbxml", nil)
		}
		r := fetch(`<ItemOperations:Store>Mailbox</ItemOperations:Store><AirSync:CollectionId>`+coll+`</AirSync:CollectionId><AirSync:ServerId>`+sid+`</AirSync:ServerId><ItemOperations:Options><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type></AirSyncBase:BodyPreference></ItemOperations:Options>`, false)
		if r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Status") != "1" || !strings.Contains(r.XML(), "Café résumé €") {
			t.Fatalf("fetch item: %s", r.XML())
		}
		r = fetch(`<ItemOperations:Store>Mailbox</ItemOperations:Store><AirSyncBase:FileReference>`+ref+`</AirSyncBase:FileReference>`, false)
		pdf, _ := base64.StdEncoding.DecodeString(r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Properties/ItemOperations:Data"))
		if !bytes.HasPrefix(pdf, []byte("%PDF-1.4")) || r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Properties/AirSyncBase:ContentType") != "application/pdf" {
			t.Fatalf("fetch attachment: %s", r.XML())
		}
		m := fetch(`<ItemOperations:Store>Mailbox</ItemOperations:Store><AirSyncBase:FileReference>`+ref+`</AirSyncBase:FileReference>`, true)
		if m.Header.Get("Content-Type") != "application/vnd.ms-sync.multipart" || len(m.Raw) < 12 {
			t.Fatalf("multipart: %q %d", m.Header.Get("Content-Type"), len(m.Raw))
		}
		n := int(binary.LittleEndian.Uint32(m.Raw))
		off, ln := binary.LittleEndian.Uint32(m.Raw[12:]), binary.LittleEndian.Uint32(m.Raw[16:])
		if n != 2 || !bytes.Equal(m.Raw[off:off+ln], pdf) {
			t.Fatalf("multipart parts: %d", n)
		}
		w0, l0 := binary.LittleEndian.Uint32(m.Raw[4:]), binary.LittleEndian.Uint32(m.Raw[8:])
		doc, err := wbxml.Unmarshal(m.Raw[w0 : w0+l0])
		if err != nil {
			t.Fatal(err)
		}
		var xb bytes.Buffer
		wbxml.WriteXML(&xb, doc)
		if !strings.Contains(xb.String(), "<ItemOperations:Part>1</ItemOperations:Part>") {
			t.Fatalf("part 0: %s", xb.String())
		}
		// GetAttachment (12.x style).
		ga := dev.DoRaw("GetAttachment", nil, "", map[string]string{"AttachmentName": ref})
		if ga.HTTP != 200 || !bytes.Equal(ga.Raw, pdf) || ga.Header.Get("Content-Type") != "application/pdf" {
			t.Fatalf("GetAttachment: %d %q", ga.HTTP, ga.Header.Get("Content-Type"))
		}
		// Another user's attachment and item: not found, nothing leaks.
		other := e.srv.AddUser(t, "io2@example.nhs.uk", scPassword)
		oi, _ := st.FolderByType(scCtx, other.ID, store.FolderInbox)
		theirs, _ := message.Parse([]byte(attMail))
		theirs.UserID, theirs.FolderID = other.ID, oi.ID
		if err := st.AddItem(scCtx, theirs, []byte(attMail)); err != nil {
			t.Fatal(err)
		}
		tref := strconv.FormatInt(theirs.Attachments[0].ID, 10)
		if r := fetch(`<ItemOperations:Store>Mailbox</ItemOperations:Store><AirSyncBase:FileReference>`+tref+`</AirSyncBase:FileReference>`, false); r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Status") != "15" || strings.Contains(r.XML(), "Data") {
			t.Fatalf("foreign attachment: %s", r.XML())
		}
		if r := fetch(`<ItemOperations:Store>Mailbox</ItemOperations:Store><AirSync:CollectionId>`+strconv.FormatInt(oi.ID, 10)+`</AirSync:CollectionId><AirSync:ServerId>`+strconv.FormatInt(theirs.ID, 10)+`</AirSync:ServerId>`, false); r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Status") != "6" || strings.Contains(r.XML(), "scan") {
			t.Fatalf("foreign item: %s", r.XML())
		}
		if ga := dev.DoRaw("GetAttachment", nil, "", map[string]string{"AttachmentName": tref}); ga.HTTP == 200 {
			t.Fatal("GetAttachment served another user's attachment")
		}
		// PEAS: document libraries are refused and audited.
		for _, link := range []string{`\\10.0.0.5\c$\x`, "http://169.254.169.254/", "file:///etc/passwd"} {
			r := fetch(`<ItemOperations:Store>DocumentLibrary</ItemOperations:Store><DocumentLibrary:LinkId>`+link+`</DocumentLibrary:LinkId>`, false)
			if r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Status") != "9" {
				t.Fatalf("LinkId %s: %s", link, r.XML())
			}
		}
		ev, err := st.ListAudit(scCtx, store.AuditFilter{Action: "eas.document_library_refused"})
		if err != nil || len(ev) != 3 {
			t.Fatalf("audit: %d %v", len(ev), err)
		}
		// EmptyFolderContents.
		r = dev.Do("ItemOperations", `<ItemOperations:ItemOperations><ItemOperations:EmptyFolderContents><AirSync:CollectionId>`+coll+`</AirSync:CollectionId></ItemOperations:EmptyFolderContents></ItemOperations:ItemOperations>`)
		if r.Text("ItemOperations:Response/ItemOperations:EmptyFolderContents/ItemOperations:Status") != "1" {
			t.Fatalf("empty folder: %s", r.XML())
		}
		if n, _ := st.CountItems(scCtx, e.user.ID, inbox.ID); n != 0 {
			t.Fatalf("%d items left", n)
		}
	})
}

// headerRT adds a header to every request (MS-ASAcceptMultiPart).
type headerRT struct {
	next http.RoundTripper
	k, v string
}

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r.Header.Set(h.k, h.v)
	return h.next.RoundTrip(r)
}

// GetItemEstimate, MoveItems statuses, the empty and partial Sync (13
// without a cache), Wait and HeartbeatInterval limits (14 with Limit),
// conflicts (7 under server-wins), and two racing requests with one key.
func TestSyncProtocolDetails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "pd@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		items := e.deliver(inbox, 12, "m")
		dev := e.device(scIPhone)
		coll := strconv.FormatInt(inbox.ID, 10)

		// Empty request with nothing cached: 13.
		if r := dev.DoRaw("Sync", nil, "", nil); r.Text("AirSync:Status") != "13" {
			t.Fatalf("empty Sync without cache: %s", r.XML())
		}
		est := func(key string) *eastest.Result {
			return dev.Do("GetItemEstimate", `<GetItemEstimate:GetItemEstimate><GetItemEstimate:Collections><GetItemEstimate:Collection><AirSync:SyncKey>`+key+`</AirSync:SyncKey><GetItemEstimate:CollectionId>`+coll+`</GetItemEstimate:CollectionId></GetItemEstimate:Collection></GetItemEstimate:Collections></GetItemEstimate:GetItemEstimate>`)
		}
		if r := est("0"); r.Text("GetItemEstimate:Response/GetItemEstimate:Status") != "3" {
			t.Fatalf("estimate unprimed: %s", r.XML())
		}
		rp := newReplica(coll)
		rp.initial(t, dev, plainBody)
		if r := est(rp.key); r.Text("GetItemEstimate:Response/GetItemEstimate:Collection/GetItemEstimate:Estimate") != "12" {
			t.Fatalf("estimate: %s", r.XML())
		}
		if r := est("{bad}4"); r.Text("GetItemEstimate:Response/GetItemEstimate:Status") != "4" {
			t.Fatalf("estimate bad key: %s", r.XML())
		}
		rp.apply(t, dev.Do("Sync", syncXML(coll, rp.key, 5, plainBody)))
		if r := est(rp.key); r.Text("GetItemEstimate:Response/GetItemEstimate:Collection/GetItemEstimate:Estimate") != "7" {
			t.Fatalf("estimate after a window: %s", r.XML())
		}
		// Partial request: the cached collection continues with its key.
		more := rp.apply(t, dev.Do("Sync", `<AirSync:Sync><AirSync:Partial/></AirSync:Sync>`))
		if !more || len(rp.items) != 10 {
			t.Fatalf("partial Sync: %d items", len(rp.items))
		}
		rp.drain(t, dev, 5, plainBody)
		// Empty request once caught up: empty response.
		if r := dev.DoRaw("Sync", nil, "", nil); r.HTTP != 200 || len(r.Raw) != 0 {
			t.Fatalf("empty Sync: %s", r.XML())
		}
		// Wait / HeartbeatInterval limits.
		for _, c := range []struct{ extra, status, limit string }{
			{"<AirSync:Wait>0</AirSync:Wait>", "14", "1"},
			{"<AirSync:Wait>60</AirSync:Wait>", "14", "59"},
			{"<AirSync:HeartbeatInterval>59</AirSync:HeartbeatInterval>", "14", "60"},
			{"<AirSync:HeartbeatInterval>3541</AirSync:HeartbeatInterval>", "14", "3540"},
			{"<AirSync:Wait>5</AirSync:Wait><AirSync:HeartbeatInterval>60</AirSync:HeartbeatInterval>", "4", ""},
		} {
			body := `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>` + rp.key + `</AirSync:SyncKey><AirSync:CollectionId>` + coll + `</AirSync:CollectionId></AirSync:Collection></AirSync:Collections>` + c.extra + `</AirSync:Sync>`
			r := dev.Do("Sync", body)
			if r.Text("AirSync:Status") != c.status || r.Text("AirSync:Limit") != c.limit {
				t.Fatalf("%s: %s", c.extra, r.XML())
			}
		}
		// Conflict: another device flags an item the device then marks read;
		// server wins: Status 7 and the server's version comes back.
		flag := 2
		if _, err := st.UpdateItem(scCtx, e.user.ID, items[0].ID, store.FlagChange{FlagStatus: &flag}); err != nil {
			t.Fatal(err)
		}
		sid := strconv.FormatInt(items[0].ID, 10)
		r := dev.Do("Sync", syncXML(coll, rp.key, 50, plainBody+`<AirSync:Commands><AirSync:Change><AirSync:ServerId>`+sid+`</AirSync:ServerId><AirSync:ApplicationData><Email:Read>1</Email:Read></AirSync:ApplicationData></AirSync:Change></AirSync:Commands>`))
		if !strings.Contains(r.XML(), "<AirSync:Status>7</AirSync:Status>") {
			t.Fatalf("conflict: %s", r.XML())
		}
		rp.apply(t, r)
		if rp.items[sid]["Flag"] != "2" || rp.items[sid]["Read"] != "0" {
			t.Fatalf("server version not sent: %v", rp.items[sid])
		}
		// MoveItems statuses (success is 3).
		mv := func(src, sf, df string) string {
			return dev.Do("MoveItems", `<Move:MoveItems><Move:Move><Move:SrcMsgId>`+src+`</Move:SrcMsgId><Move:SrcFldId>`+sf+`</Move:SrcFldId><Move:DstFldId>`+df+`</Move:DstFldId></Move:Move></Move:MoveItems>`).Text("Move:Response/Move:Status")
		}
		trash := strconv.FormatInt(e.folder(store.FolderDeletedItems).ID, 10)
		cal := strconv.FormatInt(e.folder(store.FolderCalendar).ID, 10)
		if s := mv("999999", coll, trash); s != "1" {
			t.Fatalf("bad source: %s", s)
		}
		if s := mv(sid, coll, "999999"); s != "2" {
			t.Fatalf("bad destination: %s", s)
		}
		if s := mv(sid, coll, cal); s != "2" {
			t.Fatalf("mail into calendar: %s", s)
		}
		if s := mv(sid, coll, coll); s != "4" {
			t.Fatalf("same folder: %s", s)
		}
		if s := mv(sid, coll, trash); s != "3" {
			t.Fatalf("move: %s", s)
		}
		// Two racing requests with one key: each answer is either a
		// success or a 3, and nothing is applied twice.
		rp.drain(t, dev, 50, plainBody)
		notes := strconv.FormatInt(e.folder(store.FolderNotes).ID, 10)
		rn := newReplica(notes)
		rn.initial(t, dev, "")
		var wg sync.WaitGroup
		statuses := make([]string, 4)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := dev.Do("Sync", syncXML(notes, rn.key, 50, noteAdds(3, "race")))
				statuses[i] = textOf(collection(res, notes), "Status")
			}()
		}
		wg.Wait()
		for _, s := range statuses {
			if s != "1" && s != "3" {
				t.Fatalf("racing statuses %v", statuses)
			}
		}
		if n, _ := st.CountItems(scCtx, e.user.ID, e.folder(store.FolderNotes).ID); n != 3 {
			t.Fatalf("%d notes after a race, want 3 (statuses %v)", n, statuses)
		}
	})
}

// A FilterType narrows what the device holds: items older than the window
// are not sent, and are soft-deleted when the filter narrows.
func TestSyncFilterTypeSoftDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "ft@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		for i, age := range []time.Duration{1 * time.Hour, 2 * 24 * time.Hour, 10 * 24 * time.Hour, 40 * 24 * time.Hour} {
			e.storeRaw(inbox, string(rawMail(i, "age "+strconv.Itoa(i), time.Now().Add(-age))))
		}
		dev := e.device(scIPhone)
		coll := strconv.FormatInt(inbox.ID, 10)
		rp := newReplica(coll)
		opts := func(ft int) string {
			return `<AirSync:Options><AirSync:FilterType>` + strconv.Itoa(ft) + `</AirSync:FilterType><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type></AirSyncBase:BodyPreference></AirSync:Options>`
		}
		rp.initial(t, dev, opts(5)) // one month
		rp.drain(t, dev, 10, opts(5))
		if len(rp.items) != 3 {
			t.Fatalf("one month: %d items", len(rp.items))
		}
		rp.drain(t, dev, 10, opts(2)) // three days: two leave
		if len(rp.items) != 2 {
			t.Fatalf("three days: %d items, log %v", len(rp.items), rp.log)
		}
		soft := 0
		for _, l := range rp.log {
			if strings.HasPrefix(l, "SoftDelete") {
				soft++
			}
		}
		if soft != 1 {
			t.Fatalf("soft deletes: %v", rp.log)
		}
		rp.drain(t, dev, 10, opts(0)) // everything: the older ones come back
		if len(rp.items) != 4 {
			t.Fatalf("no filter: %d items, log %v", len(rp.items), rp.log)
		}
	})
}
