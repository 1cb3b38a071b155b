package wbxml

import (
	"bytes"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// The same document in four spellings parses to the same tree.
func TestParseXMLSpellings(t *testing.T) {
	spellings := []string{
		// MS-ASCMD style: default namespace with colon, prefixed children.
		`<?xml version="1.0" encoding="utf-8"?>
<Sync xmlns="AirSync:" xmlns:email="Email:"><Collections><Collection><SyncKey>1</SyncKey>
<Commands><Change><ServerId>5:1</ServerId><ApplicationData><email:Read>1</email:Read></ApplicationData></Change></Commands>
</Collection></Collections></Sync>`,
		// MS-ASWBXML example style: namespaces without the colon.
		`<Sync xmlns="AirSync" xmlns:email="Email"><Collections><Collection><SyncKey>1</SyncKey><Commands><Change><ServerId>5:1</ServerId><ApplicationData><email:Read>1</email:Read></ApplicationData></Change></Commands></Collection></Collections></Sync>`,
		// Prefixes named after code pages, undeclared (the package's own form).
		`<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>1</AirSync:SyncKey><AirSync:Commands><AirSync:Change><AirSync:ServerId>5:1</AirSync:ServerId><AirSync:ApplicationData><Email:Read>1</Email:Read></AirSync:ApplicationData></AirSync:Change></AirSync:Commands></AirSync:Collection></AirSync:Collections></AirSync:Sync>`,
		// libwbxml's output: a default namespace per code page change, DOCTYPE.
		`<?xml version="1.0"?>
<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">
<Sync xmlns="AirSync:">
 <Collections>
  <Collection>
   <SyncKey>1</SyncKey>
   <Commands><Change><ServerId>5:1</ServerId><ApplicationData><Read xmlns="Email:">1</Read></ApplicationData></Change></Commands>
  </Collection>
 </Collections>
</Sync>`,
		// Declared prefixes with other names, lower-case URIs and a comment.
		`<a:Sync xmlns:a="airsync:" xmlns:m="email"><!-- note --><a:Collections><a:Collection><a:SyncKey>1</a:SyncKey><a:Commands><a:Change><a:ServerId>5:1</a:ServerId><a:ApplicationData><m:Read>1</m:Read></a:ApplicationData></a:Change></a:Commands></a:Collection></a:Collections></a:Sync>`,
		// libwbxml's synce namespace URIs.
		`<Sync xmlns="http://synce.org/formats/airsync_wm5/airsync"><Collections><Collection><SyncKey>1</SyncKey><Commands><Change><ServerId>5:1</ServerId><ApplicationData><Read xmlns="http://synce.org/formats/airsync_wm5/email">1</Read></ApplicationData></Change></Commands></Collection></Collections></Sync>`,
	}
	first := mustParseXML(t, spellings[0])
	want := []byte{0x03, 0x01, 0x6A, 0x00, 0x45, 0x5C, 0x4F, 0x4B, 0x03, '1', 0, 0x01, 0x56, 0x48, 0x4D, 0x03, '5', ':', '1', 0, 0x01,
		0x5D, 0x00, 0x02, 0x55, 0x03, '1', 0, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01}
	for i, s := range spellings {
		doc := mustParseXML(t, s)
		if d := diffElements(first.Root(), doc.Root()); d != "" {
			t.Errorf("spelling %d: %s", i, d)
		}
		data, err := Marshal(doc)
		if err != nil || !bytes.Equal(data, want) {
			t.Errorf("spelling %d: % X, %v\nwant % X", i, data, err, want)
		}
	}
}

func TestParseXMLKeepsLeafTextExactly(t *testing.T) {
	in := "<Sync xmlns=\"AirSync:\" xmlns:b=\"AirSyncBase:\"><b:Data>  two spaces\n\ttab &amp; CRLF&#xD;\nend  </b:Data></Sync>"
	doc := mustParseXML(t, in)
	got := doc.Root().SelectElement("AirSyncBase:Data").Text()
	if want := "  two spaces\n\ttab & CRLF\r\nend  "; got != want {
		t.Fatalf("text %q, want %q", got, want)
	}
	// WriteXML escapes CR so it survives parsing.
	out := xmlString(t, doc)
	if !strings.Contains(out, "CRLF&#xD;\nend") {
		t.Fatalf("CR not escaped:\n%s", out)
	}
	if d := diffElements(doc.Root(), mustParseXML(t, out).Root()); d != "" {
		t.Fatal(d)
	}
}

func TestWriteXMLFormat(t *testing.T) {
	doc := etree.NewDocument()
	root := doc.CreateElement("FolderHierarchy:FolderSync")
	root.CreateElement("FolderHierarchy:Status").SetText("1")
	ch := root.CreateElement("FolderHierarchy:Changes")
	ch.CreateElement("FolderHierarchy:Count").SetText("0")
	root.CreateElement("AirSync:Partial")
	var buf bytes.Buffer
	if err := WriteXML(&buf, doc); err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="utf-8"?>
<FolderHierarchy:FolderSync xmlns:AirSync="AirSync:" xmlns:FolderHierarchy="FolderHierarchy:">
  <FolderHierarchy:Status>1</FolderHierarchy:Status>
  <FolderHierarchy:Changes>
    <FolderHierarchy:Count>0</FolderHierarchy:Count>
  </FolderHierarchy:Changes>
  <AirSync:Partial/>
</FolderHierarchy:FolderSync>
`
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	if len(root.Attr) != 0 {
		t.Fatal("WriteXML modified the document")
	}
	// Non-XML text is refused rather than printed wrongly.
	root.CreateElement("FolderHierarchy:DisplayName").SetText("bell\x07")
	if err := WriteXML(&buf, doc); err == nil {
		t.Fatal("control character printed")
	}
}
