package activesync_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/store"
	"airlock/store/storetest"
)

// Tests of the Email class gaps: drafts from 16.x devices, the
// whole follow-up flag, Bcc and ReceivedAsBcc, RTF bodies. Helpers carry an
// "ed" prefix.

// edSync runs one Sync of coll and returns its Collection element (nil for
// an empty response) and the new key (key itself when nothing changed).
func edSync(t testing.TB, dev *eastest.Device, coll, key, extra string) (*etree.Element, string) {
	t.Helper()
	res := dev.Do("Sync", syncXML(coll, key, 100, extra))
	if res.HTTP != 200 {
		t.Fatalf("Sync: HTTP %d %s", res.HTTP, res.XML())
	}
	if res.Doc == nil {
		return nil, key
	}
	c := collection(res, coll)
	if c == nil || textOf(c, "Status") != "1" {
		t.Fatalf("Sync: %s", res.XML())
	}
	return c, textOf(c, "SyncKey")
}

// edInit starts a device's sync of coll and returns the first key.
func edInit(t testing.TB, dev *eastest.Device, coll string) string {
	t.Helper()
	_, key := edSync(t, dev, coll, "0", "")
	return key
}

// edChild walks a path of local names ("ApplicationData/Flag/Status").
func edChild(el *etree.Element, path string) *etree.Element {
	for _, tag := range strings.Split(path, "/") {
		if el == nil {
			return nil
		}
		var next *etree.Element
		for _, c := range el.ChildElements() {
			if c.Tag == tag {
				next = c
				break
			}
		}
		el = next
	}
	return el
}

func edText(el *etree.Element, path string) string {
	if c := edChild(el, path); c != nil {
		return strings.TrimSpace(c.Text())
	}
	return ""
}

// edCommands lists a collection's server commands as (kind, element).
func edCommands(c *etree.Element) []*etree.Element {
	if cmds := edChild(c, "Commands"); cmds != nil {
		return cmds.ChildElements()
	}
	return nil
}

// edResponse returns the collection's Responses entry for a ClientId or
// ServerId.
func edResponse(t testing.TB, c *etree.Element, kind, id string) *etree.Element {
	t.Helper()
	resp := edChild(c, "Responses")
	if resp == nil {
		return nil
	}
	for _, r := range resp.ChildElements() {
		if r.Tag == kind && (textOf(r, "ClientId") == id || textOf(r, "ServerId") == id) {
			return r
		}
	}
	return nil
}

// edAttachments maps an item's attachments: FileReference → DisplayName.
func edAttachments(app *etree.Element) map[string]string {
	out := map[string]string{}
	if list := edChild(app, "Attachments"); list != nil {
		for _, a := range list.ChildElements() {
			out[textOf(a, "FileReference")] = textOf(a, "DisplayName")
		}
	}
	return out
}

const edPlainBody = `<AirSync:Options><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type></AirSyncBase:BodyPreference></AirSync:Options>`

