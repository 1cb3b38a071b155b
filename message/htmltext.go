package message

import (
	"strings"

	"golang.org/x/net/html"
)

// blockElements end a line of text. Everything else flows inline.
var blockElements = map[string]bool{
	"address": true, "article": true, "aside": true, "blockquote": true, "div": true, "dl": true, "dt": true, "dd": true,
	"fieldset": true, "figure": true, "footer": true, "form": true, "h1": true, "h2": true, "h3": true, "h4": true,
	"h5": true, "h6": true, "header": true, "hr": true, "li": true, "main": true, "nav": true, "ol": true, "p": true,
	"pre": true, "section": true, "table": true, "tr": true, "ul": true,
}

// htmlToText renders HTML as plain text for the text body and the preview:
// words and line breaks only. We do not use enmime's converter (inbucket
// html2text): its output is markdown-like ("**Title**", "*bold*") and its
// text-only mode doubles punctuation, which phones would show verbatim.
// Script, style and head content is dropped; entities are decoded by the
// tokenizer; runs of white space fold as a browser folds them.
func htmlToText(src string) string {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return ""
	}
	var b strings.Builder
	newline := func() {
		s := b.String()
		if s != "" && !strings.HasSuffix(s, "\n") {
			b.WriteByte('\n')
		}
	}
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			t := strings.Join(strings.Fields(strings.ReplaceAll(n.Data, "\u00a0", " ")), " ")
			if t == "" {
				if n.Data != "" && !strings.HasSuffix(b.String(), " ") && !strings.HasSuffix(b.String(), "\n") && b.Len() > 0 {
					b.WriteByte(' ')
				}
				return
			}
			s := b.String()
			lead := n.Data[0] == ' ' || n.Data[0] == '\n' || n.Data[0] == '\t'
			if lead && s != "" && !strings.HasSuffix(s, " ") && !strings.HasSuffix(s, "\n") {
				b.WriteByte(' ')
			}
			b.WriteString(t)
			last := n.Data[len(n.Data)-1]
			if last == ' ' || last == '\n' || last == '\t' {
				b.WriteByte(' ')
			}
			return
		case html.ElementNode:
			switch n.Data {
			case "script", "style", "head", "title", "noscript", "template":
				return
			case "br":
				b.WriteByte('\n')
				return
			case "td", "th":
				if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") && !strings.HasSuffix(s, " ") {
					b.WriteByte(' ')
				}
			}
			if blockElements[n.Data] {
				newline()
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
		if n.Type == html.ElementNode && blockElements[n.Data] {
			newline()
		}
	}
	visit(doc)
	lines := strings.Split(b.String(), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
