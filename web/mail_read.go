package web

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"

	"airlock/message"
	"airlock/store"
)

// The reading pane. HTML mail is sanitised on the server (mail_sanitize.go)
// and shown in a sandboxed iframe whose document comes from its own URL
// with its own Content-Security-Policy, so that a tag the sanitiser missed
// still cannot run, reach the session or load anything. Plain-text mail is
// shown as escaped text with its links made clickable.

// settingImagesFrom + user id + ":" + sender address: "always" when the
// user chose to see remote images from that sender.
const settingImagesFrom = "mail_images:"

type attRow struct {
	Name    string
	Type    string
	Size    int64
	URL     string // download
	ViewURL string // inline preview (images and PDFs)
	Image   bool
}

type mailReadData struct {
	mailShell
	Folder      *store.Folder
	Item        *store.Item
	URL         string
	ListURL     string
	Subject     string
	From        string
	To          string
	Cc          string
	Date        string
	Flagged     bool
	HTML        bool
	FrameURL    string
	Text        []textSeg
	Remote      int
	ShowImages  bool
	AlwaysFrom  bool
	Sender      string
	ShowOnceURL string
	Attachments []attRow
	MoveTo      []folderNode
	InDeleted   bool
	InJunk      bool
	// InDrafts: the message is a draft, which opens in the compose form.
	InDrafts bool
	// SentBy is the Sender of a message sent on behalf of its From
	// (a delegate's), shown as "SentBy on behalf of From"; "" otherwise.
	SentBy string
}