func edB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// A draft written on a 16.1 device A reaches device B of the same user once,
// with its Bcc and attachment; A's change (subject, one attachment removed,
// one added) reaches B as a Change with the whole new content; A's delete
// reaches B. A never gets its own changes back, and every FileReference it
// is given finds the attachment.
func TestDraftsFromDeviceReachOtherDevice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "ann@example.nhs.uk")
		drafts := e.folder(store.FolderDrafts)
		coll := strconv.FormatInt(drafts.ID, 10)
		a, b := e.device(eastest.IPhone14), e.device(eastest.IPhone14)
		scFolderSync(t, a, "0")
		scFolderSync(t, b, "0")
		ka, kb := edInit(t, a, coll), edInit(t, b, coll)

		c, ka2 := edSync(t, a, coll, ka, `<AirSync:Commands><AirSync:Add><AirSync:ClientId>d1</AirSync:ClientId><AirSync:ApplicationData>`+
			`<Email:To>"Bob Smith" &lt;bob@example.nhs.uk&gt;</Email:To><Email:Cc>carol@example.nhs.uk</Email:Cc><Email2:Bcc>dave@example.nhs.uk</Email2:Bcc>`+
			`<Email:Subject>Rota draft</Email:Subject><Email:Importance>2</Email:Importance>`+
			`<AirSyncBase:Body><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:Data>Line one
Line two</AirSyncBase:Data></AirSyncBase:Body>`+
			`<AirSyncBase:Attachments><AirSyncBase:Add><AirSyncBase:ClientId>att1</AirSyncBase:ClientId><AirSyncBase:DisplayName>rota.csv</AirSyncBase:DisplayName>`+
			`<AirSyncBase:Method>1</AirSyncBase:Method><AirSyncBase:ContentType>text/csv</AirSyncBase:ContentType><AirSyncBase:Content>`+edB64("mon,tue\n1,2\n")+`</AirSyncBase:Content></AirSyncBase:Add></AirSyncBase:Attachments>`+
			`</AirSync:ApplicationData></AirSync:Add></AirSync:Commands>`)
		ka = ka2
		r := edResponse(t, c, "Add", "d1")
		if r == nil || textOf(r, "Status") != "1" {
			t.Fatalf("draft Add: %v", c)
		}
		sid := textOf(r, "ServerId")
		att := edChild(r, "ApplicationData/Attachments/Attachment")
		ref1 := edText(att, "FileReference")
		if edText(att, "ClientId") != "att1" || ref1 == "" {
			t.Fatalf("Add response gives no FileReference for att1")
		}

		// Stored as a real message, Bcc kept.
		id, _ := strconv.ParseInt(sid, 10, 64)
		it, err := st.ItemByID(scCtx, e.user.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := st.Blob(scCtx, e.user.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if !it.IsDraft || !strings.Contains(it.BccAddrs, "dave@example.nhs.uk") || !strings.Contains(edHeader(t, raw, "Bcc"), "dave@example.nhs.uk") ||
			edHeader(t, raw, "Subject") != "Rota draft" || len(it.Attachments) != 1 || strconv.FormatInt(it.Attachments[0].ID, 10) != ref1 {
			t.Fatalf("stored draft: %+v\n%s", it, raw)
		}

		// B gets it once, whole.
		c, kb = edSync(t, b, coll, kb, edPlainBody)
		cmds := edCommands(c)
		if len(cmds) != 1 || cmds[0].Tag != "Add" || textOf(cmds[0], "ServerId") != sid {
			t.Fatalf("B: %d commands", len(cmds))
		}
		app := edChild(cmds[0], "ApplicationData")
		if edText(app, "Subject") != "Rota draft" || !strings.Contains(edText(app, "Bcc"), "dave@example.nhs.uk") || edText(app, "IsDraft") != "1" ||
			edText(app, "Importance") != "2" || !strings.Contains(edText(app, "Body/Data"), "Line two") || edAttachments(app)[ref1] != "rota.csv" {
			t.Fatalf("B's draft: subject %q bcc %q draft %q body %q atts %v", edText(app, "Subject"), edText(app, "Bcc"), edText(app, "IsDraft"), edText(app, "Body/Data"), edAttachments(app))
		}
		// A does not get its own draft back.
		if c, _ := edSync(t, a, coll, ka, ""); len(edCommands(c)) != 0 {
			t.Fatalf("A got its own draft back")
		}

		// A changes the subject, drops rota.csv, adds notes.txt.
		c, ka = edSync(t, a, coll, ka, `<AirSync:Commands><AirSync:Change><AirSync:ServerId>`+sid+`</AirSync:ServerId><AirSync:ApplicationData>`+
			`<Email:Subject>Rota draft v2</Email:Subject>`+
			`<AirSyncBase:Attachments><AirSyncBase:Delete><AirSyncBase:FileReference>`+ref1+`</AirSyncBase:FileReference></AirSyncBase:Delete>`+
			`<AirSyncBase:Add><AirSyncBase:ClientId>att2</AirSyncBase:ClientId><AirSyncBase:DisplayName>notes.txt</AirSyncBase:DisplayName><AirSyncBase:Method>1</AirSyncBase:Method>`+
			`<AirSyncBase:Content>`+edB64("see me")+`</AirSyncBase:Content></AirSyncBase:Add></AirSyncBase:Attachments>`+
			`</AirSync:ApplicationData></AirSync:Change></AirSync:Commands>`)
		r = edResponse(t, c, "Change", sid)
		att = edChild(r, "ApplicationData/Attachments/Attachment")
		ref2 := edText(att, "FileReference")
		if textOf(r, "Status") != "1" || edText(att, "ClientId") != "att2" || ref2 == "" || ref2 == ref1 {
			t.Fatalf("Change response: status %q ref %q", textOf(r, "Status"), ref2)
		}
		c, kb = edSync(t, b, coll, kb, edPlainBody)
		cmds = edCommands(c)
		if len(cmds) != 1 || cmds[0].Tag != "Change" || textOf(cmds[0], "ServerId") != sid {
			t.Fatalf("B after the change: %d commands", len(cmds))
		}
		app = edChild(cmds[0], "ApplicationData")
		atts := edAttachments(app)
		if edText(app, "Subject") != "Rota draft v2" || !strings.Contains(edText(app, "To"), "bob@example.nhs.uk") ||
			!strings.Contains(edText(app, "Bcc"), "dave@example.nhs.uk") || len(atts) != 1 || atts[ref2] != "notes.txt" ||
			!strings.Contains(edText(app, "Body/Data"), "Line one") {
			t.Fatalf("B's changed draft: subject %q to %q bcc %q atts %v", edText(app, "Subject"), edText(app, "To"), edText(app, "Bcc"), atts)
		}
		// The new FileReference fetches the new attachment.
		ref2ID, _ := strconv.ParseInt(ref2, 10, 64)
		if a2, _, err := st.AttachmentByID(scCtx, e.user.ID, ref2ID); err != nil || a2.FileName != "notes.txt" {
			t.Fatalf("attachment %s: %v %v", ref2, a2, err)
		}
		if c, _ := edSync(t, a, coll, ka, ""); len(edCommands(c)) != 0 {
			t.Fatalf("A got its own change back")
		}

		// A deletes it; B is told.
		edSync(t, a, coll, ka, `<AirSync:Commands><AirSync:Delete><AirSync:ServerId>`+sid+`</AirSync:ServerId></AirSync:Delete></AirSync:Commands>`)
		c, _ = edSync(t, b, coll, kb, "")
		cmds = edCommands(c)
		if len(cmds) != 1 || cmds[0].Tag != "Delete" || textOf(cmds[0], "ServerId") != sid {
			t.Fatalf("B after the delete: %d commands", len(cmds))
		}
		if n := len(e.serverView(drafts)); n != 0 {
			t.Fatalf("%d drafts left", n)
		}
	})
}

