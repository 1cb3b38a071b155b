package wbxml

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"sort"
	"strings"

	"github.com/beevik/etree"
)

// ParseXML reads an EAS document written as XML and returns it in the
// package's etree form (Space = code page name, no namespace attributes).
//
// It accepts both spellings found in practice:
//
//	<AirSync:Sync> ... <Email:Subject>            prefixes named after code pages, declared or not
//	<Sync xmlns="AirSync:" xmlns:email="Email">   MS-ASCMD style: default namespace plus prefixes
//
// A namespace URI names its code page with or without the trailing colon
// ("AirSync:", "AirSync"), in any letter case; libwbxml's
// "http://synce.org/formats/airsync_wm5/<page>" URIs are accepted too.
// White space between elements is dropped; text of leaf elements is kept
// exactly. Comments, processing instructions and the DOCTYPE are ignored.
// The only attribute kept is the wbxml:opaque marker; any other attribute
// is an ErrAttributes error. Limits: DefaultLimits (MaxDocumentSize,
// MaxDepth, MaxElements).
func ParseXML(r io.Reader) (*etree.Document, error) {
	lim := DefaultLimits()
	cr := &countingReader{r: io.LimitReader(r, lim.MaxDocumentSize+1)}
	dec := xml.NewDecoder(bufio.NewReader(cr))
	dec.Strict = true
	doc := etree.NewDocument()
	type pframe struct {
		el       *etree.Element
		text     strings.Builder
		hasChild bool
	}
	var stack []*pframe
	elements := 0
	fail := func(kind error, format string, args ...any) (*etree.Document, error) {
		return nil, newError(kind, dec.InputOffset(), format, args...)
	}
	for {
		tok, err := dec.Token()
		if cr.n > lim.MaxDocumentSize {
			return fail(ErrTooLarge, "XML document larger than %d bytes", lim.MaxDocumentSize)
		}
		if err == io.EOF {
			if len(stack) > 0 {
				return fail(ErrTruncated, "XML ends inside <%s>", stack[len(stack)-1].el.FullTag())
			}
			if doc.Root() == nil {
				return fail(ErrStructure, "no root element")
			}
			return doc, nil
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &Error{Kind: ErrBadXML, Offset: dec.InputOffset(), Reason: "XML syntax", Err: err}
			}
			return nil, &Error{Kind: ErrIO, Offset: dec.InputOffset(), Reason: "reading XML", Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			p := pageForNamespace(t.Name.Space)
			if p == nil {
				if t.Name.Space == "" {
					return fail(ErrUnknownPage, "<%s> has no namespace; write AirSync:%s or declare xmlns=\"AirSync:\"", t.Name.Local, t.Name.Local)
				}
				return fail(ErrUnknownPage, "<%s>: namespace %q is not an MS-ASWBXML code page", t.Name.Local, t.Name.Space)
			}
			if _, ok := p.byName[t.Name.Local]; !ok {
				return fail(ErrUnknownToken, "code page %s has no element %q", p.name, t.Name.Local)
			}
			if len(stack)+1 > lim.MaxDepth {
				return fail(ErrTooDeep, "<%s:%s> at depth %d (limit %d)", p.name, t.Name.Local, len(stack)+1, lim.MaxDepth)
			}
			if elements++; elements > lim.MaxElements {
				return fail(ErrTooLarge, "more than %d elements", lim.MaxElements)
			}
			el := etree.NewElement(t.Name.Local)
			el.Space = p.name
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns"):
				case (a.Name.Space == OpaqueAttrSpace || a.Name.Space == OpaqueAttrNS) && a.Name.Local == OpaqueAttrKey:
					if a.Value != OpaqueAttrValue {
						return fail(ErrAttributes, "<%s:%s> wbxml:opaque=%q; the only value is %q", p.name, t.Name.Local, a.Value, OpaqueAttrValue)
					}
					el.CreateAttr(OpaqueAttrSpace+":"+OpaqueAttrKey, OpaqueAttrValue)
				default:
					return fail(ErrAttributes, "<%s:%s> has attribute %s; EAS elements have none", p.name, t.Name.Local, a.Name.Local)
				}
			}
			if n := len(stack); n > 0 {
				parent := stack[n-1]
				if strings.TrimSpace(parent.text.String()) != "" {
					return fail(ErrMixedContent, "<%s> has both text and child elements", parent.el.FullTag())
				}
				parent.hasChild = true
				parent.text.Reset()
				parent.el.AddChild(el)
			} else {
				if doc.Root() != nil {
					return fail(ErrStructure, "second root element <%s:%s>", p.name, t.Name.Local)
				}
				doc.SetRoot(el)
			}
			stack = append(stack, &pframe{el: el})
		case xml.CharData:
			if len(stack) == 0 {
				if strings.TrimSpace(string(t)) != "" {
					return fail(ErrStructure, "text outside the root element")
				}
				continue
			}
			f := stack[len(stack)-1]
			if f.hasChild {
				if strings.TrimSpace(string(t)) != "" {
					return fail(ErrMixedContent, "<%s> has both text and child elements", f.el.FullTag())
				}
				continue
			}
			f.text.Write(t)
		case xml.EndElement:
			f := stack[len(stack)-1]
			if !f.hasChild && f.text.Len() > 0 {
				f.el.SetText(f.text.String())
			}
			stack = stack[:len(stack)-1]
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

const synceNS = "http://synce.org/formats/airsync_wm5/"

// pageForNamespace maps a namespace URI or undeclared prefix to a code page.
func pageForNamespace(ns string) *codePage {
	s := strings.TrimSuffix(ns, ":")
	if rest, ok := strings.CutPrefix(s, synceNS); ok {
		s = rest
		if s == "itemestimate" { // libwbxml's name for page 6
			s = "getitemestimate"
		}
	}
	return pagesByFold[strings.ToLower(s)]
}

// WriteXML prints doc as indented XML. Element names are written as
// "CodePage:Name" and the root element declares each code page used, as
// xmlns:AirSync="AirSync:" (plus xmlns:wbxml when the opaque marker is used),
// so the output is namespace-well-formed and ParseXML reads it back to the
// same tree. The document is not modified. Text that is not XML-safe (see
// SetBytes) cannot be printed and is an ErrBadString error.
func WriteXML(w io.Writer, doc *etree.Document) error {
	root := doc.Root()
	if root == nil {
		return newError(ErrStructure, -1, "document has no root element")
	}
	bw := bufio.NewWriter(w)
	xw := xmlWriter{w: bw}
	bw.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	xw.element(root, 0, namespaceDecls(root))
	bw.WriteByte('\n')
	if xw.err != nil {
		return xw.err
	}
	if err := bw.Flush(); err != nil {
		return &Error{Kind: ErrIO, Offset: -1, Reason: "writing XML", Err: err}
	}
	return nil
}

// namespaceDecls lists the xmlns declarations for the root: every code page
// used in the tree, in page order, and the marker's namespace if used.
func namespaceDecls(root *etree.Element) []string {
	used := map[string]bool{}
	marker := false
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		used[el.Space] = true
		if hasOpaqueMarker(el) {
			marker = true
		}
		for _, c := range el.ChildElements() {
			walk(c)
		}
	}
	walk(root)
	var spaces []string
	for s := range used {
		if s != "" {
			spaces = append(spaces, s)
		}
	}
	sort.Slice(spaces, func(i, j int) bool {
		pi, pj := pagesByName[spaces[i]], pagesByName[spaces[j]]
		if pi != nil && pj != nil {
			return pi.id < pj.id
		}
		if (pi == nil) != (pj == nil) {
			return pi != nil
		}
		return spaces[i] < spaces[j]
	})
	var decls []string
	for _, s := range spaces {
		decls = append(decls, `xmlns:`+s+`="`+s+`:"`)
	}
	if marker {
		decls = append(decls, `xmlns:`+OpaqueAttrSpace+`="`+OpaqueAttrNS+`"`)
	}
	return decls
}

