package wbxml

// Independent check against libwbxml (Debian package libwbxml2-utils:
// wbxml2xml and xml2wbxml). libwbxml has its own ActiveSync tables, written
// from older MS-ASWBXML revisions, so it is an oracle for the wire format
// but not for names: the tests first learn libwbxml's name for every
// (code page, token) by decoding a document that lists all tokens, then
// compare trees by (code page, token, text), never by name.
//
// Which direction is trustworthy:
//   - libwbxml's DECODER is exact: it maps (page, token) to a name. Our
//     encoding decoded by wbxml2xml must give our tree back; and any bytes
//     decoded by both decoders must give the same tree.
//   - libwbxml's ENCODER picks a code page from the element name and its
//     xmlns. Where it picks another page for a name that exists on several
//     pages (Status, DisplayName, DtStamp...), the difference is logged as
//     an oracle limitation, not counted against us; every other difference
//     fails the test.
//
// The test is skipped when the tools are missing, unless the environment
// variable CI is set (then it fails).

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/beevik/etree"
)

func libwbxmlTools(t *testing.T) (dec, enc string) {
	t.Helper()
	dec, err1 := exec.LookPath("wbxml2xml")
	enc, err2 := exec.LookPath("xml2wbxml")
	if err1 == nil && err2 == nil {
		return dec, enc
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("CI=%s and libwbxml2-utils is missing (wbxml2xml: %v, xml2wbxml: %v)", ci, err1, err2)
	}
	t.Skip("libwbxml2-utils (wbxml2xml, xml2wbxml) not installed; apt-get install libwbxml2-utils")
	return "", ""
}

var tmpSeq struct {
	sync.Mutex
	n int
}

func tmpName(dir, ext string) string {
	tmpSeq.Lock()
	defer tmpSeq.Unlock()
	tmpSeq.n++
	return filepath.Join(dir, fmt.Sprintf("f%05d.%s", tmpSeq.n, ext))
}

// libDecode runs wbxml2xml (compact output, whitespace kept).
func libDecode(t *testing.T, dir string, data []byte) ([]byte, error) {
	dec, _ := libwbxmlTools(t)
	in, out := tmpName(dir, "wbxml"), tmpName(dir, "xml")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dec, "-m", "0", "-k", "-l", "ACTIVESYNC", "-o", out, in)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wbxml2xml: %v: %s", err, msg)
	}
	return os.ReadFile(out)
}

// libEncode runs xml2wbxml (string table on, whitespace kept).
func libEncode(t *testing.T, dir string, x []byte) ([]byte, error) {
	_, enc := libwbxmlTools(t)
	in, out := tmpName(dir, "xml"), tmpName(dir, "wbxml")
	if err := os.WriteFile(in, x, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(enc, "-k", "-o", out, in)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("xml2wbxml: %v: %s", err, msg)
	}
	return os.ReadFile(out)
}

// lwNode is an element of libwbxml's XML output.
type lwNode struct {
	space, local, text string
	children           []*lwNode
}

