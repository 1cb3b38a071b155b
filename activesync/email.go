package activesync

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"

	"airlock/activesync/wbxml"
	"airlock/message"
	"airlock/sms"
	"airlock/store"
)

// easTime is the date-time format of EAS (MS-ASDTYPE 2.3 dateTime):
// always UTC, with milliseconds.
const easTime = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(easTime) }

// parseEASTime reads an EAS date-time; it also accepts the compact form
// (20060102T150405Z) that MS-ASCAL uses for some fields.
func parseEASTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{easTime, "2006-01-02T15:04:05Z", "20060102T150405Z", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// errConversion is a device item that cannot be read or stored (Sync Status
// 6, "error in client/server conversion").
var errConversion = errors.New("item cannot be converted")

// renderOpts says how a collection wants its items.
type renderOpts struct {
	Options *syncOptions
	Version Version
	// User owns the mailbox (the organizer of the events they create).
	User *store.User
	// SMS writes and reads the parties of SMS items (SMS class, sms.go).
	SMS sms.Addresses
}

// instanceDeleter is a class whose Delete may name one occurrence of a
// series (16.x airsyncbase:InstanceId): the series is replaced, not deleted.
// handled is false for a plain Delete.
type instanceDeleter interface {
	deleteInstance(cmd *etree.Element, cur *store.Item, o renderOpts) (it *store.Item, handled bool, err error)
}

// classCodec converts items of one class to and from Sync ApplicationData.
type classCodec interface {
	// write renders it into app; full is false for a Change of a class
	// whose content does not change (mail: flags only). raw is the item's
	// content (mail) or nil.
	write(app *etree.Element, it *store.Item, raw []byte, full bool, o renderOpts)
	// parseAdd reads a device's new item (errConversion when it cannot be
	// stored in this class).
	parseAdd(app *etree.Element, o renderOpts) (*store.Item, []byte, error)
	// parseChange reads a device's change of cur: either flag changes
	// (mail) or a replacement item.
	parseChange(app *etree.Element, cur *store.Item, o renderOpts) (store.FlagChange, *store.Item, error)
}

func codecFor(c store.Class) classCodec {
	switch c {
	case store.ClassEmail:
		return emailCodec{}
	case store.ClassNotes:
		return notesCodec{}
	case store.ClassTasks:
		return tasksCodec{}
	case store.ClassContacts:
		return contactsCodec{}
	case store.ClassCalendar:
		return calendarCodec{}
	case store.ClassSMS: // SMS class (sms.go)
		return smsCodec{}
	}
	return nil
}

// emailCodec is MS-ASEMAIL (and the AirSyncBase parts of MS-ASAIRS).
type emailCodec struct{}

// Flag status values (MS-ASEMAIL 2.2.2.33 Status).
const (
	flagCleared  = 0
	flagComplete = 1
	flagActive   = 2
)

// write renders MS-ASEMAIL 2.2.2 elements. The order follows Exchange's.
func (emailCodec) write(app *etree.Element, it *store.Item, raw []byte, full bool, o renderOpts) {
	v := o.Version
	if !full {
		// A Change of a mail carries what can change: Read, Flag,
		// Categories (MS-ASCMD 2.2.3.24 Change; content is immutable).
		add(app, "Email:Read", boolText(it.Read))
		writeFlag(app, it)
		if v >= V140 {
			writeCategories(app, "Email", it.Categories)
			writeLastVerb(app, it)
		}
		return
	}
	addIf(app, "Email:To", it.ToAddrs)
	addIf(app, "Email:Cc", it.CcAddrs)
	if v >= V160 {
		// Only drafts and the sender's own Sent Items copy have one.
		addIf(app, "Email2:Bcc", it.BccAddrs)
	}
	addIf(app, "Email:From", it.FromAddr)
	add(app, "Email:Subject", it.Subject)
	addIf(app, "Email:ReplyTo", it.ReplyTo)
	when := it.CreatedAt
	if it.DateReceived != nil {
		when = *it.DateReceived
	}
	add(app, "Email:DateReceived", formatTime(when))
	add(app, "Email:DisplayTo", displayNames(it.ToAddrs))
	add(app, "Email:ThreadTopic", firstNonEmpty(it.ThreadTopic, message.ThreadTopic(it.Subject)))
	add(app, "Email:Importance", itoa(it.Importance))
	add(app, "Email:Read", boolText(it.Read))
	if len(it.Attachments) > 0 {
		writeAttachments(app, it.Attachments)
	}
	native := writeBody(app, it, raw, o, isSMIME(it.MessageClass))
	add(app, "Email:MessageClass", firstNonEmpty(it.MessageClass, message.ClassNote))
	writeMeetingRequest(app, it, raw, o)    // meeting requests and cancellations (meetingrequest.go)
	add(app, "Email:InternetCPID", "65001") // UTF-8: every body we send is UTF-8
	writeFlag(app, it)
	add(app, "Email:ContentClass", "urn:content-classes:message")
	if native != 0 {
		add(app, "AirSyncBase:NativeBodyType", itoa(native))
	}
	if v >= V140 {
		if len(it.ConversationID) > 0 {
			wbxml.SetBytes(app.CreateElement("Email2:ConversationId"), it.ConversationID)
		}
		if len(it.ConversationIndex) > 0 {
			wbxml.SetBytes(app.CreateElement("Email2:ConversationIndex"), it.ConversationIndex)
		}
		writeLastVerb(app, it)
		if it.ReceivedAsBcc {
			add(app, "Email2:ReceivedAsBcc", "1") // MS-ASEMAIL 2.2.2.65
		}
		writeCategories(app, "Email", it.Categories)
	}
	if v >= V160 {
		add(app, "Email2:IsDraft", boolText(it.IsDraft))
	}
}

func writeLastVerb(app *etree.Element, it *store.Item) {
	if it.LastVerb == 0 {
		return
	}
	add(app, "Email2:LastVerbExecuted", itoa(it.LastVerb))
	if it.LastVerbAt != nil {
		add(app, "Email2:LastVerbExecutionTime", formatTime(*it.LastVerbAt))
	}
}

func isSMIME(class string) bool { return strings.HasPrefix(class, "IPM.Note.SMIME") }

func addIf(parent *etree.Element, name, text string) {
	if text != "" {
		add(parent, name, text)
	}
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// displayNames is MS-ASEMAIL 2.2.2.28 DisplayTo: the recipients' display
// names, separated by semicolons.
func displayNames(list string) string {
	if list == "" {
		return ""
	}
	addrs, err := mail.ParseAddressList(list)
	if err != nil {
		return list
	}
	names := make([]string, 0, len(addrs))
	for _, a := range addrs {
		names = append(names, firstNonEmpty(a.Name, a.Address))
	}
	return strings.Join(names, "; ")
}

// writeCategories is MS-ASEMAIL 2.2.2.14 Categories (and its namesakes in
// the other classes); the store keeps them as a JSON array.
func writeCategories(app *etree.Element, page, js string) {
	cats := categoriesOf(js)
	el := app.CreateElement(page + ":Categories")
	for _, c := range cats {
		add(el, page+":Category", c)
	}
}

func categoriesOf(js string) []string {
	var cats []string
	if js != "" {
		json.Unmarshal([]byte(js), &cats)
	}
	return cats
}

func categoriesJSON(el *etree.Element, page string) *string {
	if el == nil {
		return nil
	}
	var cats []string
	for _, c := range children(el, page+":Category") {
		if s := strings.TrimSpace(c.Text()); s != "" {
			cats = append(cats, s)
		}
	}
	js := ""
	if len(cats) > 0 {
		b, _ := json.Marshal(cats)
		js = string(b)
	}
	return &js
}

// writeAttachments is MS-ASAIRS 2.2.2.8 Attachments: FileReference is the
// attachment's id, by which ItemOperations Fetch and GetAttachment find it.
func writeAttachments(app *etree.Element, atts []store.Attachment) {
	list := app.CreateElement("AirSyncBase:Attachments")
	for _, a := range atts {
		el := list.CreateElement("AirSyncBase:Attachment")
		add(el, "AirSyncBase:DisplayName", firstNonEmpty(a.FileName, "attachment"))
		add(el, "AirSyncBase:FileReference", strconv.FormatInt(a.ID, 10))
		method := "1" // normal attachment (MS-ASAIRS 2.2.2.31 Method)
		if strings.EqualFold(a.ContentType, "message/rfc822") {
			method = "5" // embedded message
		}
		add(el, "AirSyncBase:Method", method)
		add(el, "AirSyncBase:EstimatedDataSize", strconv.FormatInt(a.Size, 10))
		addIf(el, "AirSyncBase:ContentId", a.ContentID)
		add(el, "AirSyncBase:IsInline", boolText(a.Inline))
	}
}

// Body types (MS-ASAIRS 2.2.2.22.1 Type).
const (
	bodyPlain = 1
	bodyHTML  = 2
	bodyRTF   = 3
	bodyMIME  = 4
)

// mimeTruncationSizes maps AirSync MIMETruncation values (MS-ASCMD
// 2.2.3.103) to byte counts; 8 (index 8) is "do not truncate".
var mimeTruncationSizes = []int64{0, 4096, 5120, 7168, 10240, 20480, 51200, 102400}

// writeBody renders MS-ASAIRS 2.2.2.9 Body for the best BodyPreference and
// returns the message's native body type (0 when there is no content).
func writeBody(app *etree.Element, it *store.Item, raw []byte, o renderOpts, smime bool) int {
	if raw == nil {
		return 0
	}
	opts := o.Options
	if opts == nil {
		opts = &syncOptions{}
	}
	text, html, err := bodiesOf(it, raw)
	if err != nil {
		text = ""
	}
	native := bodyPlain
	if html != "" {
		native = bodyHTML
	}
	pref, ok := chooseBodyPref(opts, native, smime)
	if !ok {
		return native
	}
	var data []byte
	switch pref.Type {
	case bodyMIME:
		data = raw
		if pref.TruncationSize == 0 && opts.MIMETruncation > 0 && opts.MIMETruncation-1 < len(mimeTruncationSizes) {
			pref.TruncationSize = max(mimeTruncationSizes[opts.MIMETruncation-1], 1)
		}
	case bodyRTF:
		// MS-ASAIRS 2.2.2.20.1: RTF goes base64-encoded, as compressed
		// RTF (MS-OXRTFCP), rendered from the text (rtf.go).
		data = []byte(base64.StdEncoding.EncodeToString(compressRTF(rtfFromText(text))))
	case bodyHTML:
		if html == "" {
			html = "<html><body><pre>" + htmlEscape(text) + "</pre></body></html>"
		}
		data = []byte(html)
	default:
		pref.Type = bodyPlain
		data = []byte(text)
	}
	body := app.CreateElement("AirSyncBase:Body")
	add(body, "AirSyncBase:Type", itoa(pref.Type))
	add(body, "AirSyncBase:EstimatedDataSize", strconv.Itoa(len(data)))
	if pref.Type == bodyRTF {
		// Cut compressed RTF cannot be read: it goes whole.
		pref.TruncationSize, pref.AllOrNone = 0, false
	}
	send, truncated := truncateBody(data, pref, pref.Type != bodyMIME)
	if truncated {
		add(body, "AirSyncBase:Truncated", "1")
	}
	if send != nil {
		wbxml.SetBytes(body.CreateElement("AirSyncBase:Data"), send)
	}
	if pref.Preview > 0 && o.Version >= V140 {
		p := firstNonEmpty(it.Preview, text)
		add(body, "AirSyncBase:Preview", truncateRunes(strings.Join(strings.Fields(p), " "), pref.Preview))
	}
	return native
}

// bodiesOf returns a mail's plain-text and HTML bodies: as rendered when
// it was stored, else rendered now from raw (mail stored before bodies
// were kept, or that could not be rendered then).
func bodiesOf(it *store.Item, raw []byte) (text, html string, err error) {
	if it.Rendered != nil {
		return it.Rendered.Text, it.Rendered.HTML, nil
	}
	return renderedBodies.bodies(raw) // bodycache.go
}

// chooseBodyPref picks the preference to honour: MIME when the device asks
// for it (MIMESupport 2, or 1 for S/MIME messages) and listed a Type 4,
// else the message's native type if listed, else plain text, else the
// first listed. Without any preference the body goes as plain text.
func chooseBodyPref(o *syncOptions, native int, smime bool) (bodyPref, bool) {
	if len(o.BodyPrefs) == 0 {
		return bodyPref{Type: bodyPlain}, true
	}
	find := func(t int) (bodyPref, bool) {
		for _, p := range o.BodyPrefs {
			if p.Type == t {
				return p, true
			}
		}
		return bodyPref{}, false
	}
	if o.MIMESupport == 2 || (o.MIMESupport == 1 && smime) {
		if p, ok := find(bodyMIME); ok {
			return p, true
		}
	}
	if p, ok := find(native); ok {
		return p, true
	}
	if p, ok := find(bodyPlain); ok {
		return p, true
	}
	if p, ok := find(bodyHTML); ok {
		return p, true
	}
	p := o.BodyPrefs[0]
	if p.Type == bodyMIME {
		p.Type = bodyPlain // MIME only with MIMESupport
	}
	return p, true // RTF (3) only when the device asks for nothing else
}

// truncateBody applies TruncationSize and AllOrNone (MS-ASAIRS 2.2.2.40.1,
// 2.2.2.2): text is cut on a UTF-8 character boundary, never inside one;
// with AllOrNone a body that does not fit is not sent at all.
func truncateBody(data []byte, p bodyPref, text bool) (send []byte, truncated bool) {
	if p.TruncationSize <= 0 || int64(len(data)) <= p.TruncationSize {
		return data, false
	}
	if p.AllOrNone {
		return nil, true
	}
	n := int(p.TruncationSize)
	if text {
		for n > 0 && !utf8.RuneStart(data[n]) {
			n--
		}
	}
	return data[:n], true
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func htmlEscape(s string) string {
	return htmlEscaper.Replace(s) // bodycache.go
}

// parseAdd: a device may not add mail through Sync (mail arrives by
// SendMail or delivery): MS-ASCMD 2.2.3.177.17 Status 6 for the item. The
// one exception, a 16.x device's draft in Drafts, never reaches here: the
// Sync engine hands it to parseDraft (drafts.go).
func (emailCodec) parseAdd(app *etree.Element, o renderOpts) (*store.Item, []byte, error) {
	return nil, nil, errConversion
}

// parseChange reads what a device may change on a mail: Read, Flag and
// Categories (MS-ASEMAIL 3.1.5.3).
func (emailCodec) parseChange(app *etree.Element, cur *store.Item, o renderOpts) (store.FlagChange, *store.Item, error) {
	var ch store.FlagChange
	if el := child(app, "Email:Read"); el != nil {
		b := strings.TrimSpace(el.Text()) == "1"
		ch.Read = &b
	}
	if el := child(app, "Email:Flag"); el != nil {
		if err := flagChange(el, &ch); err != nil {
			return ch, nil, err
		}
	}
	if o.Version >= V140 {
		ch.Categories = categoriesJSON(child(app, "Email:Categories"), "Email")
	}
	return ch, nil, nil
}

// syncObserver is a class that acts on the device's commands once they are
// committed (calendar: meeting requests, updates and cancellations to the
// attendees). committed runs after the commit, outside its transaction;
// failures are its own to log.
type syncObserver interface {
	committed(ctx context.Context, h *Handler, r *Request, folder *store.Folder, done []syncApplied)
}

// syncApplied is one device command that was applied.
type syncApplied struct {
	Kind     string // Add, Change, Delete
	ItemID   int64
	Before   *store.Item // the item before a Change or Delete
	Instance bool        // a Delete of one occurrence (applied as a change)
}
