package message

import "airlock/store"

// searchText is what mailbox search looks through besides the summary
// fields: the plain body and the HTML body as text, normalised
// (store.NormalizeSearchText). The HTML's text is left out when it says
// what the plain body says (the usual multipart/alternative), so the text
// is not kept twice.
func searchText(text, html string) string {
	t := store.NormalizeSearchText(text)
	if html == "" {
		return t
	}
	h := store.NormalizeSearchText(htmlToText(html))
	if h == t || h == "" {
		return t
	}
	if t == "" {
		return h
	}
	return store.NormalizeSearchText(t + " " + h)
}

// SearchText reads a raw message and returns its searchable text, for
// store.BackfillSearchText; a message that cannot be read has none.
func SearchText(raw []byte) string {
	text, html, err := Bodies(raw)
	if err != nil {
		return ""
	}
	return searchText(text, html)
}