// email2:Send on a draft's Change sends it: the recipient gets it, the
// sender's Sent Items copy keeps the Bcc, Drafts loses it (and the device is
// told).
func TestDraftSend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "ann@example.nhs.uk")
		bob := e.srv.AddUser(t, "bob@example.nhs.uk", scPassword)
		dave := e.srv.AddUser(t, "dave@example.nhs.uk", scPassword)
		drafts := e.folder(store.FolderDrafts)
		coll := strconv.FormatInt(drafts.ID, 10)
		a := e.device(eastest.IPhone14)
		scFolderSync(t, a, "0")
		ka := edInit(t, a, coll)
		c, ka := edSync(t, a, coll, ka, `<AirSync:Commands><AirSync:Add><AirSync:ClientId>d1</AirSync:ClientId><AirSync:ApplicationData>`+
			`<Email:To>bob@example.nhs.uk</Email:To><Email2:Bcc>dave@example.nhs.uk</Email2:Bcc><Email:Subject>Bed state</Email:Subject>`+
			`<AirSyncBase:Body><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:Data>3 free</AirSyncBase:Data></AirSyncBase:Body>`+
			`</AirSync:ApplicationData></AirSync:Add></AirSync:Commands>`)
		sid := textOf(edResponse(t, c, "Add", "d1"), "ServerId")
		send := `<AirSync:Commands><AirSync:Change><AirSync:ServerId>` + sid + `</AirSync:ServerId><Email2:Send/><AirSync:ApplicationData>` +
			`<Email:Subject>Bed state 10:00</Email:Subject></AirSync:ApplicationData></AirSync:Change></AirSync:Commands>`
		before := ka
		c, ka = edSync(t, a, coll, ka, send)
		if r := edResponse(t, c, "Change", sid); r != nil {
			t.Fatalf("Change of the sent draft failed: status %s", textOf(r, "Status"))
		}
		// The response was lost: the device sends the same request again.
		// Nothing goes out twice.
		// Its answer now also tells it the draft left Drafts.
		c, k := edSync(t, a, coll, before, send)
		if k != ka {
			t.Fatalf("replay got key %s, want %s", k, ka)
		}
		if cmds := edCommands(c); len(cmds) != 1 || cmds[0].Tag != "Delete" || textOf(cmds[0], "ServerId") != sid {
			t.Fatalf("device not told the draft left Drafts")
		}
		for _, u := range []*store.User{bob, dave} {
			inbox, _ := st.FolderByType(scCtx, u.ID, store.FolderInbox)
			items, _ := st.ListItems(scCtx, u.ID, inbox.ID, 0, 10)
			if len(items) != 1 || items[0].Subject != "Bed state 10:00" || items[0].IsDraft || items[0].ReceivedAsBcc != (u == dave) {
				t.Fatalf("%s's Inbox: %+v", u.Email, items)
			}
			raw, _ := st.Blob(scCtx, u.ID, items[0].ID)
			if strings.Contains(string(raw), "dave@") {
				t.Fatalf("the Bcc went out in the message:\n%s", raw)
			}
		}
		sent := e.folder(store.FolderSentItems)
		items, _ := st.ListItems(scCtx, e.user.ID, sent.ID, 0, 10)
		if len(items) != 1 || !strings.Contains(items[0].BccAddrs, "dave@example.nhs.uk") {
			t.Fatalf("Sent Items: %+v", items)
		}
		if n := len(e.serverView(drafts)); n != 0 {
			t.Fatalf("%d drafts left after sending", n)
		}

		// Add and send at once (email2:Send on the Add).
		c, _ = edSync(t, a, coll, ka, `<AirSync:Commands><AirSync:Add><AirSync:ClientId>d2</AirSync:ClientId><Email2:Send/><AirSync:ApplicationData>`+
			`<Email:To>bob@example.nhs.uk</Email:To><Email:Subject>Direct</Email:Subject></AirSync:ApplicationData></AirSync:Add></AirSync:Commands>`)
		if s := textOf(edResponse(t, c, "Add", "d2"), "Status"); s != "1" {
			t.Fatalf("Add with Send: status %q", s)
		}
		inbox, _ := st.FolderByType(scCtx, bob.ID, store.FolderInbox)
		got, _ := st.ListItems(scCtx, bob.ID, inbox.ID, 0, 10)
		if len(got) != 2 || got[1].Subject != "Direct" {
			t.Fatalf("bob's Inbox after Add with Send: %d items", len(got))
		}
		if n := len(e.serverView(drafts)); n != 0 {
			t.Fatalf("%d drafts left after Add with Send", n)
		}

		// A draft that cannot go (a remote recipient, no relay) stays in
		// Drafts, saved: an Add keeps its ServerId, a Change gets 6.
		c, ka = edSync(t, a, coll, ka, `<AirSync:Commands><AirSync:Add><AirSync:ClientId>d3</AirSync:ClientId><Email2:Send/><AirSync:ApplicationData>`+
			`<Email:To>someone@elsewhere.example</Email:To><Email:Subject>Outside</Email:Subject></AirSync:ApplicationData></AirSync:Add></AirSync:Commands>`)
		r := edResponse(t, c, "Add", "d3")
		sid3 := textOf(r, "ServerId")
		if textOf(r, "Status") != "1" || sid3 == "" {
			t.Fatalf("unsendable Add: status %q", textOf(r, "Status"))
		}
		c, _ = edSync(t, a, coll, ka, `<AirSync:Commands><AirSync:Change><AirSync:ServerId>`+sid3+`</AirSync:ServerId><Email2:Send/><AirSync:ApplicationData>`+
			`<Email:Subject>Outside 2</Email:Subject></AirSync:ApplicationData></AirSync:Change></AirSync:Commands>`)
		if s := textOf(edResponse(t, c, "Change", sid3), "Status"); s != "6" {
			t.Fatalf("unsendable Change: status %q", s)
		}
		if view := e.serverView(drafts); len(view) != 1 || view[sid3] != "Outside 2" {
			t.Fatalf("Drafts after failed sends: %v", view)
		}
	})
}

