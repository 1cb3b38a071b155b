package activesync_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// Mailbox Search in message bodies (MS-ASCMD 2.2.1.16): words
// that are only in the body, beyond the preview, in an HTML part, in a
// message moved to Deleted Items; gone once the message is deleted; and
// mail stored before the body was indexed, after the backfill.

// msMail is a message whose body (plain, HTML or both) says what is given.
func msMail(n int, subject, plain, html string) []byte {
	head := fmt.Sprintf("From: \"Ward 3\" <ward3@example.nhs.uk>\r\nTo: <ada.lovelace@example.nhs.uk>\r\nSubject: %s\r\n"+
		"Date: %s\r\nMessage-ID: <ms%d.%d@example.nhs.uk>\r\nMIME-Version: 1.0\r\n",
		subject, time.Now().Add(-time.Duration(n)*time.Minute).Format(time.RFC1123Z), n, time.Now().UnixNano())
	switch {
	case plain != "" && html != "":
		return []byte(head + "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
			"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain + "\r\n" +
			"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--b1--\r\n")
	case html != "":
		return []byte(head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n")
	}
	return []byte(head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + plain + "\r\n")
}

func msSearch(dev *eastest.Device, words string) *eastest.Result {
	return dev.Do("Search", `<Search:Search><Search:Store><Search:Name>Mailbox</Search:Name><Search:Query><Search:And><AirSync:Class>Email</AirSync:Class>`+
		`<Search:FreeText>`+words+`</Search:FreeText></Search:And></Search:Query><Search:Options><Search:Range>0-9</Search:Range><Search:DeepTraversal/></Search:Options></Search:Store></Search:Search>`)
}

// msFound is the subjects found, and the collections they were found in.
func msFound(t testing.TB, res *eastest.Result) (subjects, colls []string) {
	t.Helper()
	if s := res.Text("Search:Response/Search:Store/Search:Status"); s != "1" {
		t.Fatalf("Search status %q: %s", s, res.XML())
	}
	for _, r := range res.Find("Search:Response/Search:Store").ChildElements() {
		if r.Tag == "Result" {
			subjects = append(subjects, textOf(r.FindElement("Properties"), "Subject"))
			colls = append(colls, textOf(r, "CollectionId"))
		}
	}
	return subjects, colls
}

func TestSearchMailboxBody(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := dySetup(t, st)
		ada := e.users["ada"]
		env := &scEnv{t: t, srv: e.srv, st: st, user: ada, email: ada.Email}
		inbox := env.folder(store.FolderInbox)
		filler := strings.Repeat("Observations unchanged overnight. ", 20) // past the 255-character preview
		for i, m := range []struct{ subject, plain, html string }{
			{"Handover", filler + "Query bradycardia on the telemetry.", ""},
			{"Newsletter", "", "<html><body><p>" + filler + "</p><p>Bring your <b>Phlebotomy</b> forms.</p></body></html>"},
			{"Clinic", "See the HTML version.", "<p>Clinic moved to the <i>Nightingale</i> wing</p>"},
			{"Rota", "Nothing of note. " + filler, ""},
		} {
			raw := msMail(i, m.subject, m.plain, m.html)
			it, err := message.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			it.UserID, it.FolderID = ada.ID, inbox.ID
			if err := st.Deliver(scCtx, store.Delivery{Raw: raw, Items: []*store.Item{it}}); err != nil {
				t.Fatal(err)
			}
		}
		dev := e.device(dyIPhone141, "ada")
		for _, c := range []struct{ words, want string }{
			{"bradycardia", "Handover"},           // plain body, beyond the preview
			{"BRADYcardia telemetry", "Handover"}, // every word, any case
			{"phlebotomy", "Newsletter"},          // HTML-only body, across markup
			{"nightingale", "Clinic"},             // only in the HTML alternative
			{"bradycardia phlebotomy", ""},        // words of two messages: none
			{"b>phlebotomy", ""},                  // markup is not text
			{"tachycardia", ""},
		} {
			got, _ := msFound(t, msSearch(dev, c.words))
			if strings.Join(got, ",") != c.want {
				t.Errorf("%q found %v, want %q", c.words, got, c.want)
			}
		}

		// The device deletes Handover: it moves to Deleted Items (shared
		// raw message, so still found there), then is deleted for good.
		trash := env.folder(store.FolderDeletedItems)
		rp := newReplica(itoaT(inbox.ID))
		rp.initial(t, dev, "")
		rp.drain(t, dev, 50, "")
		var handover string
		for id, f := range rp.items {
			if f["Subject"] == "Handover" {
				handover = id
			}
		}
		if handover == "" {
			t.Fatalf("Handover not synced: %v", rp.items)
		}
		rp.apply(t, dev.Do("Sync", syncXML(rp.coll, rp.key, 50, `<AirSync:Commands><AirSync:Delete><AirSync:ServerId>`+handover+`</AirSync:ServerId></AirSync:Delete></AirSync:Commands>`)))
		got, colls := msFound(t, msSearch(dev, "bradycardia"))
		if len(got) != 1 || colls[0] != itoaT(trash.ID) {
			t.Fatalf("after the move to Deleted Items: %v in %v", got, colls)
		}
		tp := newReplica(itoaT(trash.ID))
		tp.initial(t, dev, "")
		tp.drain(t, dev, 50, "")
		if len(tp.items) != 1 {
			t.Fatalf("Deleted Items: %v", tp.items)
		}
		for id := range tp.items {
			tp.apply(t, dev.Do("Sync", syncXML(tp.coll, tp.key, 50, `<AirSync:Commands><AirSync:Delete><AirSync:ServerId>`+id+`</AirSync:ServerId></AirSync:Delete></AirSync:Commands>`)))
		}
		if got, _ := msFound(t, msSearch(dev, "bradycardia")); len(got) != 0 {
			t.Fatalf("deleted message still found: %v", got)
		}
		if got, _ := msFound(t, msSearch(dev, "phlebotomy")); len(got) != 1 {
			t.Fatalf("the others are still found: %v", got)
		}

		// Mail stored before bodies were indexed (no search text) is found
		// by its body once the backfill has run, and only then.
		raw := msMail(9, "Audit", filler+"Please complete the sepsis audit by Friday.", "")
		it, err := message.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		it.UserID, it.FolderID, it.SearchText = ada.ID, inbox.ID, ""
		if err := st.AddItem(scCtx, it, raw); err != nil {
			t.Fatal(err)
		}
		if got, _ := msFound(t, msSearch(dev, "sepsis")); len(got) != 0 {
			t.Fatalf("found before the backfill: %v", got)
		}
		n, err := st.BackfillSearchText(scCtx, message.SearchText, 10)
		if err != nil || n != 1 {
			t.Fatalf("backfill: %d %v", n, err)
		}
		if n, err := st.BackfillSearchText(scCtx, message.SearchText, 10); err != nil || n != 0 {
			t.Fatalf("second backfill: %d %v", n, err)
		}
		if got, _ := msFound(t, msSearch(dev, "sepsis")); strings.Join(got, ",") != "Audit" {
			t.Fatalf("after the backfill: %v", got)
		}
	})
}
