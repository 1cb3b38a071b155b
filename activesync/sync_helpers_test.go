package activesync_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync/eastest"
	"airlock/message"
	"airlock/store"
)

// Helpers of the sync-core tests. Names carry an "sc" prefix: other files
// of this test package belong to other engineers.

var scCtx = context.Background()

const scPassword = "correct-horse-sync-1"

// scIPhone is a profile the default rules allow.
var scIPhone = eastest.Profile{Name: "iPhone", DeviceType: "iPhone", UserAgent: "Apple-iPhone2C1/705.18", Version: "14.1", Model: "iPhone2,1", OS: "iOS 4.3.3 8J2"}

// scEnv is a server with one user.
type scEnv struct {
	t     testing.TB
	srv   *eastest.Server
	st    *store.Store
	user  *store.User
	email string
}

func scNewEnv(t testing.TB, st *store.Store, email string) *scEnv {
	t.Helper()
	srv := eastest.StartServer(t, st)
	u := srv.AddUser(t, email, scPassword)
	return &scEnv{t: t, srv: srv, st: st, user: u, email: email}
}

// device returns a provisioned device of the user.
func (e *scEnv) device(p eastest.Profile) *eastest.Device {
	e.t.Helper()
	dev := eastest.NewDevice(e.t, e.srv.URL, p, e.email, scPassword)
	if res := dev.Provision(1); res.Text("Provision:Policies/Provision:Policy/Provision:Status") != "1" {
		e.t.Fatalf("provision: %s", res.XML())
	}
	return dev
}