// Bad draft input gets Status 6 for that command alone; the request's
// other commands are applied. A 14.1 device may not add drafts, and mail
// cannot be added outside Drafts.
func TestDraftRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "ann@example.nhs.uk")
		drafts := e.folder(store.FolderDrafts)
		old := e.deliver(drafts, 1, "old draft")[0]
		coll := strconv.FormatInt(drafts.ID, 10)
		oldID := strconv.FormatInt(old.ID, 10)
		draftAdd := func(cid, app string) string {
			return `<AirSync:Add><AirSync:ClientId>` + cid + `</AirSync:ClientId><AirSync:ApplicationData>` + app + `</AirSync:ApplicationData></AirSync:Add>`
		}

		// 14.1: the Add is refused, the Change beside it applied.
		d14 := e.device(scIPhone)
		scFolderSync(t, d14, "0")
		k := edInit(t, d14, coll)
		_, k = edSync(t, d14, coll, k, "")
		c, _ := edSync(t, d14, coll, k, `<AirSync:Commands>`+draftAdd("x1", `<Email:Subject>no</Email:Subject>`)+
			`<AirSync:Change><AirSync:ServerId>`+oldID+`</AirSync:ServerId><AirSync:ApplicationData><Email:Read>1</Email:Read></AirSync:ApplicationData></AirSync:Change></AirSync:Commands>`)
		if s := textOf(edResponse(t, c, "Add", "x1"), "Status"); s != "6" {
			t.Fatalf("14.1 draft Add: status %q", s)
		}
		if it, _ := st.ItemByID(scCtx, e.user.ID, old.ID); !it.Read {
			t.Fatal("the Change beside the refused Add was not applied")
		}

		// 16.1: each malformed Add gets 6, the good one 1.
		d16 := e.device(eastest.IPhone14)
		scFolderSync(t, d16, "0")
		k = edInit(t, d16, coll)
		_, k = edSync(t, d16, coll, k, "")
		body := func(typ, data string) string {
			return `<AirSyncBase:Body><AirSyncBase:Type>` + typ + `</AirSyncBase:Type><AirSyncBase:Data>` + data + `</AirSyncBase:Data></AirSyncBase:Body>`
		}
		cases := []struct{ cid, app, status string }{
			{"bad-importance", `<Email:Subject>a</Email:Subject><Email:Importance>9</Email:Importance>`, "6"},
			{"bad-to", `<Email:To>not an address &lt;&lt;</Email:To>`, "6"},
			{"bad-mime-body", body("4", "not a message at all"), "6"},
			{"bad-rtf", body("3", edB64("not compressed rtf at all")), "6"},
			{"att-no-content", `<AirSyncBase:Attachments><AirSyncBase:Add><AirSyncBase:ClientId>a</AirSyncBase:ClientId></AirSyncBase:Add></AirSyncBase:Attachments>`, "6"},
			{"bad-flag", `<Email:Flag><Email:Status>2</Email:Status><Tasks:DueDate>tomorrow</Tasks:DueDate></Email:Flag>`, "6"},
			{"good", `<Email:Subject>fine</Email:Subject>` + body("1", "ok"), "1"},
		}
		var cmds strings.Builder
		for _, tc := range cases {
			cmds.WriteString(draftAdd(tc.cid, tc.app))
		}
		// And a Change deleting an attachment the draft does not have.
		cmds.WriteString(`<AirSync:Change><AirSync:ServerId>` + oldID + `</AirSync:ServerId><AirSync:ApplicationData><AirSyncBase:Attachments><AirSyncBase:Delete><AirSyncBase:FileReference>999999</AirSyncBase:FileReference></AirSyncBase:Delete></AirSyncBase:Attachments></AirSync:ApplicationData></AirSync:Change>`)
		c, _ = edSync(t, d16, coll, k, `<AirSync:Commands>`+cmds.String()+`</AirSync:Commands>`)
		for _, tc := range cases {
			if s := textOf(edResponse(t, c, "Add", tc.cid), "Status"); s != tc.status {
				t.Errorf("%s: status %q, want %s", tc.cid, s, tc.status)
			}
		}
		if s := textOf(edResponse(t, c, "Change", oldID), "Status"); s != "6" {
			t.Errorf("Change deleting an unknown attachment: status %q", s)
		}
		view := e.serverView(drafts)
		if len(view) != 2 || view[oldID] != old.Subject {
			t.Fatalf("Drafts after the refusals: %v", view)
		}

		// 16.1 Add in the Inbox: 6.
		inbox := strconv.FormatInt(e.folder(store.FolderInbox).ID, 10)
		k = edInit(t, d16, inbox)
		c, _ = edSync(t, d16, inbox, k, `<AirSync:Commands>`+draftAdd("in1", `<Email:Subject>x</Email:Subject>`)+`</AirSync:Commands>`)
		if s := textOf(edResponse(t, c, "Add", "in1"), "Status"); s != "6" {
			t.Fatalf("Add in the Inbox: status %q", s)
		}
	})
}

