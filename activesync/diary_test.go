package activesync_test

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/teambition/rrule-go"

	"airlock/activesync/eastest"
	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

// Scenario tests of the diary classes (calendar, contacts, tasks, notes)
// in Sync, of meetings between colleagues, and of bad input. Helper names
// carry a "dy" prefix.

// dyReplica is a device's copy of one collection, keeping each item's
// ApplicationData as XML so nested elements (Recurrence, Exceptions,
// Attendees) can be compared.
type dyReplica struct {
	coll    string
	key     string
	items   map[string]*etree.Element
	adds    map[string]int
	changes map[string]int
	deletes map[string]int
	// statuses of the last request's Responses: ClientId or ServerId →
	// Status.
	statuses map[string]string
	serverID map[string]string // ClientId → ServerId
}

func dyNewReplica(coll string) *dyReplica {
	return &dyReplica{coll: coll, key: "0", items: map[string]*etree.Element{}, adds: map[string]int{}, changes: map[string]int{},
		deletes: map[string]int{}, statuses: map[string]string{}, serverID: map[string]string{}}
}

// sync sends the device's commands (XML inside AirSync:Commands, or "")
// and applies the response; it pulls until nothing more is available.
func (rp *dyReplica) sync(t testing.TB, dev *eastest.Device, commands string) *eastest.Result {
	t.Helper()
	extra := "<AirSync:GetChanges/><AirSync:Options><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type></AirSyncBase:BodyPreference></AirSync:Options>"
	if rp.key == "0" {
		extra = ""
	}
	if commands != "" {
		extra += "<AirSync:Commands>" + commands + "</AirSync:Commands>"
	}
	rp.statuses = map[string]string{}
	var last *eastest.Result
	for round := 0; ; round++ {
		if round > 50 {
			t.Fatal("sync does not end")
		}
		initial := rp.key == "0"
		res := dev.Do("Sync", syncXML(rp.coll, rp.key, 100, extra))
		last = res
		if res.HTTP != 200 {
			t.Fatalf("Sync HTTP %d: %s", res.HTTP, res.XML())
		}
		if res.Doc == nil {
			return res // nothing changed
		}
		c := collection(res, rp.coll)
		if c == nil || textOf(c, "Status") != "1" {
			t.Fatalf("Sync: %s", res.XML())
		}
		rp.key = textOf(c, "SyncKey")
		more := false
		for _, el := range c.ChildElements() {
			switch el.Tag {
			case "MoreAvailable":
				more = true
			case "Responses":
				for _, r := range el.ChildElements() {
					id := firstNonEmptyStr(textOf(r, "ClientId"), textOf(r, "ServerId"))
					rp.statuses[id] = textOf(r, "Status")
					if r.Tag == "Add" && textOf(r, "ServerId") != "" {
						sid := textOf(r, "ServerId")
						rp.serverID[textOf(r, "ClientId")] = sid
						if rp.items[sid] == nil {
							rp.items[sid] = etree.NewElement("ApplicationData") // the device's own item
						}
					}
				}
			case "Commands":
				for _, cmd := range el.ChildElements() {
					id := textOf(cmd, "ServerId")
					app := cmd.FindElement("ApplicationData")
					switch cmd.Tag {
					case "Add":
						rp.adds[id]++
						rp.items[id] = app.Copy()
					case "Change":
						if rp.items[id] == nil {
							t.Fatalf("Change of %s the device does not have", id)
						}
						rp.changes[id]++
						rp.items[id] = app.Copy()
					case "Delete", "SoftDelete":
						if rp.items[id] == nil {
							t.Fatalf("%s of %s the device does not have", cmd.Tag, id)
						}
						rp.deletes[id]++
						delete(rp.items, id)
					}
				}
			}
		}
		extra = "<AirSync:GetChanges/>"
		if !more && !initial {
			return last
		}
	}
}

// counts is "adds/changes/deletes" of one item.
func (rp *dyReplica) counts(id string) string {
	return fmt.Sprintf("%d/%d/%d", rp.adds[id], rp.changes[id], rp.deletes[id])
}

func field(app *etree.Element, tag string) string {
	if app == nil {
		return ""
	}
	for _, c := range app.ChildElements() {
		if c.Tag == tag {
			if c.Tag == "Body" {
				return textOf(c, "Data")
			}
			if c.Tag == "Location" && len(c.ChildElements()) > 0 {
				return textOf(c, "DisplayName")
			}
			return strings.TrimSpace(c.Text())
		}
	}
	return ""
}

type dyUser struct {
	u     *store.User
	email string
}

func dyNewUser(t testing.TB, srv *eastest.Server, email, name string) dyUser {
	u := srv.AddUser(t, email, dyPassword)
	u.DisplayName = name
	if err := srv.Store.UpdateDirectory(scCtx, u); err != nil {
		t.Fatal(err)
	}
	return dyUser{u: u, email: email}
}

func dyDevice(t testing.TB, srv *eastest.Server, p eastest.Profile, email string) *eastest.Device {
	t.Helper()
	dev := eastest.NewDevice(t, srv.URL, p, email, dyPassword)
	if res := dev.Provision(1); res.Text("Provision:Policies/Provision:Policy/Provision:Status") != "1" {
		t.Fatalf("provision: %s", res.XML())
	}
	return dev
}

func dyFolder(t testing.TB, st *store.Store, u *store.User, ft store.FolderType) string {
	t.Helper()
	f, err := st.FolderByType(scCtx, u.ID, ft)
	if err != nil {
		t.Fatal(err)
	}
	return itoaT(f.ID)
}

