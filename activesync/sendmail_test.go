package activesync_test

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/delivery/deliverytest"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// composeXML is a 14.0+ SendMail, SmartReply or SmartForward request.
func composeXML(cmd, clientID, mime string, saveInSent bool, source string, more string) string {
	var b strings.Builder
	b.WriteString("<ComposeMail:" + cmd + ">")
	if clientID != "" {
		b.WriteString("<ComposeMail:ClientId>" + clientID + "</ComposeMail:ClientId>")
	}
	if source != "" {
		b.WriteString("<ComposeMail:Source><ComposeMail:ItemId>" + source + "</ComposeMail:ItemId></ComposeMail:Source>")
	}
	if saveInSent {
		b.WriteString("<ComposeMail:SaveInSentItems/>")
	}
	b.WriteString(more)
	if mime != "" {
		// Mime is OPAQUE (MS-ASWBXML): in the XML form, base64.
		b.WriteString("<ComposeMail:Mime>" + base64.StdEncoding.EncodeToString([]byte(mime)) + "</ComposeMail:Mime>")
	}
	b.WriteString("</ComposeMail:" + cmd + ">")
	return b.String()
}

func pmItems(t *testing.T, st *store.Store, u *store.User, ft store.FolderType) []store.Item {
	t.Helper()
	f, err := st.FolderByType(context.Background(), u.ID, ft)
	if err != nil {
		t.Fatal(err)
	}
	its, err := st.ListItems(context.Background(), u.ID, f.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return its
}

func pmBlob(t *testing.T, st *store.Store, it store.Item) string {
	t.Helper()
	b, err := st.Blob(context.Background(), it.UserID, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// relayEnv is pmEnv whose delivery service relays to a recording
// smarthost over STARTTLS.
func relayEnv(t *testing.T, st *store.Store) (*pmEnv, *deliverytest.Relay, *delivery.Relay) {
	relay := deliverytest.Start(t, deliverytest.Options{TLS: true})
	r := delivery.NewRelay(st, delivery.RelayConfig{Addr: relay.Addr, TLSConfig: relay.ClientTLS, Hostname: "airlock.test"}, nil)
	e := pmSetup(t, st, eastest.ServerOptions{Mail: &delivery.Service{Store: st, Hostname: "airlock.test", Relay: r}})
	return e, relay, r
}

const pmNote = "From: someone.else@example.nhs.uk\r\nTo: bob@example.nhs.uk, gp@surgery.example\r\nSubject: Discharge summary\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPatient discharged home today.\r\n"

func TestSendMailLocalRemoteSentItemsAndResend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e, relay, r := relayEnv(t, st)

		res := e.dev.Do("SendMail", composeXML("SendMail", "CID-0001", pmNote, true, "", ""))
		if res.HTTP != 200 || len(res.Raw) != 0 {
			t.Fatalf("SendMail: %s", res.XML())
		}
		bob := pmItems(t, st, e.bob, store.FolderInbox)
		sent := pmItems(t, st, e.alice, store.FolderSentItems)
		if len(bob) != 1 || len(sent) != 1 || bob[0].Subject != "Discharge summary" {
			t.Fatalf("bob's Inbox %d, alice's Sent Items %d", len(bob), len(sent))
		}
		if !strings.Contains(bob[0].FromAddr, "alice@example.nhs.uk") || strings.Contains(pmBlob(t, st, bob[0]), "someone.else") {
			t.Fatalf("From not forced to the sender: %q", bob[0].FromAddr)
		}
		if _, err := r.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := relay.Wait(1, 5*time.Second)
		if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "gp@surgery.example" || got[0].From != "alice@example.nhs.uk" {
			t.Fatalf("relay got %+v", got)
		}

		// The device lost the response and sends the same ClientId again:
		// 118 and nothing twice.
		e.dev.Do("SendMail", composeXML("SendMail", "CID-0001", pmNote, true, "", "")).Expect(200, "ComposeMail:Status", "118")
		r.RunOnce(context.Background())
		if n, m, s := len(pmItems(t, st, e.bob, store.FolderInbox)), len(relay.Messages()), len(pmItems(t, st, e.alice, store.FolderSentItems)); n != 1 || m != 1 || s != 1 {
			t.Fatalf("after the resend: bob %d, relay %d, Sent Items %d; want 1 each", n, m, s)
		}

		// Without SaveInSentItems no copy is kept.
		e.dev.Do("SendMail", composeXML("SendMail", "CID-0002", "To: bob@example.nhs.uk\r\nSubject: no copy\r\n\r\nx\r\n", false, "", "")).Expect(200, "", "")
		if s := len(pmItems(t, st, e.alice, store.FolderSentItems)); s != 1 {
			t.Fatalf("Sent Items has %d", s)
		}
	})
}

func TestSendMailBadInputStoresNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e, _, _ := relayEnv(t, st)
		e.dev.Do("SendMail", composeXML("SendMail", "CID-1", "\x01\x02 not a message", true, "", "")).Expect(200, "ComposeMail:Status", "107")
		e.dev.Do("SendMail", composeXML("SendMail", "CID-2", "Subject: to nobody\r\n\r\nhello\r\n", true, "", "")).Expect(200, "ComposeMail:Status", "119")
		e.dev.Do("SendMail", composeXML("SendMail", "", pmNote, true, "", "")).Expect(200, "ComposeMail:Status", "103")
		e.dev.Do("SendMail", composeXML("SendMail", "CID-3", "", true, "", "")).Expect(200, "ComposeMail:Status", "107")
		if n, s := len(pmItems(t, st, e.bob, store.FolderInbox)), len(pmItems(t, st, e.alice, store.FolderSentItems)); n != 0 || s != 0 {
			t.Fatalf("refused SendMails stored %d and %d items", n, s)
		}
		if q, _ := st.OutboundQueue(context.Background()); len(q) != 0 {
			t.Fatalf("refused SendMails queued %d", len(q))
		}
		// A refused request did not use up its ClientId.
		e.dev.Do("SendMail", composeXML("SendMail", "CID-1", pmNote, true, "", "")).Expect(200, "", "")

		// No relay configured: a remote recipient fails the whole message (120).
		local := pmSetup(t, storetest.OpenSQLite(t), eastest.ServerOptions{})
		local.dev.Do("SendMail", composeXML("SendMail", "CID-9", pmNote, true, "", "")).Expect(200, "ComposeMail:Status", "120")
		if n := len(pmItems(t, local.st, local.bob, store.FolderInbox)); n != 0 {
			t.Fatal("a failed submission was delivered locally")
		}
	})
}

func TestRelayRefusalBouncesToSenderInbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e, relay, r := relayEnv(t, st)
		relay.RejectRcpt("gp@surgery.example", 550)
		e.dev.Do("SendMail", composeXML("SendMail", "CID-B", pmNote, true, "", "")).Expect(200, "", "")
		r.RunOnce(context.Background())
		inbox := pmItems(t, st, e.alice, store.FolderInbox)
		if len(inbox) != 1 || !strings.HasPrefix(inbox[0].Subject, "Undeliverable: Discharge summary") {
			t.Fatalf("alice's Inbox: %+v", inbox)
		}
		if raw := pmBlob(t, st, inbox[0]); !strings.Contains(raw, "Final-Recipient: rfc822; gp@surgery.example") {
			t.Fatalf("bounce:\n%s", raw)
		}
		// bob (local) still got it.
		if n := len(pmItems(t, st, e.bob, store.FolderInbox)); n != 1 {
			t.Fatalf("bob has %d", n)
		}
		// And the device hears of the bounce: its Inbox changed.
		e.dev.DoRaw("Ping", nil, "", nil)
		r2 := e.dev.Do("Ping", pingXML(600, e.folders["Inbox"]))
		r2.Expect(200, "Ping:Status", "2")
	})
}

const pmOriginal = "From: \"Pathology\" <pathology@example.nhs.uk>\r\nTo: alice@example.nhs.uk\r\nSubject: Results ready\r\nMessage-ID: <res-42@path.example>\r\nDate: Mon, 10 Jun 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nResults for bed 12 attached.\r\n--b1\r\nContent-Type: application/pdf; name=\"bed12.pdf\"\r\nContent-Disposition: attachment; filename=\"bed12.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--b1--\r\n"

