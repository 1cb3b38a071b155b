package activesync_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync/eastest"
	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
	"airlock/store/storetest"
)

// Scenario tests of meetings beyond plain answers: new time proposals
// (16.1), answers to one occurrence, repeated 16.x Adds (ClientUid) and
// all-day events in free/busy. Helper names carry an "mx" prefix; the
// "dy" helpers come from diary_test.go.

// mxMeeting is Ada's meeting with Bob, as her 16.1 phone adds it: weekly
// (Occurrences > 0) or single, Wednesdays 14:00 London from 10 June 2026.
func mxMeeting(clientID string, weeks int, disallow bool) string {
	rec := ""
	if weeks > 0 {
		rec = `<Calendar:Recurrence><Calendar:Type>1</Calendar:Type><Calendar:Interval>1</Calendar:Interval><Calendar:Occurrences>` + itoaT(int64(weeks)) +
			`</Calendar:Occurrences><Calendar:DayOfWeek>8</Calendar:DayOfWeek></Calendar:Recurrence>`
	}
	dis := ""
	if disallow {
		dis = `<Calendar:DisallowNewTimeProposal>1</Calendar:DisallowNewTimeProposal>`
	}
	return `<AirSync:Add><AirSync:ClientId>` + clientID + `</AirSync:ClientId><AirSync:ApplicationData>
		<Calendar:Timezone>` + dyLondonBlob + `</Calendar:Timezone><Calendar:AllDayEvent>0</Calendar:AllDayEvent>
		<Calendar:StartTime>20260610T130000Z</Calendar:StartTime><Calendar:EndTime>20260610T140000Z</Calendar:EndTime>
		<Calendar:Subject>Bed meeting ` + clientID + `</Calendar:Subject><Calendar:BusyStatus>2</Calendar:BusyStatus>
		<Calendar:MeetingStatus>1</Calendar:MeetingStatus><Calendar:ResponseRequested>1</Calendar:ResponseRequested>` + dis + `
		<Calendar:Attendees><Calendar:Attendee><Calendar:Email>bob@example.nhs.uk</Calendar:Email><Calendar:Name>Bob Builder</Calendar:Name>
		<Calendar:AttendeeType>1</Calendar:AttendeeType></Calendar:Attendee></Calendar:Attendees>` + rec + `
		<Calendar:ClientUid>mx-` + clientID + `</Calendar:ClientUid></AirSync:ApplicationData></AirSync:Add>`
}

// mxCalendarID finds the calendar item of a user with a meeting's UID.
func mxCalendarID(t testing.TB, st *store.Store, u *store.User, uid string) int64 {
	t.Helper()
	it, err := st.ItemByUID(scCtx, u.ID, store.ClassCalendar, uid)
	if err != nil {
		t.Fatalf("%s has no calendar entry %s: %v", u.Email, uid, err)
	}
	return it.ID
}

// mxMail returns the user's Inbox mails of a message class.
func mxMail(t testing.TB, st *store.Store, u *store.User, class string) []store.Item {
	var out []store.Item
	for _, it := range dyItems(t, st, u, store.FolderInbox) {
		if it.MessageClass == class {
			out = append(out, it)
		}
	}
	return out
}

