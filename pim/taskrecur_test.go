package pim

import (
	"errors"
	"testing"
	"time"
)

func TestTaskCompleteOccurrence(t *testing.T) {
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return &v
	}
	for _, c := range []struct {
		name       string
		task       Task
		completed  string
		wantDue    string // the series' next due date ("" : dead end)
		wantStart  string
		wantRRule  string
		wantLocal  string // the series' next local due date
		wantReason string // an error, if any
	}{
		{name: "monthly regenerating from the 31st clamps to February's end",
			task:      Task{Due: at("2027-01-31T17:00:00Z"), RRule: "FREQ=MONTHLY;BYMONTHDAY=31", RecurRegenerate: true},
			completed: "2027-01-31T12:00:00Z", wantDue: "2027-02-28T17:00:00Z", wantRRule: "FREQ=MONTHLY;BYMONTHDAY=31"},
		{name: "yearly regenerating every two years, from completion",
			task:      Task{Due: at("2026-03-01T09:00:00Z"), RRule: "FREQ=YEARLY;INTERVAL=2", RecurRegenerate: true},
			completed: "2026-05-20T15:00:00Z", wantDue: "2028-05-20T09:00:00Z", wantRRule: "FREQ=YEARLY;INTERVAL=2"},
		{name: "regenerating uses the local completion date (late evening in UTC+10)",
			task: Task{Start: at("2026-06-01T00:00:00Z"), LocalStart: at("2026-06-01T10:00:00Z"), Due: at("2026-06-01T07:00:00Z"),
				LocalDue: at("2026-06-01T17:00:00Z"), RRule: "FREQ=DAILY", RecurRegenerate: true},
			// 15:00 UTC on the 3rd is 01:00 on the 4th in Sydney.
			completed: "2026-06-03T15:00:00Z", wantDue: "2026-06-05T07:00:00Z", wantStart: "2026-06-05T00:00:00Z",
			wantLocal: "2026-06-05T17:00:00Z", wantRRule: "FREQ=DAILY"},
		{name: "by pattern: the next occurrence after the current, late or not",
			task:      Task{Start: at("2026-06-01T08:00:00Z"), Due: at("2026-06-01T16:00:00Z"), RRule: "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=10"},
			completed: "2026-06-20T10:00:00Z", wantStart: "2026-06-04T08:00:00Z", wantDue: "2026-06-04T16:00:00Z", wantRRule: "FREQ=WEEKLY;COUNT=9;BYDAY=MO,TH"},
		{name: "last of a count", task: Task{Due: at("2026-06-01T16:00:00Z"), RRule: "FREQ=DAILY;COUNT=1"}, completed: "2026-06-01T10:00:00Z"},
		{name: "past Until", task: Task{Due: at("2026-06-01T16:00:00Z"), RRule: "FREQ=WEEKLY;UNTIL=20260605T000000Z", RecurRegenerate: true}, completed: "2026-06-01T10:00:00Z"},
		{name: "not a series", task: Task{Due: at("2026-06-01T16:00:00Z")}, completed: "2026-06-01T10:00:00Z", wantReason: "not a running series"},
		{name: "an ended series", task: Task{Due: at("2026-06-01T16:00:00Z"), RRule: "FREQ=DAILY", RecurDeadOccur: true}, completed: "2026-06-01T10:00:00Z", wantReason: "not a running series"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.task.UID, c.task.Subject = "task-1", "Ward round"
			occ, err := c.task.CompleteOccurrence(*at(c.completed))
			if c.wantReason != "" {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.wantDue == "" {
				if occ.Done != nil || !occ.Next.Complete || !occ.Next.RecurDeadOccur || occ.Next.DateCompleted == nil {
					t.Fatalf("dead end: %+v", occ)
				}
				return
			}
			n, d := occ.Next, occ.Done
			if n.Complete || n.DateCompleted != nil || n.Due.Format(time.RFC3339) != c.wantDue || n.RRule != c.wantRRule || n.UID != "task-1" {
				t.Fatalf("series: due %v rrule %q complete %v", n.Due, n.RRule, n.Complete)
			}
			if c.wantStart != "" && n.Start.Format(time.RFC3339) != c.wantStart {
				t.Fatalf("series start %v", n.Start)
			}
			if c.wantLocal != "" && n.LocalDue.Format(time.RFC3339) != c.wantLocal {
				t.Fatalf("series local due %v", n.LocalDue)
			}
			if !d.Complete || d.DateCompleted.Format(time.RFC3339) != c.completed || d.RRule != "" || d.UID == "task-1" || !d.Due.Equal(*c.task.Due) {
				t.Fatalf("completed copy: %+v", d)
			}
			if c.task.Complete || c.task.Due.Format(time.RFC3339) == c.wantDue {
				t.Fatal("the receiver was changed")
			}
		})
	}
}
