package pim

import (
	"fmt"
	"time"

	"github.com/teambition/rrule-go"
)

// Completing an occurrence of a recurring task, the way Outlook and
// Exchange do it (MS-OXOTASK 3.1.4.6, PidLidTaskDeadOccurrence; MS-ASTASK
// 2.2.2.18 Regenerate, DeadOccur): the series is one task, dated as its
// current occurrence. When that occurrence is completed, a copy of it is
// kept as an ordinary completed task, and the series itself moves on to
// its next occurrence, not complete. Where the next occurrence falls:
//
//   - a regenerating series (Regenerate=1: "every 2 weeks after it was
//     done") is due Interval days, weeks, months or years (by the
//     pattern's FREQ) after the completion date, at the time of day it
//     was due, keeping the gap between its start and due dates;
//   - any other series takes the pattern's first occurrence after the
//     current one.
//
// A pattern that has no next occurrence (its count used up, its Until
// passed) is a dead end: no copy is made, the series itself stays
// completed and is marked DeadOccur, so nothing is generated from it
// again.
//
// The series' RRULE is anchored at its current occurrence (the codec sends
// the task's start, else its due date, as Recurrence Start), so a COUNT
// counts the occurrences left, the current one included: it goes down by
// one as the series moves on.

// TaskOccurrence is the outcome of CompleteOccurrence.
type TaskOccurrence struct {
	// Done is the completed occurrence as a task of its own (no
	// recurrence, no reminder), or nil at a dead end.
	Done *Task
	// Next is the series, moved on to its next occurrence and not
	// complete; at a dead end it is the series completed, with
	// RecurDeadOccur set.
	Next *Task
}

// Recurs reports whether completing the task moves a series on: it has a
// pattern that has not ended, and a date to count from.
func (t *Task) Recurs() bool {
	return t.RRule != "" && !t.RecurDeadOccur && (t.Start != nil || t.Due != nil)
}

// CompleteOccurrence completes the task's current occurrence at `at` (the
// completion time: DateCompleted when set) and returns the completed copy
// and the series moved on. The task must Recur. The receiver is not
// changed.
func (t *Task) CompleteOccurrence(at time.Time) (*TaskOccurrence, error) {
	if !t.Recurs() {
		return nil, fmt.Errorf("%w: task %q is not a running series", ErrInvalid, t.UID)
	}
	if t.DateCompleted != nil {
		at = *t.DateCompleted
	}
	at = at.UTC()
	opt, err := rrule.StrToROption(t.RRule)
	if err != nil {
		return nil, fmt.Errorf("%w: task %q: RRULE %q: %v", ErrInvalid, t.UID, t.RRule, err)
	}
	anchor := *firstPtr(t.Start, t.Due) // the current occurrence: DTSTART of the series
	var next time.Time
	if t.RecurRegenerate {
		next = regenerated(t, opt, at)
	} else {
		o := *opt
		o.Dtstart = anchor
		r, err := rrule.NewRRule(o)
		if err != nil {
			return nil, fmt.Errorf("%w: task %q: RRULE %q: %v", ErrInvalid, t.UID, t.RRule, err)
		}
		next = r.After(anchor, false)
	}
	// Dead ends: the count is used up (the current occurrence was the
	// last), the pattern has no later date, or it lies past Until.
	if opt.Count == 1 || next.IsZero() || (!opt.Until.IsZero() && next.After(opt.Until)) {
		series := t.clone()
		series.Complete, series.DateCompleted, series.RecurDeadOccur = true, &at, true
		return &TaskOccurrence{Next: series}, nil
	}

	done := t.clone()
	done.UID = newUID()
	done.Complete, done.DateCompleted = true, &at
	done.RRule, done.RecurRegenerate, done.RecurDeadOccur = "", false, false
	done.Reminder = nil

	series := t.clone()
	series.Complete, series.DateCompleted = false, nil
	shift := next.Sub(anchor)
	for _, p := range []**time.Time{&series.Start, &series.Due, &series.LocalStart, &series.LocalDue, &series.Reminder} {
		if *p != nil {
			v := (*p).Add(shift)
			*p = &v
		}
	}
	if opt.Count > 1 {
		o := *opt
		o.Count--
		series.RRule = o.RRuleString()
	}
	return &TaskOccurrence{Done: done, Next: series}, nil
}

// regenerated is the next occurrence of a regenerating series completed
// at `at`: Interval units of the pattern's frequency after the completion
// date, at the current occurrence's wall-clock time of day (the local
// dates EAS sends beside the UTC ones say which zone that is), returned
// as the new anchor (start, else due).
func regenerated(t *Task, opt *rrule.ROption, at time.Time) time.Time {
	anchor, local := t.Start, t.LocalStart
	if anchor == nil {
		anchor, local = t.Due, t.LocalDue
	}
	offset := time.Duration(0) // local wall clock − UTC
	if local != nil {
		offset = local.Sub(*anchor)
	}
	// The anchor is the series' start when it has one, but a regenerating
	// task is due its interval after completion: count from the due date
	// and carry the start along.
	due, dueLocalOffset := anchor, offset
	if t.Due != nil && t.Start != nil {
		due = t.Due
		if t.LocalDue != nil {
			dueLocalOffset = t.LocalDue.Sub(*t.Due)
		}
	}
	lastDue := due.Add(dueLocalOffset)
	done := at.Add(dueLocalOffset)
	base := time.Date(done.Year(), done.Month(), done.Day(), lastDue.Hour(), lastDue.Minute(), lastDue.Second(), 0, time.UTC)
	n := max(opt.Interval, 1)
	var nextDue time.Time
	switch opt.Freq {
	case rrule.DAILY:
		nextDue = base.AddDate(0, 0, n)
	case rrule.WEEKLY:
		nextDue = base.AddDate(0, 0, 7*n)
	case rrule.MONTHLY:
		nextDue = addMonthsClamped(base, n)
	default: // YEARLY
		nextDue = addMonthsClamped(base, 12*n)
	}
	nextDue = nextDue.Add(-dueLocalOffset)
	return anchor.Add(nextDue.Sub(*due))
}

// addMonthsClamped adds months, keeping the day of the month or, when the
// target month is shorter, taking its last day (31 January + 1 month is
// 28 or 29 February, not 3 March).
func addMonthsClamped(t time.Time, months int) time.Time {
	first := time.Date(t.Year(), t.Month()+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(t.Day(), last)-1)
}

func firstPtr(a, b *time.Time) *time.Time {
	if a != nil {
		return a
	}
	return b
}

// clone copies the task, with its own copies of the pointed-to values.
func (t *Task) clone() *Task {
	c := *t
	for _, p := range []**time.Time{&c.Start, &c.Due, &c.DateCompleted, &c.Reminder, &c.LocalStart, &c.LocalDue} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	c.Categories = append([]string(nil), t.Categories...)
	return &c
}
