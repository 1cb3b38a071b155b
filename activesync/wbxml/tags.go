package wbxml

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// tagFlags describe how the content of an element is carried.
type tagFlags uint8

// opaque marks an element whose value is a byte array ([MS-ASDTYPE] section
// 2.7.1): it MUST travel as WBXML OPAQUE data and is shown in the etree form
// as standard base64 text.
const opaque tagFlags = 1

// tagDef is one row of a code page table.
type tagDef struct {
	token byte // 0x05..0x3F, without the content and attribute bits
	name  string
	flags tagFlags
}

// codePage is one MS-ASWBXML code page.
type codePage struct {
	id      byte
	name    string // namespace name as written in MS-ASCMD, without the colon
	section string // MS-ASWBXML section that defines the page
	tags    []tagDef

	byToken [64]*tagDef     // filled by init; index is the 6-bit token
	byName  map[string]byte // local name -> token
}

// allPages lists every code page of MS-ASWBXML for EAS 16.1, in page order.
var allPages = []*codePage{
	pageAirSync, pageContacts, pageEmail, pageAirNotify, pageCalendar,
	pageMove, pageGetItemEstimate, pageFolderHierarchy, pageMeetingResponse,
	pageTasks, pageResolveRecipients, pageValidateCert, pageContacts2,
	pagePing, pageProvision, pageSearch, pageGAL, pageAirSyncBase,
	pageSettings, pageDocumentLibrary, pageItemOperations, pageComposeMail,
	pageEmail2, pageNotes, pageRightsManagement, pageFind,
}

var (
	pagesByID   [256]*codePage
	pagesByName = map[string]*codePage{} // exact page name
	pagesByFold = map[string]*codePage{} // lower-case page name, for ParseXML
)

func init() {
	for _, p := range allPages {
		if pagesByID[p.id] != nil {
			panic(fmt.Sprintf("wbxml: code page %d defined twice", p.id))
		}
		pagesByID[p.id] = p
		pagesByName[p.name] = p
		pagesByFold[strings.ToLower(p.name)] = p
		p.byName = make(map[string]byte, len(p.tags))
		for i := range p.tags {
			t := &p.tags[i]
			if t.token < 0x05 || t.token > 0x3F {
				panic(fmt.Sprintf("wbxml: %s token 0x%02X out of range", p.name, t.token))
			}
			if p.byToken[t.token] != nil {
				panic(fmt.Sprintf("wbxml: %s token 0x%02X defined twice", p.name, t.token))
			}
			if _, dup := p.byName[t.name]; dup {
				panic(fmt.Sprintf("wbxml: %s name %q defined twice", p.name, t.name))
			}
			p.byToken[t.token] = t
			p.byName[t.name] = t.token
		}
	}
}

// Tag identifies an element: its code page and its token within the page
// (without the WBXML content and attribute bits). Names always carry their
// page: Tag{0, 0x0E} is AirSync:Status, Tag{14, 0x0B} is Provision:Status.
type Tag struct {
	Page  byte
	Token byte
}

func (t Tag) def() *tagDef {
	p := pagesByID[t.Page]
	if p == nil || t.Token > 0x3F {
		return nil
	}
	return p.byToken[t.Token]
}

// Valid reports whether t is defined by MS-ASWBXML.
func (t Tag) Valid() bool { return t.def() != nil }

// Space returns the code page (namespace) name, such as "AirSync", or ""
// for an unknown page.
func (t Tag) Space() string {
	if p := pagesByID[t.Page]; p != nil {
		return p.name
	}
	return ""
}

// Local returns the element name within its page, such as "Sync", or "" for
// an unknown tag.
func (t Tag) Local() string {
	if d := t.def(); d != nil {
		return d.name
	}
	return ""
}

// String returns "Space:Local", or "page 0xPP token 0xTT" for an unknown tag.
func (t Tag) String() string {
	if d := t.def(); d != nil {
		return pagesByID[t.Page].name + ":" + d.name
	}
	return fmt.Sprintf("page 0x%02X token 0x%02X", t.Page, t.Token)
}

// Opaque reports whether the element's value is a byte array that travels
// as WBXML OPAQUE data (see the package documentation for the list).
func (t Tag) Opaque() bool {
	d := t.def()
	return d != nil && d.flags&opaque != 0
}

// LookupTag returns the tag for a code page name and a local name, both
// spelled exactly as in MS-ASWBXML ("AirSyncBase", "Body").
func LookupTag(space, local string) (Tag, bool) {
	p := pagesByName[space]
	if p == nil {
		return Tag{}, false
	}
	tok, ok := p.byName[local]
	if !ok {
		return Tag{}, false
	}
	return Tag{p.id, tok}, true
}

// ParseTag parses "Space:Local", such as "AirSync:Sync".
func ParseTag(name string) (Tag, bool) {
	space, local, ok := strings.Cut(name, ":")
	if !ok {
		return Tag{}, false
	}
	return LookupTag(space, local)
}

// MustTag is ParseTag for package-level variables and tests; it panics on a
// name that MS-ASWBXML does not define, like regexp.MustCompile.
func MustTag(name string) Tag {
	t, ok := ParseTag(name)
	if !ok {
		panic("wbxml: unknown tag " + name)
	}
	return t
}

// TagOf returns the tag of an etree element (Space = code page name, Tag =
// local name).
func TagOf(el *etree.Element) (Tag, bool) {
	return LookupTag(el.Space, el.Tag)
}

// CodePage describes one code page, for documentation and tests.
type CodePage struct {
	ID      byte
	Name    string // "AirSyncBase"
	Section string // MS-ASWBXML section, "2.1.2.1.18"
	Tags    []Tag  // in token order
}

// CodePages returns every code page known to the package, in page order.
func CodePages() []CodePage {
	out := make([]CodePage, 0, len(allPages))
	for _, p := range allPages {
		cp := CodePage{ID: p.id, Name: p.name, Section: p.section}
		for tok := 0; tok < 64; tok++ {
			if p.byToken[tok] != nil {
				cp.Tags = append(cp.Tags, Tag{p.id, byte(tok)})
			}
		}
		out = append(out, cp)
	}
	return out
}