// The TimeZone blob of Europe/London as an iPhone sends it (no names).
const dyLondonBlob = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAoAAAAFAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMAAAAFAAEAAAAAAAAAxP///w=="

// classCase is one class in TestDiaryClassesReachSecondDevice.
type classCase struct {
	name   string
	folder store.FolderType
	add    string // ApplicationData of the device's Add
	change string // ApplicationData of the device's Change
	// check reads a field a device must see after each step.
	field              string
	added, changedWant string
	// serverChange rewrites the stored item's props the way an import
	// or the web would.
	serverChange func(t testing.TB, it *store.Item) *store.Item
	serverWant   string
}

func dyClassCases() []classCase {
	return []classCase{
		{
			name: "calendar", folder: store.FolderCalendar, field: "Subject",
			add: `<Calendar:Timezone>` + dyLondonBlob + `</Calendar:Timezone><Calendar:AllDayEvent>0</Calendar:AllDayEvent>
				<Calendar:StartTime>20260610T080000Z</Calendar:StartTime><Calendar:EndTime>20260610T090000Z</Calendar:EndTime>
				<Calendar:Subject>Ward round</Calendar:Subject><Calendar:Location>Ward 7</Calendar:Location><Calendar:BusyStatus>2</Calendar:BusyStatus>
				<Calendar:Sensitivity>0</Calendar:Sensitivity><Calendar:Reminder>15</Calendar:Reminder><Calendar:UID>ward-round-1@device</Calendar:UID>
				<Calendar:MeetingStatus>0</Calendar:MeetingStatus>`,
			change: `<Calendar:Timezone>` + dyLondonBlob + `</Calendar:Timezone><Calendar:AllDayEvent>0</Calendar:AllDayEvent>
				<Calendar:StartTime>20260610T083000Z</Calendar:StartTime><Calendar:EndTime>20260610T093000Z</Calendar:EndTime>
				<Calendar:Subject>Ward round (late)</Calendar:Subject><Calendar:BusyStatus>2</Calendar:BusyStatus>
				<Calendar:Sensitivity>0</Calendar:Sensitivity><Calendar:MeetingStatus>0</Calendar:MeetingStatus>`,
			added: "Ward round", changedWant: "Ward round (late)",
			serverChange: func(t testing.TB, it *store.Item) *store.Item {
				var e pim.Event
				if err := e.FromItem(it); err != nil {
					t.Fatal(err)
				}
				e.Summary = "Ward round (moved by admin)"
				n, err := e.ToItem(it.UserID, it.FolderID)
				if err != nil {
					t.Fatal(err)
				}
				return n
			},
			serverWant: "Ward round (moved by admin)",
		},
		{
			name: "contacts", folder: store.FolderContacts, field: "LastName",
			add: `<Contacts:FirstName>Florence</Contacts:FirstName><Contacts:LastName>Nightingale</Contacts:LastName>
				<Contacts:Email1Address>"Florence Nightingale" &lt;florence@example.org&gt;</Contacts:Email1Address>
				<Contacts:MobilePhoneNumber>+44 7700 900123</Contacts:MobilePhoneNumber><Contacts:Picture>iVBORw0KGgo=</Contacts:Picture>
				<Contacts2:NickName>Flo</Contacts2:NickName>`,
			change: `<Contacts:FirstName>Florence</Contacts:FirstName><Contacts:LastName>Nightingale-Smith</Contacts:LastName>
				<Contacts:Email1Address>florence@example.org</Contacts:Email1Address>`,
			added: "Nightingale", changedWant: "Nightingale-Smith",
			serverChange: func(t testing.TB, it *store.Item) *store.Item {
				var c pim.Contact
				if err := c.FromItem(it); err != nil {
					t.Fatal(err)
				}
				c.LastName = "Seacole"
				n, _ := c.ToItem(it.UserID, it.FolderID)
				return n
			},
			serverWant: "Seacole",
		},
		{
			name: "tasks", folder: store.FolderTasks, field: "Subject",
			add: `<Tasks:Subject>Audit discharge letters</Tasks:Subject><Tasks:Importance>2</Tasks:Importance>
				<Tasks:UtcStartDate>2026-06-01T08:00:00.000Z</Tasks:UtcStartDate><Tasks:StartDate>2026-06-01T09:00:00.000Z</Tasks:StartDate>
				<Tasks:UtcDueDate>2026-06-05T16:00:00.000Z</Tasks:UtcDueDate><Tasks:DueDate>2026-06-05T17:00:00.000Z</Tasks:DueDate>
				<Tasks:Complete>0</Tasks:Complete><Tasks:Sensitivity>0</Tasks:Sensitivity><Tasks:ReminderSet>0</Tasks:ReminderSet>`,
			change: `<Tasks:Subject>Audit discharge letters (done)</Tasks:Subject><Tasks:Importance>2</Tasks:Importance>
				<Tasks:Complete>1</Tasks:Complete><Tasks:DateCompleted>2026-06-04T10:00:00.000Z</Tasks:DateCompleted>`,
			added: "Audit discharge letters", changedWant: "Audit discharge letters (done)",
			serverChange: func(t testing.TB, it *store.Item) *store.Item {
				var x pim.Task
				if err := x.FromItem(it); err != nil {
					t.Fatal(err)
				}
				x.Subject = "Audit (reassigned)"
				n, _ := x.ToItem(it.UserID, it.FolderID)
				return n
			},
			serverWant: "Audit (reassigned)",
		},
		{
			name: "notes", folder: store.FolderNotes, field: "Subject",
			add: `<Notes:Subject>Bleep numbers</Notes:Subject><AirSyncBase:Body><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:Data>Ward 7: 4412</AirSyncBase:Data></AirSyncBase:Body>
				<Notes:MessageClass>IPM.StickyNote</Notes:MessageClass>`,
			change: `<Notes:Subject>Bleep numbers (2026)</Notes:Subject><Notes:MessageClass>IPM.StickyNote</Notes:MessageClass>`,
			added:  "Bleep numbers", changedWant: "Bleep numbers (2026)",
			serverChange: func(t testing.TB, it *store.Item) *store.Item {
				var n pim.Note
				if err := n.FromItem(it); err != nil {
					t.Fatal(err)
				}
				n.Subject = "Bleep numbers (server)"
				x, _ := n.ToItem(it.UserID, it.FolderID)
				return x
			},
			serverWant: "Bleep numbers (server)",
		},
	}
}