func parseLib(data []byte) (*lwNode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var stack []*lwNode
	var root *lwNode
	for {
		tok, err := d.Token()
		if err != nil {
			if root != nil && len(stack) == 0 {
				return root, nil
			}
			return nil, err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &lwNode{space: strings.TrimSuffix(tk.Name.Space, ":"), local: tk.Name.Local}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tk)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
}

// libName is libwbxml's name for one of our tags.
type libName struct {
	space, local string
	known        bool
	binary       bool // libwbxml printed the probe value "x" as base64 ("eA==")
}

var (
	libNamesOnce sync.Once
	libNamesMap  map[Tag]libName
	libNamesErr  error
)

// libwbxmlNames learns libwbxml's name for every tag of our tables by
// decoding one document that holds them all, in table order, under
// <AirSync:Sync>.
func libwbxmlNames(t *testing.T) map[Tag]libName {
	libwbxmlTools(t)
	libNamesOnce.Do(func() {
		var tags []Tag
		b := append([]byte(nil), hdr...)
		b = append(b, 0x45)
		for _, p := range CodePages() {
			for _, tag := range p.Tags {
				tags = append(tags, tag)
				b = append(b, 0x00, tag.Page, tag.Token|0x40, 0x03, 'x', 0x00, 0x01)
			}
		}
		b = append(b, 0x01)
		out, err := libDecode(t, t.TempDir(), b)
		if err != nil {
			libNamesErr = err
			return
		}
		root, err := parseLib(out)
		if err != nil {
			libNamesErr = err
			return
		}
		if len(root.children) != len(tags) {
			libNamesErr = fmt.Errorf("libwbxml returned %d elements for %d tags", len(root.children), len(tags))
			return
		}
		libNamesMap = map[Tag]libName{}
		for i, tag := range tags {
			c := root.children[i]
			libNamesMap[tag] = libName{space: c.space, local: c.local, known: c.local != "unknown", binary: c.text == "eA=="}
		}
	})
	if libNamesErr != nil {
		t.Fatal(libNamesErr)
	}
	return libNamesMap
}

// TestLibwbxmlTokenTable reports where libwbxml's tables differ from ours
// (the findings in FUZZING.md/doc.go come from this log) and checks that
// every tag libwbxml knows decodes on the same code page.
func TestLibwbxmlTokenTable(t *testing.T) {
	names := libwbxmlNames(t)
	var unknown, renamed, respaced []string
	for _, p := range CodePages() {
		for _, tag := range p.Tags {
			n := names[tag]
			switch {
			case !n.known:
				unknown = append(unknown, tag.String())
			case n.space != p.Name:
				respaced = append(respaced, fmt.Sprintf("%s -> %s:%s", tag, n.space, n.local))
			case n.local != tag.Local():
				renamed = append(renamed, fmt.Sprintf("%s -> %s", tag, n.local))
			}
		}
	}
	t.Logf("tags libwbxml does not know (%d): %s", len(unknown), strings.Join(unknown, " "))
	t.Logf("tags libwbxml names differently (%d): %s", len(renamed), strings.Join(renamed, ", "))
	t.Logf("code pages libwbxml names differently (%d): %s", len(respaced), strings.Join(respaced, ", "))
	for _, p := range CodePages() {
		for _, tag := range p.Tags {
			if n := names[tag]; n.known && !strings.EqualFold(n.space, p.Name) {
				t.Errorf("libwbxml decodes %s on code page %q", tag, n.space)
			}
		}
	}
	// libwbxml treats a tag as binary (prints and reads its value as
	// base64) exactly where we declare OPAQUE: an independent check of the
	// opaque list taken from MS-ASDTYPE/MS-ASCMD/MS-ASAIRS/MS-ASCON.
	binary := 0
	for _, p := range CodePages() {
		for _, tag := range p.Tags {
			n := names[tag]
			if n.known && n.binary != tag.Opaque() {
				t.Errorf("%s: libwbxml binary=%v, our opaque=%v", tag, n.binary, tag.Opaque())
			}
			if n.binary {
				binary++
			}
		}
	}
	t.Logf("libwbxml treats %d tags as binary, the same as our opaque list", binary)
	if binary != 8 {
		t.Errorf("libwbxml binary tags: %d, want the 8 opaque tags", binary)
	}
	// Sanity: the oracle knows most of the table, so the comparisons below
	// are meaningful.
	if len(unknown) > 60 {
		t.Errorf("libwbxml knows too little of the table (%d unknown)", len(unknown))
	}
}

// compareLib compares our element with libwbxml's decoding of the same
// document, by (code page, token) via names and by text. CR LF and CR are
// compared as LF, which is what XML parsing does to libwbxml's raw output.
func compareLib(ours *etree.Element, lib *lwNode, names map[Tag]libName, path string) string {
	tag, ok := TagOf(ours)
	if !ok {
		return path + ": not a known tag: " + ours.FullTag()
	}
	path += "/" + tag.String()
	n := names[tag]
	if lib.space != n.space || lib.local != n.local {
		return fmt.Sprintf("%s: libwbxml decoded %s:%s, expected %s:%s", path, lib.space, lib.local, n.space, n.local)
	}
	kids := ours.ChildElements()
	if len(kids) != len(lib.children) {
		return fmt.Sprintf("%s: %d vs %d children", path, len(kids), len(lib.children))
	}
	if len(kids) == 0 {
		if a, b := normNL(elementText(ours)), normNL(lib.text); a != b {
			return fmt.Sprintf("%s: text %q vs libwbxml %q", path, clip(a), clip(b))
		}
		return ""
	}
	for i := range kids {
		if d := compareLib(kids[i], lib.children[i], names, path); d != "" {
			return d
		}
	}
	return ""
}

func normNL(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// unknownToLib lists the tags of doc that libwbxml does not know.
func unknownToLib(doc *etree.Document, names map[Tag]libName) []string {
	seen := map[string]bool{}
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		if tag, ok := TagOf(el); ok && !names[tag].known {
			seen[tag.String()] = true
		}
		for _, c := range el.ChildElements() {
			walk(c)
		}
	}
	walk(doc.Root())
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// libDialect writes doc the way libwbxml reads it: libwbxml's names, a
// default xmlns where the code page changes, no indentation.
func libDialect(doc *etree.Document, names map[Tag]libName) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?>` + "\n")
	b.WriteString(`<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">` + "\n")
	var walk func(el *etree.Element, parentSpace string)
	walk = func(el *etree.Element, parentSpace string) {
		tag, _ := TagOf(el)
		n := names[tag]
		b.WriteString("<" + n.local)
		if n.space != parentSpace {
			b.WriteString(` xmlns="` + n.space + `:"`)
		}
		kids := el.ChildElements()
		text := elementText(el)
		if len(kids) == 0 && text == "" {
			b.WriteString("/>")
			return
		}
		b.WriteString(">")
		if len(kids) > 0 {
			for _, c := range kids {
				walk(c, n.space)
			}
		} else {
			xw := xmlWriter{w: bufioFor(&b)}
			xw.escape(text, false)
			xw.w.Flush()
		}
		b.WriteString("</" + n.local + ">")
	}
	walk(doc.Root(), "")
	return b.Bytes()
}

type libCase struct {
	name string
	doc  *etree.Document
}

// libCases: the corpus plus, for every code page, a document with every
// token of the page that libwbxml knows.
func libCases(t *testing.T, names map[Tag]libName) (cases []libCase, skipped []string) {
	for _, f := range corpusFiles(t) {
		doc := loadXMLFile(t, f)
		if u := unknownToLib(doc, names); len(u) > 0 {
			skipped = append(skipped, fmt.Sprintf("%s (%s)", filepath.Base(f), strings.Join(u, " ")))
			continue
		}
		cases = append(cases, libCase{filepath.Base(f), doc})
	}
	for _, p := range CodePages() {
		var known []Tag
		for _, tag := range p.Tags {
			if names[tag].known {
				known = append(known, tag)
			}
		}
		if len(known) == 0 {
			skipped = append(skipped, "page "+p.Name+" (no token known to libwbxml)")
			continue
		}
		p.Tags = known
		cases = append(cases, libCase{"page " + p.Name, pageDocument(p)})
	}
	return cases, skipped
}

// TestLibwbxmlDecodesOurEncoding: our WBXML, decoded by wbxml2xml, is our
// tree (trustworthy direction: libwbxml's decoder is exact).
func TestLibwbxmlDecodesOurEncoding(t *testing.T) {
	names := libwbxmlNames(t)
	dir := t.TempDir()
	cases, skipped := libCases(t, names)
	for _, s := range skipped {
		t.Logf("not comparable with libwbxml (tested against spec bytes instead): %s", s)
	}
	if len(cases) < 50 {
		t.Fatalf("only %d documents comparable with libwbxml", len(cases))
	}
	for _, c := range cases {
		data, err := Marshal(c.doc)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		out, err := libDecode(t, dir, data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		lib, err := parseLib(out)
		if err != nil {
			t.Errorf("%s: libwbxml output: %v\n%s", c.name, err, out)
			continue
		}
		if d := compareLib(c.doc.Root(), lib, names, ""); d != "" {
			t.Errorf("%s: %s", c.name, d)
		}
	}
	t.Logf("%d documents compared element by element", len(cases))
}

// TestLibwbxmlEncodingDecodedByBoth: libwbxml encodes each document (with a
// string table, so STR_T is exercised); our decoder and wbxml2xml decode the
// same bytes and must agree exactly. Compared with the original document,
// only differences caused by libwbxml's encoder choosing another code page
// for a shared name are tolerated (logged).
func TestLibwbxmlEncodingDecodedByBoth(t *testing.T) {
	names := libwbxmlNames(t)
	dir := t.TempDir()
	cases, _ := libCases(t, names)
	strT := 0
	for _, c := range cases {
		data, err := libEncode(t, dir, libDialect(c.doc, names))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		ours, err := Unmarshal(data)
		if err != nil {
			t.Errorf("%s: our decoder rejected libwbxml's encoding: %v", c.name, err)
			continue
		}
		strT += countStrT(data)
		out, err := libDecode(t, dir, data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		lib, err := parseLib(out)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if d := compareLib(ours.Root(), lib, names, ""); d != "" {
			t.Errorf("%s: decoders disagree on the same bytes: %s", c.name, d)
		}
		if d := diffElements(c.doc.Root(), ours.Root()); d != "" {
			if oracleRepaged(c.doc.Root(), ours.Root()) {
				t.Logf("%s: libwbxml's encoder chose another code page: %s", c.name, d)
			} else {
				t.Errorf("%s: libwbxml encoding decodes to a different tree: %s", c.name, d)
			}
		}
	}
	t.Logf("%d documents; libwbxml's encodings used %d STR_T references", len(cases), strT)
	if strT == 0 {
		t.Error("libwbxml wrote no string table references; STR_T was not exercised")
	}
}

// countStrT counts the text tokens of data that are string table references.
func countStrT(data []byte) int {
	n := 0
	d := NewDecoder(data, Limits{})
	for {
		tok, err := d.Next()
		if err != nil {
			return n
		}
		if tok.Kind == Text && data[tok.Offset] == gStrT {
			n++
		}
	}
}

// oracleRepaged reports whether a and b differ only by elements with the
// same local name on different code pages.
func oracleRepaged(a, b *etree.Element) bool {
	if a.Tag != b.Tag {
		return false
	}
	ac, bc := a.ChildElements(), b.ChildElements()
	if len(ac) != len(bc) {
		return false
	}
	if len(ac) == 0 && elementText(a) != elementText(b) {
		return false
	}
	for i := range ac {
		if !oracleRepaged(ac[i], bc[i]) {
			return false
		}
	}
	return true
}
