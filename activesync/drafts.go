package activesync

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	gomail "github.com/emersion/go-message/mail"

	"airlock/activesync/wbxml"
	"airlock/delivery"
	"airlock/message"
	"airlock/store"
)

// Drafts from the device (MS-ASEMAIL 3.1.5.3, MS-ASCMD 2.2.1.21, EAS 16.0
// and 16.1). A 16.x device may Add, Change and Delete mail in its Drafts
// folder; a Change may add attachments (AirSyncBase:Attachments/Add, with
// the device's ClientId, answered with our FileReference) and delete them
// (Delete by FileReference); email2:Send on an Add or Change sends the draft.
//
// A draft is stored as a real MIME message built from the device's
// fields, so the user's other devices, Search and IMAP see the same draft;
// its Bcc is kept in the message (and in Item.BccAddrs). Elements a Change
// leaves out keep their values. A device may also write the draft as MIME
// (Body Type 4, setMIME). Mail added anywhere else, or by a device
// before 16.0, is refused with Status 6 (emailCodec.parseAdd).

// draftCmd is a device's draft Add or Change, ready to store.
type draftCmd struct {
	Item *store.Item
	Raw  []byte
	// ClientIDs holds, for each of Item.Attachments, the ClientId the
	// device gave it in this request ("" for one it already had).
	ClientIDs []string
	// Send: the device asked for the draft to be sent (email2:Send).
	Send bool
}

// draftsFolder reports whether a Sync of folder may add and edit drafts.
func draftsFolder(r *Request, f *store.Folder) bool {
	return r.Version >= V160 && f.Class == store.ClassEmail && f.Type == store.FolderDrafts
}

// draftEdit reports whether a Change of a draft touches its content (or
// sends it), rather than only Read, Flag or Categories, which the ordinary
// mail change handles.
func draftEdit(cmd, app *etree.Element) bool {
	if child(cmd, "Email2:Send") != nil {
		return true
	}
	for _, c := range app.ChildElements() {
		switch c.Space + ":" + c.Tag {
		case "Email:Read", "Email:Flag", "Email:Categories":
		default:
			return true
		}
	}
	return false
}

// draftAtt is one attachment of a draft being built.
type draftAtt struct {
	ID                           int64 // the stored attachment's, 0 for a new one
	ClientID                     string
	Name, ContentType, ContentID string
	ContentLocation              string
	Inline                       bool
	Data                         []byte
}

// draft is the editable content of a draft message.
type draft struct {
	To, Cc, Bcc, ReplyTo  string
	Subject               string
	Importance            int
	Text, HTML            string
	MessageID             string
	InReplyTo, References string
	Atts                  []draftAtt

	Read       bool
	FlagStatus int
	Flag       string
	Categories string
}

// parseDraft reads a draft Add (cur nil) or Change of cur. Anything the
// device sent that cannot be stored is errConversion (Status 6).
func (h *Handler) parseDraft(ctx context.Context, r *Request, cmd, app *etree.Element, cur *store.Item) (*draftCmd, error) {
	d := &draft{Importance: message.ImportanceNormal, Read: true}
	if cur != nil {
		var err error
		if d, err = h.loadDraft(ctx, r, cur); err != nil {
			return nil, err
		}
	}
	if err := d.apply(app); err != nil {
		return nil, err
	}
	raw, err := d.compose(r.User, time.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("compose draft: %v: %w", err, errConversion)
	}
	it, err := message.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("draft: %v: %w", err, errConversion)
	}
	if len(it.Attachments) != len(d.Atts) {
		// Our own message must read back as written.
		return nil, fmt.Errorf("draft: %d attachments read back of %d: %w", len(it.Attachments), len(d.Atts), errConversion)
	}
	out := &draftCmd{Item: it, Raw: raw, Send: child(cmd, "Email2:Send") != nil || child(app, "Email2:Send") != nil}
	for i, a := range d.Atts {
		it.Attachments[i].ID = a.ID
		out.ClientIDs = append(out.ClientIDs, a.ClientID)
	}
	it.IsDraft, it.BccAddrs = true, d.Bcc
	it.Read, it.FlagStatus, it.Flag, it.Categories = d.Read, d.FlagStatus, d.Flag, d.Categories
	return out, nil
}

// loadDraft reads a stored draft back into its editable form.
func (h *Handler) loadDraft(ctx context.Context, r *Request, cur *store.Item) (*draft, error) {
	raw, err := h.store.Blob(ctx, r.User.ID, cur.ID)
	if err != nil {
		return nil, err
	}
	d := &draft{
		To: cur.ToAddrs, Cc: cur.CcAddrs, Bcc: cur.BccAddrs, ReplyTo: cur.ReplyTo, Subject: cur.Subject,
		Importance: cur.Importance, MessageID: cur.MessageID,
		Read: cur.Read, FlagStatus: cur.FlagStatus, Flag: cur.Flag, Categories: cur.Categories,
	}
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		d.InReplyTo, d.References = m.Header.Get("In-Reply-To"), m.Header.Get("References")
	}
	if err := d.readContent(raw, cur.Attachments); err != nil {
		return nil, fmt.Errorf("stored draft %d: %w", cur.ID, err)
	}
	return d, nil
}

