package wbxml

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// TestRoundTripEveryPage: for each code page, a document using every token
// of the page goes XML -> WBXML -> XML unchanged, and its WBXML carries each
// token of the page on that page.
func TestRoundTripEveryPage(t *testing.T) {
	for _, p := range CodePages() {
		t.Run(p.Name, func(t *testing.T) {
			xml1 := xmlString(t, pageDocument(p))
			doc := mustParseXML(t, xml1)
			data, err := Marshal(doc)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			back, err := Unmarshal(data)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if xml2 := xmlString(t, back); xml2 != xml1 {
				t.Fatalf("XML changed:\n--- before\n%s\n--- after\n%s", xml1, xml2)
			}
			// Every token of the page appears as a start tag on page p.
			seen := map[Tag]int{}
			dec := NewDecoder(data, Limits{})
			for {
				tok, err := dec.Next()
				if err != nil {
					break
				}
				if tok.Kind == StartTag {
					seen[tok.Tag]++
				}
			}
			if err := dec.Err(); err != nil {
				t.Fatal(err)
			}
			for _, tag := range p.Tags {
				if tag.Page != p.ID {
					t.Errorf("%s listed on page %d", tag, p.ID)
				}
				if seen[tag] < 2 {
					t.Errorf("%s seen %d times in the WBXML, want >= 2", tag, seen[tag])
				}
			}
		})
	}
}

// TestRoundTripCorpus: every corpus document survives XML -> WBXML -> etree,
// and WBXML -> etree -> WBXML gives the same bytes.
func TestRoundTripCorpus(t *testing.T) {
	for _, name := range corpusFiles(t) {
		doc := loadXMLFile(t, name)
		data, err := Marshal(doc)
		if err != nil {
			t.Errorf("%s: Marshal: %v", name, err)
			continue
		}
		back, err := Unmarshal(data)
		if err != nil {
			t.Errorf("%s: Unmarshal: %v", name, err)
			continue
		}
		if d := diffElements(doc.Root(), back.Root()); d != "" {
			t.Errorf("%s: %s", name, d)
		}
		again, err := Marshal(back)
		if err != nil || !bytes.Equal(again, data) {
			t.Errorf("%s: re-encoding differs (err %v)", name, err)
		}
		// Printing and parsing back is exact too.
		if d := diffElements(doc.Root(), mustParseXML(t, xmlString(t, back)).Root()); d != "" {
			t.Errorf("%s: WriteXML/ParseXML: %s", name, d)
		}
	}
}

func TestOpaqueElementsUseOpaqueToken(t *testing.T) {
	raw := []byte{0x15, 0x1c, 0x0b, 0xaa, 0x00, 0xff}
	for _, name := range []string{"Email2:ConversationId", "Email2:ConversationIndex", "ItemOperations:ConversationId", "Search:ConversationId", "ComposeMail:Mime", "AirSyncBase:Content", "GAL:Data", "ResolveRecipients:Data"} {
		tag := MustTag(name)
		if !tag.Opaque() {
			t.Fatalf("%s not opaque", name)
		}
		doc := etree.NewDocument()
		el := doc.CreateElement(name)
		SetBytes(el, raw)
		if el.Text() != base64.StdEncoding.EncodeToString(raw) || len(el.Attr) != 0 {
			t.Fatalf("%s: SetBytes gave %q %v", name, el.Text(), el.Attr)
		}
		data, err := Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte{0x03, 0x01, 0x6A, 0x00, 0x00, tag.Page, tag.Token | 0x40, 0xC3, byte(len(raw))}, raw...)
		want = append(want, 0x01)
		if tag.Page == 0 {
			want = append(want[:4], want[6:]...)
		}
		if !bytes.Equal(data, want) {
			t.Fatalf("%s: got % X, want % X", name, data, want)
		}
		back, err := Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Bytes(back.Root())
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("%s: Bytes = % X, %v", name, got, err)
		}
	}
}