func (e *pmEnv) original(t *testing.T) *store.Item {
	t.Helper()
	it, err := message.Parse([]byte(pmOriginal))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := e.st.FolderByType(context.Background(), e.alice.ID, store.FolderInbox)
	it.UserID, it.FolderID = e.alice.ID, f.ID
	if err := e.st.AddItem(context.Background(), it, []byte(pmOriginal)); err != nil {
		t.Fatal(err)
	}
	return it
}

func TestSmartForwardKeepsAttachmentsAndSmartReplyQuotes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e, _, _ := relayEnv(t, st)
		orig := e.original(t)
		id := itoa64(orig.ID)

		e.dev.Do("SmartForward", composeXML("SmartForward", "CID-F", "To: bob@example.nhs.uk\r\nSubject: FW: Results ready\r\n\r\nBob, please review.\r\n", true, id, "")).Expect(200, "", "")
		bob := pmItems(t, st, e.bob, store.FolderInbox)
		if len(bob) != 1 || len(bob[0].Attachments) != 1 || bob[0].Attachments[0].FileName != "bed12.pdf" {
			t.Fatalf("forward at bob: %+v", bob)
		}
		raw := pmBlob(t, st, bob[0])
		if !strings.Contains(raw, "Bob, please review.") {
			t.Fatalf("forward lost the device's text:\n%s", raw)
		}
		text, _, _ := message.Bodies([]byte(raw))
		if !strings.Contains(text, "Results for bed 12 attached.") {
			t.Fatalf("forward lost the original text:\n%s", text)
		}
		got, _ := st.ItemByID(context.Background(), e.alice.ID, orig.ID)
		if got.LastVerb != 3 {
			t.Fatalf("LastVerbExecuted %d after a forward, want 3", got.LastVerb)
		}

		e.dev.Do("SmartReply", composeXML("SmartReply", "CID-R", "To: bob@example.nhs.uk\r\nSubject: RE: Results ready\r\n\r\nThanks, reviewed.\r\n", false, id, "")).Expect(200, "", "")
		bob = pmItems(t, st, e.bob, store.FolderInbox)
		if len(bob) != 2 || len(bob[1].Attachments) != 0 {
			t.Fatalf("reply at bob: %+v", bob)
		}
		text, _, _ = message.Bodies([]byte(pmBlob(t, st, bob[1])))
		if !strings.Contains(text, "Thanks, reviewed.") || !strings.Contains(text, "> Results for bed 12 attached.") {
			t.Fatalf("reply text:\n%s", text)
		}
		if !strings.Contains(pmBlob(t, st, bob[1]), "In-Reply-To: <res-42@path.example>") {
			t.Fatal("reply not threaded")
		}
		got, _ = st.ItemByID(context.Background(), e.alice.ID, orig.ID)
		if got.LastVerb != 1 {
			t.Fatalf("LastVerbExecuted %d after a reply, want 1", got.LastVerb)
		}

		// ReplaceMime: the device's message alone.
		e.dev.Do("SmartForward", composeXML("SmartForward", "CID-F2", "To: bob@example.nhs.uk\r\nSubject: FW: only mine\r\n\r\nMine only.\r\n", false, id, "<ComposeMail:ReplaceMime/>")).Expect(200, "", "")
		bob = pmItems(t, st, e.bob, store.FolderInbox)
		if len(bob) != 3 || len(bob[2].Attachments) != 0 || strings.Contains(pmBlob(t, st, bob[2]), "bed 12") {
			t.Fatalf("ReplaceMime forward carried the original")
		}

		// An item that is not there, or is not alice's: 150.
		e.dev.Do("SmartReply", composeXML("SmartReply", "CID-X", "To: bob@example.nhs.uk\r\nSubject: x\r\n\r\nx", false, "99999999", "")).Expect(200, "ComposeMail:Status", "150")
		bobMail := pmItems(t, st, e.bob, store.FolderInbox)[0]
		e.dev.Do("SmartForward", composeXML("SmartForward", "CID-Y", "To: bob@example.nhs.uk\r\nSubject: x\r\n\r\nx", false, itoa64(bobMail.ID), "")).Expect(200, "ComposeMail:Status", "150")
		if n := len(pmItems(t, st, e.bob, store.FolderInbox)); n != 3 {
			t.Fatalf("bob has %d after refused smart commands", n)
		}
	})
}