// readContent sets the body and attachments of d from a raw message whose
// attachments atts lists (as message.Parse found them).
func (d *draft) readContent(raw []byte, atts []store.Attachment) error {
	text, html, err := message.Bodies(raw)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errConversion)
	}
	d.Text, d.HTML, d.Atts = text, html, nil
	for _, a := range atts {
		ct, name, data, err := message.Part(raw, a.PartIndex)
		if err != nil {
			return fmt.Errorf("%v: %w", err, errConversion)
		}
		d.Atts = append(d.Atts, draftAtt{ID: a.ID, Name: name, ContentType: ct, ContentID: a.ContentID, Inline: a.Inline, Data: data})
	}
	return nil
}

// apply sets what the device sent; what it left out stays. The body comes
// first: a MIME body is a whole message, and the elements sent beside it
// are the device's last word on the fields they name.
func (d *draft) apply(app *etree.Element) error {
	if b := child(app, "AirSyncBase:Body"); b != nil {
		if err := d.setBody(b); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"Email:To", &d.To}, {"Email:Cc", &d.Cc}, {"Email2:Bcc", &d.Bcc}, {"Email:ReplyTo", &d.ReplyTo}} {
		el := child(app, f.name)
		if el == nil {
			continue
		}
		list, err := addressList(el.Text())
		if err != nil {
			return fmt.Errorf("%s: %v: %w", f.name, err, errConversion)
		}
		*f.v = list
	}
	if el := child(app, "Email:Subject"); el != nil {
		d.Subject = strings.TrimSpace(el.Text())
	}
	if s := text(app, "Email:Importance"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < message.ImportanceLow || n > message.ImportanceHigh {
			return fmt.Errorf("draft Importance %q: %w", s, errConversion)
		}
		d.Importance = n
	}
	if el := child(app, "Email:Read"); el != nil {
		d.Read = strings.TrimSpace(el.Text()) == "1"
	}
	if el := child(app, "Email:Flag"); el != nil {
		st, js, err := parseFlag(el, time.Now().UTC())
		if err != nil {
			return err
		}
		d.FlagStatus, d.Flag = st, js
	}
	if c := categoriesJSON(child(app, "Email:Categories"), "Email"); c != nil {
		d.Categories = *c
	}
	if atts := child(app, "AirSyncBase:Attachments"); atts != nil {
		if err := d.editAttachments(atts); err != nil {
			return err
		}
	}
	return nil
}

// setBody takes MS-ASAIRS 2.2.2.9 Body of Type 1 (text), 2 (HTML), 3
// (compressed RTF, base64; stored as its text) or 4 (MIME, the whole
// message: setMIME).
func (d *draft) setBody(b *etree.Element) error {
	var data []byte
	if el := child(b, "AirSyncBase:Data"); el != nil {
		var err error
		if data, err = wbxml.Bytes(el); err != nil {
			return fmt.Errorf("draft Body Data: %v: %w", err, errConversion)
		}
	}
	switch t := text(b, "AirSyncBase:Type"); t {
	case "1", "":
		d.Text, d.HTML = string(data), ""
	case "2":
		d.HTML = string(data)
		d.Text = ""
	case "3":
		comp, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil {
			return fmt.Errorf("RTF body: not base64: %w", errConversion)
		}
		rtf, err := decompressRTF(comp)
		if err != nil {
			return fmt.Errorf("RTF body: %v: %w", err, errConversion)
		}
		txt, err := rtfToText(rtf)
		if err != nil {
			return fmt.Errorf("RTF body: %v: %w", err, errConversion)
		}
		d.Text, d.HTML = txt, ""
	case "4":
		return d.setMIME(data)
	default:
		return fmt.Errorf("draft Body Type %q: %w", t, errConversion)
	}
	return nil
}