// A flag with its dates, reminder and subject set on device A reaches
// device B as it was set; clearing it reaches B too.
func TestMailFlagWithDatesReachesOtherDevice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "ann@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		it := e.deliver(inbox, 1, "flag me")[0]
		coll := strconv.FormatInt(inbox.ID, 10)
		sid := strconv.FormatInt(it.ID, 10)
		for _, p := range []eastest.Profile{scIPhone, eastest.IPhone14} {
			a, b := e.device(p), e.device(p)
			scFolderSync(t, a, "0")
			scFolderSync(t, b, "0")
			ka, kb := edInit(t, a, coll), edInit(t, b, coll)
			_, ka = edSync(t, a, coll, ka, "")
			_, kb = edSync(t, b, coll, kb, "")
			want := [][2]string{
				{"Subject", "Call pharmacy"}, {"Status", "2"}, {"FlagType", "Follow up"},
				{"StartDate", "2026-11-25T00:00:00.000Z"}, {"UtcStartDate", "2026-11-25T00:00:00.000Z"},
				{"DueDate", "2026-11-27T00:00:00.000Z"}, {"UtcDueDate", "2026-11-27T00:00:00.000Z"},
				{"ReminderSet", "1"}, {"ReminderTime", "2026-11-26T09:30:00.000Z"},
				{"OrdinalDate", "2026-11-25T08:00:00.000Z"}, {"SubOrdinalDate", "5000000"},
			}
			page := map[string]string{"Subject": "Tasks", "Status": "Email", "FlagType": "Email"}
			var flag strings.Builder
			for _, f := range want {
				p := page[f[0]]
				if p == "" {
					p = "Tasks"
				}
				flag.WriteString("<" + p + ":" + f[0] + ">" + f[1] + "</" + p + ":" + f[0] + ">")
			}
			change := func(flagXML string) {
				c, k := edSync(t, a, coll, ka, `<AirSync:Commands><AirSync:Change><AirSync:ServerId>`+sid+`</AirSync:ServerId><AirSync:ApplicationData>`+
					`<Email:Flag>`+flagXML+`</Email:Flag></AirSync:ApplicationData></AirSync:Change></AirSync:Commands>`)
				if r := edResponse(t, c, "Change", sid); r != nil {
					t.Fatalf("%s: flag Change status %s", p.Name, textOf(r, "Status"))
				}
				ka = k
			}
			change(flag.String())
			c, k := edSync(t, b, coll, kb, "")
			kb = k
			cmds := edCommands(c)
			if len(cmds) != 1 || cmds[0].Tag != "Change" {
				t.Fatalf("%s: B got %d commands", p.Name, len(cmds))
			}
			fl := edChild(cmds[0], "ApplicationData/Flag")
			for _, f := range want {
				if got := edText(fl, f[0]); got != f[1] {
					t.Errorf("%s: B's Flag %s = %q, want %q", p.Name, f[0], got, f[1])
				}
			}
			// Completing it without times: the server stamps them.
			change(`<Email:Status>1</Email:Status>`)
			c, kb = edSync(t, b, coll, kb, "")
			fl = edChild(edCommands(c)[0], "ApplicationData/Flag")
			if edText(fl, "Status") != "1" || edText(fl, "CompleteTime") == "" || edText(fl, "DateCompleted") == "" {
				t.Errorf("%s: completed flag without completion times", p.Name)
			}
			change("")
			c, _ = edSync(t, b, coll, kb, "")
			if fl := edChild(edCommands(c)[0], "ApplicationData/Flag"); fl == nil || len(fl.ChildElements()) != 0 {
				t.Errorf("%s: cleared flag not empty on B", p.Name)
			}
		}
	})
}

