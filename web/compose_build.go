package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"path"
	"slices"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/labstack/echo/v4"

	"airlock/message"
	"airlock/store"
)

// Building the MIME message of the compose form: addresses checked, the
// sanitised HTML and its text alternative, the attachments (kept from the
// draft, kept from a forwarded original, the original itself as
// message/rfc822, and new uploads), each within the size limit and the
// user's quota.

// draftSourceHeader records in a draft what it answers ("reply 123"), so
// that a resumed draft still marks the original when sent. It is never
// part of a message that is sent.
const draftSourceHeader = "X-Airlock-Compose"

// parseAddrs reads a typed address list; bad is the first entry that is
// not an address.
func parseAddrs(s string) (list []*gomail.Address, bad string) {
	for _, p := range splitAddrs(s) {
		a, err := mail.ParseAddress(p)
		if err != nil || !strings.Contains(a.Address, "@") {
			return nil, p
		}
		list = append(list, &gomail.Address{Name: a.Name, Address: a.Address})
	}
	return list, ""
}

// buildMessage writes f as a message from me (or the owner f.From names,
// already checked). errs holds the form's errors by field; with any, raw
// is nil. A draft may have no recipient and carries its compose mode.
func (s *Server) buildMessage(c echo.Context, me *store.User, f *composeForm, draft bool) (raw []byte, errs map[string]string, err error) {
	ctx := c.Request().Context()
	errs = map[string]string{}
	var h gomail.Header
	from := []*gomail.Address{{Name: me.DisplayName, Address: me.Email}}
	if f.From != "" && !strings.EqualFold(f.From, me.Email) {
		owner, err := s.store.UserByAddress(ctx, f.From)
		if err != nil {
			return nil, nil, err
		}
		from = []*gomail.Address{{Name: owner.DisplayName, Address: owner.Email}}
	}
	h.SetAddressList("From", from)
	n := 0
	for _, fld := range []struct{ key, header, v string }{{"to", "To", f.To}, {"cc", "Cc", f.Cc}, {"bcc", "Bcc", f.Bcc}} {
		list, bad := parseAddrs(fld.v)
		if bad != "" {
			errs[fld.key] = fmt.Sprintf("%q is not an email address. Separate addresses with commas.", bad)
			continue
		}
		if len(list) > 0 {
			h.SetAddressList(fld.header, list)
			n += len(list)
		}
	}
	if !draft && n == 0 && errs["to"] == "" {
		errs["to"] = "Add at least one recipient."
	}
	h.SetSubject(f.Subject)
	h.SetDate(time.Now())
	h.Set("MIME-Version", "1.0")
	var src *store.Item
	var srcRaw []byte
	if f.Source != 0 {
		if src, srcRaw, err = s.composeSource(ctx, me.ID, f.Source); err != nil {
			return nil, nil, err
		}
		if f.Mode == modeReply || f.Mode == modeReplyAll {
			threadHeaders(&h, src, srcRaw)
		}
	}
	if draft && f.Mode != modeNew && f.Source != 0 {
		h.Set(draftSourceHeader, fmt.Sprintf("%s %d", f.Mode, f.Source))
	}
	files, fileErr, err := s.composeFiles(c, me, f, src, srcRaw)
	if err != nil {
		return nil, nil, err
	}
	if fileErr != "" {
		errs["attach"] = fileErr
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	htmlBody := f.HTML
	if f.Format != "html" {
		htmlBody = textToHTML(f.Text)
	}
	htmlBody = `<html><head><meta charset="utf-8"></head><body>` + htmlBody + `</body></html>`
	text := strings.ReplaceAll(f.Text, "\n", "\r\n")
	raw, err = message.Compose(h, text, htmlBody, files)
	if err != nil {
		return nil, nil, err
	}
	if msg := s.sizeError(ctx, me, int64(len(raw)), f.Draft); msg != "" {
		return nil, map[string]string{"attach": msg}, nil
	}
	return raw, nil, nil
}

// sizeError says why a message of size bytes cannot be sent or saved: the
// message limit, or the user's quota (the copy in Sent Items or the draft
// would not fit; a draft being replaced frees its own size).
func (s *Server) sizeError(ctx context.Context, me *store.User, size, draftID int64) string {
	if limit := s.maxMessageSize(); size > limit {
		return fmt.Sprintf("This message is %s with its attachments; a message may be at most %s. Remove an attachment or send it as a link.", humanBytes(size), humanBytes(limit))
	}
	q, err := s.store.QuotaOf(ctx, me.ID)
	if err != nil {
		return ""
	}
	if draftID != 0 {
		if d, err := s.store.ItemByID(ctx, me.ID, draftID); err == nil {
			size -= d.Size
		}
	}
	if !q.Fits(size) {
		return fmt.Sprintf("Your mailbox is full (%s of %s used): this message and its attachments (%s) do not fit. Delete some mail and empty Deleted Items, then try again.",
			humanBytes(q.Used), humanBytes(q.Limit), humanBytes(size))
	}
	return ""
}

// threadHeaders sets In-Reply-To and References of a reply to src (RFC
// 5322 3.6.4), as SmartReply does.
func threadHeaders(h *gomail.Header, src *store.Item, raw []byte) {
	if src.MessageID == "" {
		return
	}
	id := strings.Trim(src.MessageID, "<>")
	var refs []string
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		oh := gomail.HeaderFromMap(m.Header)
		refs, _ = oh.MsgIDList("References")
		if len(refs) == 0 {
			refs, _ = oh.MsgIDList("In-Reply-To")
		}
	}
	h.SetMsgIDList("In-Reply-To", []string{id})
	h.SetMsgIDList("References", append(refs, id))
}

