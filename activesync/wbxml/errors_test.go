package wbxml

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

var hdr = []byte{0x03, 0x01, 0x6A, 0x00}

func wb(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			b = append(b, byte(v))
		case byte:
			b = append(b, v)
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		}
	}
	return b
}

func nested(n int) []byte {
	b := append([]byte(nil), hdr...)
	for i := 0; i < n; i++ {
		b = append(b, 0x45)
	}
	for i := 0; i < n; i++ {
		b = append(b, 0x01)
	}
	return b
}

var small = Limits{MaxValueLen: 8, MaxStringTable: 8, MaxElements: 3, MaxDocumentSize: 64, MaxDepth: 4}

// badInputs are malformed documents with the error kind each must give.
// They also seed the fuzz targets.
var badInputs = []struct {
	name string
	in   []byte
	lim  Limits
	kind error
}{
	{"empty input", nil, Limits{}, ErrTruncated},
	{"version 1.2", wb(0x02, 0x01, 0x6A, 0x00, 0x45, 0x01), Limits{}, ErrBadHeader},
	{"version 1.0", wb(0x00, 0x01, 0x6A, 0x00, 0x45, 0x01), Limits{}, ErrBadHeader},
	{"public id 0x02", wb(0x03, 0x02, 0x6A, 0x00, 0x45, 0x01), Limits{}, ErrBadHeader},
	{"public id 129", wb(0x03, 0x81, 0x01, 0x6A, 0x00, 0x45, 0x01), Limits{}, ErrBadHeader},
	{"charset latin1", wb(0x03, 0x01, 0x04, 0x00, 0x45, 0x01), Limits{}, ErrBadHeader},
	{"charset 0", wb(0x03, 0x01, 0x00, 0x00, 0x45, 0x01), Limits{}, ErrBadHeader},
	{"header truncated", wb(0x03, 0x01), Limits{}, ErrTruncated},
	{"header truncated in mb", wb(0x03, 0x01, 0xEA), Limits{}, ErrTruncated},
	{"literal public id wrong", wb(0x03, 0x00, 0x00, 0x6A, 0x04, "abc", 0, 0x45, 0x01), Limits{}, ErrBadHeader},
	{"literal public id offset", wb(0x03, 0x00, 0x09, 0x6A, 0x04, "abc", 0, 0x45, 0x01), Limits{}, ErrBadOffset},
	{"literal public id unterminated", wb(0x03, 0x00, 0x00, 0x6A, 0x03, "abc", 0x45, 0x01), Limits{}, ErrBadOffset},
	{"string table past end", wb(0x03, 0x01, 0x6A, 0x20, "ab"), Limits{}, ErrTruncated},
	{"string table huge claim", wb(0x03, 0x01, 0x6A, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, "ab"), Limits{}, ErrTruncated},
	{"string table over limit", wb(0x03, 0x01, 0x6A, 0x09, "012345678", 0x45, 0x01), small, ErrTooLarge},
	{"no root", wb(hdr), Limits{}, ErrTruncated},
	{"switch page 26", wb(hdr, 0x00, 26, 0x45, 0x01), Limits{}, ErrUnknownPage},
	{"switch page 255", wb(hdr, 0x45, 0x00, 0xFF, 0x45, 0x01, 0x01), Limits{}, ErrUnknownPage},
	{"switch page at end", wb(hdr, 0x00), Limits{}, ErrTruncated},
	{"unknown token 0x11 on AirSync", wb(hdr, 0x51, 0x01), Limits{}, ErrUnknownToken},
	{"unknown token 0x3F on AirSync", wb(hdr, 0x45, 0x3F, 0x01), Limits{}, ErrUnknownToken},
	{"unknown token 0x12 on Provision", wb(hdr, 0x00, 14, 0x45, 0x12, 0x01), Limits{}, ErrUnknownToken},
	{"attributes bit with content", wb(hdr, 0xC5, 0x01, 0x01), Limits{}, ErrAttributes},
	{"attributes bit without content", wb(hdr, 0x85, 0x01), Limits{}, ErrAttributes},
	{"LITERAL", wb(hdr, 0x04, 0x00), Limits{}, ErrLiteral},
	{"LITERAL_C", wb(hdr, 0x44, 0x00, 0x01), Limits{}, ErrLiteral},
	{"LITERAL_A", wb(hdr, 0x45, 0x84, 0x00, 0x01), Limits{}, ErrLiteral},
	{"LITERAL_AC", wb(hdr, 0x45, 0xC4, 0x00, 0x01), Limits{}, ErrLiteral},
	{"EXT_I_0", wb(hdr, 0x45, 0x40, "x", 0, 0x01), Limits{}, ErrUnsupported},
	{"PI", wb(hdr, 0x45, 0x43, 0x01), Limits{}, ErrUnsupported},
	{"EXT_T_1", wb(hdr, 0x45, 0x81, 0x00, 0x01), Limits{}, ErrUnsupported},
	{"EXT_2", wb(hdr, 0x45, 0xC2, 0x01), Limits{}, ErrUnsupported},
	{"END with nothing open", wb(hdr, 0x01), Limits{}, ErrUnbalanced},
	{"truncated inside element", wb(hdr, 0x45, 0x5C), Limits{}, ErrTruncated},
	{"truncated inline string", wb(hdr, 0x45, 0x4B, 0x03, "12"), Limits{}, ErrTruncated},
	{"trailing garbage", wb(hdr, 0x45, 0x01, 0xFF), Limits{}, ErrTrailingData},
	{"trailing END", wb(hdr, 0x45, 0x01, 0x01), Limits{}, ErrTrailingData},
	{"second root", wb(hdr, 0x05, 0x05), Limits{}, ErrTrailingData},
	{"trailing after empty root", wb(hdr, 0x05, 0x00, 0x00), Limits{}, ErrTrailingData},
	{"string outside root", wb(hdr, 0x03, "x", 0, 0x45, 0x01), Limits{}, ErrStructure},
	{"opaque outside root", wb(hdr, 0xC3, 0x00, 0x45, 0x01), Limits{}, ErrStructure},
	{"opaque 0xFFFFFFFF", wb(hdr, 0x45, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, "abc"), Limits{}, ErrTruncated},
	{"opaque past end", wb(hdr, 0x45, 0xC3, 0x0A, "abc"), Limits{}, ErrTruncated},
	{"opaque over limit", wb(hdr, 0x45, 0x4B, 0xC3, 0x09, "123456789", 0x01, 0x01), small, ErrTooLarge},
	{"inline string over limit", wb(hdr, 0x45, 0x4B, 0x03, "123456789", 0, 0x01, 0x01), small, ErrTooLarge},
	{"mb_u_int32 6 bytes", wb(hdr, 0x45, 0xC3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01), Limits{}, ErrBadInteger},
	{"mb_u_int32 2^32", wb(hdr, 0x45, 0xC3, 0x90, 0x80, 0x80, 0x80, 0x00, 0x01), Limits{}, ErrBadInteger},
	{"mb_u_int32 truncated", wb(hdr, 0x45, 0xC3, 0x80), Limits{}, ErrTruncated},
	{"STR_T without table", wb(hdr, 0x45, 0x4B, 0x83, 0x00, 0x01, 0x01), Limits{}, ErrBadOffset},
	{"STR_T past table", wb(0x03, 0x01, 0x6A, 0x02, "a", 0, 0x45, 0x4B, 0x83, 0x02, 0x01, 0x01), Limits{}, ErrBadOffset},
	{"STR_T unterminated", wb(0x03, 0x01, 0x6A, 0x02, "ab", 0x45, 0x4B, 0x83, 0x00, 0x01, 0x01), Limits{}, ErrBadOffset},
	{"STR_T huge offset", wb(0x03, 0x01, 0x6A, 0x02, "a", 0, 0x45, 0x4B, 0x83, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x01, 0x01), Limits{}, ErrBadOffset},
	{"ENTITY surrogate", wb(hdr, 0x45, 0x4B, 0x02, 0x83, 0xB0, 0x00, 0x01, 0x01), Limits{}, ErrBadEntity},
	{"ENTITY above U+10FFFF", wb(hdr, 0x45, 0x4B, 0x02, 0xC4, 0x80, 0x00, 0x01, 0x01), Limits{}, ErrBadEntity},
	{"depth 65", nested(65), Limits{}, ErrTooDeep},
	{"depth 100000", nested(100000), Limits{MaxDocumentSize: 1 << 20}, ErrTooDeep},
	{"depth over custom limit", nested(5), Limits{MaxDepth: 4}, ErrTooDeep},
	{"too many elements", wb(hdr, 0x45, 0x0B, 0x0B, 0x0B, 0x01), small, ErrTooLarge},
	{"document over limit", append(nested(1), make([]byte, 64)...), small, ErrTooLarge},
	{"text after child", wb(hdr, 0x45, 0x0B, 0x03, "a", 0, 0x01), Limits{}, ErrMixedContent},
	{"child after text", wb(hdr, 0x45, 0x03, "a", 0, 0x0B, 0x01), Limits{}, ErrMixedContent},
}