// mailItem returns the folder and the live item of the user named by the
// :folder and :item parameters; the item must be in that folder.
func (s *Server) mailItem(c echo.Context) (*store.Folder, *store.Item, error) {
	f, err := s.mailFolder(c)
	if err != nil {
		return nil, nil, err
	}
	id, err := strconv.ParseInt(c.Param("item"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such message.")
	}
	it, err := s.store.ItemByID(c.Request().Context(), ident(c).User.ID, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && it.FolderID != f.ID {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "This message is no longer here: it may have been moved or deleted on another device.")
	}
	if err != nil {
		return nil, nil, err
	}
	return f, it, nil
}

func itemURL(folderID, itemID int64) string {
	return "/mail/" + strconv.FormatInt(folderID, 10) + "/" + strconv.FormatInt(itemID, 10)
}

// mailBodies returns the raw message and its text and HTML bodies: as
// rendered when the message was stored (store.Rendered), so opening a
// message costs no MIME parse, else rendered now from the raw message
// (mail stored before bodies were kept, or that could not be rendered
// then). The raw message is still wanted for the Sender header and for
// cid: pictures, which are read from it only when the HTML shows one.
func (s *Server) mailBodies(ctx context.Context, userID int64, it *store.Item) (raw []byte, text, html string, err error) {
	if it.BlobID == nil {
		return nil, it.Preview, "", nil
	}
	c, err := s.store.Content(ctx, userID, it.ID)
	if err != nil {
		return nil, "", "", err
	}
	if c.Rendered != nil {
		return c.Raw, c.Rendered.Text, c.Rendered.HTML, nil
	}
	text, html, err = message.Bodies(c.Raw)
	if errors.Is(err, message.ErrMalformed) {
		return c.Raw, it.Preview, "", nil
	}
	return c.Raw, text, html, err
}

func (s *Server) mailRead(c echo.Context) error {
	f, it, err := s.mailItem(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	me := ident(c).User
	// Opening marks read, through the same store call the other protocols
	// use: the change counter moves, so phones see it at their next Sync
	// and held Pings wake.
	if !it.Read {
		read := true
		if _, err := s.store.UpdateItem(ctx, me.ID, it.ID, store.FlagChange{Read: &read}); err != nil {
			return err
		}
		it.Read = true
	}
	raw, text, html, err := s.mailBodies(ctx, me.ID, it)
	if err != nil {
		return err
	}
	tree, err := s.mailTree(ctx, me.ID, f.ID)
	if err != nil {
		return err
	}
	u := itemURL(f.ID, it.ID)
	d := &mailReadData{mailShell: mailShell{Tree: tree}, Folder: f, Item: it, URL: u, ListURL: "/mail/" + strconv.FormatInt(f.ID, 10),
		Subject: nonEmpty(it.Subject, "(no subject)"), From: it.FromAddr, To: it.ToAddrs, Cc: it.CcAddrs, Flagged: it.FlagStatus == 2,
		InDeleted: f.Type == store.FolderDeletedItems, InJunk: isJunkName(f.Name) && f.ParentID == 0, InDrafts: f.Type == store.FolderDrafts}
	if it.DateReceived != nil {
		d.Date = fullDate(*it.DateReceived)
	}
	d.SentBy = sentOnBehalf(raw, it.FromAddr)
	d.Sender = senderAddress(it.FromAddr)
	d.AlwaysFrom = s.imagesAlways(ctx, me.ID, d.Sender)
	d.ShowImages = d.AlwaysFrom || c.QueryParam("images") == "1"
	if html != "" {
		d.HTML = true
		d.Remote = sanitizeMail(html, false, nil).Remote
		d.FrameURL = u + "/frame"
		if d.ShowImages {
			d.FrameURL += "?images=1"
		}
		d.ShowOnceURL = u + "?images=1"
	} else {
		d.Text = linkify(text)
	}
	d.Attachments = attachmentRows(u, it.Attachments, html)
	for _, n := range tree {
		if n.ID != f.ID {
			d.MoveTo = append(d.MoveTo, n)
		}
	}
	return s.render(c, http.StatusOK, "mail_read.html", d.Subject, d)
}

// attachmentRows lists the attachments a reader can open: all but the
// inline pictures the HTML body shows itself.
func attachmentRows(itemURL string, atts []store.Attachment, html string) []attRow {
	var rows []attRow
	for _, a := range atts {
		if a.Inline && a.ContentID != "" && strings.Contains(html, "cid:"+strings.Trim(a.ContentID, "<>")) {
			continue
		}
		r := attRow{Name: nonEmpty(a.FileName, "attachment"), Type: a.ContentType, Size: a.Size,
			URL: itemURL + "/att/" + strconv.FormatInt(a.ID, 10)}
		if kind := previewKind(a.ContentType); kind != "" {
			r.ViewURL = r.URL + "?view=1"
			r.Image = kind == "image"
		}
		rows = append(rows, r)
	}
	return rows
}

// mailFrame serves the sanitised HTML body as the iframe's own document.
func (s *Server) mailFrame(c echo.Context) error {
	_, it, err := s.mailItem(c)
	if err != nil {
		return err
	}
	me := ident(c).User
	return s.serveFrame(c, me.ID, me.ID, it)
}

// serveFrame writes the frame document of owner's message it for reader
// (the owner, or a delegate: mail_shared.go).
func (s *Server) serveFrame(c echo.Context, ownerID, readerID int64, it *store.Item) error {
	ctx := c.Request().Context()
	raw, _, html, err := s.mailBodies(ctx, ownerID, it)
	if err != nil {
		return err
	}
	show := c.QueryParam("images") == "1" || s.imagesAlways(ctx, readerID, senderAddress(it.FromAddr))
	out := sanitizeMail(html, show, inlineImages(raw, it.Attachments))
	h := c.Response().Header()
	h.Set("Content-Security-Policy", frameCSP(show))
	// The pane is framed by the reading page only.
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Referrer-Policy", "no-referrer")
	return c.HTMLBlob(http.StatusOK, []byte(frameDocument(out.HTML)))
}

// frameCSP is the reading pane's policy: nothing but inline styles and
// images carried in the message (data:; cid: references are inlined as
// data:), remote images only once the reader asked, no scripts, forms or
// plugins whatever the markup says, and a sandbox (no scripts, no
// same-origin, popups only for links) even if the document is opened on
// its own.
func frameCSP(remoteImages bool) string {
	img := "img-src data: cid:"
	if remoteImages {
		img += " https: http:"
	}
	return "default-src 'none'; " + img + "; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
}

// frameDocument wraps a sanitised body. The style keeps pictures and wide
// tables inside the pane.
func frameDocument(body string) string {
	return `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><style>` +
		`body{margin:12px;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2733;background:#fff;overflow-wrap:anywhere}` +
		`img{max-width:100%;height:auto}table{max-width:100%}pre{white-space:pre-wrap}a{color:#005eb8}` +
		`</style></head><body>` + body + `</body></html>`
}

// imagesAlways reports whether the user chose to always see remote
// images from sender.
func (s *Server) imagesAlways(ctx context.Context, userID int64, sender string) bool {
	if sender == "" {
		return false
	}
	v, err := s.store.Setting(ctx, imagesKey(userID, sender), "")
	return err == nil && v == "always"
}

func imagesKey(userID int64, sender string) string {
	return settingImagesFrom + strconv.FormatInt(userID, 10) + ":" + sender
}

// inlineImages returns the lookup of the message's cid: pictures as data:
// URLs (RFC 2392), capped in size so one message cannot make the pane
// enormous.
func inlineImages(raw []byte, atts []store.Attachment) func(cid string) (string, bool) {
	const maxInline = 5 << 20
	return func(cid string) (string, bool) {
		cid = strings.Trim(cid, "<> ")
		for _, a := range atts {
			if strings.Trim(a.ContentID, "<> ") != cid || a.Size > maxInline {
				continue
			}
			ct, _, data, err := message.Part(raw, a.PartIndex)
			if err != nil || previewKind(ct) != "image" {
				return "", false
			}
			mt, _, _ := mime.ParseMediaType(ct)
			return dataURL(mt, data), true
		}
		return "", false
	}
}

// senderAddress is the lower-case address of a From value.
func senderAddress(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return strings.ToLower(a.Address)
	}
	if list, err := mail.ParseAddressList(from); err == nil && len(list) > 0 {
		return strings.ToLower(list[0].Address)
	}
	return strings.ToLower(strings.Trim(strings.TrimSpace(from), "<>"))
}

// senderName is the name a list shows for a From value.
func senderName(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		if a.Name != "" {
			return a.Name
		}
		return a.Address
	}
	return strings.TrimSpace(from)
}

