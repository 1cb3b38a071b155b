package wbxml

import (
	"bytes"
	"io"
	"unicode/utf8"
)

// WBXML 1.3 global tokens (WAP-192-WBXML section 7.1).
const (
	gSwitchPage = 0x00
	gEnd        = 0x01
	gEntity     = 0x02
	gStrI       = 0x03
	gLiteral    = 0x04
	gExtI0      = 0x40
	gExtI1      = 0x41
	gExtI2      = 0x42
	gPI         = 0x43
	gLiteralC   = 0x44
	gExtT0      = 0x80
	gExtT1      = 0x81
	gExtT2      = 0x82
	gStrT       = 0x83
	gLiteralA   = 0x84
	gExt0       = 0xC0
	gExt1       = 0xC1
	gExt2       = 0xC2
	gOpaque     = 0xC3
	gLiteralAC  = 0xC4

	bitAttributes = 0x80
	bitContent    = 0x40
)

// Header values used by EAS ([MS-ASWBXML] section 2.1.1).
const (
	wbxmlVersion13 = 0x03
	publicIDEAS    = 0x01 // "unknown or missing public identifier"
	charsetUTF8    = 0x6A // IANA MIBenum 106
	// ActiveSyncPublicID is the literal public identifier libwbxml writes in
	// the string table; the Decoder accepts it in place of 0x01.
	ActiveSyncPublicID = "-//MICROSOFT//DTD ActiveSync//EN"
)

// TokenKind says what a Token is.
type TokenKind uint8

const (
	// StartTag opens an element. An element without content (WBXML content
	// bit clear) is reported as a StartTag immediately followed by its EndTag.
	StartTag TokenKind = iota + 1
	// EndTag closes the innermost open element.
	EndTag
	// Text is string content: STR_I, STR_T or ENTITY.
	Text
	// Opaque is OPAQUE content.
	Opaque
)

func (k TokenKind) String() string {
	switch k {
	case StartTag:
		return "StartTag"
	case EndTag:
		return "EndTag"
	case Text:
		return "Text"
	case Opaque:
		return "Opaque"
	}
	return "TokenKind(?)"
}

// Token is one item of a WBXML document.
type Token struct {
	Kind TokenKind
	// Tag is the element opened or closed (StartTag, EndTag), or the element
	// the content belongs to (Text, Opaque).
	Tag Tag
	// Data is the content of a Text or Opaque token. It aliases the input
	// slice (except for ENTITY) and must not be modified; it stays valid as
	// long as the input does. A Text token's data is not checked for UTF-8.
	Data []byte
	// Offset is the position of the token in the input.
	Offset int64
}

// Decoder reads WBXML tokens from an in-memory document, one at a time.
// It allocates nothing per token; its memory is bounded by Limits.MaxDepth.
// The first error is sticky: Next returns it forever after. A Decoder is
// not safe for concurrent use.
type Decoder struct {
	data   []byte
	pos    int
	lim    Limits
	page   byte
	stack  []Tag
	strtbl []byte
	err    error

	started    bool
	rootSeen   bool
	pendingEnd bool
	pendingTag Tag
	pendingOff int64
	elements   int
}

// NewDecoder returns a Decoder reading data, which must stay unmodified while
// it is in use. Zero fields of lim take their defaults.
func NewDecoder(data []byte, lim Limits) *Decoder {
	return &Decoder{data: data, lim: lim.withDefaults()}
}

// ReadDecoder reads r to its end, refusing more than lim.MaxDocumentSize
// bytes, and returns a Decoder for what it read.
func ReadDecoder(r io.Reader, lim Limits) (*Decoder, error) {
	lim = lim.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxDocumentSize+1))
	if err != nil {
		return nil, &Error{Kind: ErrIO, Offset: int64(len(data)), Reason: "reading WBXML", Err: err}
	}
	if int64(len(data)) > lim.MaxDocumentSize {
		return nil, newError(ErrTooLarge, -1, "document larger than %d bytes", lim.MaxDocumentSize)
	}
	return NewDecoder(data, lim), nil
}

// Err returns the sticky error, or nil. After a clean end of document it
// returns nil while Next returns io.EOF.
func (d *Decoder) Err() error {
	if d.err == io.EOF {
		return nil
	}
	return d.err
}

// Depth returns the number of elements currently open.
func (d *Decoder) Depth() int { return len(d.stack) }

// Offset returns the position of the next byte to read.
func (d *Decoder) Offset() int64 { return int64(d.pos) }

func (d *Decoder) fail(e *Error) (Token, error) {
	d.err = e
	return Token{}, e
}