// TestDiaryClassesReachSecondDevice: for each class, an add and a change
// on one device, a change on the server, and deletes on either side each
// reach the user's other device exactly once (one device on 14.1, the
// other on 16.1).
func TestDiaryClassesReachSecondDevice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		a := dyDevice(t, srv, dyIPhone141, ada.email)
		b := dyDevice(t, srv, dyIPhone161, ada.email)
		for _, c := range dyClassCases() {
			t.Run(c.name, func(t *testing.T) {
				coll := dyFolder(t, st, ada.u, c.folder)
				ra, rb := dyNewReplica(coll), dyNewReplica(coll)
				ra.sync(t, a, "")
				rb.sync(t, b, "")
				// Add on A.
				ra.sync(t, a, `<AirSync:Add><AirSync:ClientId>c1</AirSync:ClientId><AirSync:ApplicationData>`+c.add+`</AirSync:ApplicationData></AirSync:Add>`)
				if ra.statuses["c1"] != "1" {
					t.Fatalf("add status %q", ra.statuses["c1"])
				}
				id := ra.serverID["c1"]
				rb.sync(t, b, "")
				if rb.counts(id) != "1/0/0" || field(rb.items[id], c.field) != c.added {
					t.Fatalf("B after add: %s %q", rb.counts(id), field(rb.items[id], c.field))
				}
				// A's own add does not come back to A.
				ra.sync(t, a, "")
				if ra.counts(id) != "0/0/0" {
					t.Fatalf("A got its own add back: %s", ra.counts(id))
				}
				// Change on A.
				ra.sync(t, a, `<AirSync:Change><AirSync:ServerId>`+id+`</AirSync:ServerId><AirSync:ApplicationData>`+c.change+`</AirSync:ApplicationData></AirSync:Change>`)
				rb.sync(t, b, "")
				if rb.counts(id) != "1/1/0" || field(rb.items[id], c.field) != c.changedWant {
					t.Fatalf("B after change: %s %q", rb.counts(id), field(rb.items[id], c.field))
				}
				// Change on the server: both devices, once each.
				cur, err := st.ItemByID(scCtx, ada.u.ID, mustID(t, id))
				if err != nil {
					t.Fatal(err)
				}
				next := c.serverChange(t, cur)
				next.ID, next.UserID = cur.ID, cur.UserID
				if err := st.ReplaceItem(scCtx, next); err != nil {
					t.Fatal(err)
				}
				ra.sync(t, a, "")
				rb.sync(t, b, "")
				rb.sync(t, b, "")
				if ra.counts(id) != "0/1/0" || rb.counts(id) != "1/2/0" || field(ra.items[id], c.field) != c.serverWant || field(rb.items[id], c.field) != c.serverWant {
					t.Fatalf("after server change: A %s %q, B %s %q", ra.counts(id), field(ra.items[id], c.field), rb.counts(id), field(rb.items[id], c.field))
				}
				// Delete on B reaches A once.
				rb.sync(t, b, `<AirSync:Delete><AirSync:ServerId>`+id+`</AirSync:ServerId></AirSync:Delete>`)
				ra.sync(t, a, "")
				ra.sync(t, a, "")
				if ra.counts(id) != "0/1/1" || ra.items[id] != nil {
					t.Fatalf("A after B's delete: %s", ra.counts(id))
				}
				// A second item deleted on the server reaches both once.
				ra.sync(t, a, `<AirSync:Add><AirSync:ClientId>c2</AirSync:ClientId><AirSync:ApplicationData>`+c.add+`</AirSync:ApplicationData></AirSync:Add>`)
				id2 := ra.serverID["c2"]
				rb.sync(t, b, "")
				if err := st.DeleteItem(scCtx, ada.u.ID, mustID(t, id2)); err != nil {
					t.Fatal(err)
				}
				ra.sync(t, a, "")
				rb.sync(t, b, "")
				if ra.counts(id2) != "0/0/1" || rb.counts(id2) != "1/0/1" {
					t.Fatalf("server delete: A %s, B %s", ra.counts(id2), rb.counts(id2))
				}
			})
		}
	})
}

