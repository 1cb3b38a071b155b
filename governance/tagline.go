package governance

// The organisation's tag line: a footer on mail that leaves the
// organisation.
//
// The message is rewritten at the byte level: only the body text parts that
// get the footer are re-encoded (quoted-printable, UTF-8); every other byte
// (other parts, attachments, boundaries, header fields) is kept as it was.
// Signed or encrypted content (multipart/signed, multipart/encrypted,
// application/pkcs7-mime) is never entered, so a signature stays valid; a
// message whose body is such content goes out without the footer.
//
// Once per chain: a message already carrying our X-Airlock-Tagline field,
// or whose body text already contains the footer's first line (quoted in a
// reply: "> " markers and line breaks are ignored when comparing) or our
// HTML marker comment, is left alone.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/quotedprintable"
	"regexp"
	"strings"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// Settings keys of the tag line.
const (
	settingTaglineText = "tagline.text"
	settingTaglineHTML = "tagline.html"
)

// MaxTaglineLines bounds the footer.
const MaxTaglineLines = 15

// TaglineHeader marks a message that carries the footer.
const TaglineHeader = "X-Airlock-Tagline"

const taglineMarker = "airlock-tagline"

// ErrTaglineTooLong: more than MaxTaglineLines lines.
var ErrTaglineTooLong = errors.New("governance: tag line too long")

// Tagline is the footer in its two forms; HTML is made from Text when
// empty.
type Tagline struct {
	Text string
	HTML string
}

// Empty reports whether there is no footer.
func (t Tagline) Empty() bool { return strings.TrimSpace(t.Text) == "" }

func countLines(s string) int {
	s = strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if s == "" {
		return 0
	}
	return strings.Count(s, "\n") + 1
}

// SetTagline stores the footer (an empty Text removes it), audited.
func (s *Service) SetTagline(ctx context.Context, a Actor, t Tagline) error {
	t.Text = strings.TrimSpace(strings.ReplaceAll(t.Text, "\r\n", "\n"))
	t.HTML = strings.TrimSpace(t.HTML)
	if countLines(t.Text) > MaxTaglineLines || countLines(t.HTML) > MaxTaglineLines {
		return fmt.Errorf("at most %d lines: %w", MaxTaglineLines, ErrTaglineTooLong)
	}
	if err := s.Store.SetSetting(ctx, settingTaglineText, t.Text); err != nil {
		return err
	}
	if err := s.Store.SetSetting(ctx, settingTaglineHTML, t.HTML); err != nil {
		return err
	}
	detail := fmt.Sprintf("%d lines", countLines(t.Text))
	if t.Empty() {
		detail = "removed"
	}
	return s.audit(ctx, a, "tagline.set", "setting", "tagline", 0, "success", detail)
}

// Tagline returns the stored footer.
func (s *Service) Tagline(ctx context.Context) (Tagline, error) {
	text, err := s.Store.Setting(ctx, settingTaglineText, "")
	if err != nil {
		return Tagline{}, err
	}
	h, err := s.Store.Setting(ctx, settingTaglineHTML, "")
	return Tagline{Text: text, HTML: h}, err
}

