package wbxml

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.xml and *.wbxml")

// goldenSources: one document per code page with every token of the page,
// and some real-shaped messages from the corpus.
func goldenSources(t *testing.T) map[string]*etree.Document {
	m := map[string]*etree.Document{}
	for _, p := range CodePages() {
		m[fmt.Sprintf("page%02d_%s", p.ID, strings.ToLower(p.Name))] = pageDocument(p)
	}
	for _, f := range []string{
		"provision_02_initial_response", "foldersync_02_initial_response",
		"sync_03_email_options_request", "sync_04_email_add_response",
		"sync_06_calendar_response", "itemoperations_02_fetch_attachment_response",
		"sendmail_01_request", "ping_01_request", "find_01_mailbox_request",
	} {
		m["msg_"+f] = loadXMLFile(t, filepath.Join("testdata", "corpus", f+".xml"))
	}
	return m
}

// TestGolden: testdata/golden/NAME.xml encodes to NAME.wbxml byte for byte,
// and NAME.wbxml decodes and prints to NAME.xml character for character.
// Run with -update to rewrite the pairs after a deliberate change.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, doc := range goldenSources(t) {
			data, err := Marshal(doc)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+".xml"), []byte(xmlString(t, doc)), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+".wbxml"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	sort.Strings(files)
	if want := len(goldenSources(t)); len(files) != want {
		t.Fatalf("%d golden pairs in %s, want %d (run go test -run TestGolden -update)", len(files), dir, want)
	}
	for _, xf := range files {
		name := strings.TrimSuffix(filepath.Base(xf), ".xml")
		x, err := os.ReadFile(xf)
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.ReadFile(strings.TrimSuffix(xf, ".xml") + ".wbxml")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := Marshal(mustParseXML(t, string(x)))
		if err != nil {
			t.Errorf("%s: Marshal: %v", name, err)
		} else if !bytes.Equal(got, w) {
			t.Errorf("%s: encoding changed (%d bytes, golden %d)", name, len(got), len(w))
		}
		doc, err := Unmarshal(w)
		if err != nil {
			t.Errorf("%s: Unmarshal: %v", name, err)
			continue
		}
		if s := xmlString(t, doc); s != string(x) {
			t.Errorf("%s: decoding changed:\n%s", name, s)
		}
	}
}
