package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

// TestContactsReachPhones: a contact added, changed and deleted in the
// web reaches the user's phone at its next Sync (Add, Change, Delete), a
// contact made on the phone shows in the web, and another user's contact
// is not found.
func TestContactsReachPhones(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		const pw = "contacts-pass-1"
		u := e.addUser("ward.clerk@example.nhs.uk", pw, store.RoleUser)
		ph := newPhone(t, e.URL, u.Email, pw)
		if n := len(ph.sync("Contacts")); n != 0 {
			t.Fatalf("a new user's phone got %d contacts", n)
		}
		b := e.browser()
		b.login(u.Email, pw)

		// Every error at once, next to its field; nothing stored.
		r := b.postForm("/contacts/new", "/contacts", url.Values{"email1": {"not an address"}, "birthday": {"2999-01-01"}})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="email1-err"`) || !strings.Contains(r.Body, `id="birthday-err"`) {
			t.Fatalf("bad contact: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		r = b.postForm("/contacts/new", "/contacts", url.Values{"company": {""}})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Give a name, a company or an email address.") {
			t.Fatalf("empty contact: HTTP %d", r.Code)
		}

		r = b.postForm("/contacts/new", "/contacts", url.Values{"first": {"Priya"}, "last": {"Shah"}, "company": {"Leeds Pharmacy"},
			"email1": {"Priya Shah <priya.shah@pharmacy.example.org>"}, "mobile": {"07700 900123"}, "birthday": {"1980-04-02"}, "notes": {"Locum."}})
		if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/contacts/") {
			t.Fatalf("add: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		page := b.get(r.Location)
		for _, want := range []string{"Priya Shah", "Leeds Pharmacy", `href="/mail/compose?to=priya.shah%40pharmacy.example.org"`, `href="tel:07700900123"`, "2 April 1980", "Locum."} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("contact page lacks %q", want)
			}
		}
		cmds := ph.sync("Contacts")
		if count(cmds, "Add") != 1 || !strings.Contains(xmlOf(cmds), "priya.shah@pharmacy.example.org") || !strings.Contains(xmlOf(cmds), "Leeds Pharmacy") {
			t.Fatalf("the phone's Sync after the add: %s", xmlOf(cmds))
		}

		// A change keeps what the form does not show (set on the phone).
		id := strings.TrimPrefix(r.Location, "/contacts/")
		var itemID int64
		fmt.Sscan(id, &itemID)
		it, _ := st.ItemByID(ctx, u.ID, itemID)
		var ct pim.Contact
		ct.FromItem(it)
		ct.NickName = "P"
		repl, _ := ct.ToItem(u.ID, it.FolderID)
		repl.ID = it.ID
		if err := st.ReplaceItem(ctx, repl); err != nil {
			t.Fatal(err)
		}
		ph.sync("Contacts")
		r = b.postForm(r.Location+"/edit", "/contacts", url.Values{"id": {id}, "first": {"Priya"}, "last": {"Shah"}, "company": {"Leeds Teaching Hospitals"},
			"email1": {"priya.shah@pharmacy.example.org"}, "mobile": {"07700 900123"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("change: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		it, _ = st.ItemByID(ctx, u.ID, itemID)
		ct = pim.Contact{}
		ct.FromItem(it)
		if ct.CompanyName != "Leeds Teaching Hospitals" || ct.NickName != "P" || ct.Birthday != nil {
			t.Fatalf("after the change: %+v", ct)
		}
		cmds = ph.sync("Contacts")
		if count(cmds, "Change") != 1 || !strings.Contains(xmlOf(cmds), "Leeds Teaching Hospitals") {
			t.Fatalf("the phone's Sync after the change: %s", xmlOf(cmds))
		}

		// A contact made on the phone shows in the web.
		res := ph.d.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>`+ph.keys[ph.folders["Contacts"]]+`</AirSync:SyncKey><AirSync:CollectionId>`+ph.folders["Contacts"]+`</AirSync:CollectionId><AirSync:Commands><AirSync:Add><AirSync:ClientId>c1</AirSync:ClientId><AirSync:ApplicationData><Contacts:FirstName>Tom</Contacts:FirstName><Contacts:LastName>Okafor</Contacts:LastName><Contacts:Email1Address>tom.okafor@example.org</Contacts:Email1Address></AirSync:ApplicationData></AirSync:Add></AirSync:Commands></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
		if k := res.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey"); k != "" {
			ph.keys[ph.folders["Contacts"]] = k
		}
		if list := b.get("/contacts"); !strings.Contains(list.Body, "Tom Okafor") || !strings.Contains(list.Body, "Priya Shah") {
			t.Fatalf("the list lacks a contact:\n%s", mainOf(list.Body))
		}

		// Delete reaches the phone.
		if r := b.postForm("/contacts/"+id, "/contacts/"+id+"/delete", nil); r.Code != http.StatusSeeOther {
			t.Fatalf("delete: HTTP %d", r.Code)
		}
		if cmds := ph.sync("Contacts"); count(cmds, "Delete") != 1 {
			t.Fatalf("the phone's Sync after the delete: %s", xmlOf(cmds))
		}
		if r := b.get("/contacts/" + id); r.Code != http.StatusNotFound {
			t.Fatalf("a deleted contact: HTTP %d", r.Code)
		}

		// Another user's contact is not found, to read or to delete.
		o := e.addUser("other@example.nhs.uk", "other-pass-1", store.RoleUser)
		theirs := addContact(t, st, o, pim.Contact{FirstName: "Secret", LastName: "Person"})
		if r := b.get(fmt.Sprintf("/contacts/%d", theirs)); r.Code != http.StatusNotFound || strings.Contains(r.Body, "Secret") {
			t.Fatalf("another user's contact: HTTP %d", r.Code)
		}
		if r := b.postForm("/contacts", fmt.Sprintf("/contacts/%d/delete", theirs), nil); r.Code != http.StatusNotFound {
			t.Fatalf("deleting another user's contact: HTTP %d", r.Code)
		}
		if r := b.postForm("/contacts/new", "/contacts", url.Values{"id": {fmt.Sprint(theirs)}, "first": {"Mine"}}); r.Code != http.StatusNotFound {
			t.Fatalf("changing another user's contact: HTTP %d", r.Code)
		}
		if list := b.get("/contacts?q=secret"); strings.Contains(list.Body, "Secret Person") {
			t.Fatal("the search found another user's contact")
		}
	})
}

// TestContactsSearchAndPages: the list is in name order, 50 a page, and
// the search matches names, companies and addresses, all words required.
func TestContactsSearchAndPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		const pw = "contacts-pass-1"
		u := e.addUser("pa@example.nhs.uk", pw, store.RoleUser)
		for i := range 60 {
			addContact(t, st, u, pim.Contact{FirstName: fmt.Sprintf("Person%02d", 59-i), LastName: "Test", CompanyName: []string{"Estates", "Pharmacy"}[i%2],
				Email1: fmt.Sprintf("p%02d@example.org", 59-i)})
		}
		b := e.browser()
		b.login(u.Email, pw)
		first := b.get("/contacts")
		names := regexpMust(`<span class="name">([^<]+)</span>`)
		got := names.FindAllStringSubmatch(first.Body, -1)
		if len(got) != contactsPageSize || got[0][1] != "Person00 Test" || got[49][1] != "Person49 Test" {
			t.Fatalf("first page: %d, %v", len(got), got[:2])
		}
		next := regexpMust(`href="(/contacts\?after=\d+)" rel="next"`).FindStringSubmatch(first.Body)
		if next == nil || strings.Contains(next[1], "Person") {
			t.Fatalf("no next link, or content in it: %v", next)
		}
		second := b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
		got = names.FindAllStringSubmatch(second.Body, -1)
		if len(got) != 10 || got[0][1] != "Person50 Test" || !strings.Contains(second.Body, `rel="prev"`) {
			t.Fatalf("second page: %v", got)
		}
		prev := regexpMust(`href="([^"]+)" rel="prev"`).FindStringSubmatch(second.Body)
		back := b.get(strings.ReplaceAll(prev[1], "&amp;", "&"))
		if got := names.FindAllStringSubmatch(back.Body, -1); len(got) != 50 || got[0][1] != "Person00 Test" {
			t.Fatalf("back to the first page: %d", len(got))
		}
		for _, tc := range []struct {
			q    string
			want int
		}{{"pharmacy", 30}, {"person07", 1}, {"p13@example", 1}, {"estates person1", 5}, {"nobody", 0}} {
			r := b.get("/contacts?q=" + url.QueryEscape(tc.q))
			if n := len(names.FindAllStringSubmatch(r.Body, -1)); n != tc.want {
				t.Errorf("search %q: %d, want %d", tc.q, n, tc.want)
			}
		}
	})
}

func addContact(t *testing.T, st *store.Store, u *store.User, ct pim.Contact) int64 {
	t.Helper()
	f := folderOf(t, st, u, store.FolderContacts)
	it, err := ct.ToItem(u.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddItem(context.Background(), it, nil); err != nil {
		t.Fatal(err)
	}
	return it.ID
}

// xmlOf prints Sync commands, for failures and content checks.
func xmlOf(cmds []*etree.Element) string {
	doc := etree.NewDocument()
	for _, c := range cmds {
		doc.AddChild(c.Copy())
	}
	s, _ := doc.WriteToString()
	return s
}