// TestDecodeBadInput: every malformed input is rejected with the expected
// kind, as a *Error with an offset inside the input, without panicking.
func TestDecodeBadInput(t *testing.T) {
	cases := badInputs
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			doc, err := UnmarshalLimits(c.in, c.lim)
			if err == nil {
				t.Fatalf("no error; got %s", xmlString(t, doc))
			}
			if !errors.Is(err, c.kind) {
				t.Fatalf("error %v, want kind %v", err, c.kind)
			}
			var we *Error
			if !errors.As(err, &we) {
				t.Fatalf("error %T is not *wbxml.Error", err)
			}
			if we.Offset < 0 || we.Offset > int64(len(c.in)) {
				t.Errorf("offset %d outside input of %d bytes", we.Offset, len(c.in))
			}
			if we.Reason == "" || !strings.HasPrefix(err.Error(), "wbxml: ") {
				t.Errorf("unhelpful message %q", err)
			}
			// The pull decoder reports the same kind, and the error is sticky.
			d := NewDecoder(c.in, c.lim)
			var perr error
			for perr == nil {
				_, perr = d.Next()
			}
			if !errors.Is(perr, c.kind) && !errors.Is(c.kind, ErrMixedContent) {
				t.Errorf("Next: %v, want %v", perr, c.kind)
			}
			if _, again := d.Next(); again != perr {
				t.Errorf("error not sticky: %v then %v", perr, again)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("took %v", el)
			}
		})
	}
}

