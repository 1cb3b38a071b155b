package message

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"

	"airlock/store"
)

// ErrMalformed is wrapped by every error about input that is not a message.
var ErrMalformed = errors.New("message: malformed")

// ErrNoPart is returned by Part for an index that names no attachment part.
var ErrNoPart = errors.New("message: no such part")

// Message classes (MS-ASEMAIL 2.2.2.51 MessageClass; MS-OXOSMIME 2.1 for the
// S/MIME ones, MS-OXOCAL 2.2.6.1 for meeting messages).
const (
	ClassNote             = "IPM.Note"
	ClassSMIME            = "IPM.Note.SMIME"
	ClassSMIMESigned      = "IPM.Note.SMIME.MultipartSigned"
	ClassMeetingRequest   = "IPM.Schedule.Meeting.Request"
	ClassMeetingCanceled  = "IPM.Schedule.Meeting.Canceled"
	ClassMeetingAccepted  = "IPM.Schedule.Meeting.Resp.Pos"
	ClassMeetingDeclined  = "IPM.Schedule.Meeting.Resp.Neg"
	ClassMeetingTentative = "IPM.Schedule.Meeting.Resp.Tent"
)

// Importance values (MS-ASEMAIL 2.2.2.39 Importance).
const (
	ImportanceLow    = 0
	ImportanceNormal = 1
	ImportanceHigh   = 2
)

// PreviewLength is the number of characters kept in Item.Preview
// (MS-ASAIRS 2.2.2.18 Preview: at most 255).
const PreviewLength = 255

// parser is shared: enmime's Parser is a value with options only.
// DisableTextConversion: we convert HTML to text ourselves (htmlToText).
var parser = enmime.NewParser(enmime.DisableTextConversion(true))

// Parse reads a raw message into an Item summary of class Email with its
// attachments. UserID and FolderID are left for the caller. DateReceived
// falls back to the current time when neither Date nor Received is usable.
func Parse(raw []byte) (*store.Item, error) {
	return parseAt(raw, time.Now().UTC())
}

func parseAt(raw []byte, now time.Time) (it *store.Item, err error) {
	env, err := read(raw)
	if err != nil {
		return nil, err
	}
	it = &store.Item{
		Class:      store.ClassEmail,
		Size:       int64(len(raw)),
		MessageID:  clean(firstID(env.GetHeader("Message-Id"))),
		Subject:    clean(strings.TrimSpace(env.GetHeader("Subject"))),
		FromAddr:   addressList(env, "From"),
		ToAddrs:    addressList(env, "To"),
		CcAddrs:    addressList(env, "Cc"),
		ReplyTo:    addressList(env, "Reply-To"),
		Importance: importance(env),
	}
	if it.FromAddr == "" {
		it.FromAddr = addressList(env, "Sender")
	}
	d := date(env, now)
	it.DateReceived = &d
	it.ThreadTopic = ThreadTopic(it.Subject)
	it.ConversationID = ConversationID(env.GetHeader("References"), env.GetHeader("In-Reply-To"), it.MessageID, it.ThreadTopic)
	it.ConversationIndex = ConversationIndex(d, it.ConversationID)

	parts := walk(env.Root)
	it.MessageClass = messageClass(env.Root, parts)
	for i, p := range parts {
		if !isAttachment(p) {
			continue
		}
		ct, name := attachmentInfo(p, i)
		it.Attachments = append(it.Attachments, store.Attachment{
			PartIndex:   i,
			FileName:    name,
			ContentType: ct,
			ContentID:   clean(p.ContentID),
			Size:        int64(len(p.Content)),
			Inline:      isInline(p),
		})
	}
	// The store loads attachment rows only for items that say they have
	// some, so inline images count too: without them an HTML body could not
	// show its pictures.
	it.HasAttachments = len(it.Attachments) > 0
	text, html := bodies(env)
	it.Preview = preview(text)
	it.SearchText = searchText(text, html) // searchtext.go
	it.Rendered = &store.Rendered{Text: text, HTML: html, Source: sha256.Sum256(raw)}
	return it, nil
}