func mustID(t testing.TB, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// occurrenceSet describes a series as a device sees it: the pattern and
// each exception as "instant|deleted|subject|start|end".
func occurrenceSet(app *etree.Element) (pattern string, exceptions []string) {
	if r := app.FindElement("Recurrence"); r != nil {
		var parts []string
		for _, c := range r.ChildElements() {
			if c.Tag == "CalendarType" || c.Tag == "IsLeapMonth" || c.Tag == "FirstDayOfWeek" {
				continue
			}
			parts = append(parts, c.Tag+"="+strings.TrimSpace(c.Text()))
		}
		sort.Strings(parts)
		pattern = strings.Join(parts, ";")
	}
	if exs := app.FindElement("Exceptions"); exs != nil {
		for _, x := range exs.ChildElements() {
			id := firstNonEmptyStr(textOf(x, "ExceptionStartTime"), textOf(x, "InstanceId"))
			exceptions = append(exceptions, strings.Join([]string{id, textOf(x, "Deleted"), textOf(x, "Subject"), textOf(x, "StartTime"), textOf(x, "EndTime")}, "|"))
		}
	}
	sort.Strings(exceptions)
	return
}

// TestRecurringMeetingExceptionsAcrossVersions: a weekly series in London
// time across the change to BST, with two occurrences changed and one
// deleted, created on a 14.1 device (Exceptions in the Add) reads back
// identically on a 16.1 device (InstanceId), and the same series created
// on the 16.1 device (Add, then InstanceId changes and a delete) reads
// back identically on the 14.1 device. The stored series expands to
// exactly rrule-go's occurrences at 09:00 London time.
func TestRecurringMeetingExceptionsAcrossVersions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		old := dyDevice(t, srv, dyIPhone141, ada.email)
		neu := dyDevice(t, srv, dyIPhone161, ada.email)
		coll := dyFolder(t, st, ada.u, store.FolderCalendar)
		ro, rn := dyNewReplica(coll), dyNewReplica(coll)
		ro.sync(t, old, "")
		rn.sync(t, neu, "")
		london, _ := time.LoadLocation("Europe/London")
		// Thursdays 09:00 London from 12 March 2026, 8 times: 12, 19 March
		// are GMT (09:00Z), from 2 April BST (08:00Z).
		occ := func(week int) time.Time {
			return time.Date(2026, 3, 12, 9, 0, 0, 0, london).AddDate(0, 0, 7*week).UTC()
		}
		c := func(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
		base := `<Calendar:Timezone>` + dyLondonBlob + `</Calendar:Timezone><Calendar:AllDayEvent>0</Calendar:AllDayEvent>
			<Calendar:StartTime>` + c(occ(0)) + `</Calendar:StartTime><Calendar:EndTime>` + c(occ(0).Add(time.Hour)) + `</Calendar:EndTime>
			<Calendar:Subject>Ward round</Calendar:Subject><Calendar:BusyStatus>2</Calendar:BusyStatus><Calendar:MeetingStatus>0</Calendar:MeetingStatus>
			<Calendar:Recurrence><Calendar:Type>1</Calendar:Type><Calendar:Interval>1</Calendar:Interval><Calendar:Occurrences>8</Calendar:Occurrences><Calendar:DayOfWeek>16</Calendar:DayOfWeek></Calendar:Recurrence>`
		// Week 1 moved an hour later, week 3 (after the change to BST)
		// renamed and moved, week 5 deleted.
		ex1 := `<Calendar:Subject>Ward round (late)</Calendar:Subject><Calendar:StartTime>` + c(occ(1).Add(time.Hour)) + `</Calendar:StartTime><Calendar:EndTime>` + c(occ(1).Add(2*time.Hour)) + `</Calendar:EndTime>`
		ex3 := `<Calendar:Subject>Ward round with students</Calendar:Subject><Calendar:StartTime>` + c(occ(3).Add(30*time.Minute)) + `</Calendar:StartTime><Calendar:EndTime>` + c(occ(3).Add(90*time.Minute)) + `</Calendar:EndTime>`

		// 1. Created on the 14.1 device with its Exceptions.
		ro.sync(t, old, `<AirSync:Add><AirSync:ClientId>s1</AirSync:ClientId><AirSync:ApplicationData>`+base+`<Calendar:UID>series-141@device</Calendar:UID><Calendar:Exceptions>
			<Calendar:Exception><Calendar:ExceptionStartTime>`+c(occ(1))+`</Calendar:ExceptionStartTime>`+ex1+`</Calendar:Exception>
			<Calendar:Exception><Calendar:ExceptionStartTime>`+c(occ(3))+`</Calendar:ExceptionStartTime>`+ex3+`</Calendar:Exception>
			<Calendar:Exception><Calendar:Deleted>1</Calendar:Deleted><Calendar:ExceptionStartTime>`+c(occ(5))+`</Calendar:ExceptionStartTime></Calendar:Exception>
			</Calendar:Exceptions></AirSync:ApplicationData></AirSync:Add>`)
		id1 := ro.serverID["s1"]
		if ro.statuses["s1"] != "1" || id1 == "" {
			t.Fatalf("14.1 add: %v", ro.statuses)
		}
		// 2. The same series created on the 16.1 device: Add, then two
		// InstanceId changes and an InstanceId delete.
		rn.sync(t, neu, `<AirSync:Add><AirSync:ClientId>s2</AirSync:ClientId><AirSync:ApplicationData>`+base+`<Calendar:ClientUid>series-161@device</Calendar:ClientUid></AirSync:ApplicationData></AirSync:Add>`)
		id2 := rn.serverID["s2"]
		if rn.statuses["s2"] != "1" || id2 == "" {
			t.Fatalf("16.1 add: %v", rn.statuses)
		}
		rn.sync(t, neu, `<AirSync:Change><AirSync:ServerId>`+id2+`</AirSync:ServerId><AirSyncBase:InstanceId>`+c(occ(1))+`</AirSyncBase:InstanceId><AirSync:ApplicationData>`+ex1+`</AirSync:ApplicationData></AirSync:Change>
			<AirSync:Change><AirSync:ServerId>`+id2+`</AirSync:ServerId><AirSyncBase:InstanceId>`+c(occ(3))+`</AirSyncBase:InstanceId><AirSync:ApplicationData>`+ex3+`</AirSync:ApplicationData></AirSync:Change>
			<AirSync:Delete><AirSync:ServerId>`+id2+`</AirSync:ServerId><AirSyncBase:InstanceId>`+c(occ(5))+`</AirSyncBase:InstanceId></AirSync:Delete>`)
		for id, s := range rn.statuses {
			if s != "1" {
				t.Fatalf("16.1 instance commands: %s status %s", id, s)
			}
		}
		ro.sync(t, old, "")
		rn.sync(t, neu, "")
		// Each series reaches the other device; compare them across
		// versions (a device does not get its own changes back).
		if ro.counts(id2) != "1/0/0" || rn.counts(id1) != "1/0/0" {
			t.Fatalf("each series must reach the other device once: %s %s", ro.counts(id2), rn.counts(id1))
		}
		pNew1, xNew1 := occurrenceSet(rn.items[id1])
		pOld2, xOld2 := occurrenceSet(ro.items[id2])
		want := []string{
			c(occ(1)) + "||Ward round (late)|" + c(occ(1).Add(time.Hour)) + "|" + c(occ(1).Add(2*time.Hour)),
			c(occ(3)) + "||Ward round with students|" + c(occ(3).Add(30*time.Minute)) + "|" + c(occ(3).Add(90*time.Minute)),
			c(occ(5)) + "|1|||",
		}
		sort.Strings(want)
		for name, got := range map[string][]string{"14.1 series on 16.1": xNew1, "16.1 series on 14.1": xOld2} {
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s exceptions:\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
		wantPattern := "DayOfWeek=16;Interval=1;Occurrences=8;Type=1"
		for name, p := range map[string]string{"14.1 series on 16.1": pNew1, "16.1 series on 14.1": pOld2} {
			if p != wantPattern {
				t.Errorf("%s pattern %q", name, p)
			}
		}
		if field(rn.items[id1], "Timezone") != dyLondonBlob || field(ro.items[id2], "Timezone") != dyLondonBlob {
			t.Error("the device's TimeZone blob did not come back as sent")
		}
		if field(ro.items[id2], "UID") == "" || field(rn.items[id1], "UID") != "series-141@device" {
			t.Error("16.1 series has no UID")
		}
		// The stored series expands as rrule-go expands the rule, at
		// 09:00 London on both sides of 29 March.
		it, err := st.ItemByID(scCtx, ada.u.ID, mustID(t, id2))
		if err != nil {
			t.Fatal(err)
		}
		var e pim.Event
		if err := e.FromItem(it); err != nil {
			t.Fatal(err)
		}
		if e.TimeZone != "Europe/London" {
			t.Fatalf("zone %q", e.TimeZone)
		}
		opt, _ := rrule.StrToROption(e.RRule)
		opt.Dtstart = occ(0).In(london)
		rr, _ := rrule.NewRRule(*opt)
		all := rr.All()
		if len(all) != 8 {
			t.Fatalf("rrule-go: %d", len(all))
		}
		got, err := e.Occurrences(occ(0).Add(-time.Hour), occ(10))
		if err != nil {
			t.Fatal(err)
		}
		var starts []string
		for _, o := range got {
			starts = append(starts, c(o.Start))
		}
		var exp []string
		for i, a := range all {
			switch i {
			case 1:
				exp = append(exp, c(a.Add(time.Hour)))
			case 3:
				exp = append(exp, c(a.Add(30*time.Minute)))
			case 5:
			default:
				if a.In(london).Hour() != 9 {
					t.Errorf("occurrence %s not at 09:00 London", a)
				}
				exp = append(exp, c(a))
			}
		}
		sort.Strings(exp)
		if strings.Join(starts, ",") != strings.Join(exp, ",") {
			t.Fatalf("expansion %v\nwant %v", starts, exp)
		}
	})
}