// composeFiles gathers the attachments. msg is a message for the
// attachment field when an upload is refused.
func (s *Server) composeFiles(c echo.Context, me *store.User, f *composeForm, src *store.Item, srcRaw []byte) (files []message.File, msg string, err error) {
	ctx := c.Request().Context()
	if f.Draft != 0 && len(f.Keep) > 0 {
		d, raw, err := s.composeSource(ctx, me.ID, f.Draft)
		if err != nil {
			return nil, "", err
		}
		files = append(files, partsOf(raw, d.Attachments, f.Keep)...)
	}
	// The original's files join the message until there is a draft; from
	// then on they are the draft's own (Keep).
	if src != nil && f.Draft == 0 && f.Mode == modeForward && len(f.KeepOrig) > 0 {
		files = append(files, partsOf(srcRaw, src.Attachments, f.KeepOrig)...)
	}
	if src != nil && f.Draft == 0 && f.Mode == modeForwardAtt && srcRaw != nil {
		files = append(files, message.File{Name: safeFileName(nonEmpty(src.Subject, "message")) + ".eml", ContentType: "message/rfc822", Data: srcRaw})
	}
	form, ferr := c.MultipartForm()
	if ferr != nil {
		return files, "", nil // a form without files
	}
	limit := s.maxMessageSize()
	var total int64
	for _, fh := range form.File["attach"] {
		name := safeFileName(fh.Filename)
		if fh.Size == 0 && name == "attachment" {
			continue // the empty file field
		}
		total += fh.Size
		if fh.Size > limit || total > limit {
			return nil, fmt.Sprintf("%q is %s; a message may carry at most %s in all. Send large files as a link instead.", name, humanBytes(fh.Size), humanBytes(limit)), nil
		}
		r, err := fh.Open()
		if err != nil {
			return nil, "", err
		}
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		r.Close()
		if err != nil {
			return nil, "", err
		}
		files = append(files, message.File{Name: name, ContentType: uploadType(fh.Header.Get("Content-Type"), name), Data: data})
	}
	return files, "", nil
}

// uploadType is a file's media type without parameters (the MIME writer
// takes a bare type): the declared one, else the file name's, else
// octet-stream.
func uploadType(declared, name string) string {
	if mt, _, err := mime.ParseMediaType(declared); err == nil && mt != "" && strings.Contains(mt, "/") {
		return mt
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// partsOf returns the attachments of raw whose ids are kept.
func partsOf(raw []byte, atts []store.Attachment, keep []int64) []message.File {
	var out []message.File
	for _, a := range atts {
		if !slices.Contains(keep, a.ID) {
			continue
		}
		ct, name, data, err := message.Part(raw, a.PartIndex)
		if err != nil {
			continue
		}
		out = append(out, message.File{Name: nonEmpty(name, a.FileName), ContentType: uploadType(ct, name), ContentID: a.ContentID, Inline: a.Inline, Data: data})
	}
	return out
}
