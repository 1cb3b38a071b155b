package wbxml

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"

	"github.com/beevik/etree"
)

// Encoder writes a WBXML document to an io.Writer, token by token or from
// etree elements. It writes the EAS header (version 1.3, public identifier
// 0x01, UTF-8, empty string table) before the first element, switches code
// pages as needed, and writes an element without content as a tag with the
// content bit clear. Output is buffered: call Close (or EncodeDocument,
// which flushes) when done. The first error is sticky. An Encoder is not
// safe for concurrent use.
//
// Large values never need to be in memory: OpaqueFrom, TextFrom and
// Base64From copy from an io.Reader through a fixed buffer, and Attach lets
// an etree element stand for such a stream.
type Encoder struct {
	w      *bufio.Writer
	err    error
	n      int64 // bytes written so far (for error offsets)
	page   byte
	stack  []Tag
	open   bool // the top of stack has not been written yet
	header bool
	done   bool // the root element has been closed
	depth  int  // MaxDepth
	attach map[*etree.Element]StreamValue
}

// NewEncoder returns an Encoder writing to w. Elements may nest at most
// DefaultMaxDepth deep; use SetMaxDepth to change that.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: bufio.NewWriterSize(w, 32<<10), depth: DefaultMaxDepth}
}

// SetMaxDepth sets the deepest nesting the Encoder accepts (n <= 0 restores
// the default).
func (e *Encoder) SetMaxDepth(n int) {
	if n <= 0 {
		n = DefaultMaxDepth
	}
	e.depth = n
}

// Err returns the sticky error, or nil.
func (e *Encoder) Err() error { return e.err }

func (e *Encoder) fail(err *Error) error {
	if e.err == nil {
		e.err = err
	}
	return e.err
}

func (e *Encoder) ioFail(err error) error {
	return e.fail(&Error{Kind: ErrIO, Offset: e.n, Reason: "writing WBXML", Err: err})
}

func (e *Encoder) writeByte(b byte) {
	if e.err != nil {
		return
	}
	if err := e.w.WriteByte(b); err != nil {
		e.ioFail(err)
		return
	}
	e.n++
}

func (e *Encoder) write(p []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(p)
	e.n += int64(n)
	if err != nil {
		e.ioFail(err)
	}
}

func (e *Encoder) writeString(s string) {
	if e.err != nil {
		return
	}
	n, err := e.w.WriteString(s)
	e.n += int64(n)
	if err != nil {
		e.ioFail(err)
	}
}

// writeMB writes a WBXML mb_u_int32.
func (e *Encoder) writeMB(v uint32) {
	var buf [5]byte
	i := len(buf) - 1
	buf[i] = byte(v & 0x7F)
	for v >>= 7; v != 0; v >>= 7 {
		i--
		buf[i] = byte(v&0x7F) | 0x80
	}
	e.write(buf[i:])
}

func (e *Encoder) writeHeader() {
	if !e.header {
		e.header = true
		e.write([]byte{wbxmlVersion13, publicIDEAS, charsetUTF8, 0x00})
	}
}

// flushOpen writes the pending start tag of the innermost element, with the
// content bit set or clear.
func (e *Encoder) flushOpen(content bool) {
	if !e.open {
		return
	}
	e.open = false
	t := e.stack[len(e.stack)-1]
	if t.Page != e.page {
		e.writeByte(gSwitchPage)
		e.writeByte(t.Page)
		e.page = t.Page
	}
	b := t.Token
	if content {
		b |= bitContent
	}
	e.writeByte(b)
}

// Start opens element t. Its tag is written when its first content or child
// arrives, or by End as an empty element.
func (e *Encoder) Start(t Tag) error {
	if e.err != nil {
		return e.err
	}
	if !t.Valid() {
		return e.fail(newError(ErrUnknownToken, e.n, "%s is not defined by MS-ASWBXML", t))
	}
	if e.done {
		return e.fail(newError(ErrStructure, e.n, "second root element <%s>", t))
	}
	if len(e.stack)+1 > e.depth {
		return e.fail(newError(ErrTooDeep, e.n, "<%s> at depth %d (limit %d)", t, len(e.stack)+1, e.depth))
	}
	e.writeHeader()
	e.flushOpen(true)
	e.stack = append(e.stack, t)
	e.open = true
	return e.err
}