// TestBadDiaryInputFailsItemOnly: one Sync carries a good event, an event
// with an invalid TimeZone blob, a series whose Until is before its start,
// a contact-free InstanceId on a non-recurring event, and a good one: the
// bad ones get Status 6, the good ones are stored. A contact picture over
// MS-ASCNTC's 48 KB fails the same way beside a good contact.
func TestBadDiaryInputFailsItemOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		dev := dyDevice(t, srv, dyIPhone141, ada.email)
		coll := dyFolder(t, st, ada.u, store.FolderCalendar)
		rp := dyNewReplica(coll)
		rp.sync(t, dev, "")
		ev := func(extra string) string {
			return `<Calendar:StartTime>20260610T080000Z</Calendar:StartTime><Calendar:EndTime>20260610T090000Z</Calendar:EndTime><Calendar:Subject>x</Calendar:Subject>` + extra
		}
		add := func(id, app string) string {
			return `<AirSync:Add><AirSync:ClientId>` + id + `</AirSync:ClientId><AirSync:ApplicationData>` + app + `</AirSync:ApplicationData></AirSync:Add>`
		}
		rp.sync(t, dev, add("good1", ev(`<Calendar:Timezone>`+dyLondonBlob+`</Calendar:Timezone>`))+
			add("badtz", ev(`<Calendar:Timezone>AAAAAAAA</Calendar:Timezone>`))+
			add("badtz2", ev(`<Calendar:Timezone>`+strings.Replace(dyLondonBlob, "AoAAAAFAAIA", "A0AAAAFAAIA", 1)+`</Calendar:Timezone>`))+
			add("until", ev(`<Calendar:Recurrence><Calendar:Type>0</Calendar:Type><Calendar:Interval>1</Calendar:Interval><Calendar:Until>20260101T000000Z</Calendar:Until></Calendar:Recurrence>`))+
			add("badrec", ev(`<Calendar:Recurrence><Calendar:Type>4</Calendar:Type></Calendar:Recurrence>`))+
			add("notimes", `<Calendar:Subject>no times</Calendar:Subject>`)+
			add("good2", ev(``)))
		want := map[string]string{"good1": "1", "badtz": "6", "badtz2": "6", "until": "6", "badrec": "6", "notimes": "6", "good2": "1"}
		for id, s := range want {
			if rp.statuses[id] != s {
				t.Errorf("%s: status %q, want %s", id, rp.statuses[id], s)
			}
		}
		if n, _ := st.CountItems(scCtx, ada.u.ID, mustID(t, coll)); n != 2 {
			t.Fatalf("%d events stored, want 2", n)
		}
		// Contacts: a picture of 48 KB + 1 of base64 fails; the other
		// contact in the request is stored.
		ccoll := dyFolder(t, st, ada.u, store.FolderContacts)
		rc := dyNewReplica(ccoll)
		rc.sync(t, dev, "")
		big := strings.Repeat("A", 48*1024+4)
		rc.sync(t, dev, add("bigpic", `<Contacts:FirstName>Big</Contacts:FirstName><Contacts:Picture>`+big+`</Contacts:Picture>`)+
			add("okpic", `<Contacts:FirstName>Small</Contacts:FirstName><Contacts:Picture>iVBORw0KGgo=</Contacts:Picture>`))
		if rc.statuses["bigpic"] != "6" || rc.statuses["okpic"] != "1" {
			t.Fatalf("pictures: %v", rc.statuses)
		}
		// 16.x: an InstanceId that is not an occurrence fails that change.
		neu := dyDevice(t, srv, dyIPhone161, ada.email)
		rn := dyNewReplica(coll)
		rn.sync(t, neu, "")
		var single string
		for id, app := range rn.items {
			if field(app, "Recurrence") == "" {
				single = id
			}
		}
		rn.sync(t, neu, `<AirSync:Change><AirSync:ServerId>`+single+`</AirSync:ServerId><AirSyncBase:InstanceId>20260617T080000Z</AirSyncBase:InstanceId><AirSync:ApplicationData><Calendar:Subject>y</Calendar:Subject></AirSync:ApplicationData></AirSync:Change>`)
		if rn.statuses[single] != "6" {
			t.Fatalf("instance of a single event: %v", rn.statuses)
		}
	})
}