// setMIME takes a draft body of Type 4, MIME (MS-ASAIRS 2.2.2.41.1 Type):
// a 16.x device may write its draft as the whole message. The message is
// the draft: its headers give the recipients (Bcc too), subject,
// importance and thread, its parts the body and attachments, replacing
// what the draft had. It is stored as compose writes it, so From is always
// the user and the parts are ones Airlock reads back (parseDraft checks).
func (d *draft) setMIME(raw []byte) error {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("MIME body: %v: %w", err, errConversion)
	}
	it, err := message.Parse(raw)
	if err != nil {
		return fmt.Errorf("MIME body: %v: %w", err, errConversion)
	}
	for _, f := range []struct {
		key string
		v   *string
	}{{"To", &d.To}, {"Cc", &d.Cc}, {"Bcc", &d.Bcc}, {"Reply-To", &d.ReplyTo}} {
		list, err := addressList(m.Header.Get(f.key))
		if err != nil {
			return fmt.Errorf("MIME body %s: %v: %w", f.key, err, errConversion)
		}
		*f.v = list
	}
	d.Subject, d.Importance = it.Subject, it.Importance
	d.InReplyTo, d.References = m.Header.Get("In-Reply-To"), m.Header.Get("References")
	if d.MessageID == "" {
		d.MessageID = it.MessageID
	}
	return d.readContent(raw, it.Attachments)
}

// editAttachments applies MS-ASAIRS 2.2.2.8 Attachments of a request:
// Delete (by FileReference) and Add (ClientId, DisplayName, Content...).
func (d *draft) editAttachments(atts *etree.Element) error {
	for _, c := range atts.ChildElements() {
		switch c.Space + ":" + c.Tag {
		case "AirSyncBase:Delete":
			ref := text(c, "AirSyncBase:FileReference")
			id, err := strconv.ParseInt(ref, 10, 64)
			i := -1
			for k, a := range d.Atts {
				if err == nil && a.ID != 0 && a.ID == id {
					i = k
				}
			}
			if i < 0 {
				return fmt.Errorf("draft has no attachment %q to delete: %w", ref, errConversion)
			}
			d.Atts = append(d.Atts[:i], d.Atts[i+1:]...)
		case "AirSyncBase:Add":
			a := draftAtt{
				ClientID:        text(c, "AirSyncBase:ClientId"),
				Name:            text(c, "AirSyncBase:DisplayName"),
				ContentType:     text(c, "AirSyncBase:ContentType"),
				ContentID:       text(c, "AirSyncBase:ContentId"),
				ContentLocation: text(c, "AirSyncBase:ContentLocation"),
				Inline:          text(c, "AirSyncBase:IsInline") == "1",
			}
			content := child(c, "AirSyncBase:Content")
			if a.ClientID == "" || content == nil {
				return fmt.Errorf("attachment Add without ClientId or Content: %w", errConversion)
			}
			if m := text(c, "AirSyncBase:Method"); m != "" && m != "1" {
				// 5 (embedded message) and 6 (OLE) cannot be written
				// by a device in this form.
				return fmt.Errorf("attachment Method %s: %w", m, errConversion)
			}
			data, err := wbxml.Bytes(content)
			if err != nil {
				return fmt.Errorf("attachment Content: %v: %w", err, errConversion)
			}
			a.Data = data
			if a.Name == "" {
				a.Name = "attachment"
			}
			d.Atts = append(d.Atts, a)
		default:
			return fmt.Errorf("%s in Attachments: %w", c.FullTag(), errConversion)
		}
	}
	return nil
}

// addressList normalises an EAS recipient list (comma- or
// semicolon-separated RFC 5322 addresses) to the form the store keeps.
func addressList(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	list, err := mail.ParseAddressList(s)
	if err != nil {
		var err2 error
		if list, err2 = mail.ParseAddressList(strings.ReplaceAll(s, ";", ",")); err2 != nil {
			return "", err
		}
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, message.FormatAddress(a.Name, a.Address))
	}
	return strings.Join(out, ", "), nil
}

// compose writes the draft as an RFC 5322 message from the user.
func (d *draft) compose(u *store.User, now time.Time) ([]byte, error) {
	var h gomail.Header
	h.SetAddressList("From", []*gomail.Address{{Name: u.DisplayName, Address: u.Email}})
	for _, f := range []struct{ key, v string }{{"To", d.To}, {"Cc", d.Cc}, {"Bcc", d.Bcc}, {"Reply-To", d.ReplyTo}} {
		if f.v == "" {
			continue
		}
		list, err := mail.ParseAddressList(f.v)
		if err != nil {
			return nil, err
		}
		out := make([]*gomail.Address, len(list))
		for i, a := range list {
			out[i] = &gomail.Address{Name: a.Name, Address: a.Address}
		}
		h.SetAddressList(f.key, out)
	}
	h.SetSubject(d.Subject)
	h.SetDate(now)
	if d.MessageID != "" {
		h.SetMessageID(strings.Trim(d.MessageID, "<>"))
	} else if err := h.GenerateMessageIDWithHostname("airlock.draft"); err != nil {
		return nil, err
	}
	if d.InReplyTo != "" {
		h.Set("In-Reply-To", d.InReplyTo)
	}
	if d.References != "" {
		h.Set("References", d.References)
	}
	switch d.Importance {
	case message.ImportanceHigh:
		h.Set("Importance", "high")
	case message.ImportanceLow:
		h.Set("Importance", "low")
	}
	h.Set("MIME-Version", "1.0")

	files := make([]message.File, len(d.Atts))
	for i, a := range d.Atts {
		files[i] = message.File{Name: a.Name, ContentType: a.ContentType, ContentID: a.ContentID, Location: a.ContentLocation, Inline: a.Inline, Data: a.Data}
	}
	return message.Compose(h, d.Text, d.HTML, files)
}