// A Bcc recipient's copy says ReceivedAsBcc=1 (14.0+); the To and Cc
// recipients' do not. The sender's Sent Items copy shows the Bcc list to
// 16.x devices only.
func TestReceivedAsBccAndSentBcc(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "ann@example.nhs.uk")
		for _, u := range []string{"bob", "carol", "dave", "erin"} {
			e.srv.AddUser(t, u+"@example.nhs.uk", scPassword)
		}
		sender := e.device(scIPhone)
		mime := "To: bob@example.nhs.uk\r\nCc: carol@example.nhs.uk\r\nBcc: dave@example.nhs.uk\r\nSubject: staffing\r\n\r\nsee rota\r\n"
		sender.Do("SendMail", composeXML("SendMail", "bcc-1", mime, true, "", "")).Expect(200, "", "")
		// Over SMTP as well: erin is an envelope recipient only.
		err := e.srv.Mail.DeliverInbound(context.Background(), delivery.Inbound{From: "ward@nhs.net", Data: []byte(
			"From: ward@nhs.net\r\nTo: bob@example.nhs.uk\r\nSubject: from outside\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nhi\r\n"),
			Recipients: []*store.User{edUser(t, st, "bob"), edUser(t, st, "erin")}, Protocol: "ESMTP"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string]string{
			"bob":   {"staffing": "", "from outside": ""},
			"carol": {"staffing": ""},
			"dave":  {"staffing": "1"},
			"erin":  {"from outside": "1"},
		}
		for name, subjects := range want {
			dev := eastest.NewDevice(t, e.srv.URL, eastest.Android4, name+"@example.nhs.uk", scPassword)
			dev.Provision(1)
			u := edUser(t, st, name)
			inbox, _ := st.FolderByType(scCtx, u.ID, store.FolderInbox)
			coll := strconv.FormatInt(inbox.ID, 10)
			scFolderSync(t, dev, "0")
			c, _ := edSync(t, dev, coll, edInit(t, dev, coll), "")
			got := map[string]string{}
			for _, cmd := range edCommands(c) {
				got[edText(cmd, "ApplicationData/Subject")] = edText(cmd, "ApplicationData/ReceivedAsBcc")
			}
			if len(got) != len(subjects) {
				t.Fatalf("%s: %v", name, got)
			}
			for s, v := range subjects {
				if got[s] != v {
					t.Errorf("%s, %q: ReceivedAsBcc %q, want %q", name, s, got[s], v)
				}
			}
		}
		sent := strconv.FormatInt(e.folder(store.FolderSentItems).ID, 10)
		for _, p := range []eastest.Profile{eastest.IPhone14, scIPhone} {
			dev := e.device(p)
			scFolderSync(t, dev, "0")
			c, _ := edSync(t, dev, sent, edInit(t, dev, sent), "")
			cmds := edCommands(c)
			if len(cmds) != 1 {
				t.Fatalf("%s: Sent Items has %d", p.Name, len(cmds))
			}
			bcc := edText(cmds[0], "ApplicationData/Bcc")
			if p.Version >= "16" && !strings.Contains(bcc, "dave@example.nhs.uk") || p.Version < "16" && bcc != "" {
				t.Errorf("%s: Sent Items Bcc %q", p.Name, bcc)
			}
		}
	})
}

