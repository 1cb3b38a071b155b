package activesync_test

import (
	"testing"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

// A device that adds a recurring task already complete (ticked offline
// before it was ever synced) completes its current occurrence: the series
// moves on as for a Change (taskregen.go), the completed occurrence kept as
// a task of its own. A completed task with no running pattern (the copy a
// device makes when it regenerates itself, or an ended series) is stored
// as sent.
func TestRecurringTaskAddedCompleteMovesOn(t *testing.T) {
	weekly := `<Tasks:Type>1</Tasks:Type><Tasks:Interval>1</Tasks:Interval><Tasks:DayOfWeek>2</Tasks:DayOfWeek><Tasks:Regenerate>1</Tasks:Regenerate>`
	cases := []struct {
		name      string
		data      string
		moves     bool   // a completed copy appears and the series moves on
		wantStart string // the added task's UtcStartDate afterwards
		complete  string // its Complete when it does not move on
	}{
		{name: "recurring, added complete: moves on a week after completion",
			data: trTaskState(weekly, trComplete), moves: true, wantStart: "2026-06-17T08:00:00.000Z"},
		{name: "recurring, added not complete: stays",
			data: trTaskState(weekly, `<Tasks:Complete>0</Tasks:Complete>`), wantStart: "2026-06-01T08:00:00.000Z", complete: "0"},
		{name: "completed copy without a pattern: stays",
			data: `<Tasks:Subject>Check the resus trolley</Tasks:Subject><Tasks:UtcStartDate>2026-06-01T08:00:00.000Z</Tasks:UtcStartDate><Tasks:StartDate>2026-06-01T09:00:00.000Z</Tasks:StartDate>
				<Tasks:UtcDueDate>2026-06-01T16:00:00.000Z</Tasks:UtcDueDate><Tasks:DueDate>2026-06-01T17:00:00.000Z</Tasks:DueDate>` + trComplete,
			wantStart: "2026-06-01T08:00:00.000Z", complete: "1"},
		{name: "ended series (DeadOccur) added complete: stays",
			data: trTaskState(weekly+`<Tasks:DeadOccur>1</Tasks:DeadOccur>`, trComplete), wantStart: "2026-06-01T08:00:00.000Z", complete: "1"},
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
				before := trTaskIDs(t, st, ada.u.ID, folderID)
				cid := "ac" + itoaT(int64(i))
				add := `<AirSync:Add><AirSync:ClientId>` + cid + `</AirSync:ClientId><AirSync:ApplicationData>` + c.data + `</AirSync:ApplicationData></AirSync:Add>`
				key := ra.key
				ra.sync(t, a, add)
				id := ra.serverID[cid]
				if ra.statuses[cid] != "1" || id == "" {
					t.Fatalf("add: %v", ra.statuses)
				}
				// The response was lost: the same request again moves
				// nothing on a second time.
				ra.key = key
				ra.sync(t, a, add)
				if ra.serverID[cid] != id {
					t.Fatalf("resent add: ServerId %q, want %q", ra.serverID[cid], id)
				}
				after := trTaskIDs(t, st, ada.u.ID, folderID)
				var copies []string
				for sid := range after {
					if !before[sid] && sid != id {
						copies = append(copies, sid)
					}
				}
				want := 0
				if c.moves {
					want = 1
				}
				if len(copies) != want || len(after) != len(before)+1+want {
					t.Fatalf("%d completed copies, %d new tasks; want %d, %d", len(copies), len(after)-len(before), want, 1+want)
				}
				// The other device sees the series (as it is now) and the copy.
				rb.sync(t, b, "")
				rb.sync(t, b, "")
				series := rb.items[id]
				if series == nil || field(series, "UtcStartDate") != c.wantStart {
					t.Fatalf("B: series %s", trXML(series))
				}
				if c.moves {
					if field(series, "Complete") != "0" || textOf(series.FindElement("Recurrence"), "DeadOccur") != "0" {
						t.Fatalf("B: series still complete: %s", trXML(series))
					}
					done := rb.items[copies[0]]
					if rb.counts(copies[0]) != "1/0/0" || field(done, "Complete") != "1" || field(done, "DateCompleted") != "2026-06-10T10:00:00.000Z" ||
						field(done, "UtcDueDate") != "2026-06-01T16:00:00.000Z" || done.FindElement("Recurrence") != nil {
						t.Fatalf("B: completed occurrence %s: %s", rb.counts(copies[0]), trXML(done))
					}
					// The adding device gets the series' new dates as a Change.
					ra.sync(t, a, "")
					if got := ra.items[id]; got == nil || field(got, "UtcStartDate") != c.wantStart || ra.counts(copies[0]) != "1/0/0" {
						t.Fatalf("A: series %s, copy %s", trXML(got), ra.counts(copies[0]))
					}
				} else if field(series, "Complete") != c.complete {
					t.Fatalf("B: Complete changed: %s", trXML(series))
				}
			})
		}
	})
}