// textSeg is a run of plain text, or a link.
type textSeg struct {
	Text string
	URL  string
}

var linkRE = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"]+`)

// linkify splits plain text into text and links. The template escapes
// both; only http and https addresses become links.
func linkify(text string) []textSeg {
	var out []textSeg
	last := 0
	for _, m := range linkRE.FindAllStringIndex(text, -1) {
		start, end := m[0], m[1]
		// Punctuation that ends a sentence is not part of the address.
		for end > start && strings.ContainsRune(".,;:!?)]}'", rune(text[end-1])) {
			end--
		}
		if start > last {
			out = append(out, textSeg{Text: text[last:start]})
		}
		out = append(out, textSeg{Text: text[start:end], URL: text[start:end]})
		last = end
	}
	if last < len(text) {
		out = append(out, textSeg{Text: text[last:]})
	}
	return out
}

// previewKind says whether a content type may be shown inline: "image"
// for raster pictures (never SVG, which can carry script), "pdf", or "".
func previewKind(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	switch strings.ToLower(mt) {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return "image"
	case "application/pdf":
		return "pdf"
	}
	return ""
}

// mailAttachment serves an attachment: always as a download
// (Content-Disposition: attachment), except pictures and PDFs asked for
// with ?view=1, which are shown inline. Neither is ever sniffed or
// allowed to run script.
func (s *Server) mailAttachment(c echo.Context) error {
	_, it, err := s.mailItem(c)
	if err != nil {
		return err
	}
	return s.serveAttachment(c, ident(c).User.ID, it)
}

// serveAttachment writes the attachment named by :att of owner's message.
func (s *Server) serveAttachment(c echo.Context, ownerID int64, it *store.Item) error {
	attID, _ := strconv.ParseInt(c.Param("att"), 10, 64)
	var att *store.Attachment
	for i := range it.Attachments {
		if it.Attachments[i].ID == attID {
			att = &it.Attachments[i]
		}
	}
	if att == nil {
		return echo.NewHTTPError(http.StatusNotFound, "No such attachment.")
	}
	raw, err := s.store.Blob(c.Request().Context(), ownerID, it.ID)
	if err != nil {
		return err
	}
	ct, name, data, err := message.Part(raw, att.PartIndex)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "No such attachment.")
	}
	kind := previewKind(ct)
	inline := c.QueryParam("view") == "1" && kind != ""
	writeAttachmentHeaders(c.Response().Header(), ct, name, kind, inline)
	return c.Blob(http.StatusOK, c.Response().Header().Get("Content-Type"), data)
}

// writeAttachmentHeaders sets the headers of an attachment response.
// Downloads are application/octet-stream unless they are a previewable
// type; nothing is sniffed (nosniff); and the response's own policy lets
// no script run if a browser renders it anyway.
func writeAttachmentHeaders(h http.Header, contentType, name, kind string, inline bool) {
	typ := "application/octet-stream"
	if kind != "" {
		typ, _, _ = mime.ParseMediaType(contentType)
	}
	disp := "attachment"
	if inline {
		disp = "inline"
	}
	h.Set("Content-Type", typ)
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": safeFileName(name)}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if kind == "pdf" && inline {
		// Chromium's PDF viewer does not open a sandboxed document; PDF
		// viewers do not run the page's script, and nothing else may load.
		h.Set("Content-Security-Policy", "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'")
		return
	}
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox")
}

// safeFileName keeps a file name to one path element of printable
// characters.
func safeFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(strings.Trim(name, "."))
	if name == "" {
		return "attachment"
	}
	return name
}
