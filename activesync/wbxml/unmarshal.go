package wbxml

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// The marker attribute for opaque content in an element that MS-ASWBXML does
// not declare opaque: <Email:Body wbxml:opaque="base64">AAEC</Email:Body>.
const (
	OpaqueAttrSpace = "wbxml"
	OpaqueAttrKey   = "opaque"
	OpaqueAttrValue = "base64"
	// OpaqueAttrNS is the namespace WriteXML declares for the marker prefix.
	OpaqueAttrNS = "urn:x-airlock:wbxml"
)

// Unmarshal decodes a WBXML document into an etree document with the default
// limits. See the package documentation for the representation.
func Unmarshal(data []byte) (*etree.Document, error) {
	return NewDecoder(data, Limits{}).Document()
}

// UnmarshalLimits is Unmarshal with explicit limits.
func UnmarshalLimits(data []byte, lim Limits) (*etree.Document, error) {
	return NewDecoder(data, lim).Document()
}

// ReadDocument reads a whole WBXML document from r (at most
// lim.MaxDocumentSize bytes) and decodes it.
func ReadDocument(r io.Reader, lim Limits) (*etree.Document, error) {
	d, err := ReadDecoder(r, lim)
	if err != nil {
		return nil, err
	}
	return d.Document()
}

// DecodeHex decodes a WBXML document written in hexadecimal, as in traces
// and in the MS-ASWBXML examples. White space, "0x" prefixes and commas are
// ignored.
func DecodeHex(s string) (*etree.Document, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', ',':
			return -1
		}
		return r
	}, s)
	clean = strings.ReplaceAll(strings.ReplaceAll(clean, "0x", ""), "0X", "")
	data, err := hex.DecodeString(clean)
	if err != nil {
		return nil, &Error{Kind: ErrBadEncoding, Offset: -1, Reason: "input is not hexadecimal", Err: err}
	}
	return Unmarshal(data)
}

// DecodeBase64 decodes a base64 WBXML document (standard or URL alphabet,
// padding optional, white space ignored), as found in logs and in the
// MS-ASHTTP base64 query encoding.
func DecodeBase64(s string) (*etree.Document, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		case '-':
			return '+'
		case '_':
			return '/'
		}
		return r
	}, s)
	clean = strings.TrimRight(clean, "=")
	data, err := base64.RawStdEncoding.DecodeString(clean)
	if err != nil {
		return nil, &Error{Kind: ErrBadEncoding, Offset: -1, Reason: "input is not base64", Err: err}
	}
	return Unmarshal(data)
}

// frame is an open element while building the etree document.
type frame struct {
	el       *etree.Element
	tag      Tag
	first    []byte // the only content piece so far (aliases the input)
	buf      []byte // owned copy once there are two pieces
	pieces   int
	hasChild bool
}

func (f *frame) content() []byte {
	if f.pieces > 1 {
		return f.buf
	}
	return f.first
}