// 12.x: the body is the MIME, the options are in the query.
func TestSendMailAndSmartReplyProtocol12(t *testing.T) {
	st := storetest.OpenSQLite(t)
	e, _, _ := relayEnv(t, st)
	orig := e.original(t)
	dev := e.device(eastest.IPhone3GS, "alice@example.nhs.uk")
	dev.CheckWithLibwbxml = false

	res := dev.DoRaw("SendMail", []byte("To: bob@example.nhs.uk\r\nSubject: From an old phone\r\n\r\nhello\r\n"), "message/rfc822", map[string]string{"SaveInSent": "T"})
	if res.HTTP != 200 {
		t.Fatalf("12.1 SendMail: %s", res.XML())
	}
	if n, s := len(pmItems(t, st, e.bob, store.FolderInbox)), len(pmItems(t, st, e.alice, store.FolderSentItems)); n != 1 || s != 1 {
		t.Fatalf("bob %d, Sent Items %d", n, s)
	}
	inbox, _ := st.FolderByType(context.Background(), e.alice.ID, store.FolderInbox)
	res = dev.DoRaw("SmartReply", []byte("To: bob@example.nhs.uk\r\nSubject: RE: Results ready\r\n\r\nSeen.\r\n"), "message/rfc822",
		map[string]string{"ItemId": itoa64(orig.ID), "CollectionId": itoa64(inbox.ID)})
	if res.HTTP != 200 {
		t.Fatalf("12.1 SmartReply: %s", res.XML())
	}
	bob := pmItems(t, st, e.bob, store.FolderInbox)
	if len(bob) != 2 || !strings.Contains(pmBlob(t, st, bob[1]), "Seen.") {
		t.Fatalf("reply at bob: %d", len(bob))
	}
	// 12.x errors are HTTP statuses.
	res = dev.DoRaw("SendMail", []byte("Subject: nobody\r\n\r\nx\r\n"), "message/rfc822", nil)
	if res.HTTP != 400 {
		t.Fatalf("12.1 SendMail without recipients: HTTP %d", res.HTTP)
	}
}

func itoa64(n int64) string { return fmtInt(n) }

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }

// 16.x SmartForward may name Forwardees and carry a plain Body instead of
// MIME (MS-ASCMD 2.2.3.77 Forwardees).
func TestSmartForwardWithForwardees16(t *testing.T) {
	st := storetest.OpenSQLite(t)
	e, _, _ := relayEnv(t, st)
	orig := e.original(t)
	dev := e.device(eastest.IPhone14, "alice@example.nhs.uk")
	more := `<ComposeMail:Forwardees><ComposeMail:Forwardee><ComposeMail:Name>Bob Smith</ComposeMail:Name><ComposeMail:Email>bob@example.nhs.uk</ComposeMail:Email></ComposeMail:Forwardee></ComposeMail:Forwardees>` +
		`<AirSyncBase:Body><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:Data>Please see the results.</AirSyncBase:Data></AirSyncBase:Body>`
	dev.Do("SmartForward", composeXML("SmartForward", "CID-16", "", true, itoa64(orig.ID), more)).Expect(200, "", "")
	bob := pmItems(t, st, e.bob, store.FolderInbox)
	if len(bob) != 1 || bob[0].Subject != "FW: Results ready" || len(bob[0].Attachments) != 1 {
		t.Fatalf("forward at bob: %+v", bob)
	}
	text, _, _ := message.Bodies([]byte(pmBlob(t, st, bob[0])))
	if !strings.Contains(text, "Please see the results.") || !strings.Contains(text, "Results for bed 12") {
		t.Fatalf("text:\n%s", text)
	}
}