// StartName is Start for a "Space:Local" name such as "AirSync:Sync".
func (e *Encoder) StartName(name string) error {
	t, ok := ParseTag(name)
	if !ok {
		return e.fail(unknownName(name, e.n))
	}
	return e.Start(t)
}

func unknownName(name string, off int64) *Error {
	space, local, _ := strings.Cut(name, ":")
	if pagesByName[space] == nil {
		return newError(ErrUnknownPage, off, "<%s>: %q is not an MS-ASWBXML code page name", name, space)
	}
	return newError(ErrUnknownToken, off, "<%s>: code page %s has no element %q", name, space, local)
}

// End closes the innermost element.
func (e *Encoder) End() error {
	if e.err != nil {
		return e.err
	}
	if len(e.stack) == 0 {
		return e.fail(newError(ErrUnbalanced, e.n, "End with no element open"))
	}
	if e.open {
		e.flushOpen(false)
	} else {
		e.writeByte(gEnd)
	}
	e.stack = e.stack[:len(e.stack)-1]
	if len(e.stack) == 0 {
		e.done = true
	}
	return e.err
}

// Element writes <t>text</t> (or <t/> for empty text).
func (e *Encoder) Element(t Tag, text string) error {
	e.Start(t)
	e.Text(text)
	return e.End()
}

func (e *Encoder) needOpen(what string) error {
	if e.err != nil {
		return e.err
	}
	if len(e.stack) == 0 {
		return e.fail(newError(ErrStructure, e.n, "%s outside an element", what))
	}
	return nil
}