type xmlWriter struct {
	w   *bufio.Writer
	err error
}

func (x *xmlWriter) element(el *etree.Element, depth int, decls []string) {
	if x.err != nil {
		return
	}
	indent := strings.Repeat("  ", depth)
	x.w.WriteString(indent)
	x.w.WriteByte('<')
	x.w.WriteString(el.FullTag())
	for _, d := range decls {
		x.w.WriteByte(' ')
		x.w.WriteString(d)
	}
	for _, a := range el.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		x.w.WriteByte(' ')
		x.w.WriteString(a.FullKey())
		x.w.WriteString(`="`)
		x.escape(a.Value, true)
		x.w.WriteByte('"')
	}
	children := el.ChildElements()
	if len(children) > 0 {
		x.w.WriteString(">\n")
		for _, c := range children {
			x.element(c, depth+1, nil)
			x.w.WriteByte('\n')
		}
		x.w.WriteString(indent)
	} else {
		text := elementText(el)
		if text == "" {
			x.w.WriteString("/>")
			return
		}
		if !xmlSafeString(text) {
			x.err = newError(ErrBadString, -1, "text of <%s> is not representable as XML; use wbxml.SetBytes", el.FullTag())
			return
		}
		x.w.WriteByte('>')
		x.escape(text, false)
	}
	x.w.WriteString("</")
	x.w.WriteString(el.FullTag())
	x.w.WriteByte('>')
}

// elementText concatenates all character data of el (etree's Text returns
// only the data before the first child).
func elementText(el *etree.Element) string {
	var s string
	for _, c := range el.Child {
		if cd, ok := c.(*etree.CharData); ok {
			s += cd.Data
		}
	}
	return s
}

// escape writes s with &, <, > escaped, and \r (plus quotes, tab and newline
// in attributes) as character references, so parsing gives s back exactly.
func (x *xmlWriter) escape(s string, attr bool) {
	table := &textEscapes
	if attr {
		table = &attrEscapes
	}
	last := 0
	for i := 0; i < len(s); i++ {
		esc := table[s[i]]
		if esc == "" {
			continue
		}
		x.w.WriteString(s[last:i])
		x.w.WriteString(esc)
		last = i + 1
	}
	x.w.WriteString(s[last:])
}

var textEscapes, attrEscapes [256]string

func init() {
	for _, t := range []*[256]string{&textEscapes, &attrEscapes} {
		t['&'], t['<'], t['>'], t['\r'] = "&amp;", "&lt;", "&gt;", "&#xD;"
	}
	attrEscapes['"'], attrEscapes['\t'], attrEscapes['\n'] = "&quot;", "&#x9;", "&#xA;"
}