// inboxItems lists a user's Inbox (or another folder) items by class.
func dyItems(t testing.TB, st *store.Store, u *store.User, ft store.FolderType) []store.Item {
	t.Helper()
	f, err := st.FolderByType(scCtx, u.ID, ft)
	if err != nil {
		t.Fatal(err)
	}
	items, err := st.ListItems(scCtx, u.ID, f.ID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func dyEvent(t testing.TB, it *store.Item) pim.Event {
	t.Helper()
	var e pim.Event
	if err := e.FromItem(it); err != nil {
		t.Fatal(err)
	}
	return e
}

// tzIsLondon decodes a TimeZone blob with a second, independent reading:
// bias 0, back to GMT on the last Sunday of October, BST from the last
// Sunday of March, an hour of daylight saving.
func tzIsLondon(b64 string) bool {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 172 {
		return false
	}
	u16 := func(i int) int { return int(binary.LittleEndian.Uint16(raw[i:])) }
	i32 := func(i int) int32 { return int32(binary.LittleEndian.Uint32(raw[i:])) }
	return i32(0) == 0 && u16(70) == 10 && u16(72) == 0 && u16(74) == 5 && u16(154) == 3 && u16(156) == 0 && u16(158) == 5 && i32(168) == -60
}

func attendeeStatuses(app *etree.Element) map[string]string {
	out := map[string]string{}
	if as := app.FindElement("Attendees"); as != nil {
		for _, a := range as.ChildElements() {
			out[textOf(a, "Email")] = textOf(a, "AttendeeStatus")
		}
	}
	return out
}

// TestMeetingBetweenColleagues: Ada organises a meeting on her 16.1 phone
// with Bob and Carol. Each gets the request in their Inbox (with
// MeetingRequest) and a tentative entry in their calendar. Bob accepts
// from the request on a 16.1 phone (the server mails Ada the reply),
// Carol declines from her calendar on a 14.1 phone (her phone would mail
// the reply). Ada's phone then shows both answers. Ada cancels by
// deleting the meeting: Bob's entry goes and he gets the cancellation.
func TestMeetingBetweenColleagues(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		bob := dyNewUser(t, srv, "bob@example.nhs.uk", "Bob Builder")
		carol := dyNewUser(t, srv, "carol@example.nhs.uk", "Carol Danvers")
		aDev := dyDevice(t, srv, dyIPhone161, ada.email)
		bDev := dyDevice(t, srv, dyIPhone161, bob.email)
		cDev := dyDevice(t, srv, dyIPhone141, carol.email)
		aCal := dyNewReplica(dyFolder(t, st, ada.u, store.FolderCalendar))
		aCal.sync(t, aDev, "")
		bInbox := dyNewReplica(dyFolder(t, st, bob.u, store.FolderInbox))
		bInbox.sync(t, bDev, "")
		bCal := dyNewReplica(dyFolder(t, st, bob.u, store.FolderCalendar))
		bCal.sync(t, bDev, "")

		aCal.sync(t, aDev, `<AirSync:Add><AirSync:ClientId>m1</AirSync:ClientId><AirSync:ApplicationData>
			<Calendar:Timezone>`+dyLondonBlob+`</Calendar:Timezone><Calendar:AllDayEvent>0</Calendar:AllDayEvent>
			<Calendar:StartTime>20260610T130000Z</Calendar:StartTime><Calendar:EndTime>20260610T140000Z</Calendar:EndTime>
			<Calendar:Subject>Bed management</Calendar:Subject><AirSyncBase:Location><AirSyncBase:DisplayName>Room 4</AirSyncBase:DisplayName></AirSyncBase:Location>
			<Calendar:BusyStatus>2</Calendar:BusyStatus><Calendar:MeetingStatus>1</Calendar:MeetingStatus><Calendar:ResponseRequested>1</Calendar:ResponseRequested>
			<Calendar:Attendees>
			  <Calendar:Attendee><Calendar:Email>bob@example.nhs.uk</Calendar:Email><Calendar:Name>Bob Builder</Calendar:Name><Calendar:AttendeeType>1</Calendar:AttendeeType></Calendar:Attendee>
			  <Calendar:Attendee><Calendar:Email>carol@example.nhs.uk</Calendar:Email><Calendar:Name>Carol Danvers</Calendar:Name><Calendar:AttendeeType>2</Calendar:AttendeeType></Calendar:Attendee>
			</Calendar:Attendees>
			<Calendar:ClientUid>bed-mgmt-1</Calendar:ClientUid></AirSync:ApplicationData></AirSync:Add>`)
		mid := aCal.serverID["m1"]
		if aCal.statuses["m1"] != "1" {
			t.Fatalf("add: %v", aCal.statuses)
		}
		org, err := st.ItemByID(scCtx, ada.u.ID, mustID(t, mid))
		if err != nil {
			t.Fatal(err)
		}
		oe := dyEvent(t, org)
		if oe.MeetingStatus != pim.MeetingOrganizer || oe.Organizer.Email != ada.email {
			t.Fatalf("organizer's copy: status %d organizer %+v", oe.MeetingStatus, oe.Organizer)
		}
		// Invitations and tentative entries.
		for _, who := range []dyUser{bob, carol} {
			var req *store.Item
			for _, it := range dyItems(t, st, who.u, store.FolderInbox) {
				if it.MessageClass == "IPM.Schedule.Meeting.Request" {
					req = &it
				}
			}
			if req == nil || req.Subject != "Bed management" {
				t.Fatalf("%s has no meeting request", who.email)
			}
			cal := dyItems(t, st, who.u, store.FolderCalendar)
			if len(cal) != 1 || cal[0].UID != oe.UID {
				t.Fatalf("%s calendar: %d items", who.email, len(cal))
			}
			ce := dyEvent(t, &cal[0])
			if ce.MeetingStatus != pim.MeetingReceived || ce.BusyStatus != pim.BusyTentative || ce.ResponseType != pim.ResponseNotResponded || ce.Organizer.Email != ada.email {
				t.Fatalf("%s tentative entry: %+v", who.email, ce)
			}
		}
		// Bob's phone shows the request with MeetingRequest, and the entry.
		bInbox.sync(t, bDev, "")
		var reqID string
		for id, app := range bInbox.items {
			if field(app, "MessageClass") == "IPM.Schedule.Meeting.Request" {
				reqID = id
				mr := app.FindElement("MeetingRequest")
				if mr == nil || textOf(mr, "StartTime") != "2026-06-10T13:00:00.000Z" || textOf(mr, "GlobalObjId") == "" ||
					!tzIsLondon(textOf(mr, "TimeZone")) || !strings.Contains(textOf(mr, "Organizer"), ada.email) {
					d := etree.NewDocument()
					d.SetRoot(mr.Copy())
					x, _ := d.WriteToString()
					t.Fatalf("MeetingRequest: %s", x)
				}
			}
		}
		bCal.sync(t, bDev, "")
		if len(bCal.items) != 1 {
			t.Fatalf("Bob's phone calendar: %d", len(bCal.items))
		}
		// Bob accepts from the request, asking the server to reply.
		res := bDev.Do("MeetingResponse", `<MeetingResponse:MeetingResponse><MeetingResponse:Request><MeetingResponse:UserResponse>1</MeetingResponse:UserResponse>
			<MeetingResponse:CollectionId>`+bInbox.coll+`</MeetingResponse:CollectionId><MeetingResponse:RequestId>`+reqID+`</MeetingResponse:RequestId>
			<MeetingResponse:SendResponse><AirSyncBase:Body><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:Data>See you there</AirSyncBase:Data></AirSyncBase:Body></MeetingResponse:SendResponse>
			</MeetingResponse:Request></MeetingResponse:MeetingResponse>`)
		res.Expect(200, "MeetingResponse:Result/MeetingResponse:Status", "1")
		bcal := dyItems(t, st, bob.u, store.FolderCalendar)
		if res.Text("MeetingResponse:Result/MeetingResponse:CalendarId") != itoaT(bcal[0].ID) {
			t.Fatalf("CalendarId: %s", res.XML())
		}
		if be := dyEvent(t, &bcal[0]); be.ResponseType != pim.ResponseAccepted || be.BusyStatus != pim.BusyBusy {
			t.Fatalf("Bob's entry after accepting: %+v", be)
		}
		for _, it := range dyItems(t, st, bob.u, store.FolderInbox) {
			if it.MessageClass == "IPM.Schedule.Meeting.Request" {
				t.Fatal("the answered request is still in Bob's Inbox")
			}
		}
		var replyMail *store.Item
		for _, it := range dyItems(t, st, ada.u, store.FolderInbox) {
			if it.MessageClass == "IPM.Schedule.Meeting.Resp.Pos" {
				replyMail = &it
			}
		}
		if replyMail == nil || replyMail.Subject != "Accepted: Bed management" {
			t.Fatalf("Ada got no acceptance mail: %v", replyMail)
		}
		// Carol declines from her calendar on a 14.1 phone.
		cCal := dyNewReplica(dyFolder(t, st, carol.u, store.FolderCalendar))
		cCal.sync(t, cDev, "")
		var cid string
		for id := range cCal.items {
			cid = id
		}
		res = cDev.Do("MeetingResponse", `<MeetingResponse:MeetingResponse><MeetingResponse:Request><MeetingResponse:UserResponse>3</MeetingResponse:UserResponse>
			<MeetingResponse:CollectionId>`+cCal.coll+`</MeetingResponse:CollectionId><MeetingResponse:RequestId>`+cid+`</MeetingResponse:RequestId>
			</MeetingResponse:Request></MeetingResponse:MeetingResponse>`)
		res.Expect(200, "MeetingResponse:Result/MeetingResponse:Status", "1")
		if res.Find("MeetingResponse:Result/MeetingResponse:CalendarId") != nil {
			t.Fatal("a declined meeting has a CalendarId")
		}
		if n := len(dyItems(t, st, carol.u, store.FolderCalendar)); n != 0 {
			t.Fatalf("Carol's declined entry is still there (%d)", n)
		}
		cCal.sync(t, cDev, "")
		if cCal.counts(cid) != "1/0/1" {
			t.Fatalf("Carol's phone: %s", cCal.counts(cid))
		}
		// Ada's phone shows both answers, in one change each.
		aCal.sync(t, aDev, "")
		got := attendeeStatuses(aCal.items[mid])
		if got[bob.email] != "3" || got[carol.email] != "4" {
			t.Fatalf("Ada's attendee list: %v", got)
		}
		if aCal.changes[mid] < 1 || aCal.changes[mid] > 2 {
			t.Fatalf("Ada's phone got %d changes", aCal.changes[mid])
		}
		// A bad request: an item that is not a meeting.
		bDev.Do("MeetingResponse", `<MeetingResponse:MeetingResponse><MeetingResponse:Request><MeetingResponse:UserResponse>1</MeetingResponse:UserResponse>
			<MeetingResponse:CollectionId>`+bInbox.coll+`</MeetingResponse:CollectionId><MeetingResponse:RequestId>999999</MeetingResponse:RequestId>
			</MeetingResponse:Request></MeetingResponse:MeetingResponse>`).Expect(200, "MeetingResponse:Result/MeetingResponse:Status", "2")
		// Ada cancels: Bob's entry goes, he gets the cancellation.
		aCal.sync(t, aDev, `<AirSync:Delete><AirSync:ServerId>`+mid+`</AirSync:ServerId></AirSync:Delete>`)
		if n := len(dyItems(t, st, bob.u, store.FolderCalendar)); n != 0 {
			t.Fatalf("Bob's entry survived the cancellation (%d)", n)
		}
		cancelled := false
		for _, it := range dyItems(t, st, bob.u, store.FolderInbox) {
			if it.MessageClass == "IPM.Schedule.Meeting.Canceled" && it.Subject == "Canceled: Bed management" {
				cancelled = true
			}
		}
		if !cancelled {
			t.Fatal("Bob got no cancellation")
		}
		bCal.sync(t, bDev, "")
		if len(bCal.items) != 0 {
			t.Fatalf("Bob's phone still shows the meeting")
		}
	})
}