// Text writes s as an inline string (STR_I). WBXML strings cannot contain
// NUL; such text must go through Opaque. Empty text writes nothing. If the
// open element is opaque (Tag.Opaque), Text writes s's bytes as OPAQUE.
func (e *Encoder) Text(s string) error {
	if err := e.needOpen("text"); err != nil {
		return err
	}
	if s == "" {
		return nil
	}
	if e.stack[len(e.stack)-1].Opaque() {
		return e.opaqueString(s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return e.fail(newError(ErrBadString, e.n, "text of <%s> contains NUL; use Opaque", e.stack[len(e.stack)-1]))
	}
	e.flushOpen(true)
	e.writeByte(gStrI)
	e.writeString(s)
	e.writeByte(0)
	return e.err
}

func (e *Encoder) opaqueString(s string) error {
	if uint64(len(s)) > 0xFFFFFFFF {
		return e.fail(newError(ErrTooLarge, e.n, "opaque value of %d bytes", len(s)))
	}
	e.flushOpen(true)
	e.writeByte(gOpaque)
	e.writeMB(uint32(len(s)))
	e.writeString(s)
	return e.err
}

// Opaque writes b as OPAQUE data. Empty data writes nothing.
func (e *Encoder) Opaque(b []byte) error {
	if err := e.needOpen("opaque data"); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	if uint64(len(b)) > 0xFFFFFFFF {
		return e.fail(newError(ErrTooLarge, e.n, "opaque value of %d bytes", len(b)))
	}
	e.flushOpen(true)
	e.writeByte(gOpaque)
	e.writeMB(uint32(len(b)))
	e.write(b)
	return e.err
}

// OpaqueFrom writes exactly n bytes read from r as one OPAQUE value, through
// the Encoder's fixed buffer: memory does not grow with n. If r ends early
// the error is ErrShortStream and the output is unusable.
func (e *Encoder) OpaqueFrom(r io.Reader, n int64) error {
	if err := e.needOpen("opaque data"); err != nil {
		return err
	}
	if n < 0 || n > 0xFFFFFFFF {
		return e.fail(newError(ErrTooLarge, e.n, "opaque length %d outside 0..2^32-1", n))
	}
	if n == 0 {
		return nil
	}
	e.flushOpen(true)
	e.writeByte(gOpaque)
	e.writeMB(uint32(n))
	if e.err != nil {
		return e.err
	}
	got, err := io.CopyN(e.w, r, n)
	e.n += got
	if err == io.EOF {
		return e.fail(newError(ErrShortStream, e.n, "opaque stream for <%s> ended after %d of %d bytes", e.stack[len(e.stack)-1], got, n))
	}
	if err != nil {
		return e.fail(&Error{Kind: ErrIO, Offset: e.n, Reason: "copying opaque stream", Err: err})
	}
	return nil
}

// TextFrom writes everything read from r as one inline string (STR_I),
// through a fixed 32 KiB buffer. A NUL byte in r fails with ErrBadString
// (the output is then unusable).
func (e *Encoder) TextFrom(r io.Reader) error {
	if err := e.needOpen("text"); err != nil {
		return err
	}
	e.flushOpen(true)
	e.writeByte(gStrI)
	if e.err != nil {
		return e.err
	}
	if _, err := io.Copy(nulGuard{e}, r); err != nil {
		var we *Error
		if errors.As(err, &we) {
			return e.fail(we)
		}
		return e.fail(&Error{Kind: ErrIO, Offset: e.n, Reason: "copying text stream", Err: err})
	}
	e.writeByte(0)
	return e.err
}

// nulGuard passes bytes to the Encoder, refusing NUL.
type nulGuard struct{ e *Encoder }

func (g nulGuard) Write(p []byte) (int, error) {
	if i := bytes.IndexByte(p, 0); i >= 0 {
		g.e.write(p[:i])
		return i, newError(ErrBadString, g.e.n, "text stream contains NUL")
	}
	g.e.write(p)
	if g.e.err != nil {
		return 0, g.e.err
	}
	return len(p), nil
}

// Base64From writes the standard base64 encoding of everything read from r
// as one inline string. This is how a large attachment or document goes into
// ItemOperations:Data ([MS-ASCMD] section 2.2.3.39.2) without being held in
// memory, raw or encoded.
func (e *Encoder) Base64From(r io.Reader) error {
	if err := e.needOpen("text"); err != nil {
		return err
	}
	e.flushOpen(true)
	e.writeByte(gStrI)
	if e.err != nil {
		return e.err
	}
	enc := base64.NewEncoder(base64.StdEncoding, countWriter{e})
	if _, err := io.Copy(enc, r); err != nil {
		var we *Error
		if errors.As(err, &we) {
			return e.fail(we)
		}
		return e.fail(&Error{Kind: ErrIO, Offset: e.n, Reason: "copying base64 stream", Err: err})
	}
	if err := enc.Close(); err != nil {
		return e.err
	}
	e.writeByte(0)
	return e.err
}

type countWriter struct{ e *Encoder }

func (c countWriter) Write(p []byte) (int, error) {
	c.e.write(p)
	if c.e.err != nil {
		return 0, c.e.err
	}
	return len(p), nil
}

// Flush writes buffered output to the underlying writer.
func (e *Encoder) Flush() error {
	if e.err != nil {
		return e.err
	}
	if err := e.w.Flush(); err != nil {
		return e.ioFail(err)
	}
	return nil
}

// Close checks that the document is complete (one root element, all
// elements closed) and flushes. It does not close the underlying writer.
func (e *Encoder) Close() error {
	if e.err != nil {
		return e.err
	}
	if len(e.stack) > 0 {
		return e.fail(newError(ErrUnbalanced, e.n, "<%s> not closed", e.stack[len(e.stack)-1]))
	}
	if !e.done {
		return e.fail(newError(ErrStructure, e.n, "no root element"))
	}
	return e.Flush()
}

// A StreamValue supplies the content of one element when the Encoder reaches
// it (see Encoder.Attach). Implementations call the Encoder's content
// methods (Opaque, OpaqueFrom, Text, TextFrom, Base64From).
type StreamValue interface {
	EncodeValue(e *Encoder) error
}

type opaqueStream struct {
	r io.Reader
	n int64
}

func (s opaqueStream) EncodeValue(e *Encoder) error { return e.OpaqueFrom(s.r, s.n) }

type textStream struct{ r io.Reader }

func (s textStream) EncodeValue(e *Encoder) error { return e.TextFrom(s.r) }

type base64Stream struct{ r io.Reader }

func (s base64Stream) EncodeValue(e *Encoder) error { return e.Base64From(s.r) }

// OpaqueStream streams exactly n bytes of r as OPAQUE data.
func OpaqueStream(r io.Reader, n int64) StreamValue { return opaqueStream{r, n} }

// TextStream streams r as an inline string (r must not contain NUL).
func TextStream(r io.Reader) StreamValue { return textStream{r} }

// Base64Stream streams the base64 encoding of r as an inline string.
func Base64Stream(r io.Reader) StreamValue { return base64Stream{r} }

// Attach makes el a placeholder: when EncodeDocument or EncodeElement reaches
// el, its content is written by v instead of el's text. el must have no
// children or text. The Encoder keeps a reference to el until it is written.
func (e *Encoder) Attach(el *etree.Element, v StreamValue) {
	if e.attach == nil {
		e.attach = make(map[*etree.Element]StreamValue)
	}
	e.attach[el] = v
}

// EncodeDocument writes doc's root element as a complete WBXML document and
// flushes. See the package documentation for the etree representation.
func (e *Encoder) EncodeDocument(doc *etree.Document) error {
	if e.err != nil {
		return e.err
	}
	root := doc.Root()
	if root == nil {
		return e.fail(newError(ErrStructure, e.n, "document has no root element"))
	}
	if err := e.EncodeElement(root); err != nil {
		return err
	}
	return e.Close()
}

// EncodeElement writes el and its subtree at the current position; it can be
// mixed with Start/End to embed prepared subtrees in a streamed document.
func (e *Encoder) EncodeElement(el *etree.Element) error {
	if e.err != nil {
		return e.err
	}
	t, ok := TagOf(el)
	if !ok {
		return e.fail(unknownName(el.FullTag(), e.n))
	}
	marked := false
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns"):
			// Namespace declarations are presentation only.
		case a.Space == OpaqueAttrSpace && a.Key == OpaqueAttrKey && a.Value == OpaqueAttrValue:
			marked = true
		default:
			return e.fail(newError(ErrAttributes, e.n, "<%s> has attribute %s; EAS elements have none", t, a.FullKey()))
		}
	}
	hasElem := false
	var text string
	pieces := 0
	for _, c := range el.Child {
		switch c := c.(type) {
		case *etree.Element:
			hasElem = true
		case *etree.CharData:
			if pieces == 0 {
				text = c.Data
			} else {
				text += c.Data
			}
			pieces++
		}
	}
	if hasElem && strings.TrimSpace(text) != "" {
		return e.fail(newError(ErrMixedContent, e.n, "<%s> has both text and child elements", t))
	}
	if err := e.Start(t); err != nil {
		return err
	}
	if v, ok := e.attach[el]; ok {
		if hasElem || text != "" {
			return e.fail(newError(ErrStructure, e.n, "<%s> has a stream attached and content of its own", t))
		}
		delete(e.attach, el)
		if err := v.EncodeValue(e); err != nil {
			return e.fail(&Error{Kind: ErrIO, Offset: e.n, Reason: "stream for <" + t.String() + ">", Err: err})
		}
		return e.End()
	}
	switch {
	case hasElem:
		for _, c := range el.Child {
			if ce, ok := c.(*etree.Element); ok {
				if err := e.EncodeElement(ce); err != nil {
					return err
				}
			}
		}
	case text == "":
	case t.Opaque() || marked:
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return e.fail(&Error{Kind: ErrBadBase64, Offset: e.n, Reason: "text of opaque element <" + t.String() + ">", Err: err})
		}
		e.Opaque(b)
	default:
		e.Text(text)
	}
	return e.End()
}

// Marshal encodes doc as a WBXML document.
func Marshal(doc *etree.Document) ([]byte, error) {
	var buf bytes.Buffer
	if err := NewEncoder(&buf).EncodeDocument(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