func (t Tagline) html() string {
	if strings.TrimSpace(t.HTML) != "" {
		return t.HTML
	}
	lines := strings.Split(strings.ReplaceAll(t.Text, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = html.EscapeString(l)
	}
	return strings.Join(lines, "<br>\n")
}

// firstLine is what identifies the footer in a quoted reply.
func (t Tagline) firstLine() string {
	for _, l := range strings.Split(t.Text, "\n") {
		if n := normalizeText(l); n != "" {
			return n
		}
	}
	return ""
}

var (
	quoteMarks = regexp.MustCompile(`(?m)^[ \t]*(>[ \t]?)+`)
	htmlTags   = regexp.MustCompile(`(?s)<[^>]*>`)
)

// normalizeText lower-cases, removes reply quote markers and collapses all
// white space, so a footer quoted and re-wrapped still matches.
func normalizeText(s string) string {
	s = quoteMarks.ReplaceAllString(strings.ReplaceAll(s, "\r\n", "\n"), "")
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// TaglineResult says what AddTagline did.
type TaglineResult struct {
	Added bool
	// Why it was not added: "no tag line", "already present", "signed or
	// encrypted", "no text body", "unreadable".
	Skipped string
}

// AddTagline returns raw with the footer added once to its body text
// parts, or raw itself and why not.
func AddTagline(raw []byte, t Tagline) ([]byte, TaglineResult) {
	if t.Empty() {
		return raw, TaglineResult{Skipped: "no tag line"}
	}
	hdr, _, err := readEntity(raw)
	if err != nil {
		return raw, TaglineResult{Skipped: "unreadable"}
	}
	if hdr.Has(TaglineHeader) {
		return raw, TaglineResult{Skipped: "already present"}
	}
	w := &taglineWalker{t: t}
	// Pass 1: find the body parts, any protected content, any footer.
	if _, err := w.entity(raw, false); err != nil {
		return raw, TaglineResult{Skipped: "unreadable"}
	}
	switch {
	case w.protectedBody:
		return raw, TaglineResult{Skipped: "signed or encrypted"}
	case w.found:
		return raw, TaglineResult{Skipped: "already present"}
	case w.leaves == 0:
		return raw, TaglineResult{Skipped: "no text body"}
	}
	// Pass 2: rewrite them.
	out, err := w.entity(raw, true)
	if err != nil || w.added == 0 {
		return raw, TaglineResult{Skipped: "unreadable"}
	}
	return append([]byte(TaglineHeader+": yes\r\n"), out...), TaglineResult{Added: true}
}

type taglineWalker struct {
	t             Tagline
	leaves, added int
	found         bool
	// protectedBody: the body (not an attachment) is signed or
	// encrypted.
	protectedBody bool
}

// readEntity splits an entity into its header and the offset of its body.
func readEntity(ent []byte) (textproto.Header, int, error) {
	r := bytes.NewReader(ent)
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return textproto.Header{}, 0, err
	}
	return h, len(ent) - r.Len() - br.Buffered(), nil
}

func mediaType(h textproto.Header) (string, map[string]string) {
	v := h.Get("Content-Type")
	if v == "" {
		return "text/plain", map[string]string{}
	}
	t, p, err := mime.ParseMediaType(v)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.Split(v, ";")[0])), map[string]string{}
	}
	return t, p
}

func protected(t string) bool {
	switch t {
	case "multipart/signed", "multipart/encrypted", "application/pkcs7-mime", "application/x-pkcs7-mime", "application/pkcs7-signature", "application/pgp-encrypted":
		return true
	}
	return false
}

// entity walks one body-position entity; with rewrite it returns the
// entity with the footer added, otherwise it only looks.
func (w *taglineWalker) entity(ent []byte, rewrite bool) ([]byte, error) {
	h, off, err := readEntity(ent)
	if err != nil {
		return nil, err
	}
	t, params := mediaType(h)
	switch {
	case protected(t):
		w.protectedBody = true
		return ent, nil
	case strings.HasPrefix(t, "multipart/"):
		return w.multipart(ent, off, t, params["boundary"], rewrite)
	case t != "text/plain" && t != "text/html":
		return ent, nil
	}
	if disp, dp, _ := mime.ParseMediaType(h.Get("Content-Disposition")); disp == "attachment" || dp["filename"] != "" || params["name"] != "" {
		return ent, nil
	}
	text, err := decodeText(h, params, ent[off:])
	if err != nil {
		return ent, nil // a charset we cannot read: leave that part alone
	}
	if !rewrite {
		w.leaves++
		check := text
		if t == "text/html" {
			if strings.Contains(text, taglineMarker) {
				w.found = true
			}
			check = html.UnescapeString(htmlTags.ReplaceAllString(text, " "))
		}
		if fl := w.t.firstLine(); fl != "" && strings.Contains(normalizeText(check), fl) {
			w.found = true
		}
		return ent, nil
	}
	if t == "text/html" {
		text = addHTMLFooter(text, w.t.html())
	} else {
		text = addTextFooter(text, w.t.Text)
	}
	params["charset"] = "utf-8"
	h.Set("Content-Type", mime.FormatMediaType(t, params))
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		return nil, err
	}
	qp := quotedprintable.NewWriter(&b)
	if _, err := io.WriteString(qp, text); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	w.added++
	return b.Bytes(), nil
}