// TestMeetingNewTimeProposal: Bob, on a 16.1 phone, answers Ada's meeting
// tentatively and proposes 15:00-16:00 instead. Ada gets a "New Time
// Proposed" mail (iTIP COUNTER, class IPM.Schedule.Meeting.Resp.Tent)
// whose MeetingRequest on her 16.1 phone carries the proposal, and her
// meeting shows it on Bob's attendee entry; Bob's calendar keeps the
// meeting at its own time, tentatively. Proposals the meeting refuses,
// or that end before they start, get Status 2 and change nothing.
func TestMeetingNewTimeProposal(t *testing.T) {
	cases := []struct {
		name       string
		disallow   bool
		start, end string
		wantStatus string
	}{
		{"proposal", false, "20260610T140000Z", "20260610T150000Z", "1"},
		{"end before start", false, "20260610T140000Z", "20260610T130000Z", "2"},
		{"meeting refuses proposals", true, "20260610T140000Z", "20260610T150000Z", "2"},
	}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		bob := dyNewUser(t, srv, "bob@example.nhs.uk", "Bob Builder")
		aDev := dyDevice(t, srv, dyIPhone161, ada.email)
		bDev := dyDevice(t, srv, dyIPhone161, bob.email)
		aCal := dyNewReplica(dyFolder(t, st, ada.u, store.FolderCalendar))
		aCal.sync(t, aDev, "")
		aInbox := dyNewReplica(dyFolder(t, st, ada.u, store.FolderInbox))
		aInbox.sync(t, aDev, "")
		bCalColl := dyFolder(t, st, bob.u, store.FolderCalendar)
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				cid := "p" + itoaT(int64(i))
				aCal.sync(t, aDev, mxMeeting(cid, 0, c.disallow))
				mid := aCal.serverID[cid]
				uid := dyEvent(t, mustItem(t, st, ada.u, mid)).UID
				bobID := mxCalendarID(t, st, bob.u, uid)
				before := len(mxMail(t, st, ada.u, "IPM.Schedule.Meeting.Resp.Tent"))
				res := bDev.Do("MeetingResponse", `<MeetingResponse:MeetingResponse><MeetingResponse:Request>
					<MeetingResponse:UserResponse>2</MeetingResponse:UserResponse>
					<MeetingResponse:CollectionId>`+bCalColl+`</MeetingResponse:CollectionId><MeetingResponse:RequestId>`+itoaT(bobID)+`</MeetingResponse:RequestId>
					<MeetingResponse:SendResponse><AirSyncBase:Body><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:Data>Clinic overruns</AirSyncBase:Data></AirSyncBase:Body>
					<MeetingResponse:ProposedStartTime>`+c.start+`</MeetingResponse:ProposedStartTime><MeetingResponse:ProposedEndTime>`+c.end+`</MeetingResponse:ProposedEndTime>
					</MeetingResponse:SendResponse></MeetingResponse:Request></MeetingResponse:MeetingResponse>`)
				res.Expect(200, "MeetingResponse:Result/MeetingResponse:Status", c.wantStatus)
				mails := mxMail(t, st, ada.u, "IPM.Schedule.Meeting.Resp.Tent")
				be := dyEvent(t, mustItem(t, st, bob.u, itoaT(bobID)))
				aCal.sync(t, aDev, "")
				aInbox.sync(t, aDev, "")
				bobOnAda := mxAttendee(aCal.items[mid], bob.email)
				if c.wantStatus != "1" {
					if len(mails) != before || be.ResponseType != pim.ResponseNotResponded || mxText(bobOnAda, "ProposedStartTime") != "" {
						t.Fatalf("a refused proposal changed something: %d mails, Bob's answer %d, Ada sees %q",
							len(mails)-before, be.ResponseType, mxText(bobOnAda, "ProposedStartTime"))
					}
					return
				}
				// Ada's mail: a COUNTER with the proposal and the meeting's
				// own times.
				if len(mails) != before+1 {
					t.Fatalf("Ada got %d proposal mails", len(mails)-before)
				}
				m := mails[len(mails)-1]
				if m.Subject != "New Time Proposed: Bed meeting "+cid {
					t.Fatalf("subject %q", m.Subject)
				}
				raw, err := st.Blob(scCtx, ada.u.ID, m.ID)
				if err != nil {
					t.Fatal(err)
				}
				method, ce, err := pim.ParseITIP(scheduling.CalendarPart(raw))
				if err != nil || method != pim.MethodCounter || len(ce.Attendees) != 1 {
					t.Fatalf("COUNTER: %q %v %+v", method, err, ce)
				}
				wantP, wantO := time.Date(2026, 6, 10, 14, 0, 0, 0, time.UTC), time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC)
				if !ce.Attendees[0].ProposedStart.Equal(wantP) || !ce.Start.Equal(wantO) || ce.Attendees[0].Status != pim.StatusTentative {
					t.Fatalf("COUNTER proposes %v for the meeting at %v (status %d)", ce.Attendees[0].ProposedStart, ce.Start, ce.Attendees[0].Status)
				}
				// Her phone: the proposal in the mail's MeetingRequest and on
				// Bob in her meeting.
				var mr *etree.Element
				if app := aInbox.items[itoaT(m.ID)]; app != nil {
					mr = app.FindElement("MeetingRequest")
				}
				if mr == nil || textOf(mr, "ProposedStartTime") != c.start || textOf(mr, "ProposedEndTime") != c.end || textOf(mr, "StartTime") != "2026-06-10T13:00:00.000Z" {
					t.Fatalf("proposal mail on Ada's phone: %v", mr)
				}
				if mxText(bobOnAda, "ProposedStartTime") != c.start || mxText(bobOnAda, "ProposedEndTime") != c.end || mxText(bobOnAda, "AttendeeStatus") != "2" {
					t.Fatalf("Bob on Ada's meeting: start %q end %q status %q", mxText(bobOnAda, "ProposedStartTime"), mxText(bobOnAda, "ProposedEndTime"), mxText(bobOnAda, "AttendeeStatus"))
				}
				// Bob's own entry: tentative, at the meeting's time.
				if be.ResponseType != pim.ResponseTentative || !be.Start.Equal(wantO) {
					t.Fatalf("Bob's entry: answer %d at %v", be.ResponseType, be.Start)
				}
			})
		}
	})
}