// A claimed length is never allocated: rejecting a 4 GiB OPAQUE, string
// table or deep nest costs a handful of small allocations.
func TestBadLengthsDoNotAllocate(t *testing.T) {
	for name, in := range map[string][]byte{
		"opaque":       wb(hdr, 0x45, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, "abc"),
		"string table": wb(0x03, 0x01, 0x6A, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, "ab"),
		"STR_T":        wb(0x03, 0x01, 0x6A, 0x02, "a", 0, 0x45, 0x4B, 0x83, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F),
	} {
		var buf []byte
		allocs := testing.AllocsPerRun(20, func() {
			_, err := Unmarshal(in)
			if err == nil {
				t.Fatal("accepted")
			}
			buf = append(buf[:0], err.Error()...)
		})
		if allocs > 30 {
			t.Errorf("%s: %.0f allocations to reject", name, allocs)
		}
	}
	var m1, m2 runtimeMem
	m1.read()
	_, err := Unmarshal(nested(100000))
	m2.read()
	if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTooDeep) {
		t.Fatal(err)
	}
	if d := m2.total - m1.total; d > 1<<20 {
		t.Errorf("rejecting deep nesting allocated %d bytes", d)
	}
}

func TestDecodeHexAndBase64(t *testing.T) {
	doc, err := DecodeHex("03 01 6a 00\n45 4B 03 31 00 01 01")
	if err != nil || doc.Root().SelectElement("AirSync:SyncKey").Text() != "1" {
		t.Fatalf("DecodeHex: %v", err)
	}
	if _, err := DecodeHex("0x03,0x01,0x6A,0x00,0x45,0x01"); err != nil {
		t.Fatalf("DecodeHex 0x form: %v", err)
	}
	if _, err := DecodeHex("03 01 zz"); !errors.Is(err, ErrBadEncoding) {
		t.Fatalf("bad hex: %v", err)
	}
	if _, err := DecodeBase64("AwFqAEUB"); err != nil {
		t.Fatalf("DecodeBase64: %v", err)
	}
	if _, err := DecodeBase64("AwFqAEVLAzEAAQE="); err != nil {
		t.Fatalf("DecodeBase64 padded: %v", err)
	}
	if _, err := DecodeBase64("Aw Fq\nAEUB"); err != nil {
		t.Fatalf("DecodeBase64 spaced: %v", err)
	}
	if _, err := DecodeBase64("!!!"); !errors.Is(err, ErrBadEncoding) {
		t.Fatalf("bad base64: %v", err)
	}
	if _, err := DecodeBase64("AwFqAEU"); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated base64 doc: %v", err)
	}
}