func addTextFooter(text, footer string) string {
	text = strings.TrimRight(text, "\r\n")
	footer = strings.ReplaceAll(strings.TrimSpace(strings.ReplaceAll(footer, "\r\n", "\n")), "\n", "\r\n")
	return text + "\r\n\r\n" + footer + "\r\n"
}

var closeBody = regexp.MustCompile(`(?i)</body\s*>`)

func addHTMLFooter(doc, footer string) string {
	block := "<!-- " + taglineMarker + " --><div class=\"" + taglineMarker + "\">" + footer + "</div>"
	locs := closeBody.FindAllStringIndex(doc, -1)
	if len(locs) == 0 {
		return doc + "\r\n" + block + "\r\n"
	}
	at := locs[len(locs)-1][0]
	return doc[:at] + block + doc[at:]
}

// decodeText undoes the transfer encoding and the charset of a text part.
func decodeText(h textproto.Header, params map[string]string, body []byte) (string, error) {
	var data []byte
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return "", err
		}
		data = b
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		b, err := base64.StdEncoding.DecodeString(string(clean))
		if err != nil {
			return "", err
		}
		data = b
	default:
		data = body
	}
	cs := strings.ToLower(params["charset"])
	if cs == "" || cs == "utf-8" || cs == "us-ascii" || cs == "utf8" {
		return string(bytes.ToValidUTF8(data, []byte("\uFFFD"))), nil
	}
	r, err := charset.Reader(cs, bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

// multipart walks the children in body position: every one of an
// alternative, the first of any other multipart (mixed, related...).
func (w *taglineWalker) multipart(ent []byte, off int, t, boundary string, rewrite bool) ([]byte, error) {
	if boundary == "" {
		return ent, nil
	}
	spans := partSpans(ent[off:], boundary)
	if len(spans) == 0 {
		return ent, nil
	}
	body := t == "multipart/alternative"
	var out bytes.Buffer
	last := off
	for i, sp := range spans {
		start, end := off+sp[0], off+sp[1]
		if !body && i > 0 {
			break
		}
		part := ent[start:end]
		np, err := w.entity(part, rewrite)
		if err != nil {
			return nil, err
		}
		out.Write(ent[last:start])
		out.Write(np)
		last = end
	}
	if !rewrite {
		return ent, nil
	}
	out.Write(ent[last:])
	return append(append([]byte(nil), ent[:off]...), out.Bytes()...), nil
}

// partSpans returns the [start, end) offsets of each part's bytes in a
// multipart body (RFC 2046 5.1.1): between the end of a delimiter line and
// the CRLF before the next delimiter. A body without its close delimiter
// ends its last part at the end.
func partSpans(body []byte, boundary string) [][2]int {
	delim := []byte("--" + boundary)
	var spans [][2]int
	start := -1
	pos := 0
	for pos <= len(body) {
		lineEnd := bytes.IndexByte(body[pos:], '\n')
		next := len(body)
		line := body[pos:]
		if lineEnd >= 0 {
			line = body[pos : pos+lineEnd]
			next = pos + lineEnd + 1
		}
		l := bytes.TrimRight(line, " \t\r")
		if bytes.HasPrefix(l, delim) {
			rest := l[len(delim):]
			isClose := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || isClose {
				if start >= 0 {
					end := pos
					// The CRLF before the delimiter belongs to it.
					if end > start && body[end-1] == '\n' {
						end--
						if end > start && body[end-1] == '\r' {
							end--
						}
					}
					spans = append(spans, [2]int{start, end})
				}
				if isClose {
					return spans
				}
				start = next
			}
		}
		if lineEnd < 0 {
			break
		}
		pos = next
	}
	if start >= 0 && start < len(body) {
		spans = append(spans, [2]int{start, len(body)})
	}
	return spans
}

// taglineFor adds the stored footer to outgoing data, logging what it did.
func (s *Service) taglineFor(ctx context.Context, data []byte) ([]byte, error) {
	t, err := s.Tagline(ctx)
	if err != nil {
		return nil, err
	}
	out, res := AddTagline(data, t)
	switch res.Skipped {
	case "", "no tag line", "already present":
	case "signed or encrypted":
		s.log().Info("tag line not added: signed or encrypted content is left untouched")
	default:
		s.log().Warn("tag line not added", "why", res.Skipped)
	}
	return out, nil
}