// mxAttendee returns the Attendee element of an address in an event's
// ApplicationData (or an exception), or nil.
func mxAttendee(app *etree.Element, email string) *etree.Element {
	if app == nil {
		return nil
	}
	as := app.FindElement("Attendees")
	if as == nil {
		return nil
	}
	for _, a := range as.ChildElements() {
		if textOf(a, "Email") == email {
			return a
		}
	}
	return nil
}

// mxText is textOf for an element that may be missing.
func mxText(el *etree.Element, tag string) string {
	if el == nil {
		return ""
	}
	return textOf(el, tag)
}

func mustItem(t testing.TB, st *store.Store, u *store.User, id string) *store.Item {
	t.Helper()
	it, err := st.ItemByID(scCtx, u.ID, mustID(t, id))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// TestMeetingOccurrenceAnswers: Ada's weekly meeting (four Wednesdays);
// Bob, on a 16.1 phone, accepts the second occurrence and declines the
// third, each by InstanceId with a reply. Ada's series gets an exception
// for each with Bob's status (3 and 4) and the series' other attendee
// data, seen on her phone; Bob's calendar keeps the second as accepted
// and drops the third; each reply names its occurrence (RECURRENCE-ID).
func TestMeetingOccurrenceAnswers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		bob := dyNewUser(t, srv, "bob@example.nhs.uk", "Bob Builder")
		aDev := dyDevice(t, srv, dyIPhone161, ada.email)
		bDev := dyDevice(t, srv, dyIPhone161, bob.email)
		aCal := dyNewReplica(dyFolder(t, st, ada.u, store.FolderCalendar))
		aCal.sync(t, aDev, "")
		aCal.sync(t, aDev, mxMeeting("w1", 4, false))
		mid := aCal.serverID["w1"]
		uid := dyEvent(t, mustItem(t, st, ada.u, mid)).UID
		bCalColl := dyFolder(t, st, bob.u, store.FolderCalendar)
		bobID := mxCalendarID(t, st, bob.u, uid)
		week := func(n int) time.Time { return time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC).AddDate(0, 0, 7*n) }
		answers := []struct {
			week     int
			response string
			status   string // Bob's AttendeeStatus on Ada's exception
		}{{1, "1", "3"}, {2, "3", "4"}}
		for _, a := range answers {
			res := bDev.Do("MeetingResponse", `<MeetingResponse:MeetingResponse><MeetingResponse:Request>
				<MeetingResponse:UserResponse>`+a.response+`</MeetingResponse:UserResponse>
				<MeetingResponse:CollectionId>`+bCalColl+`</MeetingResponse:CollectionId><MeetingResponse:RequestId>`+itoaT(bobID)+`</MeetingResponse:RequestId>
				<MeetingResponse:InstanceId>`+compactT(week(a.week))+`</MeetingResponse:InstanceId><MeetingResponse:SendResponse/>
				</MeetingResponse:Request></MeetingResponse:MeetingResponse>`)
			res.Expect(200, "MeetingResponse:Result/MeetingResponse:Status", "1")
		}
		// Ada's phone: two exceptions with Bob's answers; the series
		// itself still shows him as not answered.
		aCal.sync(t, aDev, "")
		app := aCal.items[mid]
		got := map[string]string{}
		if exs := app.FindElement("Exceptions"); exs != nil {
			for _, x := range exs.ChildElements() {
				got[textOf(x, "InstanceId")] = mxText(mxAttendee(x, bob.email), "AttendeeStatus") + "/" + textOf(x, "Deleted")
			}
		}
		want := map[string]string{compactT(week(1)): "3/", compactT(week(2)): "4/"}
		if len(got) != len(want) {
			t.Fatalf("Ada's exceptions: %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("Ada's exceptions: %v, want %v", got, want)
			}
		}
		if s := mxText(mxAttendee(app, bob.email), "AttendeeStatus"); s == "3" || s == "4" {
			t.Fatalf("the series took an occurrence's answer: %s", s)
		}
		// Bob's calendar.
		be := dyEvent(t, mustItem(t, st, bob.u, itoaT(bobID)))
		byID := map[int64]pim.Exception{}
		for _, x := range be.Exceptions {
			byID[x.RecurrenceID.Unix()] = x
		}
		x1, x2 := byID[week(1).Unix()], byID[week(2).Unix()]
		if x1.ResponseType == nil || *x1.ResponseType != pim.ResponseAccepted || !x2.Deleted {
			t.Fatalf("Bob's exceptions: %+v", be.Exceptions)
		}
		// The replies name their occurrences.
		var ids []string
		for _, class := range []string{"IPM.Schedule.Meeting.Resp.Pos", "IPM.Schedule.Meeting.Resp.Neg"} {
			for _, m := range mxMail(t, st, ada.u, class) {
				raw, err := st.Blob(scCtx, ada.u.ID, m.ID)
				if err != nil {
					t.Fatal(err)
				}
				method, e, err := pim.ParseITIP(scheduling.CalendarPart(raw))
				if err != nil || method != pim.MethodReply {
					t.Fatalf("reply: %q %v", method, err)
				}
				ids = append(ids, class[len("IPM.Schedule.Meeting.Resp."):]+"@"+compactT(e.RecurrenceID))
			}
		}
		if strings.Join(ids, " ") != "Pos@"+compactT(week(1))+" Neg@"+compactT(week(2)) {
			t.Fatalf("replies: %v", ids)
		}
	})
}

