package wbxml

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// diffElements returns "" when a and b are the same tree in the package's
// representation (names, opaque marker, text of leaves, children in order),
// else a description of the first difference.
func diffElements(a, b *etree.Element) string {
	return diffAt(a, b, "/")
}

func diffAt(a, b *etree.Element, path string) string {
	if a == nil || b == nil {
		if a == b {
			return ""
		}
		return fmt.Sprintf("%s: one tree is empty (%v vs %v)", path, a != nil, b != nil)
	}
	path += a.FullTag()
	if a.Space != b.Space || a.Tag != b.Tag {
		return fmt.Sprintf("%s: element %s vs %s", path, a.FullTag(), b.FullTag())
	}
	if am, bm := hasOpaqueMarker(a), hasOpaqueMarker(b); am != bm {
		return fmt.Sprintf("%s: opaque marker %v vs %v", path, am, bm)
	}
	if len(a.Attr) != len(b.Attr) {
		return fmt.Sprintf("%s: %d vs %d attributes", path, len(a.Attr), len(b.Attr))
	}
	ac, bc := a.ChildElements(), b.ChildElements()
	if len(ac) == 0 && len(bc) == 0 {
		if at, bt := elementText(a), elementText(b); at != bt {
			return fmt.Sprintf("%s: text %q vs %q", path, clip(at), clip(bt))
		}
		return ""
	}
	if len(ac) != len(bc) {
		return fmt.Sprintf("%s: %d vs %d children", path, len(ac), len(bc))
	}
	for i := range ac {
		if d := diffAt(ac[i], bc[i], fmt.Sprintf("%s/[%d]", path, i)); d != "" {
			return d
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func mustParseXML(t testing.TB, s string) *etree.Document {
	t.Helper()
	doc, err := ParseXML(strings.NewReader(s))
	if err != nil {
		t.Fatalf("ParseXML: %v", err)
	}
	return doc
}

func xmlString(t testing.TB, doc *etree.Document) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteXML(&buf, doc); err != nil {
		t.Fatalf("WriteXML: %v", err)
	}
	return buf.String()
}

// corpusFiles returns the XML files of testdata/corpus, sorted.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/corpus/*.xml")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) < 50 {
		t.Fatalf("corpus has %d documents, want at least 50", len(files))
	}
	return files
}

func loadXMLFile(t testing.TB, name string) *etree.Document {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := ParseXML(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// pageDocument builds a document that uses every token of code page p: the
// page's first tag is the root, every tag of the page (the first included)
// follows as a leaf child with a value (base64 bytes for opaque tags), and
// the page's tags also appear as empty elements.
func pageDocument(p CodePage) *etree.Document {
	doc := etree.NewDocument()
	root := doc.CreateElement(p.Tags[0].String())
	for i, tag := range p.Tags {
		el := root.CreateElement(tag.String())
		if tag.Opaque() {
			SetBytes(el, []byte{0x00, byte(i), 0xFF, 0x80, tag.Page, tag.Token})
		} else {
			el.SetText(fmt.Sprintf("%s value %d & <%d>", tag.Local(), i, tag.Token))
		}
	}
	for _, tag := range p.Tags {
		root.CreateElement(tag.String())
	}
	return doc
}

func bufioFor(w io.Writer) *bufio.Writer { return bufio.NewWriter(w) }
