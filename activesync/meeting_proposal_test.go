package activesync_test

import (
	"testing"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

// TestMeetingProposalClearedWhenMoved: Bob (16.1) proposes 15:00-16:00
// for Ada's meeting at 14:00. Ada's devices then edit the meeting: edits
// that keep its times keep Bob's proposal on his attendee entry, even when
// the device resends the attendee list (a 14.1 device resends the whole
// event); moving the meeting clears it, on her phones and in the store.
func TestMeetingProposalClearedWhenMoved(t *testing.T) {
	const proposedStart = "20260610T140000Z"
	attendees := `<Calendar:Attendees><Calendar:Attendee><Calendar:Email>bob@example.nhs.uk</Calendar:Email><Calendar:Name>Bob Builder</Calendar:Name>
		<Calendar:AttendeeType>1</Calendar:AttendeeType></Calendar:Attendee></Calendar:Attendees>`
	whole := func(subject, start, end string) string { // a 14.1 Change: the whole event
		return `<Calendar:Timezone>` + dyLondonBlob + `</Calendar:Timezone><Calendar:AllDayEvent>0</Calendar:AllDayEvent>
			<Calendar:StartTime>` + start + `</Calendar:StartTime><Calendar:EndTime>` + end + `</Calendar:EndTime>
			<Calendar:Subject>` + subject + `</Calendar:Subject><Calendar:BusyStatus>2</Calendar:BusyStatus>
			<Calendar:MeetingStatus>1</Calendar:MeetingStatus><Calendar:ResponseRequested>1</Calendar:ResponseRequested>` + attendees
	}
	steps := []struct {
		name     string
		v141     bool   // sent by Ada's 14.1 device, else her 16.1 one
		data     string // the Change's ApplicationData
		keep     bool   // Bob's proposal is still shown afterwards
		wantTime string // the meeting's StartTime afterwards
		cy       bool   // Cy is invited by the change: her copy shows no one's proposal
	}{
		{name: "16.1: new subject only", data: `<Calendar:Subject>Bed meeting (agenda)</Calendar:Subject>`, keep: true, wantTime: "20260610T130000Z"},
		{name: "16.1: attendee list resent", data: `<Calendar:Subject>Bed meeting</Calendar:Subject>` + attendees, keep: true, wantTime: "20260610T130000Z"},
		{name: "16.1: Cy invited too", data: `<Calendar:Attendees><Calendar:Attendee><Calendar:Email>bob@example.nhs.uk</Calendar:Email><Calendar:Name>Bob Builder</Calendar:Name>
			<Calendar:AttendeeType>1</Calendar:AttendeeType></Calendar:Attendee><Calendar:Attendee><Calendar:Email>cy@example.nhs.uk</Calendar:Email>
			<Calendar:AttendeeType>1</Calendar:AttendeeType></Calendar:Attendee></Calendar:Attendees>`, keep: true, wantTime: "20260610T130000Z", cy: true},
		{name: "14.1: whole event resent, same times", v141: true, data: whole("Bed meeting", "20260610T130000Z", "20260610T140000Z"), keep: true, wantTime: "20260610T130000Z"},
		{name: "14.1: moved half an hour", v141: true, data: whole("Bed meeting", "20260610T133000Z", "20260610T143000Z"), keep: false, wantTime: "20260610T133000Z"},
		{name: "16.1: moved to the proposed time", data: `<Calendar:StartTime>20260610T140000Z</Calendar:StartTime><Calendar:EndTime>20260610T150000Z</Calendar:EndTime>`, keep: false, wantTime: "20260610T140000Z"},
	}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		bob := dyNewUser(t, srv, "bob@example.nhs.uk", "Bob Builder")
		cy := dyNewUser(t, srv, "cy@example.nhs.uk", "Cy Twombly")
		a16 := dyDevice(t, srv, dyIPhone161, ada.email)
		a14 := dyDevice(t, srv, dyIPhone141, ada.email)
		bDev := dyDevice(t, srv, dyIPhone161, bob.email)
		coll := dyFolder(t, st, ada.u, store.FolderCalendar)
		bCalColl := dyFolder(t, st, bob.u, store.FolderCalendar)
		for i, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				r16, r14 := dyNewReplica(coll), dyNewReplica(coll)
				r16.sync(t, a16, "")
				r14.sync(t, a14, "")
				cid := "mv" + itoaT(int64(i))
				r16.sync(t, a16, mxMeeting(cid, 0, false))
				mid := r16.serverID[cid]
				uid := dyEvent(t, mustItem(t, st, ada.u, mid)).UID
				bobID := mxCalendarID(t, st, bob.u, uid)
				bDev.Do("MeetingResponse", `<MeetingResponse:MeetingResponse><MeetingResponse:Request>
					<MeetingResponse:UserResponse>2</MeetingResponse:UserResponse>
					<MeetingResponse:CollectionId>`+bCalColl+`</MeetingResponse:CollectionId><MeetingResponse:RequestId>`+itoaT(bobID)+`</MeetingResponse:RequestId>
					<MeetingResponse:SendResponse><MeetingResponse:ProposedStartTime>`+proposedStart+`</MeetingResponse:ProposedStartTime>
					<MeetingResponse:ProposedEndTime>20260610T150000Z</MeetingResponse:ProposedEndTime></MeetingResponse:SendResponse>
					</MeetingResponse:Request></MeetingResponse:MeetingResponse>`).Expect(200, "MeetingResponse:Result/MeetingResponse:Status", "1")
				r16.sync(t, a16, "")
				r14.sync(t, a14, "")
				if got := mxText(mxAttendee(r16.items[mid], bob.email), "ProposedStartTime"); got != proposedStart {
					t.Fatalf("before the edit Ada's phone shows proposal %q", got)
				}

				rp, dev := r16, a16
				if s.v141 {
					rp, dev = r14, a14
				}
				rp.sync(t, dev, `<AirSync:Change><AirSync:ServerId>`+mid+`</AirSync:ServerId><AirSync:ApplicationData>`+s.data+`</AirSync:ApplicationData></AirSync:Change>`)
				if rp.statuses[mid] != "" && rp.statuses[mid] != "1" {
					t.Fatalf("change: status %q", rp.statuses[mid])
				}
				// A fresh view of Ada's 16.1 phone (its own change is not
				// echoed back to it).
				view := dyNewReplica(coll)
				view.sync(t, a16, "")
				view.sync(t, a16, "")
				app := view.items[mid]
				if field(app, "StartTime") != s.wantTime {
					t.Fatalf("meeting at %q, want %q", field(app, "StartTime"), s.wantTime)
				}
				bobOnAda := mxAttendee(app, bob.email)
				if bobOnAda == nil {
					t.Fatalf("Bob's entry on Ada's meeting: %s", trXML(app))
				}
				got := mxText(bobOnAda, "ProposedStartTime")
				if s.keep && got != proposedStart || !s.keep && got != "" {
					t.Fatalf("Bob's proposal after the edit: %q (keep %v)", got, s.keep)
				}
				if s.cy {
					ce := dyEvent(t, mustItem(t, st, cy.u, itoaT(mxCalendarID(t, st, cy.u, uid))))
					for _, a := range ce.Attendees {
						if !a.ProposedStart.IsZero() {
							t.Fatalf("Cy's copy shows %s's proposal", a.Email)
						}
					}
					if len(ce.Attendees) != 2 {
						t.Fatalf("Cy's copy: %+v", ce.Attendees)
					}
				}
				stored := dyEvent(t, mustItem(t, st, ada.u, mid))
				for _, a := range stored.Attendees {
					if a.Email == bob.email && a.ProposedStart.IsZero() == s.keep {
						t.Fatalf("stored proposal %v (keep %v)", a.ProposedStart, s.keep)
					}
				}
			})
		}
	})
}