func compactT(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// TestClientUidReAdd: a 16.1 phone adds an event, then (on its next sync
// key, as after a lost response) adds it again with a new ClientId and
// the same ClientUid: it gets the first event's ServerId, the calendar
// holds one event, and the phone is not sent it as new. A different
// ClientUid is a new event.
func TestClientUidReAdd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		dev := dyDevice(t, srv, dyIPhone161, ada.email)
		coll := dyFolder(t, st, ada.u, store.FolderCalendar)
		rp := dyNewReplica(coll)
		rp.sync(t, dev, "")
		add := func(clientID, clientUID string) string {
			return `<AirSync:Add><AirSync:ClientId>` + clientID + `</AirSync:ClientId><AirSync:ApplicationData>
				<Calendar:Timezone>` + dyLondonBlob + `</Calendar:Timezone><Calendar:AllDayEvent>0</Calendar:AllDayEvent>
				<Calendar:StartTime>20260610T080000Z</Calendar:StartTime><Calendar:EndTime>20260610T090000Z</Calendar:EndTime>
				<Calendar:Subject>Ward round</Calendar:Subject><Calendar:BusyStatus>2</Calendar:BusyStatus>
				<Calendar:ClientUid>` + clientUID + `</Calendar:ClientUid></AirSync:ApplicationData></AirSync:Add>`
		}
		steps := []struct {
			clientID, clientUID string
			sameAs              string // ClientId whose ServerId it must get; "" for a new one
			events              int64
		}{
			{"c1", "ward-round-uid", "", 1},
			{"c2", "ward-round-uid", "c1", 1},
			{"c3", "ward-round-uid", "c1", 1},
			{"c4", "other-uid", "", 2},
		}
		for _, s := range steps {
			rp.sync(t, dev, add(s.clientID, s.clientUID))
			if rp.statuses[s.clientID] != "1" {
				t.Fatalf("%s: status %q", s.clientID, rp.statuses[s.clientID])
			}
			if s.sameAs != "" && rp.serverID[s.clientID] != rp.serverID[s.sameAs] {
				t.Fatalf("%s got ServerId %s, want %s", s.clientID, rp.serverID[s.clientID], rp.serverID[s.sameAs])
			}
			if s.sameAs == "" {
				for _, other := range steps {
					if other.clientID != s.clientID && rp.serverID[other.clientID] == rp.serverID[s.clientID] {
						t.Fatalf("%s reused %s's ServerId", s.clientID, other.clientID)
					}
				}
			}
			if n, err := st.CountItems(scCtx, ada.u.ID, mustID(t, coll)); err != nil || n != s.events {
				t.Fatalf("after %s: %d events, want %d", s.clientID, n, s.events)
			}
		}
		rp.sync(t, dev, "")
		if id := rp.serverID["c1"]; rp.adds[id] != 0 || rp.changes[id] != 0 {
			t.Fatalf("the phone got its own event back: %s", rp.counts(id))
		}
	})
}