// Render returns the bodies of a raw message as the store keeps them
// (store.BackfillBodies): what Bodies returns.
func Render(raw []byte) (*store.Rendered, error) {
	text, html, err := Bodies(raw)
	if err != nil {
		return nil, err
	}
	return &store.Rendered{Text: text, HTML: html, Source: sha256.Sum256(raw)}, nil
}

// Bodies returns the plain-text and HTML bodies of a raw message, both
// UTF-8. When the message has only HTML, text is derived from it.
func Bodies(raw []byte) (text, html string, err error) {
	env, err := read(raw)
	if err != nil {
		return "", "", err
	}
	text, html = bodies(env)
	return text, html, nil
}

// Part returns one part of a raw message by the PartIndex that Parse gave
// its attachment: the content type and file name as Parse stored them and
// the decoded content (text parts converted to UTF-8, hence their
// charset=utf-8). It refuses indexes of containers and of body parts, so a
// FileReference cannot be used to read what is not an attachment.
func Part(raw []byte, partIndex int) (contentType, fileName string, data []byte, err error) {
	env, err := read(raw)
	if err != nil {
		return "", "", nil, err
	}
	parts := walk(env.Root)
	if partIndex < 0 || partIndex >= len(parts) || !isAttachment(parts[partIndex]) {
		return "", "", nil, fmt.Errorf("part %d: %w", partIndex, ErrNoPart)
	}
	p := parts[partIndex]
	contentType, fileName = attachmentInfo(p, partIndex)
	return contentType, fileName, p.Content, nil
}

// read checks what enmime would accept but we do not (see the package doc),
// then parses. A panic inside the parser of untrusted input is turned into
// an error here, at the edge, so one bad message cannot stop a delivery or an
// import; FuzzParse keeps that path honest.
func read(raw []byte) (env *enmime.Envelope, err error) {
	if err := precheck(raw); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			env, err = nil, fmt.Errorf("%w: parser failed: %v", ErrMalformed, r)
		}
	}()
	env, err = parser.ReadEnvelope(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return env, nil
}

// coreFields are the header fields of which a real message has at least one.
var coreFields = []string{"from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "received", "return-path", "mime-version", "delivered-to"}

func precheck(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return fmt.Errorf("%w: empty input", ErrMalformed)
	}
	head := raw
	if i := bytes.Index(raw, []byte("\n\r\n")); i >= 0 {
		head = raw[:i]
	}
	if i := bytes.Index(head, []byte("\n\n")); i >= 0 {
		head = head[:i]
	}
	for i, c := range head {
		if (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f {
			return fmt.Errorf("%w: binary data in the header block (byte 0x%02x at offset %d)", ErrMalformed, c, i)
		}
	}
	found := false
	for n, line := range bytes.Split(head, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if n == 0 {
				return fmt.Errorf("%w: no header block (starts with a continuation line)", ErrMalformed)
			}
			continue
		}
		name, ok := fieldName(line)
		if !ok {
			if n == 0 {
				return fmt.Errorf("%w: no header block (first line is not a header field)", ErrMalformed)
			}
			// A stray line later in the header is repaired by enmime.
			continue
		}
		for _, f := range coreFields {
			if strings.EqualFold(name, f) {
				found = true
			}
		}
	}
	if !found {
		return fmt.Errorf("%w: no message header fields (From, To, Subject, Date, Message-ID...)", ErrMalformed)
	}
	return nil
}

// fieldName returns the name of a "Name: value" line (RFC 5322 2.2: printable
// ASCII except colon).
func fieldName(line []byte) (string, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", false
	}
	for _, c := range line[:i] {
		if c < 33 || c > 126 {
			return "", false
		}
	}
	return string(line[:i]), true
}

// walk lists the part tree depth-first, pre-order: the index in the result
// is the PartIndex.
func walk(root *enmime.Part) []*enmime.Part {
	var out []*enmime.Part
	var visit func(p *enmime.Part)
	visit = func(p *enmime.Part) {
		for ; p != nil; p = p.NextSibling {
			out = append(out, p)
			visit(p.FirstChild)
		}
	}
	if root != nil {
		out = append(out, root)
		visit(root.FirstChild)
	}
	return out
}