func (e *scEnv) folder(t store.FolderType) *store.Folder {
	e.t.Helper()
	f, err := e.st.FolderByType(scCtx, e.user.ID, t)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// rawMail is a small realistic message.
func rawMail(i int, subject string, when time.Time) []byte {
	return []byte(fmt.Sprintf("Received: from mx.nhs.net by airlock; %s\r\n"+
		"From: \"Ward %d\" <ward%d@example.nhs.uk>\r\n"+
		"To: \"Alice\" <alice@example.nhs.uk>\r\n"+
		"Subject: %s\r\n"+
		"Date: %s\r\n"+
		"Message-ID: <m%d.%d@example.nhs.uk>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Handover note %d: patient in bay %d stable, obs every 4h.\r\n",
		when.Format(time.RFC1123Z), i%7, i%7, subject, when.Format(time.RFC1123Z), i, when.UnixNano(), i, i%12))
}

// deliver stores n messages in folder, as delivery does.
func (e *scEnv) deliver(f *store.Folder, n int, prefix string) []*store.Item {
	e.t.Helper()
	var out []*store.Item
	base := time.Now().UTC().Add(-time.Duration(n) * time.Minute)
	for i := 0; i < n; i++ {
		raw := rawMail(i, fmt.Sprintf("%s %d", prefix, i), base.Add(time.Duration(i)*time.Minute))
		it, err := message.Parse(raw)
		if err != nil {
			e.t.Fatal(err)
		}
		it.UserID, it.FolderID = e.user.ID, f.ID
		if err := e.st.Deliver(scCtx, store.Delivery{Raw: raw, Items: []*store.Item{it}}); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

// scFolderSync runs FolderSync and returns the new key and the folders
// (ServerId → DisplayName) added.
func scFolderSync(t testing.TB, dev *eastest.Device, key string) (string, map[string]string, *eastest.Result) {
	t.Helper()
	res := dev.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>`+key+`</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	if res.Text("FolderHierarchy:Status") != "1" {
		return "", nil, res
	}
	adds := map[string]string{}
	for _, a := range res.Find("FolderHierarchy:Changes").ChildElements() {
		if a.Tag == "Add" {
			adds[textOf(a, "ServerId")] = textOf(a, "DisplayName")
		}
	}
	return res.Text("FolderHierarchy:SyncKey"), adds, res
}

func textOf(el *etree.Element, tag string) string {
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return strings.TrimSpace(c.Text())
		}
	}
	return ""
}

// replica is what a well-behaved device holds for one collection.
type replica struct {
	coll  string
	key   string
	items map[string]map[string]string // ServerId → field (Tag) → text
	adds  map[string]int               // how often each ServerId was added
	log   []string
}

func newReplica(coll string) *replica {
	return &replica{coll: coll, key: "0", items: map[string]map[string]string{}, adds: map[string]int{}}
}

// syncXML is a one-collection Sync request.
func syncXML(coll, key string, window int, extra string) string {
	w := ""
	if window >= 0 {
		w = "<AirSync:WindowSize>" + strconv.Itoa(window) + "</AirSync:WindowSize>"
	}
	return `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>` + key + `</AirSync:SyncKey><AirSync:CollectionId>` + coll +
		`</AirSync:CollectionId>` + w + extra + `</AirSync:Collection></AirSync:Collections></AirSync:Sync>`
}

// collection returns the response's Collection element for coll.
func collection(res *eastest.Result, coll string) *etree.Element {
	cols := res.Find("AirSync:Collections")
	if cols == nil {
		return nil
	}
	for _, c := range cols.ChildElements() {
		if textOf(c, "CollectionId") == coll {
			return c
		}
	}
	return nil
}

// apply applies a Sync response to the replica the way a device does and
// returns whether more is available. It fails on a status other than 1.
func (rp *replica) apply(t testing.TB, res *eastest.Result) bool {
	t.Helper()
	if res.HTTP != 200 {
		t.Fatalf("Sync: %s", res.XML())
	}
	if res.Doc == nil {
		return false // empty response: nothing changed
	}
	c := collection(res, rp.coll)
	if c == nil || textOf(c, "Status") != "1" {
		t.Fatalf("Sync status: %s", res.XML())
	}
	rp.key = textOf(c, "SyncKey")
	more := false
	for _, el := range c.ChildElements() {
		switch el.Tag {
		case "MoreAvailable":
			more = true
		case "Commands":
			for _, cmd := range el.ChildElements() {
				id := textOf(cmd, "ServerId")
				switch cmd.Tag {
				case "Add":
					rp.adds[id]++
					rp.items[id] = fields(cmd)
				case "Change":
					if _, ok := rp.items[id]; !ok {
						t.Fatalf("Change of %s the device does not have", id)
					}
					for k, v := range fields(cmd) {
						rp.items[id][k] = v
					}
				case "Delete", "SoftDelete":
					if _, ok := rp.items[id]; !ok && id != "q:1" {
						t.Fatalf("%s of %s the device does not have", cmd.Tag, id)
					}
					delete(rp.items, id)
				}
				rp.log = append(rp.log, cmd.Tag+" "+id)
			}
		}
	}
	return more
}

// fields flattens ApplicationData: Tag → text, with Flag/Status as
// "Flag" and Body/Data as "Body".
func fields(cmd *etree.Element) map[string]string {
	out := map[string]string{}
	var app *etree.Element
	for _, c := range cmd.ChildElements() {
		if c.Tag == "ApplicationData" {
			app = c
		}
	}
	if app == nil {
		return out
	}
	for _, f := range app.ChildElements() {
		switch f.Tag {
		case "Flag":
			out["Flag"] = textOf(f, "Status")
		case "Body":
			out["Body"] = textOf(f, "Data")
			out["BodyType"] = textOf(f, "Type")
			out["Truncated"] = textOf(f, "Truncated")
		default:
			out[f.Tag] = strings.TrimSpace(f.Text())
		}
	}
	return out
}

// drain syncs until nothing more is available and returns the windows
// taken.
func (rp *replica) drain(t testing.TB, dev *eastest.Device, window int, extra string) int {
	t.Helper()
	n := 0
	for more := true; more; n++ {
		if n > 10000 {
			t.Fatal("drain does not end")
		}
		more = rp.apply(t, dev.Do("Sync", syncXML(rp.coll, rp.key, window, extra)))
	}
	return n
}

// initial runs the key-0 request.
func (rp *replica) initial(t testing.TB, dev *eastest.Device, extra string) {
	t.Helper()
	res := dev.Do("Sync", syncXML(rp.coll, "0", -1, extra))
	rp.apply(t, res)
	if len(rp.items) != 0 {
		t.Fatalf("initial sync sent items: %s", res.XML())
	}
}

// scServerView lists the live items of a folder: id → subject.
func (e *scEnv) serverView(f *store.Folder) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	after := int64(0)
	for {
		items, err := e.st.ListItems(scCtx, e.user.ID, f.ID, after, 500)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(items) == 0 {
			return out
		}
		for _, it := range items {
			out[strconv.FormatInt(it.ID, 10)] = it.Subject
		}
		after = items[len(items)-1].ID
	}
}

// sameAsServer fails unless the replica holds exactly the server's items,
// each with its subject, added once.
func (rp *replica) sameAsServer(t testing.TB, server map[string]string) {
	t.Helper()
	if len(rp.items) != len(server) {
		t.Fatalf("replica has %d items, server %d", len(rp.items), len(server))
	}
	for id, subj := range server {
		it, ok := rp.items[id]
		if !ok {
			t.Fatalf("item %s (%q) missing on the device", id, subj)
		}
		if it["Subject"] != subj {
			t.Fatalf("item %s: subject %q, server %q", id, it["Subject"], subj)
		}
	}
}
