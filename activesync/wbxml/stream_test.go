package wbxml

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// patternReader yields n bytes of a fixed pattern without holding them.
type patternReader struct {
	n   int64
	off int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n-r.off {
		p = p[:r.n-r.off]
	}
	for i := range p {
		p[i] = byte((r.off+int64(i))*7 + 1)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// textPattern yields n bytes of printable ASCII.
type textPattern struct{ n, off int64 }

func (r *textPattern) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n-r.off {
		p = p[:r.n-r.off]
	}
	for i := range p {
		p[i] = 'a' + byte((r.off+int64(i))%26)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// hashWriter consumes output, keeping only a hash and a byte count.
type hashWriter struct {
	h hash.Hash
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return w.h.Write(p) }

func TestStreamingEncoderMatchesMarshal(t *testing.T) {
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	e.StartName("ItemOperations:ItemOperations")
	e.Element(MustTag("ItemOperations:Status"), "1")
	e.StartName("ItemOperations:Response")
	e.StartName("ItemOperations:Fetch")
	e.Element(MustTag("ItemOperations:Status"), "1")
	e.StartName("ItemOperations:Properties")
	e.StartName("ItemOperations:Data")
	e.Base64From(strings.NewReader("hello, attachment"))
	e.End()
	e.End()
	e.End()
	e.End()
	e.StartName("ItemOperations:Move")
	e.StartName("ItemOperations:ConversationId")
	e.OpaqueFrom(bytes.NewReader([]byte{1, 2, 3}), 3)
	e.End()
	e.End()
	e.End()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	doc := mustParseXML(t, `<ItemOperations xmlns="ItemOperations:"><Status>1</Status><Response><Fetch><Status>1</Status>
<Properties><Data>`+base64.StdEncoding.EncodeToString([]byte("hello, attachment"))+`</Data></Properties></Fetch></Response>
<Move><ConversationId>AQID</ConversationId></Move></ItemOperations>`)
	want, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("streamed % X\nmarshal  % X", buf.Bytes(), want)
	}
}

// Attach: an etree placeholder element whose content comes from a reader.
func TestAttachStreams(t *testing.T) {
	doc := etree.NewDocument()
	root := doc.CreateElement("ItemOperations:ItemOperations")
	props := root.CreateElement("ItemOperations:Response").CreateElement("ItemOperations:Fetch").CreateElement("ItemOperations:Properties")
	data := props.CreateElement("ItemOperations:Data")
	body := props.CreateElement("AirSyncBase:Body").CreateElement("AirSyncBase:Data")
	conv := root.CreateElement("Email2:ConversationId")

	var buf bytes.Buffer
	e := NewEncoder(&buf)
	e.Attach(data, Base64Stream(strings.NewReader("%PDF-1.4 …")))
	e.Attach(body, TextStream(strings.NewReader("MIME-Version: 1.0\r\n\r\nhi")))
	e.Attach(conv, OpaqueStream(bytes.NewReader([]byte{0, 1, 2}), 3))
	if err := e.EncodeDocument(doc); err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got := back.FindElement("//ItemOperations:Data").Text()
	if raw, _ := base64.StdEncoding.DecodeString(got); string(raw) != "%PDF-1.4 …" {
		t.Fatalf("Data %q", got)
	}
	if got := back.FindElement("//AirSyncBase:Data").Text(); got != "MIME-Version: 1.0\r\n\r\nhi" {
		t.Fatalf("Body %q", got)
	}
	if b, _ := Bytes(back.FindElement("//Email2:ConversationId")); !bytes.Equal(b, []byte{0, 1, 2}) {
		t.Fatalf("ConversationId % X", b)
	}
	// A placeholder must be empty.
	data.SetText("x")
	e = NewEncoder(io.Discard)
	e.Attach(data, TextStream(strings.NewReader("y")))
	if err := e.EncodeDocument(doc); !errors.Is(err, ErrStructure) {
		t.Fatalf("non-empty placeholder: %v", err)
	}
}

func TestStreamErrors(t *testing.T) {
	e := NewEncoder(io.Discard)
	e.StartName("AirSyncBase:Data")
	if err := e.OpaqueFrom(strings.NewReader("abc"), 10); !errors.Is(err, ErrShortStream) {
		t.Fatalf("short: %v", err)
	}
	e = NewEncoder(io.Discard)
	e.StartName("AirSyncBase:Data")
	if err := e.TextFrom(strings.NewReader("ab\x00cd")); !errors.Is(err, ErrBadString) {
		t.Fatalf("NUL: %v", err)
	}
	e = NewEncoder(io.Discard)
	e.StartName("AirSyncBase:Data")
	if err := e.OpaqueFrom(strings.NewReader(""), 1<<33); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge: %v", err)
	}
	e = NewEncoder(io.Discard)
	e.StartName("AirSyncBase:Data")
	if err := e.TextFrom(iotestErrReader{}); !errors.Is(err, ErrIO) {
		t.Fatalf("reader error: %v", err)
	}
}

const bigValue = 25 << 20 // a 25 MB attachment

// TestLargeValuesStreamInBoundedMemory: a 25 MB attachment goes out as
// OPAQUE, as base64 text and as raw text while the encoder allocates well
// under 1 MB in total (the value is never held in memory, let alone three
// times). Measured with runtime.MemStats.TotalAlloc, not time.
func TestLargeValuesStreamInBoundedMemory(t *testing.T) {
	for _, mode := range []string{"OpaqueFrom", "Base64From", "TextFrom", "Attach"} {
		t.Run(mode, func(t *testing.T) {
			out := &hashWriter{h: sha256.New()}
			var before, after runtimeMem
			before.read()
			e := NewEncoder(out)
			e.StartName("ItemOperations:ItemOperations")
			e.StartName("ItemOperations:Data")
			var err error
			switch mode {
			case "OpaqueFrom":
				err = e.OpaqueFrom(&patternReader{n: bigValue}, bigValue)
			case "Base64From":
				err = e.Base64From(&patternReader{n: bigValue})
			case "TextFrom":
				err = e.TextFrom(&textPattern{n: bigValue})
			case "Attach":
				e.End()
				e.End()
				doc := etree.NewDocument()
				el := doc.CreateElement("ItemOperations:ItemOperations").CreateElement("ItemOperations:Data")
				e = NewEncoder(out)
				e.Attach(el, Base64Stream(&patternReader{n: bigValue}))
				err = e.EncodeDocument(doc)
			}
			if err != nil {
				t.Fatal(err)
			}
			if mode != "Attach" {
				e.End()
				e.End()
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
			}
			after.read()
			if out.n < bigValue {
				t.Fatalf("wrote only %d bytes", out.n)
			}
			if alloc := after.total - before.total; alloc > 1<<20 {
				t.Fatalf("allocated %d bytes to stream %d bytes", alloc, out.n)
			}
		})
	}
}

// The streamed output decodes to the same bytes.
func TestStreamedOpaqueDecodes(t *testing.T) {
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	e.StartName("ItemOperations:ItemOperations")
	e.StartName("ItemOperations:ConversationId")
	n := int64(1<<20 + 3)
	if err := e.OpaqueFrom(&patternReader{n: n}, n); err != nil {
		t.Fatal(err)
	}
	e.End()
	e.End()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	doc, err := Unmarshal(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Bytes(doc.FindElement("//ItemOperations:ConversationId"))
	want, _ := io.ReadAll(&patternReader{n: n})
	if !bytes.Equal(got, want) {
		t.Fatal("opaque bytes differ")
	}
}