// edHeader returns a header field of a raw message.
func edHeader(t testing.TB, raw []byte, key string) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get(key)
}

func edUser(t testing.TB, st *store.Store, name string) *store.User {
	t.Helper()
	u, err := st.UserByAddress(scCtx, name+"@example.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// RTF (Body Type 3): what the server sends decompresses (MS-OXRTFCP) to
// RTF whose text is the message's; a draft a device writes in RTF is
// stored as its text, which another device reads as plain text.
func TestRTFBodyRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "ann@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		text := "Dose: 5 mg {twice} \\ daily\nZoë’s ward — 30 °C ✓\n"
		e.storeRaw(inbox, "From: ward@example.nhs.uk\r\nTo: ann@example.nhs.uk\r\nSubject: rtf\r\nDate: "+time.Now().Format(time.RFC1123Z)+
			"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+strings.ReplaceAll(text, "\n", "\r\n"))
		dev := e.device(eastest.IPhone14)
		scFolderSync(t, dev, "0")
		coll := strconv.FormatInt(inbox.ID, 10)
		c, _ := edSync(t, dev, coll, edInit(t, dev, coll), `<AirSync:Options><AirSyncBase:BodyPreference><AirSyncBase:Type>3</AirSyncBase:Type><AirSyncBase:TruncationSize>10</AirSyncBase:TruncationSize></AirSyncBase:BodyPreference></AirSync:Options>`)
		cmds := edCommands(c)
		if len(cmds) != 1 {
			t.Fatalf("%d commands", len(cmds))
		}
		body := edChild(cmds[0], "ApplicationData/Body")
		if edText(body, "Type") != "3" || edText(body, "Truncated") == "1" {
			t.Fatalf("Body type %q truncated %q", edText(body, "Type"), edText(body, "Truncated"))
		}
		comp, err := base64.StdEncoding.DecodeString(edText(body, "Data"))
		if err != nil {
			t.Fatalf("RTF Data not base64: %v", err)
		}
		rtf, err := activesync.DecompressRTF(comp)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := activesync.RTFToText(rtf); err != nil || got != text {
			t.Fatalf("RTF text %q (%v), want %q", got, err, text)
		}

		// A device writes a draft in RTF.
		drafts := strconv.FormatInt(e.folder(store.FolderDrafts).ID, 10)
		k := edInit(t, dev, drafts)
		data := base64.StdEncoding.EncodeToString(activesync.CompressRTF(activesync.RTFFromText(text)))
		c, _ = edSync(t, dev, drafts, k, `<AirSync:Commands><AirSync:Add><AirSync:ClientId>r1</AirSync:ClientId><AirSync:ApplicationData><Email:Subject>rtf draft</Email:Subject>`+
			`<AirSyncBase:Body><AirSyncBase:Type>3</AirSyncBase:Type><AirSyncBase:Data>`+data+`</AirSyncBase:Data></AirSyncBase:Body></AirSync:ApplicationData></AirSync:Add></AirSync:Commands>`)
		r := edResponse(t, c, "Add", "r1")
		if textOf(r, "Status") != "1" {
			t.Fatalf("RTF draft: status %q", textOf(r, "Status"))
		}
		other := e.device(eastest.IPhone14)
		scFolderSync(t, other, "0")
		c, _ = edSync(t, other, drafts, edInit(t, other, drafts), edPlainBody)
		cmds = edCommands(c)
		if len(cmds) != 1 || strings.ReplaceAll(edText(cmds[0], "ApplicationData/Body/Data"), "\r\n", "\n") != strings.TrimSpace(text) {
			t.Fatalf("RTF draft read back as %q", edText(cmds[0], "ApplicationData/Body/Data"))
		}
	})
}

