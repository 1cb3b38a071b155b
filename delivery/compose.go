package delivery

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/jhillyerd/enmime/v2"

	"airlock/message"
	"airlock/store"
)

// SmartKind says whether a smart message replies to or forwards the
// original.
type SmartKind int

// The two smart commands (MS-ASCMD 2.2.1.20 SmartReply, 2.2.1.19
// SmartForward).
const (
	SmartReply SmartKind = iota + 1
	SmartForward
)

// Smart is what a device sends with SmartReply or SmartForward: its new
// message and a reference to a stored original.
type Smart struct {
	Kind SmartKind
	// Device is the MIME the device sent: headers (To, Subject...) and the
	// new text.
	Device []byte
	// Original is the stored raw message and OriginalItem its summary
	// (attachments with their part indexes).
	Original     []byte
	OriginalItem *store.Item
	// ReplaceMime: the device sent the whole message itself (MS-ASCMD
	// 2.2.3.147); the original is neither quoted nor attached.
	ReplaceMime bool
}

// ComposeSmart builds the message a smart command sends: the device's
// headers and text, then the original (quoted below a header block for a
// reply, inline for a forward), plus, for a forward, the original's
// attachments. A reply carries In-Reply-To and References. The result still
// goes through Service.Submit, which forces From.
func ComposeSmart(s Smart) ([]byte, error) {
	hdr, _, err := splitMessage(s.Device)
	if err != nil {
		return nil, err
	}
	mh := mail.Header{Header: gomessage.Header{Header: hdr}}
	if s.Kind == SmartReply {
		threadHeaders(&mh, s.Original, s.OriginalItem)
	}
	if s.ReplaceMime {
		body := s.Device[len(headerBlock(s.Device)):]
		return joinMessage(mh.Header.Header, body)
	}
	env, err := enmime.ReadEnvelope(bytes.NewReader(s.Device))
	if err != nil {
		return nil, fmt.Errorf("device MIME: %v: %w", err, ErrMalformed)
	}
	origText, origHTML, err := message.Bodies(s.Original)
	if err != nil {
		return nil, fmt.Errorf("original: %w", err)
	}

	intro := originalHeader(s.OriginalItem, s.Kind)
	text := strings.TrimRight(env.Text, "\r\n") + "\r\n\r\n" + intro + "\r\n"
	if s.Kind == SmartReply {
		text += quote(origText)
	} else {
		text += origText
	}
	var htmlBody string
	if env.HTML != "" || origHTML != "" {
		mine := env.HTML
		if mine == "" {
			mine = textToHTML(env.Text)
		}
		theirs := origHTML
		if theirs == "" {
			theirs = textToHTML(origText)
		}
		htmlBody = mine + `<hr><div>` + textToHTML(intro) + `</div>`
		if s.Kind == SmartReply {
			htmlBody += `<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">` + theirs + `</blockquote>`
		} else {
			htmlBody += theirs
		}
	}

	var atts []message.File
	for _, p := range append(append([]*enmime.Part(nil), env.Attachments...), env.Inlines...) {
		atts = append(atts, message.File{ContentType: p.ContentType, Name: p.FileName, ContentID: p.ContentID, Inline: p.Disposition == "inline", Data: p.Content})
	}
	if s.Kind == SmartForward && s.OriginalItem != nil {
		for _, a := range s.OriginalItem.Attachments {
			ct, name, data, err := message.Part(s.Original, a.PartIndex)
			if err != nil {
				return nil, fmt.Errorf("original attachment %d: %w", a.PartIndex, err)
			}
			atts = append(atts, message.File{ContentType: ct, Name: name, ContentID: a.ContentID, Inline: a.Inline, Data: data})
		}
	}

	for _, k := range []string{"Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Mime-Version"} {
		mh.Del(k)
	}
	return message.Compose(mh, text, htmlBody, atts)
}

// threadHeaders sets In-Reply-To and References of a reply (RFC 5322
// 3.6.4) unless the device already did.
func threadHeaders(mh *mail.Header, original []byte, it *store.Item) {
	if it == nil || it.MessageID == "" {
		return
	}
	id := strings.Trim(it.MessageID, "<>")
	if !mh.Has("In-Reply-To") {
		mh.SetMsgIDList("In-Reply-To", []string{id})
	}
	if !mh.Has("References") {
		var oh mail.Header
		if h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(headerBlock(original)))); err == nil {
			oh = mail.Header{Header: gomessage.Header{Header: h}}
		}
		refs, _ := oh.MsgIDList("References")
		if len(refs) == 0 {
			refs, _ = oh.MsgIDList("In-Reply-To")
		}
		mh.SetMsgIDList("References", append(refs, id))
	}
}

// originalHeader is the block Outlook-style clients put above the original.
func originalHeader(it *store.Item, kind SmartKind) string {
	if it == nil {
		return ""
	}
	title := "-----Original Message-----"
	if kind == SmartForward {
		title = "-----Forwarded Message-----"
	}
	lines := []string{title, "From: " + it.FromAddr}
	if it.DateReceived != nil {
		lines = append(lines, "Sent: "+it.DateReceived.UTC().Format(time.RFC1123Z))
	}
	lines = append(lines, "To: "+it.ToAddrs)
	if it.CcAddrs != "" {
		lines = append(lines, "Cc: "+it.CcAddrs)
	}
	lines = append(lines, "Subject: "+it.Subject)
	return strings.Join(lines, "\r\n") + "\r\n"
}

func quote(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ">") {
			lines[i] = ">" + l
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

func textToHTML(s string) string {
	s = html.EscapeString(strings.ReplaceAll(s, "\r\n", "\n"))
	return strings.ReplaceAll(s, "\n", "<br>\n")
}