// Document decodes the whole document into etree form. It must be called
// before any call to Next.
func (d *Decoder) Document() (*etree.Document, error) {
	if d.started {
		return nil, newError(ErrStructure, int64(d.pos), "Document called after Next")
	}
	doc := etree.NewDocument()
	stack := make([]frame, 0, 16)
	for {
		tok, err := d.Next()
		if err == io.EOF {
			return doc, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok.Kind {
		case StartTag:
			el := etree.NewElement(tok.Tag.Local())
			el.Space = tok.Tag.Space()
			if n := len(stack); n > 0 {
				parent := &stack[n-1]
				if parent.pieces > 0 {
					return nil, d.mixed(tok.Offset, parent.tag)
				}
				parent.hasChild = true
				parent.el.AddChild(el)
			} else {
				doc.SetRoot(el)
			}
			stack = append(stack, frame{el: el, tag: tok.Tag})
		case Text, Opaque:
			f := &stack[len(stack)-1]
			if f.hasChild {
				return nil, d.mixed(tok.Offset, f.tag)
			}
			switch f.pieces {
			case 0:
				f.first = tok.Data
			case 1:
				f.buf = append(append(make([]byte, 0, len(f.first)+len(tok.Data)), f.first...), tok.Data...)
			default:
				f.buf = append(f.buf, tok.Data...)
			}
			if f.pieces > 0 && len(f.buf) > d.lim.MaxValueLen {
				d.err = newError(ErrTooLarge, tok.Offset, "content of <%s> over %d bytes", f.tag, d.lim.MaxValueLen)
				return nil, d.err
			}
			f.pieces++
		case EndTag:
			f := &stack[len(stack)-1]
			if f.pieces > 0 {
				setContent(f.el, f.tag, f.content())
			}
			stack = stack[:len(stack)-1]
		}
	}
}

func (d *Decoder) mixed(off int64, t Tag) error {
	d.err = newError(ErrMixedContent, off, "<%s> has both text and child elements", t)
	return d.err
}

// setContent stores decoded content: base64 text for an opaque element,
// plain text when the bytes are XML-safe UTF-8, otherwise base64 text with
// the wbxml:opaque marker.
func setContent(el *etree.Element, t Tag, b []byte) {
	switch {
	case len(b) == 0:
	case t.Opaque():
		el.SetText(base64.StdEncoding.EncodeToString(b))
	case xmlSafe(b):
		el.SetText(string(b))
	default:
		el.CreateAttr(OpaqueAttrSpace+":"+OpaqueAttrKey, OpaqueAttrValue)
		el.SetText(base64.StdEncoding.EncodeToString(b))
	}
}

// xmlSafe reports whether b is valid UTF-8 made only of XML 1.0 characters
// (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]),
// so that it prints as XML text and parses back unchanged.
func xmlSafe(b []byte) bool {
	i := 0
	for i < len(b) {
		// Fast path: 8 bytes of printable ASCII (0x20..0x7F) at a time.
		if i+8 <= len(b) && plainASCII8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
			continue
		}
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if !xmlRune(r, n) {
			return false
		}
		i += n
	}
	return true
}

// plainASCII8 reports whether the 8 bytes of w are all in 0x20..0x7F.
func plainASCII8(w uint64) bool {
	const hi = 0x8080808080808080
	const lo = 0x0101010101010101
	// A byte >= 0x80, or a byte < 0x20 (the "has less than" bit trick).
	return w&hi == 0 && (w-0x20*lo)&^w&hi == 0
}

// xmlRune checks a decoded non-ASCII rune.
func xmlRune(r rune, n int) bool {
	if r == utf8.RuneError && n == 1 {
		return false
	}
	return r != 0xFFFE && r != 0xFFFF
}

// xmlSafeString is xmlSafe for a string.
func xmlSafeString(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !xmlRune(r, n) {
			return false
		}
		i += n
	}
	return true
}

// IsOpaque reports whether el's text is base64 of opaque bytes: el is an
// opaque element of MS-ASWBXML or carries the wbxml:opaque marker.
func IsOpaque(el *etree.Element) bool {
	if t, ok := TagOf(el); ok && t.Opaque() {
		return true
	}
	return hasOpaqueMarker(el)
}

func hasOpaqueMarker(el *etree.Element) bool {
	for _, a := range el.Attr {
		if a.Space == OpaqueAttrSpace && a.Key == OpaqueAttrKey && a.Value == OpaqueAttrValue {
			return true
		}
	}
	return false
}

// Bytes returns the value of el as bytes: the decoded base64 for opaque
// content (see IsOpaque), otherwise the text itself. Use it for values that
// devices may send either way, such as ComposeMail:Mime.
func Bytes(el *etree.Element) ([]byte, error) {
	if !IsOpaque(el) {
		return []byte(el.Text()), nil
	}
	b, err := base64.StdEncoding.DecodeString(el.Text())
	if err != nil {
		return nil, &Error{Kind: ErrBadBase64, Offset: -1, Reason: "content of <" + el.FullTag() + ">", Err: err}
	}
	return b, nil
}

// SetBytes sets the value of el to b: base64 text for an opaque element,
// plain text when b is XML-safe UTF-8, otherwise base64 text with the
// wbxml:opaque marker (so Marshal writes OPAQUE).
func SetBytes(el *etree.Element, b []byte) {
	el.RemoveAttr(OpaqueAttrSpace + ":" + OpaqueAttrKey)
	if len(b) == 0 {
		el.SetText("")
		return
	}
	t, _ := TagOf(el)
	setContent(el, t, b)
}