func isAttachment(p *enmime.Part) bool {
	if p.FirstChild != nil || strings.HasPrefix(p.ContentType, "multipart/") {
		return false
	}
	attached := strings.EqualFold(p.Disposition, "attachment")
	named := p.FileName != ""
	switch p.ContentType {
	case "", "text/plain", "text/html", "text/calendar":
		if !attached && !named {
			return false
		}
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
		return false
	}
	if p.Parent == nil && len(p.Content) == 0 {
		// An empty single-part message has nothing to offer as a file.
		return false
	}
	return true
}

func isInline(p *enmime.Part) bool {
	if strings.EqualFold(p.Disposition, "inline") {
		return true
	}
	if p.Disposition == "" && p.ContentID != "" && p.Parent != nil && p.Parent.ContentType == "multipart/related" {
		return true
	}
	return false
}

// attachmentInfo gives the content type and the file name under which an
// attachment is stored and served. Parts without a name get one, because EAS
// requires a DisplayName.
func attachmentInfo(p *enmime.Part, index int) (contentType, name string) {
	contentType = p.ContentType
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if strings.HasPrefix(contentType, "text/") {
		// enmime decoded the text to UTF-8.
		contentType += "; charset=utf-8"
	}
	name = clean(strings.TrimSpace(p.FileName))
	if name != "" {
		return contentType, name
	}
	switch {
	case p.ContentType == "message/rfc822":
		name = forwardedName(p.Content)
	case p.ContentType == "application/pkcs7-mime" || p.ContentType == "application/x-pkcs7-mime":
		name = "smime.p7m"
	default:
		ext := ".bin"
		if exts, _ := mime.ExtensionsByType(p.ContentType); len(exts) > 0 {
			ext = preferredExt(exts)
		}
		base := "attachment"
		if strings.HasPrefix(p.ContentType, "image/") {
			base = "image"
		}
		name = base + "-" + strconv.Itoa(index) + ext
	}
	return contentType, name
}

// preferredExt picks the usual extension among those the system knows for a
// type (".jpg" rather than ".jfif").
func preferredExt(exts []string) string {
	for _, e := range []string{".jpg", ".png", ".pdf", ".txt", ".gif", ".ics", ".eml"} {
		for _, x := range exts {
			if x == e {
				return e
			}
		}
	}
	return exts[0]
}

var unsafeName = regexp.MustCompile(`[\\/:*?"<>|\x00-\x1f]+`)

// forwardedName names an attached message after its subject, as mail
// clients do.
func forwardedName(inner []byte) string {
	subject := ""
	if m, err := mail.ReadMessage(bytes.NewReader(inner)); err == nil {
		subject = enmime.DecodeRFC2047(m.Header.Get("Subject"))
	}
	subject = strings.TrimSpace(unsafeName.ReplaceAllString(clean(subject), " "))
	if subject == "" {
		subject = "forwarded message"
	}
	if utf8.RuneCountInString(subject) > 100 {
		subject = string([]rune(subject)[:100])
	}
	return subject + ".eml"
}

func messageClass(root *enmime.Part, parts []*enmime.Part) string {
	switch root.ContentType {
	case "multipart/signed":
		return ClassSMIMESigned
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		return ClassSMIME
	}
	for _, p := range parts {
		if p.ContentType != "text/calendar" {
			continue
		}
		if c := meetingClass(p); c != "" {
			return c
		}
	}
	return ClassNote
}

var (
	methodLine  = regexp.MustCompile(`(?mi)^METHOD:\s*([A-Za-z-]+)`)
	partstatRe  = regexp.MustCompile(`(?i)PARTSTAT=([A-Za-z-]+)`)
	attendeeRe  = regexp.MustCompile(`(?mi)^ATTENDEE[;:].*$`)
	unfoldICSRe = regexp.MustCompile(`\r?\n[ \t]`)
)

