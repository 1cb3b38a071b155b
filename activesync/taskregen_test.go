package activesync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync/eastest"
	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

// Recurring tasks completed on a device (or on the server) move on
// (MS-ASTASK 2.2.2.18 Regenerate/DeadOccur; pim.Task.CompleteOccurrence):
// every device of the user gets the completed occurrence as a new task and
// the series at its next date, each exactly once; at the end of a pattern
// the series itself is the completed task.

// trTask is a task "Check the resus trolley" starting Monday 1 June 2026
// at 09:00 and due at 17:00 (London, UTC+1), with the given Recurrence.
func trTask(recurrence string) string {
	return trTaskState(recurrence, `<Tasks:Complete>0</Tasks:Complete>`)
}

// trTaskState is the task with its completion elements; a 14.1 device
// sends the whole task in a Change.
func trTaskState(recurrence, complete string) string {
	return `<Tasks:Subject>Check the resus trolley</Tasks:Subject><Tasks:Importance>1</Tasks:Importance>
		<Tasks:UtcStartDate>2026-06-01T08:00:00.000Z</Tasks:UtcStartDate><Tasks:StartDate>2026-06-01T09:00:00.000Z</Tasks:StartDate>
		<Tasks:UtcDueDate>2026-06-01T16:00:00.000Z</Tasks:UtcDueDate><Tasks:DueDate>2026-06-01T17:00:00.000Z</Tasks:DueDate>
		<Tasks:Recurrence>` + recurrence + `</Tasks:Recurrence>
		` + complete + `<Tasks:Sensitivity>0</Tasks:Sensitivity>
		<Tasks:ReminderSet>1</Tasks:ReminderSet><Tasks:ReminderTime>2026-06-01T07:45:00.000Z</Tasks:ReminderTime>`
}

// trComplete is what a device's Change says to complete the task on
// Wednesday 10 June.
const trComplete = `<Tasks:Complete>1</Tasks:Complete><Tasks:DateCompleted>2026-06-10T10:00:00.000Z</Tasks:DateCompleted>`

var trCompletedAt = time.Date(2026, 6, 10, 10, 0, 0, 0, time.UTC)

