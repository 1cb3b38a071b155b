package activesync_test

import (
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

// pmNoteToSelf is a mail alice sends herself: it lands in her own Inbox.
const pmNoteToSelf = "To: alice@example.nhs.uk\r\nSubject: Note to self\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nRing the ward at four.\r\n"

// pmExpectInboxChanged waits for a held Ping's answer and checks that it
// reports the Inbox (Status 2).
func pmExpectInboxChanged(t *testing.T, held <-chan *eastest.Result, inbox string) {
	t.Helper()
	r := pmResult(t, held, 10*time.Second).Expect(200, "Ping:Status", "2")
	if got := changedFolders(r); len(got) != 1 || got[0] != inbox {
		t.Fatalf("Ping reported %v, want the Inbox %s", got, inbox)
	}
}

// A phone that sends a mail while it holds a Ping keeps its push: only a
// newer Ping or Sync of the device ends the held Ping (MS-ASCMD 2.2.1.13),
// not SendMail or ItemOperations. The mail the device sent to its own
// user lands in the Inbox, and the held Ping reports it.
func TestSendMailDuringHeldPingReportedByThatPing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{})
		inbox := e.folders["Inbox"]
		held := pingAsync(e.dev, pingXML(600, inbox))
		e.waitHeld(1)
		e.dev.Do("ItemOperations", `<ItemOperations:ItemOperations><ItemOperations:Fetch><ItemOperations:Store>Mailbox</ItemOperations:Store>`+
			`<AirSync:CollectionId>`+inbox+`</AirSync:CollectionId><AirSync:ServerId>999999</AirSync:ServerId></ItemOperations:Fetch></ItemOperations:ItemOperations>`).
			Expect(200, "ItemOperations:Status", "1")
		if res := e.dev.Do("SendMail", composeXML("SendMail", "CID-SELF-1", pmNoteToSelf, true, "", "")); res.HTTP != 200 || len(res.Raw) != 0 {
			t.Fatalf("SendMail: %s", res.XML())
		}
		pmExpectInboxChanged(t, held, inbox)
		e.waitHeld(0)
	})
}

// The same across two nodes: the Ping is held on node 1, the SendMail
// reaches node 2; node 1's Ping is not ended by it and reports the Inbox.
func TestSendMailOnOtherNodeDuringHeldPingReportedByThatPing(t *testing.T) {
	node1, node2 := twoNodes(t)
	e := pmSetup(t, node1, eastest.ServerOptions{})
	n2 := eastest.StartServer(t, node2)
	inbox := e.folders["Inbox"]
	onNode2 := *e.dev
	onNode2.BaseURL = n2.URL
	held := pingAsync(e.dev, pingXML(600, inbox))
	e.waitHeld(1)
	if res := onNode2.Do("SendMail", composeXML("SendMail", "CID-SELF-2", pmNoteToSelf, true, "", "")); res.HTTP != 200 || len(res.Raw) != 0 {
		t.Fatalf("SendMail on node 2: %s", res.XML())
	}
	pmExpectInboxChanged(t, held, inbox)
	if n := e.srv.Handler.PingsSupersededRemotely(); n != 0 {
		t.Fatalf("%d Pings counted as superseded remotely", n)
	}
}
