package message

// HTMLToText renders HTML as plain text (words and line breaks), as the
// text body of a message composed in HTML is written: the same rendering
// the preview and the text alternative of stored mail use.
func HTMLToText(src string) string { return htmlToText(src) }