func TestReadDocumentLimit(t *testing.T) {
	in := nested(10)
	if _, err := ReadDocument(bytes.NewReader(in), Limits{MaxDocumentSize: int64(len(in))}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDocument(bytes.NewReader(in), Limits{MaxDocumentSize: int64(len(in) - 1)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
	if _, err := ReadDocument(iotestErrReader{}, Limits{}); !errors.Is(err, ErrIO) {
		t.Fatalf("got %v", err)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestEncodeBadInput(t *testing.T) {
	build := func(f func(doc *etree.Document)) *etree.Document {
		doc := etree.NewDocument()
		f(doc)
		return doc
	}
	deep := build(func(doc *etree.Document) {
		el := doc.CreateElement("AirSync:Sync")
		for i := 0; i < DefaultMaxDepth; i++ {
			el = el.CreateElement("AirSync:Sync")
		}
	})
	cases := []struct {
		name string
		doc  *etree.Document
		kind error
	}{
		{"no root", etree.NewDocument(), ErrStructure},
		{"unknown page", build(func(d *etree.Document) { d.CreateElement("Nope:Sync") }), ErrUnknownPage},
		{"no page", build(func(d *etree.Document) { d.CreateElement("Sync") }), ErrUnknownPage},
		{"wrong case page", build(func(d *etree.Document) { d.CreateElement("airsync:Sync") }), ErrUnknownPage},
		{"unknown name", build(func(d *etree.Document) { d.CreateElement("AirSync:Synch") }), ErrUnknownToken},
		{"name from another page", build(func(d *etree.Document) { d.CreateElement("Ping:SyncKey") }), ErrUnknownToken},
		{"attribute", build(func(d *etree.Document) { d.CreateElement("AirSync:Sync").CreateAttr("id", "1") }), ErrAttributes},
		{"mixed content", build(func(d *etree.Document) {
			r := d.CreateElement("AirSync:Sync")
			r.SetText("x")
			r.CreateElement("AirSync:Status")
		}), ErrMixedContent},
		{"bad base64 in opaque element", build(func(d *etree.Document) { d.CreateElement("Email2:ConversationId").SetText("not base64!") }), ErrBadBase64},
		{"bad base64 with marker", build(func(d *etree.Document) {
			e := d.CreateElement("ComposeMail:Mime")
			e.CreateAttr("wbxml:opaque", "base64")
			e.SetText("%%%")
		}), ErrBadBase64},
		{"NUL in text", build(func(d *etree.Document) { d.CreateElement("AirSync:SyncKey").SetText("a\x00b") }), ErrBadString},
		{"too deep", deep, ErrTooDeep},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Marshal(c.doc)
			if !errors.Is(err, c.kind) {
				t.Fatalf("Marshal: %v, want %v", err, c.kind)
			}
			var we *Error
			if !errors.As(err, &we) {
				t.Fatalf("%T", err)
			}
		})
	}
}

func TestEncoderMisuse(t *testing.T) {
	e := NewEncoder(io.Discard)
	if err := e.End(); !errors.Is(err, ErrUnbalanced) {
		t.Fatalf("End: %v", err)
	}
	e = NewEncoder(io.Discard)
	e.Start(MustTag("AirSync:Sync"))
	if err := e.Close(); !errors.Is(err, ErrUnbalanced) {
		t.Fatalf("Close: %v", err)
	}
	e = NewEncoder(io.Discard)
	if err := e.Text("x"); !errors.Is(err, ErrStructure) {
		t.Fatalf("Text outside: %v", err)
	}
	e = NewEncoder(io.Discard)
	if err := e.Close(); !errors.Is(err, ErrStructure) {
		t.Fatalf("Close empty: %v", err)
	}
	e = NewEncoder(io.Discard)
	e.Element(MustTag("AirSync:Sync"), "")
	if err := e.Start(MustTag("AirSync:Sync")); !errors.Is(err, ErrStructure) {
		t.Fatalf("second root: %v", err)
	}
	e = NewEncoder(io.Discard)
	if err := e.Start(Tag{0, 0x11}); !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("bad tag: %v", err)
	}
	e = NewEncoder(io.Discard)
	if err := e.StartName("Foo:Bar"); !errors.Is(err, ErrUnknownPage) {
		t.Fatalf("bad name: %v", err)
	}
	e = NewEncoder(failWriter{})
	e.Element(MustTag("AirSync:Sync"), "x")
	if err := e.Close(); !errors.Is(err, ErrIO) {
		t.Fatalf("failing writer: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestParseXMLBadInput(t *testing.T) {
	deep := strings.Repeat(`<AirSync:Sync>`, 65) + strings.Repeat(`</AirSync:Sync>`, 65)
	cases := []struct {
		name, in string
		kind     error
	}{
		{"syntax", `<Sync xmlns="AirSync:"><Status>1</Sync>`, ErrBadXML},
		{"empty", ``, ErrStructure},
		{"no namespace", `<Sync><Status>1</Status></Sync>`, ErrUnknownPage},
		{"unknown namespace", `<Sync xmlns="urn:other"/>`, ErrUnknownPage},
		{"unknown name", `<Sync xmlns="AirSync:"><Statuss>1</Statuss></Sync>`, ErrUnknownToken},
		{"attribute", `<Sync xmlns="AirSync:" id="1"/>`, ErrAttributes},
		{"bad marker value", `<Sync xmlns="AirSync:" xmlns:wbxml="urn:x-airlock:wbxml"><SyncKey wbxml:opaque="hex">00</SyncKey></Sync>`, ErrAttributes},
		{"mixed text first", `<Sync xmlns="AirSync:">x<Status>1</Status></Sync>`, ErrMixedContent},
		{"mixed text after", `<Sync xmlns="AirSync:"><Status>1</Status>x</Sync>`, ErrMixedContent},
		{"two roots", `<Sync xmlns="AirSync:"/><Sync xmlns="AirSync:"/>`, ErrStructure},
		{"text outside root", `<Sync xmlns="AirSync:"/>x`, ErrStructure},
		{"too deep", deep, ErrTooDeep},
		{"unclosed", `<Sync xmlns="AirSync:">`, ErrBadXML},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseXML(strings.NewReader(c.in))
			if !errors.Is(err, c.kind) {
				t.Fatalf("%v, want %v", err, c.kind)
			}
		})
	}
}
