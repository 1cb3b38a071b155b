package activesync_test

import (
	"strings"
	"testing"

	"airlock/activesync/eastest"
	"airlock/policies"
	"airlock/store"
	"airlock/store/storetest"
)

// Mailbox quota on device writes (health-service rules, store/quota_writes.go). Names
// carry a "quota" prefix.

// quotaExact fails unless the user's usage is exactly what their live
// items take.
func quotaExact(t *testing.T, st *store.Store, u *store.User) store.Quota {
	t.Helper()
	db, err := st.SQL()
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT COALESCE(SUM(size), 0) FROM items WHERE user_id = $1 AND deleted = false"
	if st.Dialect() == "sqlite" {
		q = "SELECT COALESCE(SUM(size), 0) FROM items WHERE user_id = ? AND deleted = 0"
	}
	var sum int64
	if err := db.QueryRowContext(scCtx, q, u.ID).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	got, err := st.QuotaOf(scCtx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Used != sum {
		t.Fatalf("usage %d, but the live items take %d", got.Used, sum)
	}
	return got
}

// A user at their quota gets Status 6 for a Sync Add, with the rest of the
// request (a Change and a Delete) applied; once the Delete made room the
// same Add goes through. Usage stays exact through adds, changes, deletes,
// moves and EmptyFolderContents.
func TestQuotaSyncAddOverQuotaRestApplied(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "consultant@example.nhs.uk")
		if err := e.srv.Devices.SetDefaultAccess(scCtx, eastest.Admin, policies.ActionAllow); err != nil {
			t.Fatal(err)
		}
		contacts := e.folder(store.FolderContacts)
		coll := itoa64(contacts.ID)
		small := &store.Item{UserID: e.user.ID, FolderID: contacts.ID, Class: store.ClassContacts, Subject: "Ward 7B",
			Props: `{"first_name":"Ward","last_name":"7B"}`}
		big := &store.Item{UserID: e.user.ID, FolderID: contacts.ID, Class: store.ClassContacts, Subject: "Pharmacy",
			Props: `{"first_name":"Pharmacy","notes":"` + strings.Repeat("Opening hours and on-call rota. ", 60) + `"}`}
		for _, it := range []*store.Item{small, big} {
			if err := st.AddItem(scCtx, it, nil); err != nil {
				t.Fatal(err)
			}
		}
		if big.Size < 1000 {
			t.Fatalf("a contact counts %d bytes: contacts are not counted", big.Size)
		}
		dev := e.device(scIPhone)
		key, _ := smsSync(t, dev, coll, "0", "")
		key, _ = smsSync(t, dev, coll, key, "")

		// Full: a limit 10 bytes above the usage.
		q := quotaExact(t, st, e.user)
		lvl, err := st.CreateServiceLevel(scCtx, "Tight", q.Used+10)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AssignServiceLevel(scCtx, &lvl.ID, []int64{e.user.ID}); err != nil {
			t.Fatal(err)
		}
		addXML := func(clientID string) string {
			return `<AirSync:Add><AirSync:ClientId>` + clientID + `</AirSync:ClientId><AirSync:ApplicationData>` +
				`<Contacts:FirstName>Florence</Contacts:FirstName><Contacts:LastName>Nightingale</Contacts:LastName>` +
				`<Contacts:Email1Address>florence@example.org</Contacts:Email1Address></AirSync:ApplicationData></AirSync:Add>`
		}
		cmds := `<AirSync:Commands>` + addXML("new1") +
			`<AirSync:Change><AirSync:ServerId>` + itoa64(small.ID) + `</AirSync:ServerId><AirSync:ApplicationData>` +
			`<Contacts:FirstName>Ward</Contacts:FirstName><Contacts:LastName>7B (day unit)</Contacts:LastName></AirSync:ApplicationData></AirSync:Change>` +
			`<AirSync:Delete><AirSync:ServerId>` + itoa64(big.ID) + `</AirSync:ServerId></AirSync:Delete></AirSync:Commands>`
		res := dev.Do("Sync", syncXML(coll, key, 100, cmds))
		c := collection(res, coll)
		if c == nil || textOf(c, "Status") != "1" {
			t.Fatalf("Sync: %s", res.XML())
		}
		key = textOf(c, "SyncKey")
		var statuses []string
		for _, r := range c.FindElements("Responses/*") {
			statuses = append(statuses, r.Tag+":"+textOf(r, "Status"))
		}
		if strings.Join(statuses, ",") != "Add:6" {
			t.Fatalf("responses %v, want only the Add refused with 6:\n%s", statuses, res.XML())
		}
		if it, err := st.ItemByID(scCtx, e.user.ID, small.ID); err != nil || it.Subject == small.Subject && !strings.Contains(it.Props, "day unit") {
			t.Fatalf("the Change was not applied: %+v %v", it, err)
		}
		if _, err := st.ItemByID(scCtx, e.user.ID, big.ID); err == nil {
			t.Fatal("the Delete was not applied")
		}
		if n, _ := st.CountItems(scCtx, e.user.ID, contacts.ID); n != 1 {
			t.Fatalf("%d contacts, want 1: the refused Add left something", n)
		}
		quotaExact(t, st, e.user)

		// The Delete made room: the Add now fits.
		res = dev.Do("Sync", syncXML(coll, key, 100, `<AirSync:Commands>`+addXML("new2")+`</AirSync:Commands>`))
		c = collection(res, coll)
		if r := c.FindElement("Responses/Add"); r == nil || textOf(r, "Status") != "1" {
			t.Fatalf("Add after room was made: %s", res.XML())
		}
		if q := quotaExact(t, st, e.user); q.Used > q.Limit {
			t.Fatalf("usage %d over the limit %d", q.Used, q.Limit)
		}

		// Mail moved to Deleted Items and emptied from there: exact.
		if err := st.SetServiceLevelQuota(scCtx, lvl.ID, 0); err != nil {
			t.Fatal(err)
		}
		inbox, trash := e.folder(store.FolderInbox), e.folder(store.FolderDeletedItems)
		mails := e.deliver(inbox, 3, "Referral")
		for _, m := range mails[:2] {
			res := dev.Do("MoveItems", `<Move:MoveItems><Move:Move><Move:SrcMsgId>`+itoa64(m.ID)+`</Move:SrcMsgId><Move:SrcFldId>`+itoa64(inbox.ID)+
				`</Move:SrcFldId><Move:DstFldId>`+itoa64(trash.ID)+`</Move:DstFldId></Move:Move></Move:MoveItems>`)
			if res.Text("Move:Response/Move:Status") != "3" {
				t.Fatalf("MoveItems: %s", res.XML())
			}
		}
		before := quotaExact(t, st, e.user)
		res = dev.Do("ItemOperations", `<ItemOperations:ItemOperations><ItemOperations:EmptyFolderContents><AirSync:CollectionId>`+itoa64(trash.ID)+
			`</AirSync:CollectionId></ItemOperations:EmptyFolderContents></ItemOperations:ItemOperations>`)
		if res.Text("ItemOperations:Response/ItemOperations:EmptyFolderContents/ItemOperations:Status") != "1" {
			t.Fatalf("EmptyFolderContents: %s", res.XML())
		}
		after := quotaExact(t, st, e.user)
		if after.Used != before.Used-mails[0].Size-mails[1].Size {
			t.Fatalf("emptying took %d bytes back, the two mails take %d", before.Used-after.Used, mails[0].Size+mails[1].Size)
		}
	})
}
