package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

// phone is a user's EAS device with its folder list and one synced
// collection.
type phone struct {
	t       *testing.T
	d       *eastest.Device
	hierKey string
	folders map[string]string // display name -> ServerId
	keys    map[string]string // ServerId -> sync key
}

func newPhone(t *testing.T, base, email, pw string) *phone {
	t.Helper()
	d := eastest.NewDevice(t, base, eastest.Profile{Name: "iPhoneMail", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "14.1", Model: "iPhone14,7", OS: "iOS 16.1"}, email, pw)
	d.CheckWithLibwbxml = false
	d.Provision(1)
	p := &phone{t: t, d: d, hierKey: "0", folders: map[string]string{}, keys: map[string]string{}}
	p.folderSync()
	return p
}

// folderSync returns the hierarchy changes since the last one, as
// "Add:Name", "Update:Name", "Delete:ServerId".
func (p *phone) folderSync() []string {
	p.t.Helper()
	res := p.d.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>`+p.hierKey+`</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	if res.Text("FolderHierarchy:Status") != "1" {
		p.t.Fatalf("FolderSync:\n%s", res.XML())
	}
	p.hierKey = res.Text("FolderHierarchy:SyncKey")
	var out []string
	if ch := res.Find("FolderHierarchy:Changes"); ch != nil {
		for _, el := range ch.ChildElements() {
			switch el.Tag {
			case "Add", "Update":
				name := el.SelectElement("DisplayName").Text()
				p.folders[name] = el.SelectElement("ServerId").Text()
				out = append(out, el.Tag+":"+name)
			case "Delete":
				out = append(out, "Delete:"+el.SelectElement("ServerId").Text())
			}
		}
	}
	return out
}

// sync runs a Sync of the named folder (the first one primes it) and
// returns its commands.
func (p *phone) sync(folder string) []*etree.Element {
	p.t.Helper()
	id := p.folders[folder]
	if id == "" {
		p.t.Fatalf("the phone has no folder %q", folder)
	}
	if p.keys[id] == "" {
		res := p.d.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>0</AirSync:SyncKey><AirSync:CollectionId>`+id+`</AirSync:CollectionId></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
		p.keys[id] = res.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey")
	}
	res := p.d.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>`+p.keys[id]+`</AirSync:SyncKey><AirSync:CollectionId>`+id+`</AirSync:CollectionId><AirSync:DeletesAsMoves>1</AirSync:DeletesAsMoves><AirSync:GetChanges>1</AirSync:GetChanges><AirSync:WindowSize>100</AirSync:WindowSize></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
	if k := res.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey"); k != "" {
		p.keys[id] = k
	}
	cmds := res.Find("AirSync:Collections/AirSync:Collection/AirSync:Commands")
	if cmds == nil {
		return nil
	}
	return cmds.ChildElements()
}

func count(cmds []*etree.Element, tag string) int {
	n := 0
	for _, c := range cmds {
		if c.Tag == tag {
			n++
		}
	}
	return n
}

