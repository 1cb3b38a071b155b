package scheduling

import (
	"testing"
	"time"

	"airlock/pim"
)

// An organizer's device that edits a meeting resends the attendee list
// without answers or proposals; the server's must survive unless the
// meeting moved.
func TestKeepProposalsCarriesAnswersUnlessMoved(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	proposed := start.Add(2 * time.Hour)
	stored := func() *pim.Event {
		return &pim.Event{Start: start, End: start.Add(time.Hour), Attendees: []pim.Attendee{
			{Email: "bob@trust.nhs.uk", Status: pim.StatusAccepted},
			{Email: "cy@trust.nhs.uk", Status: pim.StatusDeclined, ProposedStart: proposed, ProposedEnd: proposed.Add(time.Hour)},
		}}
	}
	resent := []pim.Attendee{{Email: "BOB@trust.nhs.uk"}, {Email: "cy@trust.nhs.uk"}, {Email: "dee@trust.nhs.uk"}}
	for _, tc := range []struct {
		name       string
		edit       func(*pim.Event)
		wantStatus []int
		wantCyProp bool
	}{
		{"new location", func(e *pim.Event) { e.Location = "Ward 7" }, []int{pim.StatusAccepted, pim.StatusDeclined, pim.StatusUnknown}, true},
		{"moved an hour", func(e *pim.Event) { e.Start, e.End = e.Start.Add(time.Hour), e.End.Add(time.Hour) }, []int{0, 0, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := stored()
			next := *cur
			next.Attendees = append([]pim.Attendee(nil), resent...)
			tc.edit(&next)
			KeepProposals(cur, &next)
			for i, a := range next.Attendees {
				if a.Status != tc.wantStatus[i] {
					t.Errorf("%s: status %d, want %d", a.Email, a.Status, tc.wantStatus[i])
				}
			}
			if got := !next.Attendees[1].ProposedStart.IsZero(); got != tc.wantCyProp {
				t.Errorf("cy's proposal kept = %v, want %v", got, tc.wantCyProp)
			}
			if cur.Attendees[0].Status != pim.StatusAccepted {
				t.Error("the stored event was changed")
			}
		})
	}
}