func TestRecurringTaskCompletionMovesOn(t *testing.T) {
	type want struct {
		ended            bool   // a dead end: no copy, the series completed
		start, due, remi string // the series' next UtcStartDate, UtcDueDate, ReminderTime
		occurrences      string // the series' Occurrences afterwards ("" none)
	}
	cases := []struct {
		name       string
		recurrence string
		onServer   bool // completed by pim.CompleteTask, not a device
		want       want
	}{
		{name: "weekly regenerating: a week after completion",
			recurrence: `<Tasks:Type>1</Tasks:Type><Tasks:Interval>1</Tasks:Interval><Tasks:DayOfWeek>2</Tasks:DayOfWeek><Tasks:Regenerate>1</Tasks:Regenerate>`,
			want:       want{start: "2026-06-17T08:00:00.000Z", due: "2026-06-17T16:00:00.000Z", remi: "2026-06-17T07:45:00.000Z"}},
		{name: "fortnightly by pattern: next Monday of the pattern",
			recurrence: `<Tasks:Type>1</Tasks:Type><Tasks:Interval>2</Tasks:Interval><Tasks:DayOfWeek>2</Tasks:DayOfWeek><Tasks:Occurrences>4</Tasks:Occurrences>`,
			want:       want{start: "2026-06-15T08:00:00.000Z", due: "2026-06-15T16:00:00.000Z", remi: "2026-06-15T07:45:00.000Z", occurrences: "3"}},
		{name: "daily regenerating, completed on the server",
			recurrence: `<Tasks:Type>0</Tasks:Type><Tasks:Interval>3</Tasks:Interval><Tasks:Regenerate>1</Tasks:Regenerate>`, onServer: true,
			want: want{start: "2026-06-13T08:00:00.000Z", due: "2026-06-13T16:00:00.000Z", remi: "2026-06-13T07:45:00.000Z"}},
		{name: "last occurrence: the series ends",
			recurrence: `<Tasks:Type>1</Tasks:Type><Tasks:Interval>1</Tasks:Interval><Tasks:DayOfWeek>2</Tasks:DayOfWeek><Tasks:Occurrences>1</Tasks:Occurrences>`,
			want:       want{ended: true}},
		{name: "Until passed: the series ends",
			recurrence: `<Tasks:Type>1</Tasks:Type><Tasks:Interval>1</Tasks:Interval><Tasks:DayOfWeek>2</Tasks:DayOfWeek><Tasks:Until>2026-06-05T00:00:00.000Z</Tasks:Until><Tasks:Regenerate>0</Tasks:Regenerate>`,
			want:       want{ended: true}},
	}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		a := dyDevice(t, srv, dyIPhone141, ada.email)
		b := dyDevice(t, srv, dyIPhone161, ada.email)
		coll := dyFolder(t, st, ada.u, store.FolderTasks)
		folderID := mustID(t, coll)
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ra, rb := dyNewReplica(coll), dyNewReplica(coll)
				ra.sync(t, a, "")
				rb.sync(t, b, "")
				cid := "t" + itoaT(int64(i))
				ra.sync(t, a, `<AirSync:Add><AirSync:ClientId>`+cid+`</AirSync:ClientId><AirSync:ApplicationData>`+trTask(c.recurrence)+`</AirSync:ApplicationData></AirSync:Add>`)
				id := ra.serverID[cid]
				if ra.statuses[cid] != "1" || id == "" {
					t.Fatalf("add: %v", ra.statuses)
				}
				rb.sync(t, b, "")
				before := trTaskIDs(t, st, ada.u.ID, folderID)

				if c.onServer {
					if err := pim.CompleteTask(scCtx, st, ada.u.ID, mustID(t, id), trCompletedAt); err != nil {
						t.Fatal(err)
					}
				} else {
					change := `<AirSync:Change><AirSync:ServerId>` + id + `</AirSync:ServerId><AirSync:ApplicationData>` + trTaskState(c.recurrence, trComplete) + `</AirSync:ApplicationData></AirSync:Change>`
					key := ra.key
					ra.sync(t, a, change)
					// The response was lost: A sends the same request again.
					// It is answered as before (with what the server has
					// done since); nothing moves on twice.
					ra.key = key
					ra.sync(t, a, change)
					if ra.statuses[id] != "" {
						t.Fatalf("resent change: status %q", ra.statuses[id])
					}
				}
				after := trTaskIDs(t, st, ada.u.ID, folderID)
				var copies []string
				for sid := range after {
					if !before[sid] {
						copies = append(copies, sid)
					}
				}
				wantCopies := 1
				if c.want.ended {
					wantCopies = 0
				}
				if len(copies) != wantCopies || len(after) != len(before)+wantCopies {
					t.Fatalf("%d new tasks on the server, want %d", len(copies), wantCopies)
				}

				// Both devices: the series changed once, the copy added once,
				// and nothing more on a further sync.
				for _, d := range []struct {
					name string
					rp   *dyReplica
					dev  *eastest.Device
					adds int // of the series: B got it as an Add before
				}{{"A", ra, a, 0}, {"B", rb, b, 1}} {
					d.rp.sync(t, d.dev, "")
					d.rp.sync(t, d.dev, "")
					if got, want := d.rp.counts(id), itoaT(int64(d.adds))+"/1/0"; got != want {
						t.Fatalf("%s: series %s, want %s", d.name, got, want)
					}
					series := d.rp.items[id]
					rec := series.FindElement("Recurrence")
					if c.want.ended {
						if field(series, "Complete") != "1" || rec == nil || textOf(rec, "DeadOccur") != "1" {
							t.Fatalf("%s: ended series: %s", d.name, trXML(series))
						}
						continue
					}
					if field(series, "Complete") != "0" || field(series, "UtcStartDate") != c.want.start || field(series, "UtcDueDate") != c.want.due ||
						field(series, "ReminderTime") != c.want.remi || rec == nil || textOf(rec, "DeadOccur") != "0" ||
						textOf(rec, "Occurrences") != c.want.occurrences || textOf(rec, "Start") != c.want.start {
						t.Fatalf("%s: next occurrence: %s", d.name, trXML(series))
					}
					done := d.rp.items[copies[0]]
					if d.rp.counts(copies[0]) != "1/0/0" || field(done, "Complete") != "1" || field(done, "Subject") != "Check the resus trolley" ||
						field(done, "DateCompleted") != "2026-06-10T10:00:00.000Z" || field(done, "UtcDueDate") != "2026-06-01T16:00:00.000Z" ||
						done.FindElement("Recurrence") != nil || field(done, "ReminderSet") != "0" {
						t.Fatalf("%s: completed occurrence %s: %s", d.name, d.rp.counts(copies[0]), trXML(done))
					}
				}
			})
		}
	})
}

// trTaskIDs is the set of live task ServerIds in the folder.
func trTaskIDs(t *testing.T, st *store.Store, userID, folderID int64) map[string]bool {
	t.Helper()
	items, err := st.ListItems(scCtx, userID, folderID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, it := range items {
		out[itoaT(it.ID)] = true
	}
	return out
}

func trXML(el *etree.Element) string {
	if el == nil {
		return "(none)"
	}
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	s, _ := doc.WriteToString()
	return strings.TrimSpace(s)
}