// TestMailActionsReachPhones: each action of the reading pane and each
// folder change made in the browser reaches the user's phone at its next
// Sync or FolderSync, because they go through the store calls EAS uses.
func TestMailActionsReachPhones(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		const pw = "reader-pass-1"
		u := e.addUser("reader@example.nhs.uk", pw, store.RoleUser)
		inbox := folderOf(t, st, u, store.FolderInbox)
		trash := folderOf(t, st, u, store.FolderDeletedItems)
		var ids []int64
		for i := range 6 {
			it := deliver(t, st, u, inbox.ID, []byte(fmt.Sprintf("From: sender%d@example.nhs.uk\r\nTo: %s\r\nSubject: Message %d\r\nMessage-ID: <m%d@example.nhs.uk>\r\n\r\nBody %d\r\n", i, u.Email, i, i, i)))
			ids = append(ids, it.ID)
		}
		ph := newPhone(t, e.URL, u.Email, pw)
		if adds := count(ph.sync("Inbox"), "Add"); adds != 6 {
			t.Fatalf("the phone got %d messages, want 6", adds)
		}
		b := e.browser()
		b.login(u.Email, pw)
		msg := func(i int) string { return itemURL(inbox.ID, ids[i]) }
		act := func(i int, action string, form url.Values) *resp {
			t.Helper()
			r := b.postForm(msg(i), msg(i)+"/"+action, form)
			if r.Code != http.StatusSeeOther {
				t.Fatalf("%s on message %d: HTTP %d\n%s", action, i, r.Code, mainOf(r.Body))
			}
			return r
		}

		// A folder made in the browser appears on the phone.
		r := b.postForm("/mail/folders", "/mail/folders", url.Values{"name": {"Projects"}, "parent": {"0"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("create folder: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		if got := ph.folderSync(); len(got) != 1 || got[0] != "Add:Projects" {
			t.Fatalf("phone's FolderSync after create: %v", got)
		}
		// A duplicate name is refused next to the field.
		r = b.postForm("/mail/folders", "/mail/folders", url.Values{"name": {"projects"}, "parent": {"0"}})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "already a folder called projects") {
			t.Fatalf("duplicate folder: HTTP %d", r.Code)
		}
		projects, err := st.FolderByPath(ctx, u.ID, "Projects")
		if err != nil {
			t.Fatal(err)
		}

		// Flag, open (reads), mark unread, move, delete, junk.
		act(0, "flag", nil)
		b.get(msg(1)) // opening reads it
		act(2, "read", nil)
		act(2, "unread", nil)
		act(3, "move", url.Values{"to": {fmt.Sprint(projects.ID)}})
		act(4, "delete", nil)
		act(5, "junk", nil)
		if got := ph.folderSync(); len(got) != 1 || got[0] != "Add:Junk Email" {
			t.Fatalf("phone's FolderSync after junk: %v", got)
		}
		cmds := ph.sync("Inbox")
		if c, d := count(cmds, "Change"), count(cmds, "Delete"); c != 3 || d != 3 {
			t.Fatalf("phone's Sync after the web's actions: %d changes, %d deletes, want 3 and 3", c, d)
		}
		for _, c := range cmds {
			if c.Tag != "Change" {
				continue
			}
			app := c.SelectElement("ApplicationData")
			read, flag := "", ""
			if el := app.SelectElement("Read"); el != nil {
				read = el.Text()
			}
			if el := app.SelectElement("Flag"); el != nil && el.SelectElement("FlagStatus") != nil {
				flag = el.SelectElement("FlagStatus").Text()
			}
			if read == "" && flag == "" {
				t.Errorf("a change without Read or Flag: %v", app)
			}
		}
		if adds := count(ph.sync("Projects"), "Add"); adds != 1 {
			t.Fatalf("Projects on the phone: %d adds", adds)
		}
		if adds := count(ph.sync("Deleted Items"), "Add"); adds != 1 {
			t.Fatalf("Deleted Items on the phone: %d adds", adds)
		}
		if adds := count(ph.sync("Junk Email"), "Add"); adds != 1 {
			t.Fatalf("Junk Email on the phone: %d adds", adds)
		}
		got, _ := st.ItemByID(ctx, u.ID, ids[0])
		if got.FlagStatus != 2 {
			t.Fatalf("flag status %d", got.FlagStatus)
		}

		// Without the CSRF token, nothing happens.
		if r := b.post(msg(0)+"/unflag", url.Values{}); r.Code != http.StatusForbidden {
			t.Fatalf("action without CSRF token: HTTP %d", r.Code)
		}

		// Deleting from Deleted Items deletes for good; emptying it needs
		// the box ticked.
		page, err := st.MailList(ctx, u.ID, store.MailListQuery{FolderID: trash.ID})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("Deleted Items: %v %v", page, err)
		}
		dm := itemURL(trash.ID, page.Items[0].ID)
		if r := b.postForm(dm, dm+"/delete", nil); r.Code != http.StatusSeeOther {
			t.Fatalf("delete for good: HTTP %d", r.Code)
		}
		if n, _ := st.CountItems(ctx, u.ID, trash.ID); n != 0 {
			t.Fatalf("Deleted Items holds %d after a delete for good", n)
		}
		if cmds := ph.sync("Deleted Items"); count(cmds, "Delete") != 1 {
			t.Fatalf("the phone did not see the delete for good: %d", len(cmds))
		}
		act(0, "delete", nil)
		act(1, "delete", nil)
		trashURL := fmt.Sprintf("/mail/%d", trash.ID)
		b.postForm(trashURL, trashURL+"/empty", nil)
		if n, _ := st.CountItems(ctx, u.ID, trash.ID); n != 2 {
			t.Fatalf("emptied without the box ticked: %d left", n)
		}
		b.postForm(trashURL, trashURL+"/empty", url.Values{"confirm": {"yes"}})
		if n, _ := st.CountItems(ctx, u.ID, trash.ID); n != 0 {
			t.Fatalf("Deleted Items holds %d after emptying", n)
		}
		// Inbox cannot be emptied.
		if r := b.postForm(trashURL, fmt.Sprintf("/mail/%d/empty", inbox.ID), url.Values{"confirm": {"yes"}}); r.Code != http.StatusBadRequest {
			t.Fatalf("emptying the Inbox: HTTP %d", r.Code)
		}

		// Rename and delete from the web reach the phone too; default
		// folders are refused.
		if r := b.postForm("/mail/folders", fmt.Sprintf("/mail/folders/%d/rename", projects.ID), url.Values{"name": {"Projects 2025"}, "parent": {"0"}}); r.Code != http.StatusSeeOther {
			t.Fatalf("rename: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		if got := ph.folderSync(); len(got) != 1 || got[0] != "Update:Projects 2025" {
			t.Fatalf("phone's FolderSync after rename: %v", got)
		}
		if r := b.postForm("/mail/folders", fmt.Sprintf("/mail/folders/%d/delete", projects.ID), nil); r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("delete without confirming: HTTP %d", r.Code)
		}
		if r := b.postForm("/mail/folders", fmt.Sprintf("/mail/folders/%d/delete", projects.ID), url.Values{"confirm": {"yes"}}); r.Code != http.StatusSeeOther {
			t.Fatalf("delete folder: HTTP %d", r.Code)
		}
		if got := ph.folderSync(); len(got) != 1 || got[0] != "Delete:"+fmt.Sprint(projects.ID) {
			t.Fatalf("phone's FolderSync after delete: %v", got)
		}
		if r := b.postForm("/mail/folders", fmt.Sprintf("/mail/folders/%d/rename", inbox.ID), url.Values{"name": {"Mine"}}); r.Code != http.StatusForbidden {
			t.Fatalf("renaming the Inbox: HTTP %d", r.Code)
		}
		// A folder made on the phone shows in the browser's tree.
		res := ph.d.Do("FolderCreate", `<FolderHierarchy:FolderCreate><FolderHierarchy:SyncKey>`+ph.hierKey+`</FolderHierarchy:SyncKey><FolderHierarchy:ParentId>0</FolderHierarchy:ParentId><FolderHierarchy:DisplayName>From my phone</FolderHierarchy:DisplayName><FolderHierarchy:Type>12</FolderHierarchy:Type></FolderHierarchy:FolderCreate>`)
		if res.Text("FolderHierarchy:Status") != "1" {
			t.Fatalf("FolderCreate:\n%s", res.XML())
		}
		if list := b.get(fmt.Sprintf("/mail/%d", inbox.ID)); !strings.Contains(list.Body, "From my phone") {
			t.Fatal("a folder made on the phone is missing from the web's tree")
		}
		// Another user's message cannot be acted on.
		o := e.addUser("other@example.nhs.uk", "other-pass-1", store.RoleUser)
		oi := folderOf(t, st, o, store.FolderInbox)
		theirs := deliver(t, st, o, oi.ID, []byte("From: x@example.nhs.uk\r\nSubject: private\r\n\r\nx\r\n"))
		if r := b.postForm(msg(0), itemURL(oi.ID, theirs.ID)+"/delete", nil); r.Code != http.StatusNotFound {
			t.Fatalf("deleting another user's message: HTTP %d", r.Code)
		}
		if it, err := st.ItemByID(ctx, o.ID, theirs.ID); err != nil || it.FolderID != oi.ID {
			t.Fatal("another user's message moved")
		}
	})
}
