package wbxml

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzLimits keep each input cheap; every input decodes in well under the
// fuzzing engine's timeouts.
var fuzzLimits = Limits{MaxDocumentSize: 1 << 20, MaxElements: 20000}

// addSeeds adds the golden documents, the corpus encodings, the spec example
// and the malformed inputs of the error tests. The checked-in files under
// testdata/fuzz/<target>/ are added by the fuzzing engine itself.
func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.wbxml"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	corpus, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.xml"))
	for _, name := range corpus {
		x, err := os.Open(name)
		if err != nil {
			continue
		}
		doc, err := ParseXML(x)
		x.Close()
		if err != nil {
			continue
		}
		if data, err := Marshal(doc); err == nil {
			f.Add(data)
		}
	}
	for _, c := range badInputs {
		if len(c.in) < 4096 {
			f.Add(c.in)
		}
	}
}

func checkError(t *testing.T, data []byte, err error) {
	t.Helper()
	var we *Error
	if !errors.As(err, &we) {
		t.Fatalf("error %T (%v) is not a *wbxml.Error", err, err)
	}
	if we.Kind == nil || !errors.Is(err, we.Kind) {
		t.Fatalf("error without kind: %v", err)
	}
	if we.Offset < -1 || we.Offset > int64(len(data)) {
		t.Fatalf("offset %d outside input of %d bytes: %v", we.Offset, len(data), err)
	}
}

// FuzzDecode: any input either decodes or fails with a *wbxml.Error; never a
// panic, hang or runaway allocation. A decoded document always prints as XML
// and encodes again. The pull decoder agrees with Unmarshal.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := UnmarshalLimits(data, fuzzLimits)
		d := NewDecoder(data, fuzzLimits)
		var perr error
		depth := 0
		for perr == nil {
			var tok Token
			tok, perr = d.Next()
			if perr == nil {
				switch tok.Kind {
				case StartTag:
					depth++
				case EndTag:
					depth--
				}
				if depth < 0 || depth > DefaultMaxDepth || d.Depth() > DefaultMaxDepth {
					t.Fatalf("depth %d", depth)
				}
			}
		}
		if err != nil {
			checkError(t, data, err)
			if perr.Error() == "EOF" && !errors.Is(err, ErrMixedContent) {
				t.Fatalf("Unmarshal failed (%v) where the pull decoder did not", err)
			}
			return
		}
		if perr.Error() != "EOF" {
			t.Fatalf("pull decoder failed (%v) where Unmarshal did not", perr)
		}
		var buf bytes.Buffer
		if err := WriteXML(&buf, doc); err != nil {
			t.Fatalf("WriteXML of a decoded document: %v", err)
		}
		if _, err := Marshal(doc); err != nil {
			t.Fatalf("Marshal of a decoded document: %v", err)
		}
	})
}

// FuzzRoundTrip: decode -> encode -> decode gives the same tree, encoding is
// deterministic, and WriteXML -> ParseXML gives the same tree.
func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc1, err := UnmarshalLimits(data, fuzzLimits)
		if err != nil {
			checkError(t, data, err)
			return
		}
		w1, err := Marshal(doc1)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		doc2, err := UnmarshalLimits(w1, fuzzLimits)
		if err != nil {
			t.Fatalf("our own encoding does not decode: %v\n% X", err, w1)
		}
		if d := diffElements(doc1.Root(), doc2.Root()); d != "" {
			t.Fatalf("decode/encode/decode changed the tree: %s", d)
		}
		w2, err := Marshal(doc2)
		if err != nil || !bytes.Equal(w1, w2) {
			t.Fatalf("encoding not stable (%v)\n% X\n% X", err, w1, w2)
		}
		var buf bytes.Buffer
		if err := WriteXML(&buf, doc1); err != nil {
			t.Fatalf("WriteXML: %v", err)
		}
		doc3, err := ParseXML(&buf)
		if err != nil {
			t.Fatalf("ParseXML of WriteXML output: %v\n%s", err, buf.String())
		}
		if d := diffElements(doc1.Root(), doc3.Root()); d != "" {
			t.Fatalf("WriteXML/ParseXML changed the tree: %s", d)
		}
	})
}