// A device may send OPAQUE where the spec says string (here
// AirSyncBase:Data). XML-safe UTF-8 becomes plain text; anything else keeps
// its bytes with the wbxml:opaque marker and round-trips exactly.
func TestOpaqueInStringElement(t *testing.T) {
	body := "MIME-Version: 1.0\r\n\r\nbody\r\n"
	data := []byte{0x03, 0x01, 0x6A, 0x00, 0x00, 17, 0x4A, 0x4B, 0xC3, byte(len(body))}
	data = append(append(data, body...), 0x01, 0x01)
	doc, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	m := doc.Root().SelectElement("AirSyncBase:Data")
	if m == nil || m.Text() != body || IsOpaque(m) {
		t.Fatalf("Data = %v", m)
	}

	binary := []byte{'a', 0x00, 0xFF, 'b'}
	data = []byte{0x03, 0x01, 0x6A, 0x00, 0x00, 17, 0x4A, 0x4B, 0xC3, byte(len(binary))}
	data = append(append(data, binary...), 0x01, 0x01)
	doc, err = Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	m = doc.Root().SelectElement("AirSyncBase:Data")
	if !IsOpaque(m) || m.SelectAttrValue("wbxml:opaque", "") != "base64" {
		t.Fatalf("binary Data not marked: %v", m.Attr)
	}
	if b, err := Bytes(m); err != nil || !bytes.Equal(b, binary) {
		t.Fatalf("Bytes = %q, %v", b, err)
	}
	again, err := Marshal(doc)
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("re-encoded % X, %v; want % X", again, err, data)
	}
	x := xmlString(t, doc)
	if !strings.Contains(x, `wbxml:opaque="base64"`) || !strings.Contains(x, `xmlns:wbxml="`+OpaqueAttrNS+`"`) {
		t.Fatalf("WriteXML lost the marker:\n%s", x)
	}
	if d := diffElements(doc.Root(), mustParseXML(t, x).Root()); d != "" {
		t.Fatal(d)
	}
	// An inline string with bytes that are not XML text is kept the same way.
	data = []byte{0x03, 0x01, 0x6A, 0x00, 0x00, 17, 0x4A, 0x4B, 0x03, 'a', 0x01, 0xFE, 0x00, 0x01, 0x01}
	doc, err = Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := Bytes(doc.Root().SelectElement("AirSyncBase:Data")); !bytes.Equal(b, []byte{'a', 0x01, 0xFE}) {
		t.Fatalf("STR_I bytes % X", b)
	}
}

// An opaque element that a device sends as an inline string still holds
// bytes (base64 in the etree form), and goes back out as OPAQUE.
func TestStringInOpaqueElement(t *testing.T) {
	mime := "Subject: hi\r\n\r\nbody"
	data := []byte{0x03, 0x01, 0x6A, 0x00, 0x00, 21, 0x45, 0x50, 0x03}
	data = append(append(data, mime...), 0x00, 0x01, 0x01)
	doc, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	m := doc.Root().SelectElement("ComposeMail:Mime")
	if b, err := Bytes(m); err != nil || string(b) != mime {
		t.Fatalf("Bytes = %q, %v", b, err)
	}
	out, err := Marshal(doc)
	if err != nil || !bytes.Contains(out, append([]byte{0x50, 0xC3, byte(len(mime))}, mime...)) {
		t.Fatalf("re-encoded % X, %v", out, err)
	}
}

// Several content tokens in one element (STR_I, STR_T, ENTITY) are joined.
func TestContentPiecesJoined(t *testing.T) {
	data := []byte{0x03, 0x01, 0x6A, 0x04, 'x', 'y', 0, 0,
		0x45, 0x4B, 0x03, 'a', 0, 0x83, 0x00, 0x02, 0x81, 0x20, 0x83, 0x03, 0x01, 0x01}
	doc, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Root().SelectElement("AirSync:SyncKey").Text(); got != "axy\u00a0" {
		t.Fatalf("text %q", got)
	}
}

func TestEmptyElementsAndEmptyText(t *testing.T) {
	// <Sync><SyncKey/> with content bit and no content, and STR_I "".
	data := []byte{0x03, 0x01, 0x6A, 0x00, 0x45, 0x4B, 0x01, 0x4B, 0x03, 0x00, 0x01, 0x0B, 0x01}
	doc, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	keys := doc.Root().SelectElements("AirSync:SyncKey")
	if len(keys) != 3 {
		t.Fatalf("%d keys", len(keys))
	}
	for _, k := range keys {
		if k.Text() != "" || len(k.Child) != 0 {
			t.Fatalf("key %q", k.Text())
		}
	}
	out, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x03, 0x01, 0x6A, 0x00, 0x45, 0x0B, 0x0B, 0x0B, 0x01}
	if !bytes.Equal(out, want) {
		t.Fatalf("got % X want % X", out, want)
	}
}

func TestNamesCarryTheirPage(t *testing.T) {
	doc := mustParseXML(t, `<Provision xmlns="Provision:" xmlns:s="Settings:"><s:DeviceInformation><s:Status>1</s:Status></s:DeviceInformation><Status>2</Status></Provision>`)
	data, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x03, 0x01, 0x6A, 0x00, 0x00, 14, 0x45, 0x00, 18, 0x56, 0x46, 0x03, '1', 0, 0x01, 0x01, 0x00, 14, 0x4B, 0x03, '2', 0, 0x01, 0x01}
	if !bytes.Equal(data, want) {
		t.Fatalf("got % X\nwant % X", data, want)
	}
	back, _ := Unmarshal(data)
	if back.Root().SelectElement("Provision:Status").Text() != "2" ||
		back.Root().FindElement("Settings:DeviceInformation/Settings:Status").Text() != "1" {
		t.Fatal("Status landed on the wrong page")
	}
}
