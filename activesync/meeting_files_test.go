package activesync_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/delivery/deliverytest"
	"airlock/message"
	"airlock/scheduling"
	"airlock/store"
	"airlock/store/storetest"
)

// TestMeetingFilesReachAttendees: Ada's 16.1 phone adds a meeting with an
// agenda attached, inviting Bob (a colleague) and a GP outside. Bob's
// meeting request carries the agenda, his 16.1 phone shows it on his
// calendar entry and fetches it by its FileReference, which no one else
// can use (nor can Bob use Ada's); the GP's iMIP mail carries it. Bob
// accepts: his entry keeps the file. Ada swaps the agenda for the minutes
// (a change of files alone): Bob gets an update, his entry shows only the
// minutes and the agenda no longer fetches. Ada removes the minutes: Bob's
// entry has no file left.
func TestMeetingFilesReachAttendees(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		relay := deliverytest.Start(t, deliverytest.Options{TLS: true})
		rl := delivery.NewRelay(st, delivery.RelayConfig{Addr: relay.Addr, TLSConfig: relay.ClientTLS, Hostname: "airlock.test"}, nil)
		srv := eastest.StartServerWith(t, st, eastest.ServerOptions{Mail: &delivery.Service{Store: st, Hostname: "airlock.test", Relay: rl}})
		ada := dyNewUser(t, srv, "ada@example.nhs.uk", "Ada Lovelace")
		bob := dyNewUser(t, srv, "bob@example.nhs.uk", "Bob Builder")
		cy := dyNewUser(t, srv, "cy@example.nhs.uk", "Cy Twombly")
		aDev := dyDevice(t, srv, dyIPhone161, ada.email)
		bDev := dyDevice(t, srv, dyIPhone161, bob.email)
		cDev := dyDevice(t, srv, dyIPhone161, cy.email)
		aColl := dyFolder(t, st, ada.u, store.FolderCalendar)
		bColl := dyFolder(t, st, bob.u, store.FolderCalendar)
		ra, rb := dyNewReplica(aColl), dyNewReplica(bColl)
		ra.sync(t, aDev, "")
		rb.sync(t, bDev, "")
		fetch := func(dev *eastest.Device, ref string) (string, string) {
			r := dev.Do("ItemOperations", `<ItemOperations:ItemOperations><ItemOperations:Fetch><ItemOperations:Store>Mailbox</ItemOperations:Store>
				<AirSyncBase:FileReference>`+ref+`</AirSyncBase:FileReference></ItemOperations:Fetch></ItemOperations:ItemOperations>`)
			data, _ := base64.StdEncoding.DecodeString(r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Properties/ItemOperations:Data"))
			return r.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Status"), string(data)
		}
		attach := func(clientID, name, content string) string {
			return `<AirSyncBase:Add><AirSyncBase:ClientId>` + clientID + `</AirSyncBase:ClientId><AirSyncBase:DisplayName>` + name + `</AirSyncBase:DisplayName>
				<AirSyncBase:Method>1</AirSyncBase:Method><AirSyncBase:ContentType>text/plain</AirSyncBase:ContentType>
				<AirSyncBase:Content>` + base64.StdEncoding.EncodeToString([]byte(content)) + `</AirSyncBase:Content></AirSyncBase:Add>`
		}
		requests := func() []store.Item { return mxMail(t, st, bob.u, "IPM.Schedule.Meeting.Request") }
		// bobSees syncs Bob's phone and checks his entry's files: name →
		// content, each fetched by Bob; it returns the FileReferences.
		bobSees := func(step, sid string, want map[string]string) map[string]string {
			t.Helper()
			rb.sync(t, bDev, "")
			refs := mxFileRefs(rb.items[sid])
			if len(refs) != len(want) {
				t.Fatalf("%s: Bob's entry has files %v, want %v", step, refs, want)
			}
			for ref, name := range refs {
				content, ok := want[name]
				if !ok {
					t.Fatalf("%s: Bob's entry has %q (%v)", step, name, refs)
				}
				if status, data := fetch(bDev, ref); status != "1" || data != content {
					t.Fatalf("%s: Bob fetches %s: status %s data %q", step, name, status, data)
				}
			}
			return refs
		}

		res := ra.sync(t, aDev, `<AirSync:Add><AirSync:ClientId>m1</AirSync:ClientId><AirSync:ApplicationData>
			<Calendar:Timezone>`+dyLondonBlob+`</Calendar:Timezone><Calendar:AllDayEvent>0</Calendar:AllDayEvent>
			<Calendar:StartTime>20260610T130000Z</Calendar:StartTime><Calendar:EndTime>20260610T140000Z</Calendar:EndTime>
			<Calendar:Subject>Discharge planning</Calendar:Subject><Calendar:BusyStatus>2</Calendar:BusyStatus>
			<Calendar:MeetingStatus>1</Calendar:MeetingStatus><Calendar:ResponseRequested>1</Calendar:ResponseRequested>
			<Calendar:Attendees><Calendar:Attendee><Calendar:Email>bob@example.nhs.uk</Calendar:Email><Calendar:Name>Bob Builder</Calendar:Name><Calendar:AttendeeType>1</Calendar:AttendeeType></Calendar:Attendee>
			<Calendar:Attendee><Calendar:Email>gp@surgery.example</Calendar:Email><Calendar:Name>The GP</Calendar:Name><Calendar:AttendeeType>1</Calendar:AttendeeType></Calendar:Attendee></Calendar:Attendees>
			<AirSyncBase:Attachments>`+attach("a1", "agenda.txt", "1. Beds\n2. Transport\n")+`</AirSyncBase:Attachments>
			<Calendar:ClientUid>files-1</Calendar:ClientUid></AirSync:ApplicationData></AirSync:Add>`)
		mid := ra.serverID["m1"]
		adaRef := mxAttachmentRef(mxResponse(res, aColl, "Add", "m1"), "a1")
		if ra.statuses["m1"] != "1" || adaRef == "" {
			t.Fatalf("add: status %q, FileReference %q", ra.statuses["m1"], adaRef)
		}
		uid := dyEvent(t, mustItem(t, st, ada.u, mid)).UID
		bobSID := itoaT(mxCalendarID(t, st, bob.u, uid))

		// Bob's meeting request carries the agenda.
		reqs := requests()
		if len(reqs) != 1 || !reqs[0].HasAttachments || len(reqs[0].Attachments) != 1 || reqs[0].Attachments[0].FileName != "agenda.txt" {
			t.Fatalf("Bob's requests: %d, first %+v", len(reqs), reqs)
		}
		// His calendar entry shows it, and he fetches it.
		bobRefs := bobSees("invited", bobSID, map[string]string{"agenda.txt": "1. Beds\n2. Transport\n"})
		var bobRef string
		for ref := range bobRefs {
			bobRef = ref
		}
		// Nobody else uses Bob's FileReference; Bob cannot use Ada's.
		for _, c := range []struct {
			name string
			dev  *eastest.Device
			ref  string
		}{{"Cy with Bob's", cDev, bobRef}, {"Ada with Bob's", aDev, bobRef}, {"Bob with Ada's", bDev, adaRef}} {
			if status, data := fetch(c.dev, c.ref); status == "1" || data != "" {
				t.Fatalf("%s FileReference: status %s data %q", c.name, status, data)
			}
		}
		// The GP's iMIP mail carries it too.
		if _, err := rl.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		out := relay.Wait(1, 5*time.Second)
		if len(out) != 1 || len(out[0].To) != 1 || out[0].To[0] != "gp@surgery.example" {
			t.Fatalf("relay: %+v", out)
		}
		parsed, err := message.Parse(out[0].Data)
		if err != nil || len(parsed.Attachments) != 1 || parsed.Attachments[0].FileName != "agenda.txt" || scheduling.CalendarPart(out[0].Data) == nil {
			t.Fatalf("GP's mail: %v %+v calendar part %v", err, parsed, scheduling.CalendarPart(out[0].Data) != nil)
		}
		if _, _, data, err := message.Part(out[0].Data, parsed.Attachments[0].PartIndex); err != nil || string(data) != "1. Beds\n2. Transport\n" {
			t.Fatalf("GP's agenda: %q %v", data, err)
		}

		// Bob accepts: his entry keeps the file.
		bDev.Do("MeetingResponse", `<MeetingResponse:MeetingResponse><MeetingResponse:Request>
			<MeetingResponse:UserResponse>1</MeetingResponse:UserResponse>
			<MeetingResponse:CollectionId>`+bColl+`</MeetingResponse:CollectionId><MeetingResponse:RequestId>`+bobSID+`</MeetingResponse:RequestId>
			</MeetingResponse:Request></MeetingResponse:MeetingResponse>`).Expect(200, "MeetingResponse:Result/MeetingResponse:Status", "1")
		bobSees("accepted", bobSID, map[string]string{"agenda.txt": "1. Beds\n2. Transport\n"})

		// Ada swaps the agenda for the minutes, nothing else.
		ra.sync(t, aDev, `<AirSync:Change><AirSync:ServerId>`+mid+`</AirSync:ServerId><AirSync:ApplicationData>
			<AirSyncBase:Attachments><AirSyncBase:Delete><AirSyncBase:FileReference>`+adaRef+`</AirSyncBase:FileReference></AirSyncBase:Delete>`+
			attach("a2", "minutes.txt", "Agreed: two beds.")+`</AirSyncBase:Attachments></AirSync:ApplicationData></AirSync:Change>`)
		if ra.statuses[mid] != "1" {
			t.Fatalf("swap: status %q", ra.statuses[mid])
		}
		if reqs := requests(); len(reqs) != 2 || len(reqs[1].Attachments) != 1 || reqs[1].Attachments[0].FileName != "minutes.txt" {
			t.Fatalf("Bob's update: %d requests", len(reqs))
		}
		bobSees("minutes", bobSID, map[string]string{"minutes.txt": "Agreed: two beds."})
		if status, _ := fetch(bDev, bobRef); status == "1" {
			t.Fatalf("the old agenda still fetches")
		}
		if e := dyEvent(t, mustItem(t, st, bob.u, bobSID)); e.Summary != "Discharge planning" {
			t.Fatalf("Bob's entry: %q", e.Summary)
		}

		// Ada removes the minutes (FileReference: the attachment's id):
		// Bob's entry has no file left.
		it := mustItem(t, st, ada.u, mid)
		if len(it.Attachments) != 1 {
			t.Fatalf("Ada's meeting has %d files", len(it.Attachments))
		}
		minutesRef := itoaT(it.Attachments[0].ID)
		ra.sync(t, aDev, `<AirSync:Change><AirSync:ServerId>`+mid+`</AirSync:ServerId><AirSync:ApplicationData>
			<AirSyncBase:Attachments><AirSyncBase:Delete><AirSyncBase:FileReference>`+minutesRef+`</AirSyncBase:FileReference></AirSyncBase:Delete></AirSyncBase:Attachments>
			</AirSync:ApplicationData></AirSync:Change>`)
		if status := ra.statuses[mid]; status != "" && status != "1" { // no Responses entry when nothing is added
			t.Fatalf("remove: status %q", status)
		}
		bobSees("no files", bobSID, map[string]string{})
		if it := mustItem(t, st, bob.u, bobSID); it.HasAttachments || it.BlobID != nil || strings.TrimSpace(it.Subject) != "Discharge planning" {
			t.Fatalf("Bob's entry after the files went: has %v blob %v %q", it.HasAttachments, it.BlobID, it.Subject)
		}
	})
}