// TestAllDayEventAcrossDevices: an all-day event written by a 14.1 phone
// in London time (midnight BST is 23:00 UTC the day before) is stored as a
// date and reads back on a 16.1 phone as the same midnight, with the same
// zone.
func TestAllDayEventAcrossDevices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		old := dyDevice(t, srv, dyIPhone141, ada.email)
		neu := dyDevice(t, srv, dyIPhone161, ada.email)
		coll := dyFolder(t, st, ada.u, store.FolderCalendar)
		ro, rn := dyNewReplica(coll), dyNewReplica(coll)
		ro.sync(t, old, "")
		rn.sync(t, neu, "")
		ro.sync(t, old, `<AirSync:Add><AirSync:ClientId>d1</AirSync:ClientId><AirSync:ApplicationData>
			<Calendar:Timezone>`+dyLondonBlob+`</Calendar:Timezone><Calendar:AllDayEvent>1</Calendar:AllDayEvent>
			<Calendar:StartTime>20260609T230000Z</Calendar:StartTime><Calendar:EndTime>20260611T230000Z</Calendar:EndTime>
			<Calendar:Subject>Study leave</Calendar:Subject><Calendar:BusyStatus>3</Calendar:BusyStatus></AirSync:ApplicationData></AirSync:Add>`)
		id := ro.serverID["d1"]
		it, err := st.ItemByID(scCtx, ada.u.ID, mustID(t, id))
		if err != nil {
			t.Fatal(err)
		}
		e := dyEvent(t, it)
		if !e.AllDay || !e.Start.Equal(time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)) || !e.End.Equal(time.Date(2026, 6, 12, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("stored %+v", e)
		}
		rn.sync(t, neu, "")
		app := rn.items[id]
		if field(app, "AllDayEvent") != "1" || field(app, "StartTime") != "20260609T230000Z" || field(app, "EndTime") != "20260611T230000Z" || field(app, "Timezone") != dyLondonBlob {
			t.Fatalf("16.1 phone sees start %s end %s", field(app, "StartTime"), field(app, "EndTime"))
		}
	})
}
