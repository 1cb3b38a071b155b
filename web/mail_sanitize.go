package web

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Hostile mail is the normal case. An HTML body goes through two steps on
// the server before a browser sees it:
//
//  1. bluemonday's UGC allow-list, tightened for mail: no scripts, forms,
//     frames, objects, meta, base or style elements; no event handlers; URLs
//     only of the schemes below, never relative (they would resolve against
//     this server); inline styles only from a list of properties that cannot
//     place anything outside the message or load anything (no position,
//     no background images, no url() values);
//  2. a walk over the result that inlines cid: pictures (RFC 2392) as data:
//     URLs, removes remote images until the reader asks for them, and
//     makes every link open in a new tab with rel="noopener noreferrer".
//
// The result is shown in a sandboxed iframe with its own CSP (frameCSP),
// so one tag the allow-list missed still cannot run or fetch anything.

var mailPolicy = newMailPolicy()

func newMailPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowRelativeURLs(false)
	p.AllowURLSchemes("mailto", "http", "https", "tel", "cid")
	p.AllowDataURIImages()
	p.RequireNoFollowOnLinks(false)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	// Legacy mail layout.
	p.AllowElements("center", "u", "font", "small", "big", "tt")
	p.AllowAttrs("color").Matching(cssColour).OnElements("font")
	p.AllowAttrs("face").Matching(fontFace).OnElements("font")
	p.AllowAttrs("size").Matching(regexp.MustCompile(`^[+-]?[1-7]$`)).OnElements("font")
	p.AllowAttrs("bgcolor").Matching(cssColour).OnElements("table", "tr", "td", "th", "body")
	p.AllowAttrs("align").Matching(regexp.MustCompile(`(?i)^(left|right|center|justify)$`)).OnElements("p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table")
	p.AllowAttrs("cellpadding", "cellspacing", "border").Matching(bluemonday.Integer).OnElements("table")
	p.AllowStyles(
		"color", "background-color", "font-family", "font-size", "font-style", "font-weight", "font-variant",
		"text-align", "text-decoration", "text-indent", "text-transform", "line-height", "letter-spacing", "word-spacing",
		"white-space", "vertical-align", "direction",
		"margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
		"padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
		"border", "border-top", "border-right", "border-bottom", "border-left", "border-color", "border-style", "border-width",
		"border-collapse", "border-spacing", "border-radius",
		"width", "max-width", "min-width", "height", "max-height", "min-height",
		"list-style-type", "table-layout", "float", "clear",
	).Globally()
	return p
}

var (
	dataImage = regexp.MustCompile(`(?i)^data:image/(png|jpeg|gif|webp);base64,`)
	cssColour = regexp.MustCompile(`^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20})$`)
	fontFace  = regexp.MustCompile(`^[\p{L}\p{N}\s,'-]{1,100}$`)
)

// sanitized is a message body ready for the reading pane.
type sanitized struct {
	HTML string
	// Remote counts the remote images in the message (shown or not).
	Remote int
}

// linkSchemes are what a link in a message may open.
var linkSchemes = map[string]bool{"http": true, "https": true, "mailto": true, "tel": true}

// sanitizeMail cleans an HTML body. With showRemote false, images with
// http(s) sources lose their source. cid, if not nil, turns a Content-ID
// into a data: URL; cid: images it cannot resolve are dropped.
func sanitizeMail(src string, showRemote bool, cid func(string) (string, bool)) sanitized {
	clean := mailPolicy.Sanitize(src)
	ctx := &html.Node{Type: html.ElementNode, DataAtom: atom.Div, Data: "div"}
	nodes, err := html.ParseFragment(strings.NewReader(clean), ctx)
	if err != nil {
		return sanitized{HTML: html.EscapeString(clean)}
	}
	var out sanitized
	var b strings.Builder
	for _, n := range nodes {
		rewrite(n, showRemote, cid, &out.Remote)
		if err := html.Render(&b, n); err != nil {
			return sanitized{}
		}
	}
	out.HTML = b.String()
	return out
}

// rewrite walks n: images and links, as described above.
func rewrite(n *html.Node, showRemote bool, cid func(string) (string, bool), remote *int) {
	if n.Type == html.ElementNode {
		switch n.DataAtom {
		case atom.Img:
			rewriteImage(n, showRemote, cid, remote)
		case atom.A, atom.Area:
			rewriteLink(n)
		}
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		rewrite(ch, showRemote, cid, remote)
	}
}

func rewriteImage(n *html.Node, showRemote bool, cid func(string) (string, bool), remote *int) {
	src, _ := attr(n, "src")
	u, err := url.Parse(strings.TrimSpace(src))
	keep := false
	switch {
	case src == "" || err != nil:
	case strings.EqualFold(u.Scheme, "data"):
		keep = dataImage.MatchString(src) // bluemonday let only image data through; raster only
	case strings.EqualFold(u.Scheme, "cid"):
		if cid != nil {
			if data, ok := cid(u.Opaque); ok {
				setAttr(n, "src", data)
				return
			}
		}
	case strings.EqualFold(u.Scheme, "http"), strings.EqualFold(u.Scheme, "https"):
		*remote++
		keep = showRemote
	}
	if !keep {
		removeAttr(n, "src")
		if _, ok := attr(n, "alt"); !ok {
			setAttr(n, "alt", "")
		}
	}
}

func rewriteLink(n *html.Node) {
	href, ok := attr(n, "href")
	if !ok {
		return
	}
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil || !linkSchemes[strings.ToLower(u.Scheme)] {
		removeAttr(n, "href")
		removeAttr(n, "target")
		removeAttr(n, "rel")
		return
	}
	setAttr(n, "target", "_blank")
	setAttr(n, "rel", "noopener noreferrer")
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val, true
		}
	}
	return "", false
}

func setAttr(n *html.Node, key, val string) {
	for i, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			n.Attr[i].Val = val
			return
		}
	}
	n.Attr = append(n.Attr, html.Attribute{Key: key, Val: val})
}

func removeAttr(n *html.Node, key string) {
	out := n.Attr[:0]
	for _, a := range n.Attr {
		if a.Namespace != "" || !strings.EqualFold(a.Key, key) {
			out = append(out, a)
		}
	}
	n.Attr = out
}

// dataURL encodes a picture as an RFC 2397 data: URL.
func dataURL(mediaType string, data []byte) string {
	return "data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(data)
}
