package web

import (
	"strings"

	"github.com/microcosm-cc/bluemonday"
)

// What the compose editor posts is markup from a browser, which anyone can
// forge: it is cleaned on the server with an allow-list before it is sent,
// saved as a draft or put back in the page. The list is the formatting the
// editor makes (paragraphs, emphasis, lists, links, quotes) and the
// markup of a quoted original; no scripts, event handlers, forms, frames,
// style elements, or URLs other than web, mail and phone links.
var composePolicy = newComposePolicy()

func newComposePolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowRelativeURLs(false)
	p.AllowURLSchemes("mailto", "http", "https", "tel")
	p.RequireNoFollowOnLinks(false)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowElements("u", "font", "center")
	p.AllowAttrs("color").Matching(cssColour).OnElements("font")
	p.AllowStyles("color", "background-color", "font-style", "font-weight", "text-align", "text-decoration",
		"margin-left", "padding-left", "border-left").Globally()
	return p
}

// sanitizeComposed cleans the editor's HTML.
func sanitizeComposed(in string) string {
	return strings.TrimSpace(composePolicy.Sanitize(in))
}
