package activesync

import (
	"fmt"
	"time"

	"github.com/beevik/etree"

	"airlock/pim"
	"airlock/store"
)

// tasksCodec is the Tasks class of Sync (MS-ASTASK 2.2.2) on top of
// pim.Task, with recurrence (MS-ASTASK 2.2.2.18: the calendar's pattern
// plus Start, Regenerate and DeadOccur) stored as an RRULE from the
// recurrence's start.
//
// EAS sends each date twice: UtcStartDate/UtcDueDate (instants) and
// StartDate/DueDate (the same wall-clock time written as if it were UTC).
// The instants are what the store keeps; the local forms are kept as sent
// so they read back the same.
type tasksCodec struct{}

func (tasksCodec) write(app *etree.Element, it *store.Item, _ []byte, _ bool, o renderOpts) {
	var t pim.Task
	if err := t.FromItem(it); err != nil {
		t = pim.Task{Subject: it.Subject}
	}
	pimBody(app, t.Body, o)
	add(app, "Tasks:Subject", t.Subject)
	add(app, "Tasks:Importance", itoa(t.Importance))
	if t.Start != nil {
		add(app, "Tasks:UtcStartDate", formatTime(*t.Start))
		add(app, "Tasks:StartDate", formatTime(*firstTime(t.LocalStart, t.Start)))
	}
	if t.Due != nil {
		add(app, "Tasks:UtcDueDate", formatTime(*t.Due))
		add(app, "Tasks:DueDate", formatTime(*firstTime(t.LocalDue, t.Due)))
	}
	cats := app.CreateElement("Tasks:Categories")
	for _, c := range t.Categories {
		add(cats, "Tasks:Category", c)
	}
	if t.RRule != "" {
		if start := taskRecurrenceStart(&t); start != nil {
			if r, err := RecurrenceFromRRule(t.RRule, *start, time.UTC); err == nil {
				r.Start, r.Regenerate, r.DeadOccur = *start, t.RecurRegenerate, t.RecurDeadOccur
				r.write(app, "Tasks", o.Version)
			}
		}
	}
	add(app, "Tasks:Complete", boolText(t.Complete))
	if t.Complete && t.DateCompleted != nil {
		add(app, "Tasks:DateCompleted", formatTime(*t.DateCompleted))
	}
	add(app, "Tasks:Sensitivity", itoa(t.Sensitivity))
	add(app, "Tasks:ReminderSet", boolText(t.Reminder != nil))
	if t.Reminder != nil {
		add(app, "Tasks:ReminderTime", formatTime(*t.Reminder))
	}
}

func firstTime(a, b *time.Time) *time.Time {
	if a != nil {
		return a
	}
	return b
}

// taskRecurrenceStart is the DTSTART of a task's series: its start, else
// its due date.
func taskRecurrenceStart(t *pim.Task) *time.Time {
	return firstTime(t.Start, t.Due)
}

// parse reads a device's task; cur (for a Change) lends the Body when the
// device left it out.
func (tasksCodec) parse(app *etree.Element, cur *pim.Task) (*pim.Task, error) {
	t := &pim.Task{Subject: text(app, "Tasks:Subject"), Complete: text(app, "Tasks:Complete") == "1",
		Categories: catList(child(app, "Tasks:Categories"), "Tasks"), Importance: pim.ImportanceNormal}
	switch {
	case has(app, "AirSyncBase:Body"):
		t.Body = readBody(app)
	case cur != nil:
		t.Body = cur.Body
	}
	var err error
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{
		{"Tasks:UtcStartDate", &t.Start}, {"Tasks:StartDate", &t.LocalStart}, {"Tasks:UtcDueDate", &t.Due},
		{"Tasks:DueDate", &t.LocalDue}, {"Tasks:DateCompleted", &t.DateCompleted},
	} {
		if *f.dst, err = optTime(app, f.name); err != nil {
			return nil, err
		}
	}
	// A device that sends only the local form: take it as the instant.
	if t.Start == nil {
		t.Start = t.LocalStart
	}
	if t.Due == nil {
		t.Due = t.LocalDue
	}
	if n, ok, err := optInt(app, "Tasks:Importance", 0, 2); err != nil {
		return nil, err
	} else if ok {
		t.Importance = n
	}
	if t.Sensitivity, _, err = optInt(app, "Tasks:Sensitivity", 0, 3); err != nil {
		return nil, err
	}
	if text(app, "Tasks:ReminderSet") == "1" {
		if t.Reminder, err = optTime(app, "Tasks:ReminderTime"); err != nil {
			return nil, err
		}
	}
	if t.Complete && t.DateCompleted == nil {
		now := time.Now().UTC()
		t.DateCompleted = &now
	}
	if rel := child(app, "Tasks:Recurrence"); rel != nil {
		r, err := parseRecurrence(rel, "Tasks")
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errConversion, err)
		}
		start := taskRecurrenceStart(t)
		if !r.Start.IsZero() {
			start = &r.Start
			if t.Start == nil {
				t.Start = start
			}
		}
		if start == nil {
			return nil, fmt.Errorf("%w: a recurring task needs a start or due date", errConversion)
		}
		if t.RRule, err = r.RRule(*start, time.UTC); err != nil {
			return nil, fmt.Errorf("%w: %v", errConversion, err)
		}
		t.RecurRegenerate, t.RecurDeadOccur = r.Regenerate, r.DeadOccur
	}
	return t, nil
}

func (c tasksCodec) parseAdd(app *etree.Element, o renderOpts) (*store.Item, []byte, error) {
	t, err := c.parse(app, nil)
	if err != nil {
		return nil, nil, err
	}
	it, err := t.ToItem(0, 0)
	return it, nil, convErr(err)
}

func (c tasksCodec) parseChange(app *etree.Element, cur *store.Item, o renderOpts) (store.FlagChange, *store.Item, error) {
	var old pim.Task
	_ = old.FromItem(cur)
	t, err := c.parse(app, &old)
	if err != nil {
		return store.FlagChange{}, nil, err
	}
	t.UID = cur.UID
	it, err := t.ToItem(cur.UserID, cur.FolderID)
	return store.FlagChange{}, it, convErr(err)
}