// TestAllDayFreeBusyInOwnZone: Ada's all-day day off on 10 June 2026,
// written in London time (BST: the day is 9 June 23:00Z to 10 June
// 23:00Z), blocks exactly that day in the MergedFreeBusy Bob gets, not
// the UTC day.
func TestAllDayFreeBusyInOwnZone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		bob := dyNewUser(t, srv, "bob@example.nhs.uk", "Bob Builder")
		aDev := dyDevice(t, srv, dyIPhone161, ada.email)
		bDev := dyDevice(t, srv, dyIPhone161, bob.email)
		rp := dyNewReplica(dyFolder(t, st, ada.u, store.FolderCalendar))
		rp.sync(t, aDev, "")
		rp.sync(t, aDev, `<AirSync:Add><AirSync:ClientId>d1</AirSync:ClientId><AirSync:ApplicationData>
			<Calendar:Timezone>`+dyLondonBlob+`</Calendar:Timezone><Calendar:AllDayEvent>1</Calendar:AllDayEvent>
			<Calendar:StartTime>20260609T230000Z</Calendar:StartTime><Calendar:EndTime>20260610T230000Z</Calendar:EndTime>
			<Calendar:Subject>Day off</Calendar:Subject><Calendar:BusyStatus>3</Calendar:BusyStatus></AirSync:ApplicationData></AirSync:Add>`)
		if rp.statuses["d1"] != "1" {
			t.Fatalf("add: %v", rp.statuses)
		}
		windows := []struct {
			name, from, to string
			want           string
		}{
			// 22:00Z on the 9th to 00:00Z on the 11th: one free hour, 24
			// hours away, one free hour.
			{"around the day", "2026-06-09T22:00:00.000Z", "2026-06-11T00:00:00.000Z", "00" + strings.Repeat("3", 48) + "00"},
			// The first half hour of the London day, which is still 9 June
			// in UTC.
			{"local midnight", "2026-06-09T22:30:00.000Z", "2026-06-09T23:30:00.000Z", "03"},
			// The last UTC hour of 10 June is 11 June in London.
			{"after the local day", "2026-06-10T22:30:00.000Z", "2026-06-11T00:00:00.000Z", "300"},
		}
		for _, w := range windows {
			t.Run(w.name, func(t *testing.T) {
				res := bDev.Do("ResolveRecipients", `<ResolveRecipients:ResolveRecipients><ResolveRecipients:To>`+ada.email+`</ResolveRecipients:To>
					<ResolveRecipients:Options><ResolveRecipients:Availability><ResolveRecipients:StartTime>`+w.from+`</ResolveRecipients:StartTime>
					<ResolveRecipients:EndTime>`+w.to+`</ResolveRecipients:EndTime></ResolveRecipients:Availability></ResolveRecipients:Options></ResolveRecipients:ResolveRecipients>`)
				res.Expect(200, "ResolveRecipients:Status", "1")
				got := res.Text("ResolveRecipients:Response/ResolveRecipients:Recipient/ResolveRecipients:Availability/ResolveRecipients:MergedFreeBusy")
				if got != w.want {
					t.Fatalf("free/busy %s, want %s", got, w.want)
				}
			})
		}
	})
}