// Next returns the next token. At the end of a well-formed document it
// returns io.EOF; any other error is an *Error.
func (d *Decoder) Next() (Token, error) {
	if d.err != nil {
		return Token{}, d.err
	}
	if !d.started {
		d.started = true
		if e := d.header(); e != nil {
			return d.fail(e)
		}
	}
	if d.pendingEnd {
		d.pendingEnd = false
		return Token{Kind: EndTag, Tag: d.pendingTag, Offset: d.pendingOff}, nil
	}
	for {
		if d.rootSeen && len(d.stack) == 0 {
			if d.pos < len(d.data) {
				return d.fail(newError(ErrTrailingData, int64(d.pos), "%d bytes after the root element", len(d.data)-d.pos))
			}
			d.err = io.EOF
			return Token{}, io.EOF
		}
		if d.pos >= len(d.data) {
			if len(d.stack) > 0 {
				return d.fail(newError(ErrTruncated, int64(d.pos), "input ends inside <%s>", d.stack[len(d.stack)-1]))
			}
			return d.fail(newError(ErrTruncated, int64(d.pos), "no root element"))
		}
		off := int64(d.pos)
		b := d.data[d.pos]
		d.pos++
		switch b {
		case gSwitchPage:
			if d.pos >= len(d.data) {
				return d.fail(newError(ErrTruncated, off, "SWITCH_PAGE without a page"))
			}
			p := d.data[d.pos]
			d.pos++
			if pagesByID[p] == nil {
				return d.fail(newError(ErrUnknownPage, off, "SWITCH_PAGE to code page %d", p))
			}
			d.page = p
			continue
		case gEnd:
			if len(d.stack) == 0 {
				return d.fail(newError(ErrUnbalanced, off, "END with no element open"))
			}
			t := d.stack[len(d.stack)-1]
			d.stack = d.stack[:len(d.stack)-1]
			return Token{Kind: EndTag, Tag: t, Offset: off}, nil
		case gStrI:
			if e := d.needOpen(off, "inline string"); e != nil {
				return d.fail(e)
			}
			rest := d.data[d.pos:]
			n := bytes.IndexByte(rest, 0)
			if n < 0 {
				return d.fail(newError(ErrTruncated, off, "inline string without terminating NUL"))
			}
			if n > d.lim.MaxValueLen {
				return d.fail(newError(ErrTooLarge, off, "inline string of %d bytes (limit %d)", n, d.lim.MaxValueLen))
			}
			d.pos += n + 1
			return Token{Kind: Text, Tag: d.top(), Data: rest[:n:n], Offset: off}, nil
		case gStrT:
			if e := d.needOpen(off, "string table reference"); e != nil {
				return d.fail(e)
			}
			ref, e := d.mbUint32(off)
			if e != nil {
				return d.fail(e)
			}
			if ref >= uint64(len(d.strtbl)) {
				return d.fail(newError(ErrBadOffset, off, "STR_T offset %d outside a string table of %d bytes", ref, len(d.strtbl)))
			}
			s := d.strtbl[ref:]
			n := bytes.IndexByte(s, 0)
			if n < 0 {
				return d.fail(newError(ErrBadOffset, off, "STR_T offset %d: string not terminated inside the table", ref))
			}
			return Token{Kind: Text, Tag: d.top(), Data: s[:n:n], Offset: off}, nil
		case gEntity:
			if e := d.needOpen(off, "entity"); e != nil {
				return d.fail(e)
			}
			cp, e := d.mbUint32(off)
			if e != nil {
				return d.fail(e)
			}
			if cp > utf8.MaxRune || !utf8.ValidRune(rune(cp)) {
				return d.fail(newError(ErrBadEntity, off, "entity &#x%X; is not a Unicode scalar value", cp))
			}
			return Token{Kind: Text, Tag: d.top(), Data: utf8.AppendRune(nil, rune(cp)), Offset: off}, nil
		case gOpaque:
			if e := d.needOpen(off, "opaque data"); e != nil {
				return d.fail(e)
			}
			n, e := d.mbUint32(off)
			if e != nil {
				return d.fail(e)
			}
			if rem := uint64(len(d.data) - d.pos); n > rem {
				return d.fail(newError(ErrTruncated, off, "opaque length %d exceeds the %d bytes left", n, rem))
			}
			if n > uint64(d.lim.MaxValueLen) {
				return d.fail(newError(ErrTooLarge, off, "opaque value of %d bytes (limit %d)", n, d.lim.MaxValueLen))
			}
			data := d.data[d.pos : d.pos+int(n) : d.pos+int(n)]
			d.pos += int(n)
			return Token{Kind: Opaque, Tag: d.top(), Data: data, Offset: off}, nil
		case gLiteral, gLiteralA, gLiteralC, gLiteralAC:
			return d.fail(newError(ErrLiteral, off, "LITERAL token 0x%02X", b))
		case gExtI0, gExtI1, gExtI2, gExtT0, gExtT1, gExtT2, gExt0, gExt1, gExt2, gPI:
			return d.fail(newError(ErrUnsupported, off, "global token 0x%02X", b))
		}
		// A tag token.
		if b&bitAttributes != 0 {
			return d.fail(newError(ErrAttributes, off, "tag 0x%02X on code page %d has the attribute bit set", b, d.page))
		}
		t := Tag{Page: d.page, Token: b & 0x3F}
		if !t.Valid() {
			return d.fail(newError(ErrUnknownToken, off, "token 0x%02X is not defined on code page %d (%s)", t.Token, d.page, pagesByID[d.page].name))
		}
		if len(d.stack)+1 > d.lim.MaxDepth {
			return d.fail(newError(ErrTooDeep, off, "<%s> at depth %d (limit %d)", t, len(d.stack)+1, d.lim.MaxDepth))
		}
		d.elements++
		if d.elements > d.lim.MaxElements {
			return d.fail(newError(ErrTooLarge, off, "more than %d elements", d.lim.MaxElements))
		}
		d.rootSeen = true
		if b&bitContent != 0 {
			d.stack = append(d.stack, t)
		} else {
			d.pendingEnd, d.pendingTag, d.pendingOff = true, t, off
		}
		return Token{Kind: StartTag, Tag: t, Offset: off}, nil
	}
}