// A 16.1 device may write a draft as MIME (AirSyncBase Body Type 4): the
// message is stored as the draft, with its recipients, Bcc, subject, body
// and attachment, From the user whatever the MIME said, and reaches a
// second 16.1 device whole, as text and as MIME.
func TestMIMEDraftReachesOtherDevice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "ann@example.nhs.uk")
		drafts := e.folder(store.FolderDrafts)
		coll := strconv.FormatInt(drafts.ID, 10)
		a, b := e.device(eastest.IPhone14), e.device(eastest.IPhone14)
		scFolderSync(t, a, "0")
		scFolderSync(t, b, "0")
		ka, kb := edInit(t, a, coll), edInit(t, b, coll)

		mime := "From: Someone Else <mallory@elsewhere.example>\r\n" +
			"To: \"Bob Smith\" <bob@example.nhs.uk>\r\nBcc: dave@example.nhs.uk\r\n" +
			"Subject: Ward round notes\r\nImportance: high\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
			"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBay 3 first.\r\nThen bay 5.\r\n" +
			"--b1\r\nContent-Type: text/csv; name=\"beds.csv\"\r\nContent-Disposition: attachment; filename=\"beds.csv\"\r\n\r\nbay,free\r\n3,1\r\n" +
			"--b1--\r\n"
		var esc bytes.Buffer
		if err := xmlEscape(&esc, mime); err != nil {
			t.Fatal(err)
		}
		c, _ := edSync(t, a, coll, ka, `<AirSync:Commands><AirSync:Add><AirSync:ClientId>m1</AirSync:ClientId><AirSync:ApplicationData>`+
			`<AirSyncBase:Body><AirSyncBase:Type>4</AirSyncBase:Type><AirSyncBase:Data>`+esc.String()+`</AirSyncBase:Data></AirSyncBase:Body>`+
			`</AirSync:ApplicationData></AirSync:Add></AirSync:Commands>`)
		r := edResponse(t, c, "Add", "m1")
		if r == nil || textOf(r, "Status") != "1" {
			t.Fatalf("MIME draft Add refused: status %q", textOf(r, "Status"))
		}
		id, _ := strconv.ParseInt(textOf(r, "ServerId"), 10, 64)
		it, err := st.ItemByID(scCtx, e.user.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := st.Blob(scCtx, e.user.ID, id)
		if !it.IsDraft || it.Subject != "Ward round notes" || !strings.Contains(it.ToAddrs, "bob@example.nhs.uk") ||
			!strings.Contains(it.BccAddrs, "dave@example.nhs.uk") || len(it.Attachments) != 1 || it.Attachments[0].FileName != "beds.csv" ||
			!strings.Contains(edHeader(t, raw, "From"), "ann@example.nhs.uk") || strings.Contains(string(raw), "mallory") {
			t.Fatalf("stored MIME draft: %+v\n%s", it, raw)
		}

		// B gets it once, as text.
		c, _ = edSync(t, b, coll, kb, edPlainBody)
		cmds := edCommands(c)
		if len(cmds) != 1 || cmds[0].Tag != "Add" {
			t.Fatalf("B: %d commands", len(cmds))
		}
		app := edChild(cmds[0], "ApplicationData")
		atts := edAttachments(app)
		if edText(app, "Subject") != "Ward round notes" || edText(app, "IsDraft") != "1" || edText(app, "Importance") != "2" ||
			!strings.Contains(edText(app, "Bcc"), "dave@example.nhs.uk") || !strings.Contains(edText(app, "Body/Data"), "Then bay 5.") ||
			len(atts) != 1 || atts[strconv.FormatInt(it.Attachments[0].ID, 10)] != "beds.csv" {
			t.Fatalf("B's draft: subject %q importance %q bcc %q body %q atts %v", edText(app, "Subject"), edText(app, "Importance"),
				edText(app, "Bcc"), edText(app, "Body/Data"), atts)
		}
		// A device that reads MIME gets the message with its attachment.
		b2 := e.device(eastest.IPhone14)
		scFolderSync(t, b2, "0")
		k2 := edInit(t, b2, coll)
		c, _ = edSync(t, b2, coll, k2, `<AirSync:Options><AirSync:MIMESupport>2</AirSync:MIMESupport><AirSyncBase:BodyPreference><AirSyncBase:Type>4</AirSyncBase:Type></AirSyncBase:BodyPreference></AirSync:Options>`)
		cmds = edCommands(c)
		if len(cmds) != 1 {
			t.Fatalf("MIME reader: %d commands", len(cmds))
		}
		body := edText(edChild(cmds[0], "ApplicationData"), "Body/Data")
		if !strings.Contains(body, "Then bay 5.") || !strings.Contains(body, "beds.csv") || !strings.Contains(body, "Ward round notes") {
			t.Fatalf("MIME reader's body:\n%s", body)
		}
	})
}

func xmlEscape(w *bytes.Buffer, s string) error { return xml.EscapeText(w, []byte(s)) }