// mxResponse returns the Responses entry of a Sync result for a ClientId
// (Add) or ServerId (Change), or nil.
func mxResponse(res *eastest.Result, coll, kind, id string) *etree.Element {
	c := collection(res, coll)
	if c == nil {
		return nil
	}
	for _, rs := range c.ChildElements() {
		if rs.Tag != "Responses" {
			continue
		}
		for _, r := range rs.ChildElements() {
			if r.Tag == kind && (textOf(r, "ClientId") == id || textOf(r, "ServerId") == id) {
				return r
			}
		}
	}
	return nil
}

// mxFileRefs maps an event's attachments: FileReference → DisplayName.
func mxFileRefs(app *etree.Element) map[string]string {
	out := map[string]string{}
	if app == nil {
		return out
	}
	if list := app.FindElement("Attachments"); list != nil {
		for _, a := range list.ChildElements() {
			out[textOf(a, "FileReference")] = textOf(a, "DisplayName")
		}
	}
	return out
}

// mxAttachmentRef is the FileReference the server gave a ClientId in an
// Add or Change response.
func mxAttachmentRef(r *etree.Element, clientID string) string {
	if r == nil {
		return ""
	}
	if list := r.FindElement("ApplicationData/Attachments"); list != nil {
		for _, a := range list.ChildElements() {
			if textOf(a, "ClientId") == clientID {
				return textOf(a, "FileReference")
			}
		}
	}
	return ""
}