// draftFile is an attachment a draft command added: the device's ClientId
// and our FileReference. It is recorded with the command's result, so a
// request replayed after a lost response answers the same.
type draftFile struct {
	ClientID string `json:"c"`
	FileRef  string `json:"f"`
}

// draftFiles lists the attachments d added, by ClientId, with their
// FileReference (after the commit, when they have an id).
func draftFiles(d *draftCmd) []draftFile {
	if d == nil {
		return nil
	}
	var out []draftFile
	for i, cid := range d.ClientIDs {
		if cid == "" || i >= len(d.Item.Attachments) || d.Item.Attachments[i].ID == 0 {
			continue
		}
		out = append(out, draftFile{ClientID: cid, FileRef: strconv.FormatInt(d.Item.Attachments[i].ID, 10)})
	}
	return out
}

// answeredFiles is what a draft command's response names: the attachments
// it added now, or for a replayed command the ones recorded when it was
// applied.
func (p *pendingCmd) answeredFiles() []draftFile {
	if p.Draft != nil {
		return draftFiles(p.Draft)
	}
	if p.Recorded != nil {
		return p.Recorded.Files
	}
	return nil
}

// writeDraftResponse adds to a draft's Add or Change response the
// FileReference of each attachment the device added, by its ClientId
// (MS-ASAIRS 2.2.2.14, 2.2.2.24.1), which the device records to delete the
// attachment later.
func writeDraftResponse(el *etree.Element, files []draftFile) {
	if len(files) == 0 {
		return
	}
	list := el.CreateElement("AirSync:ApplicationData").CreateElement("AirSyncBase:Attachments")
	for _, f := range files {
		a := list.CreateElement("AirSyncBase:Attachment")
		add(a, "AirSyncBase:ClientId", f.ClientID)
		add(a, "AirSyncBase:FileReference", f.FileRef)
	}
}

// sendDraft sends a committed draft the device asked to send
// (email2:Send) and removes it from Drafts; the Sent Items copy is made by
// delivery. The draft's id and counter make the submission's ClientId, so
// a request replayed after a lost response does not send it twice. It
// reports whether the mail went out. When it did not (no recipient, a
// remote one and no relay...), the draft stays in Drafts, saved, for the
// user to fix and send again: a Change then gets Status 6 (MS-ASCMD has no
// Sync status for a failed send); an Add keeps Status 1 and its ServerId,
// because the draft it created exists and the device must know it.
func (h *Handler) sendDraft(ctx context.Context, r *Request, d *draftCmd, itemID, modseq int64) bool {
	clientID := "draft:" + strconv.FormatInt(itemID, 10) + ":" + strconv.FormatInt(modseq, 10)
	_, err := h.mail.Submit(ctx, delivery.Submission{
		User: r.User, ClientID: clientID, MIME: d.Raw, SaveInSent: true,
		Protocol: "HTTPS (ActiveSync " + r.Version.String() + ")", RemoteAddr: clientIP(r.HTTP),
	})
	if err != nil && !errors.Is(err, delivery.ErrAlreadySent) {
		r.Log.Warn("draft not sent", "item", itemID, "err", err)
		return false
	}
	if err := h.store.DeleteItem(ctx, r.User.ID, itemID); err != nil && !errors.Is(err, store.ErrNotFound) {
		r.Log.Warn("sent draft not removed from Drafts", "item", itemID, "err", err)
	}
	return true
}

// draftOp reads a draft Add (cur nil) or Change and queues its store op
// (op, completed with the draft). It returns the command's status: 1
// queued, 6 the device's draft cannot be stored, 8 the draft is gone.
// Other errors (the database) fail the request.
func (h *Handler) draftOp(ctx context.Context, r *Request, p *pendingCmd, cmd, app *etree.Element, cur *store.Item, ops *[]store.SyncOp, op store.SyncOp) (int, error) {
	d, err := h.parseDraft(ctx, r, cmd, app, cur)
	switch {
	case errors.Is(err, errConversion):
		r.Log.Info("draft refused", "err", err)
		return syncConversionError, nil
	case errors.Is(err, store.ErrNotFound):
		return syncNotFound, nil
	case err != nil:
		return 0, err
	}
	p.Draft = d
	op.Item, op.Raw = d.Item, d.Raw
	p.Op = len(*ops)
	*ops = append(*ops, op)
	return syncOK, nil
}