func (d *Decoder) top() Tag { return d.stack[len(d.stack)-1] }

func (d *Decoder) needOpen(off int64, what string) *Error {
	if len(d.stack) == 0 {
		return newError(ErrStructure, off, "%s outside the root element", what)
	}
	return nil
}

// mbUint32 reads a WBXML multi-byte unsigned integer: at most 5 bytes, at
// most 2^32-1.
func (d *Decoder) mbUint32(off int64) (uint64, *Error) {
	var v uint64
	for i := 0; ; i++ {
		if d.pos >= len(d.data) {
			return 0, newError(ErrTruncated, off, "input ends inside an mb_u_int32")
		}
		if i == 5 {
			return 0, newError(ErrBadInteger, off, "mb_u_int32 longer than 5 bytes")
		}
		b := d.data[d.pos]
		d.pos++
		v = v<<7 | uint64(b&0x7F)
		if b&0x80 == 0 {
			break
		}
	}
	if v > 0xFFFFFFFF {
		return 0, newError(ErrBadInteger, off, "mb_u_int32 value %d exceeds 2^32-1", v)
	}
	return v, nil
}

// header parses version, public identifier, charset and string table
// ([MS-ASWBXML] section 2.1.1; WAP-192-WBXML section 5.4).
func (d *Decoder) header() *Error {
	if int64(len(d.data)) > d.lim.MaxDocumentSize {
		return newError(ErrTooLarge, 0, "document of %d bytes (limit %d)", len(d.data), d.lim.MaxDocumentSize)
	}
	if len(d.data) == 0 {
		return newError(ErrTruncated, 0, "empty input")
	}
	if v := d.data[0]; v != wbxmlVersion13 {
		return newError(ErrBadHeader, 0, "version byte 0x%02X, want 0x03 (WBXML 1.3)", v)
	}
	d.pos = 1
	pub, e := d.mbUint32(1)
	if e != nil {
		return e
	}
	literal := false
	var pubIndex uint64
	switch pub {
	case publicIDEAS:
	case 0:
		literal = true
		if pubIndex, e = d.mbUint32(int64(d.pos)); e != nil {
			return e
		}
	default:
		return newError(ErrBadHeader, 1, "public identifier 0x%X, want 0x01 or the ActiveSync DTD", pub)
	}
	csOff := int64(d.pos)
	cs, e := d.mbUint32(csOff)
	if e != nil {
		return e
	}
	if cs != charsetUTF8 {
		return newError(ErrBadHeader, csOff, "charset %d, want 106 (UTF-8)", cs)
	}
	stOff := int64(d.pos)
	n, e := d.mbUint32(stOff)
	if e != nil {
		return e
	}
	if rem := uint64(len(d.data) - d.pos); n > rem {
		return newError(ErrTruncated, stOff, "string table length %d exceeds the %d bytes left", n, rem)
	}
	if n > uint64(d.lim.MaxStringTable) {
		return newError(ErrTooLarge, stOff, "string table of %d bytes (limit %d)", n, d.lim.MaxStringTable)
	}
	d.strtbl = d.data[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	if literal {
		if pubIndex >= uint64(len(d.strtbl)) {
			return newError(ErrBadOffset, 1, "public identifier at string table offset %d outside a table of %d bytes", pubIndex, len(d.strtbl))
		}
		s := d.strtbl[pubIndex:]
		end := bytes.IndexByte(s, 0)
		if end < 0 {
			return newError(ErrBadOffset, 1, "public identifier not terminated inside the string table")
		}
		if string(s[:end]) != ActiveSyncPublicID {
			return newError(ErrBadHeader, 1, "public identifier %q, want %q", s[:end], ActiveSyncPublicID)
		}
	}
	return nil
}