// TestCalendarAttachmentsAcrossDevices: Ada's 16.1 phone adds an event
// with an agenda attached and is given its FileReference; her 16.1 tablet
// gets the event with the attachment and fetches its bytes with
// ItemOperations. The phone then swaps the agenda for the minutes: the
// tablet sees only the minutes, the old FileReference no longer fetches.
// A 14.1 device sees the event without attachments; deleting a file the
// event does not have fails that change only (Status 6).
func TestCalendarAttachmentsAcrossDevices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		phone := dyDevice(t, srv, dyIPhone161, ada.email)
		tablet := dyDevice(t, srv, dyIPhone161, ada.email)
		old := dyDevice(t, srv, dyIPhone141, ada.email)
		coll := dyFolder(t, st, ada.u, store.FolderCalendar)
		rp, rt, ro := dyNewReplica(coll), dyNewReplica(coll), dyNewReplica(coll)
		rp.sync(t, phone, "")
		rt.sync(t, tablet, "")
		ro.sync(t, old, "")
		attach := func(clientID, name, content string) string {
			return `<AirSyncBase:Add><AirSyncBase:ClientId>` + clientID + `</AirSyncBase:ClientId><AirSyncBase:DisplayName>` + name + `</AirSyncBase:DisplayName>
				<AirSyncBase:Method>1</AirSyncBase:Method><AirSyncBase:ContentType>text/plain</AirSyncBase:ContentType>
				<AirSyncBase:Content>` + base64.StdEncoding.EncodeToString([]byte(content)) + `</AirSyncBase:Content></AirSyncBase:Add>`
		}
		res := rp.sync(t, phone, `<AirSync:Add><AirSync:ClientId>e1</AirSync:ClientId><AirSync:ApplicationData>
			<Calendar:Timezone>`+dyLondonBlob+`</Calendar:Timezone><Calendar:AllDayEvent>0</Calendar:AllDayEvent>
			<Calendar:StartTime>20260610T080000Z</Calendar:StartTime><Calendar:EndTime>20260610T090000Z</Calendar:EndTime>
			<Calendar:Subject>Governance</Calendar:Subject><Calendar:BusyStatus>2</Calendar:BusyStatus>
			<AirSyncBase:Attachments>`+attach("a1", "agenda.txt", "1. Minutes\n2. Risks\n")+`</AirSyncBase:Attachments>
			<Calendar:ClientUid>governance-1</Calendar:ClientUid></AirSync:ApplicationData></AirSync:Add>`)
		sid := rp.serverID["e1"]
		ref1 := mxAttachmentRef(mxResponse(res, coll, "Add", "e1"), "a1")
		if rp.statuses["e1"] != "1" || ref1 == "" {
			t.Fatalf("add with attachment: status %q, FileReference %q: %s", rp.statuses["e1"], ref1, res.XML())
		}
		fetch := func(dev *eastest.Device, ref string) (string, string) {
			r := dev.Do("ItemOperations", `<ItemOperations:ItemOperations><ItemOperations:Fetch><ItemOperations:Store>Mailbox</ItemOperations:Store>
				<AirSyncBase:FileReference>`+ref+`</AirSyncBase:FileReference></ItemOperations:Fetch></ItemOperations:ItemOperations>`)
			data, _ := base64.StdEncoding.DecodeString(r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Properties/ItemOperations:Data"))
			return r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Status"), string(data)
		}
		// The tablet gets the event with its file, and fetches it.
		rt.sync(t, tablet, "")
		if got := mxFileRefs(rt.items[sid]); len(got) != 1 || got[ref1] != "agenda.txt" || field(rt.items[sid], "Subject") != "Governance" {
			t.Fatalf("tablet's event: attachments %v subject %q", got, field(rt.items[sid], "Subject"))
		}
		if status, data := fetch(tablet, ref1); status != "1" || data != "1. Minutes\n2. Risks\n" {
			t.Fatalf("fetch agenda: status %s data %q", status, data)
		}
		// The 14.1 device: the event, no attachments.
		ro.sync(t, old, "")
		if field(ro.items[sid], "Subject") != "Governance" || len(mxFileRefs(ro.items[sid])) != 0 {
			t.Fatalf("14.1 event: %q %v", field(ro.items[sid], "Subject"), mxFileRefs(ro.items[sid]))
		}
		// The phone swaps the agenda for the minutes.
		res = rp.sync(t, phone, `<AirSync:Change><AirSync:ServerId>`+sid+`</AirSync:ServerId><AirSync:ApplicationData>
			<Calendar:Subject>Governance (minuted)</Calendar:Subject>
			<AirSyncBase:Attachments><AirSyncBase:Delete><AirSyncBase:FileReference>`+ref1+`</AirSyncBase:FileReference></AirSyncBase:Delete>`+
			attach("a2", "minutes.txt", "Agreed.")+`</AirSyncBase:Attachments></AirSync:ApplicationData></AirSync:Change>`)
		ref2 := mxAttachmentRef(mxResponse(res, coll, "Change", sid), "a2")
		if ref2 == "" || ref2 == ref1 || rp.statuses[sid] != "1" {
			t.Fatalf("change: status %q FileReference %q: %s", rp.statuses[sid], ref2, res.XML())
		}
		rt.sync(t, tablet, "")
		if got := mxFileRefs(rt.items[sid]); len(got) != 1 || got[ref2] != "minutes.txt" || field(rt.items[sid], "Subject") != "Governance (minuted)" || rt.counts(sid) != "1/1/0" {
			t.Fatalf("tablet after the change: %s attachments %v subject %q", rt.counts(sid), got, field(rt.items[sid], "Subject"))
		}
		if status, data := fetch(tablet, ref2); status != "1" || data != "Agreed." {
			t.Fatalf("fetch minutes: status %s data %q", status, data)
		}
		if status, _ := fetch(tablet, ref1); status != "15" {
			t.Fatalf("the removed agenda still fetches: status %s", status)
		}
		e := dyEvent(t, mustItem(t, st, ada.u, sid))
		if e.Summary != "Governance (minuted)" || !e.Start.Equal(time.Date(2026, 6, 10, 8, 0, 0, 0, time.UTC)) {
			t.Fatalf("stored event: %q at %v", e.Summary, e.Start)
		}
		// Deleting a file the event does not have: Status 6, nothing
		// changes.
		rp.sync(t, phone, `<AirSync:Change><AirSync:ServerId>`+sid+`</AirSync:ServerId><AirSync:ApplicationData>
			<Calendar:Subject>lost</Calendar:Subject><AirSyncBase:Attachments><AirSyncBase:Delete><AirSyncBase:FileReference>`+ref1+`</AirSyncBase:FileReference></AirSyncBase:Delete></AirSyncBase:Attachments>
			</AirSync:ApplicationData></AirSync:Change>`)
		if rp.statuses[sid] != "6" {
			t.Fatalf("bad delete: status %q", rp.statuses[sid])
		}
		if it := mustItem(t, st, ada.u, sid); it.Subject != "Governance (minuted)" || len(it.Attachments) != 1 {
			t.Fatalf("after a refused change: %q, %d attachments", it.Subject, len(it.Attachments))
		}
	})
}