// meetingClass maps an iTIP method (RFC 5546) to the message class of the
// meeting message carrying it; "" for methods that are not meeting traffic
// (PUBLISH: a shared calendar file).
func meetingClass(p *enmime.Part) string {
	method := p.ContentTypeParams["method"]
	ics := unfoldICSRe.ReplaceAllString(string(p.Content), "")
	if method == "" {
		if m := methodLine.FindStringSubmatch(ics); m != nil {
			method = m[1]
		}
	}
	switch strings.ToUpper(method) {
	case "REQUEST":
		return ClassMeetingRequest
	case "CANCEL":
		return ClassMeetingCanceled
	case "REPLY", "COUNTER":
		// A reply carries the one attendee who answered; a COUNTER (a new
		// time proposed) is a reply too, as Exchange classes it.
		for _, a := range attendeeRe.FindAllString(ics, -1) {
			if m := partstatRe.FindStringSubmatch(a); m != nil {
				switch strings.ToUpper(m[1]) {
				case "ACCEPTED":
					return ClassMeetingAccepted
				case "DECLINED":
					return ClassMeetingDeclined
				case "TENTATIVE":
					return ClassMeetingTentative
				}
			}
		}
	}
	return ""
}

func importance(env *enmime.Envelope) int {
	switch strings.ToLower(strings.TrimSpace(env.GetHeader("Importance"))) {
	case "high":
		return ImportanceHigh
	case "low":
		return ImportanceLow
	case "normal":
		return ImportanceNormal
	}
	// X-Priority: 1 (Highest) .. 5 (Lowest).
	if v := strings.TrimSpace(env.GetHeader("X-Priority")); v != "" {
		switch v[0] {
		case '1', '2':
			return ImportanceHigh
		case '4', '5':
			return ImportanceLow
		}
		return ImportanceNormal
	}
	switch strings.ToLower(strings.TrimSpace(env.GetHeader("X-MSMail-Priority"))) {
	case "high":
		return ImportanceHigh
	case "low":
		return ImportanceLow
	}
	switch strings.ToLower(strings.TrimSpace(env.GetHeader("Priority"))) {
	case "urgent":
		return ImportanceHigh
	case "non-urgent":
		return ImportanceLow
	}
	return ImportanceNormal
}

// date is the Date header, else the time of the newest Received hop, else
// now. Dates outside 1900..9999 are treated as missing: they are typos that
// would sort the message out of every client's view.
func date(env *enmime.Envelope, now time.Time) time.Time {
	plausible := func(t time.Time) bool { return t.Year() >= 1900 && t.Year() <= 9999 }
	if t, err := mail.ParseDate(strings.TrimSpace(env.GetHeader("Date"))); err == nil && plausible(t) {
		return t.UTC()
	}
	for _, r := range env.GetHeaderValues("Received") {
		if i := strings.LastIndexByte(r, ';'); i >= 0 {
			if t, err := mail.ParseDate(strings.TrimSpace(r[i+1:])); err == nil && plausible(t) {
				return t.UTC()
			}
		}
	}
	return now.UTC()
}

// addressList formats an address header as EAS shows it:
// "Name" <addr>, comma separated, names decoded to UTF-8 (net/mail's
// Address.String would re-encode them per RFC 2047). A list that does not
// parse is kept as its decoded text rather than lost.
func addressList(env *enmime.Envelope, key string) string {
	raw := strings.TrimSpace(env.GetHeader(key))
	if raw == "" {
		return ""
	}
	list, err := env.AddressList(key)
	if err != nil || len(list) == 0 {
		return clean(raw)
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, FormatAddress(a.Name, a.Address))
	}
	return clean(strings.Join(out, ", "))
}

// FormatAddress formats one address as "Name" <addr>, or addr alone.
func FormatAddress(name, addr string) string {
	name = strings.TrimSpace(name)
	if name == "" || name == addr {
		return addr
	}
	name = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name)
	return `"` + name + `" <` + addr + `>`
}

func bodies(env *enmime.Envelope) (text, html string) {
	text, html = clean(env.Text), clean(env.HTML)
	if strings.TrimSpace(text) == "" && html != "" {
		text = clean(htmlToText(html))
	}
	return text, html
}

var spaces = regexp.MustCompile(`\s+`)

// preview is the first PreviewLength characters of the text with runs of
// white space folded, so a device shows a line of words, not blank lines.
func preview(text string) string {
	s := strings.TrimSpace(spaces.ReplaceAllString(text, " "))
	if utf8.RuneCountInString(s) <= PreviewLength {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:PreviewLength]))
}

// clean makes s storable: valid UTF-8, no NUL.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}
