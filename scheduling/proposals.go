package scheduling

import (
	"time"

	"airlock/pim"
)

// KeepProposals settles the pending new-time proposals (an attendee's
// COUNTER, EAS 16.1 ProposedStartTime/EndTime, held on the attendee in the
// organizer's copy) when the organizer edits the meeting: cur is the
// stored meeting, next the edited one, changed in place.
//
// Moving the meeting (new start, end, all-day flag or pattern) answers
// every proposal, whether or not it took the proposed time: a proposal
// asks to move the meeting from the times it was made against, so after a
// move none still applies, and they are all cleared. Otherwise each attendee still invited keeps theirs, even
// when the organizer's device resent the attendee list (devices do not send
// proposals back: MS-ASCAL has them only server to client). The same holds
// for one occurrence's attendee list, against that occurrence's times.
func KeepProposals(cur, next *pim.Event) {
	if cur == nil || next == nil {
		return
	}
	moved := !cur.Start.Equal(next.Start) || !cur.End.Equal(next.End) || cur.AllDay != next.AllDay || cur.RRule != next.RRule
	next.Attendees = carryProposals(cur.Attendees, next.Attendees, moved)
	if len(next.Exceptions) == 0 {
		return
	}
	next.Exceptions = append([]pim.Exception(nil), next.Exceptions...)
	for i := range next.Exceptions {
		x := &next.Exceptions[i]
		var old []pim.Attendee
		xMoved := moved
		if ox := exceptionOf(cur, x.RecurrenceID); ox != nil {
			old = ox.Attendees
			xMoved = xMoved || !ox.Start.Equal(x.Start) || !ox.End.Equal(x.End) || ox.Deleted != x.Deleted
		}
		x.Attendees = carryProposals(old, x.Attendees, xMoved)
	}
}

// carryProposals returns a copy of next (nil stays nil) with each
// attendee's proposal, and their answer where next has none, taken from
// old; both are left to next when the meeting moved.
// next is not changed: it may share its array with the stored event.
func carryProposals(old, next []pim.Attendee, moved bool) []pim.Attendee {
	if next == nil {
		return nil
	}
	out := append([]pim.Attendee(nil), next...)
	for i := range out {
		out[i].ProposedStart, out[i].ProposedEnd = time.Time{}, time.Time{}
		if moved {
			continue
		}
		for _, o := range old {
			if attendeeKey(o.Email) != attendeeKey(out[i].Email) {
				continue
			}
			if !o.ProposedStart.IsZero() {
				out[i].ProposedStart, out[i].ProposedEnd = o.ProposedStart, o.ProposedEnd
			}
			// The answers are the server's too: a device editing the
			// meeting (a new location, one more attendee) resends the
			// list without AttendeeStatus, which must not wipe the
			// colleagues' accepts and declines. A moved meeting asks
			// everyone again, so there they start afresh.
			if out[i].Status == pim.StatusUnknown {
				out[i].Status = o.Status
			}
			break
		}
	}
	return out
}

func exceptionOf(e *pim.Event, recurrenceID time.Time) *pim.Exception {
	for i := range e.Exceptions {
		if e.Exceptions[i].RecurrenceID.Equal(recurrenceID) {
			return &e.Exceptions[i]
		}
	}
	return nil
}
