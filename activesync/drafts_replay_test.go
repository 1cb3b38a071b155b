package activesync_test

import (
	"strconv"
	"testing"

	"github.com/beevik/etree"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

// edResponsesXML renders a collection's Responses for comparison.
func edResponsesXML(t *testing.T, c *etree.Element) string {
	t.Helper()
	r := edChild(c, "Responses")
	if r == nil {
		t.Fatal("no Responses")
	}
	doc := etree.NewDocument()
	doc.SetRoot(r.Copy())
	s, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// edAttachAdd is an attachment Add of a draft.
func edAttachAdd(cid, name, content string) string {
	return `<AirSyncBase:Add><AirSyncBase:ClientId>` + cid + `</AirSyncBase:ClientId><AirSyncBase:DisplayName>` + name +
		`</AirSyncBase:DisplayName><AirSyncBase:Method>1</AirSyncBase:Method><AirSyncBase:Content>` + edB64(content) + `</AirSyncBase:Content></AirSyncBase:Add>`
}

// A 16.x draft Add or Change with attachments whose response was lost is
// sent again with the same key: the replay answers with the same Responses
// as the original, FileReferences included, and stores nothing twice.
func TestDraftReplayAnswersFileReferences(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "ann@example.nhs.uk")
		drafts := e.folder(store.FolderDrafts)
		coll := strconv.FormatInt(drafts.ID, 10)
		a := e.device(eastest.IPhone14)
		scFolderSync(t, a, "0")
		key := edInit(t, a, coll)

		addCmd := func(cid string) string {
			return `<AirSync:Add><AirSync:ClientId>` + cid + `</AirSync:ClientId><AirSync:ApplicationData><Email:To>bob@example.nhs.uk</Email:To>` +
				`<Email:Subject>Draft ` + cid + `</Email:Subject><AirSyncBase:Attachments>` + edAttachAdd(cid+"-a", "a.txt", "one") +
				edAttachAdd(cid+"-b", "b.txt", "two") + `</AirSyncBase:Attachments></AirSync:ApplicationData></AirSync:Add>`
		}
		// The first case makes the draft the Change case edits.
		var sid string
		changeCmd := func() string {
			return `<AirSync:Change><AirSync:ServerId>` + sid + `</AirSync:ServerId><AirSync:ApplicationData><AirSyncBase:Attachments>` +
				edAttachAdd("c-1", "c.txt", "three") + `</AirSyncBase:Attachments></AirSync:ApplicationData></AirSync:Change>`
		}
		cases := []struct {
			name   string
			first  func() string // the request whose response is lost
			replay func() string // what the device sends again
			files  int           // FileReferences in the response
		}{
			{"Add, the same request again", func() string { return addCmd("d1") }, func() string { return addCmd("d1") }, 2},
			{"Change, the same request again", changeCmd, changeCmd, 1},
			// A device that resends its Add among new commands: the Add is
			// found by its ClientId.
			{"Add, among new commands", func() string { return addCmd("d2") }, func() string { return addCmd("d2") + addCmd("d3") }, 2 + 2},
		}
		for _, c := range cases {
			before := len(e.serverView(drafts))
			orig, next := edSync(t, a, coll, key, `<AirSync:Commands>`+c.first()+`</AirSync:Commands>`)
			if sid == "" {
				sid = textOf(edResponse(t, orig, "Add", "d1"), "ServerId")
			}
			// The response is lost: the same key again.
			again, k := edSync(t, a, coll, key, `<AirSync:Commands>`+c.replay()+`</AirSync:Commands>`)
			want := edResponsesXML(t, orig)
			got := edResponsesXML(t, again)
			if c.replay() == c.first() {
				if got != want || k != next {
					t.Fatalf("%s: replay answered\n%s\nwant\n%s", c.name, got, want)
				}
			} else {
				// The original's Responses come first, the new Add after.
				if len(got) <= len(want) || got[:len(`<Responses>`)] != want[:len(`<Responses>`)] {
					t.Fatalf("%s: replay answered\n%s", c.name, got)
				}
				origAdd := edResponse(t, orig, "Add", "d2")
				replAdd := edResponse(t, again, "Add", "d2")
				if edResponsesXML(t, wrap(origAdd)) != edResponsesXML(t, wrap(replAdd)) {
					t.Fatalf("%s: the resent Add answered differently:\n%s", c.name, got)
				}
			}
			n := 0
			for _, el := range edChild(again, "Responses").FindElements(".//FileReference") {
				if el.Text() == "" {
					t.Fatalf("%s: empty FileReference", c.name)
				}
				n++
			}
			if n != c.files {
				t.Fatalf("%s: %d FileReferences in the replay, want %d:\n%s", c.name, n, c.files, got)
			}
			added := 0
			if c.name != "Change, the same request again" {
				added = c.files / 2
			}
			if now := len(e.serverView(drafts)); now != before+added {
				t.Fatalf("%s: %d drafts after the replay, want %d", c.name, now, before+added)
			}
			key = k
		}
	})
}

// wrap puts a copy of el in a Responses element, for edResponsesXML.
func wrap(el *etree.Element) *etree.Element {
	r := etree.NewElement("Responses")
	c := etree.NewElement("Collection")
	c.AddChild(r)
	r.AddChild(el.Copy())
	return c
}
