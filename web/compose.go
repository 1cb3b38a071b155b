package web

import (
	"context"
	"crypto/rand"
	"errors"
	"html"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"airlock/delivery"
	"airlock/message"
	"airlock/store"
)

// Composing mail in the staff web: new messages, replies, reply to all,
// forwards inline and as an attachment (compose.go, compose_build.go),
// drafts (compose_drafts.go), the signature (compose_signature.go), send
// on behalf, address suggestions (compose_addresses.go) and mailbox search
// (mail_search.go).
//
// A message is built here as MIME and handed to the same
// delivery.Submission EAS SendMail uses, so the tag line, secure-domain
// rules, quotas, the Sent Items copy and the relay apply exactly as for a
// phone. The editor's HTML is sanitised on the server before it is sent,
// and the plain-text alternative is written from it here, never taken
// from the browser.

// MailSubmitter sends a message a user composed; delivery.Service
// implements it.
type MailSubmitter interface {
	Submit(ctx context.Context, sub delivery.Submission) (*delivery.Result, error)
}

// composePath is the compose page; the form posts back to it.
const composePath = "/mail/compose"

// composeRoutes mounts the compose, signature, address and search pages.
// The compose POST carries attachments, so it is routed with a body limit
// of its own (the message limit and room for the form), behind the same
// guards as the group.
func (s *Server) composeRoutes(e *echo.Echo, h *echo.Group) {
	m := h.Group("/mail", s.requireUser)
	m.GET("/compose", s.composePage)
	m.GET("/signature", s.signaturePage)
	m.POST("/signature", s.signatureSave)
	m.GET("/addresses", s.addressSuggestions)
	m.GET("/search", s.mailSearch)
	limit := strconv.FormatInt(2*s.maxMessageSize()/1024+1024, 10) + "K"
	e.POST(composePath, s.composeSubmit, countWeb("dashboard"), middleware.BodyLimit(limit),
		s.securityHeaders, s.loadSession, s.csrf(), s.requireUser)
}

func (s *Server) maxMessageSize() int64 {
	if s.d.MaxMessageSize > 0 {
		return s.d.MaxMessageSize
	}
	return delivery.DefaultMaxMessageSize
}

// Compose modes: what the message answers, if anything.
const (
	modeNew        = ""
	modeReply      = "reply"
	modeReplyAll   = "replyall"
	modeForward    = "forward"
	modeForwardAtt = "forwardatt"
)

// composeForm is the state of the compose form, as posted or prefilled.
type composeForm struct {
	From, To, Cc, Bcc, Subject string
	// Format is "html" when the rich editor (compose.js) wrote HTML; the
	// text field is then ignored. Otherwise the text field is the body.
	Format, HTML, Text string
	Mode               string
	Source             int64 // the message replied to or forwarded
	Draft              int64 // the draft being edited
	ClientID           string
	// Keep lists the draft's own attachments to keep, KeepOrig the
	// original's (an inline forward), by attachment id.
	Keep, KeepOrig []int64
}

// fileChoice is an attachment already part of the message.
type fileChoice struct {
	ID      int64
	Name    string
	Size    int64
	Checked bool
}

// fromChoice is an address the user may send from.
type fromChoice struct {
	Value, Label string
	Selected     bool
}

type composeData struct {
	mailShell
	Heading   string
	Form      composeForm
	Errors    map[string]string
	Froms     []fromChoice
	DraftAtts []fileChoice
	OrigAtts  []fileChoice
	// Attached is the name of the original attached whole (a forward as
	// attachment).
	Attached string
	Recent   []string
	MaxSize  int64
	Sent     bool
}

// HasErrors says whether any field has an error.
func (d *composeData) HasErrors() bool { return len(d.Errors) > 0 }

func newClientID() string { return "web-" + rand.Text()[:24] }

// composePage shows the form: empty, answering or forwarding a message
// (?reply=, ?replyall=, ?forward=, ?forwardatt= its id), or a draft
// (?draft=).
func (s *Server) composePage(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	f := composeForm{ClientID: newClientID()}
	sig, err := s.signature(ctx, me.ID)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	for _, mode := range []string{modeReply, modeReplyAll, modeForward, modeForwardAtt} {
		if v := q.Get(mode); v != "" {
			id, _ := strconv.ParseInt(v, 10, 64)
			src, raw, err := s.composeSource(ctx, me.ID, id)
			if err != nil {
				return err
			}
			aliases, err := s.store.Aliases(ctx, me.ID)
			if err != nil {
				return err
			}
			f = prefill(mode, src, raw, me, aliases, sig)
			f.ClientID = newClientID()
			for _, a := range src.Attachments {
				f.KeepOrig = append(f.KeepOrig, a.ID)
			}
		}
	}
	if v := q.Get("draft"); v != "" {
		id, _ := strconv.ParseInt(v, 10, 64)
		if f, err = s.loadDraftForm(ctx, me, id); err != nil {
			return err
		}
	}
	if f.Mode == modeNew && f.Draft == 0 && sig != "" {
		f.Text = "\n\n" + sigBlock(sig)
		f.HTML = textToHTML(f.Text)
	}
	return s.renderCompose(c, http.StatusOK, f, nil)
}

// composeSource returns a message of the user's with its raw MIME.
func (s *Server) composeSource(ctx context.Context, userID, id int64) (*store.Item, []byte, error) {
	it, err := s.store.ItemByID(ctx, userID, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && it.Class != store.ClassEmail {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "This message is no longer here: it may have been moved or deleted on another device.")
	}
	if err != nil {
		return nil, nil, err
	}
	var raw []byte
	if it.BlobID != nil {
		if raw, err = s.store.Blob(ctx, userID, it.ID); err != nil {
			return nil, nil, err
		}
	}
	return it, raw, nil
}

// renderCompose shows the form with f and its errors.
func (s *Server) renderCompose(c echo.Context, code int, f composeForm, errs map[string]string) error {
	ctx := c.Request().Context()
	me := ident(c).User
	tree, err := s.mailTree(ctx, me.ID, 0)
	if err != nil {
		return err
	}
	d := &composeData{mailShell: mailShell{Tree: tree}, Form: f, Errors: errs, MaxSize: s.maxMessageSize()}
	if d.Form.HTML == "" {
		d.Form.HTML = textToHTML(d.Form.Text)
	}
	d.Heading = map[string]string{modeNew: "New message", modeReply: "Reply", modeReplyAll: "Reply to all",
		modeForward: "Forward", modeForwardAtt: "Forward as attachment"}[f.Mode]
	if d.Froms, err = s.fromChoices(ctx, me, f.From); err != nil {
		return err
	}
	if f.Draft != 0 {
		if it, err := s.store.ItemByID(ctx, me.ID, f.Draft); err == nil {
			for _, a := range it.Attachments {
				d.DraftAtts = append(d.DraftAtts, fileChoice{ID: a.ID, Name: nonEmpty(a.FileName, "attachment"), Size: a.Size, Checked: slices.Contains(f.Keep, a.ID)})
			}
		}
	}
	if f.Source != 0 && f.Draft == 0 && (f.Mode == modeForward || f.Mode == modeForwardAtt) {
		if src, err := s.store.ItemByID(ctx, me.ID, f.Source); err == nil {
			if f.Mode == modeForwardAtt {
				d.Attached = nonEmpty(src.Subject, "message") + ".eml"
			} else {
				for _, a := range src.Attachments {
					d.OrigAtts = append(d.OrigAtts, fileChoice{ID: a.ID, Name: nonEmpty(a.FileName, "attachment"), Size: a.Size, Checked: slices.Contains(f.KeepOrig, a.ID)})
				}
			}
		}
	}
	if d.Recent, err = s.recentRecipients(ctx, me.ID, 50); err != nil {
		return err
	}
	return s.render(c, code, "compose.html", d.Heading, d)
}

// fromChoices lists the user's own address and the owners who let them
// send on their behalf.
func (s *Server) fromChoices(ctx context.Context, me *store.User, selected string) ([]fromChoice, error) {
	owners, err := s.onBehalfOwners(ctx, me)
	if err != nil || len(owners) == 0 {
		return nil, err
	}
	out := []fromChoice{{Value: "", Label: formatAddr(me.DisplayName, me.Email), Selected: selected == ""}}
	for _, o := range owners {
		out = append(out, fromChoice{Value: o.Email, Label: formatAddr(o.DisplayName, o.Email) + " (on behalf)", Selected: strings.EqualFold(selected, o.Email)})
	}
	return out, nil
}

func formatAddr(name, addr string) string {
	if name == "" {
		return addr
	}
	return name + " <" + addr + ">"
}

// prefill answers or forwards src: recipients, subject, the signature
// and the original quoted (a reply) or below a header block (a forward).
func prefill(mode string, src *store.Item, raw []byte, me *store.User, aliases []string, sig string) composeForm {
	f := composeForm{Mode: mode, Source: src.ID}
	own := append([]string{me.Email}, aliases...)
	notMine := func(list string) []string {
		var out []string
		for _, a := range splitAddrs(list) {
			if !slices.Contains(own, store.NormalizeEmail(senderAddress(a))) {
				out = append(out, a)
			}
		}
		return out
	}
	text := src.Preview
	if raw != nil {
		if t, h, err := message.Bodies(raw); err == nil {
			text = t
			if strings.TrimSpace(text) == "" && h != "" {
				text = message.HTMLToText(h)
			}
		}
	}
	switch mode {
	case modeReply, modeReplyAll:
		f.Subject = prefixed("RE: ", src.Subject)
		to := src.ReplyTo
		if to == "" {
			to = src.FromAddr
		}
		f.To = to
		if mode == modeReplyAll {
			all := append(splitAddrs(to), notMine(src.ToAddrs)...)
			f.To = strings.Join(dedupe(all), ", ")
			f.Cc = strings.Join(notMine(src.CcAddrs), ", ")
		}
	default:
		f.Subject = prefixed("FW: ", src.Subject)
	}
	body := "\n\n"
	if sig != "" {
		body += sigBlock(sig) + "\n"
	}
	if mode == modeForwardAtt {
		f.Text = body
		f.HTML = textToHTML(body)
		return f
	}
	intro := originalIntro(src, mode == modeForward)
	f.Text = body + intro + "\n"
	if mode == modeForward {
		f.Text += text
		f.HTML = textToHTML(body) + "<hr>" + textToHTML(intro) + "<div>" + textToHTML(text) + "</div>"
	} else {
		f.Text += quoteText(text)
		f.HTML = textToHTML(body) + "<hr>" + textToHTML(intro) + "<blockquote>" + textToHTML(text) + "</blockquote>"
	}
	return f
}

func prefixed(prefix, subject string) string {
	s := strings.TrimSpace(subject)
	for _, p := range []string{"re:", "fw:", "fwd:"} {
		if strings.HasPrefix(strings.ToLower(s), p) && strings.EqualFold(strings.TrimSpace(prefix), p) {
			return s
		}
	}
	return prefix + s
}

// originalIntro is the header block above the original, as Outlook
// writes it.
func originalIntro(it *store.Item, forward bool) string {
	title := "-----Original Message-----"
	if forward {
		title = "-----Forwarded Message-----"
	}
	lines := []string{title, "From: " + it.FromAddr}
	if it.DateReceived != nil {
		lines = append(lines, "Sent: "+fullDate(*it.DateReceived))
	}
	lines = append(lines, "To: "+it.ToAddrs)
	if it.CcAddrs != "" {
		lines = append(lines, "Cc: "+it.CcAddrs)
	}
	lines = append(lines, "Subject: "+it.Subject)
	return strings.Join(lines, "\n") + "\n"
}

func quoteText(text string) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ">") {
			lines[i] = ">" + l
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// textToHTML is plain text as HTML: escaped, line breaks kept.
func textToHTML(s string) string {
	s = html.EscapeString(strings.ReplaceAll(s, "\r\n", "\n"))
	return strings.ReplaceAll(s, "\n", "<br>\n")
}

// splitAddrs splits an address list as typed (commas or semicolons) or
// as stored.
func splitAddrs(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if list, err := mail.ParseAddressList(s); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = message.FormatAddress(a.Name, a.Address)
		}
		return out
	}
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func dedupe(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range list {
		k := store.NormalizeEmail(senderAddress(a))
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

// parseComposeForm reads the posted form.
func parseComposeForm(c echo.Context) composeForm {
	f := composeForm{
		From: strings.TrimSpace(c.FormValue("from")), To: c.FormValue("to"), Cc: c.FormValue("cc"), Bcc: c.FormValue("bcc"),
		Subject: strings.TrimSpace(c.FormValue("subject")), Format: c.FormValue("format"), HTML: c.FormValue("html"), Text: c.FormValue("text"),
		Mode: c.FormValue("mode"), ClientID: c.FormValue("client_id"),
	}
	switch f.Mode {
	case modeNew, modeReply, modeReplyAll, modeForward, modeForwardAtt:
	default:
		f.Mode = modeNew
	}
	f.Source, _ = strconv.ParseInt(c.FormValue("source"), 10, 64)
	f.Draft, _ = strconv.ParseInt(c.FormValue("draft"), 10, 64)
	if len(f.ClientID) > 40 || !strings.HasPrefix(f.ClientID, "web-") {
		f.ClientID = newClientID()
	}
	ids := func(key string) []int64 {
		var out []int64
		for _, v := range c.Request().Form[key] {
			if id, err := strconv.ParseInt(v, 10, 64); err == nil {
				out = append(out, id)
			}
		}
		return out
	}
	f.Keep, f.KeepOrig = ids("keep"), ids("keep_orig")
	if f.Format == "html" {
		// The editor's markup, made safe before anything else sees it.
		f.HTML = sanitizeComposed(f.HTML)
		f.Text = message.HTMLToText(f.HTML)
	} else {
		f.Format = ""
		f.Text = strings.ReplaceAll(f.Text, "\r\n", "\n")
		f.HTML = ""
	}
	return f
}

// composeSubmit sends the message (op=send) or saves it as a draft
// (op=save, or the editor's automatic save, which asks for JSON).
func (s *Server) composeSubmit(c echo.Context) error {
	f := parseComposeForm(c)
	if c.FormValue("op") == "send" {
		return s.composeSend(c, f)
	}
	return s.composeSave(c, f)
}

// composeSend builds the message and submits it as EAS SendMail does.
func (s *Server) composeSend(c echo.Context, f composeForm) error {
	ctx := c.Request().Context()
	me := ident(c).User
	if err := s.checkFrom(c, me, f.From); err != nil {
		return err
	}
	raw, errs, err := s.buildMessage(c, me, &f, false)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return s.renderCompose(c, http.StatusUnprocessableEntity, f, errs)
	}
	res, err := s.d.Mail.Submit(ctx, delivery.Submission{
		User: me, ClientID: f.ClientID, MIME: raw, SaveInSent: true,
		Protocol: "HTTPS (web)", RemoteAddr: c.RealIP(),
	})
	switch {
	case err == nil, errors.Is(err, delivery.ErrAlreadySent):
		// Already sent: the same form posted twice (a double click, a
		// resend after a lost answer); it went out once.
	case errors.Is(err, delivery.ErrNoRecipients):
		return s.renderCompose(c, http.StatusUnprocessableEntity, f, map[string]string{"to": "Add at least one recipient."})
	case errors.Is(err, delivery.ErrSendQuotaExceeded):
		return s.renderCompose(c, http.StatusInsufficientStorage, f, map[string]string{"attach": "Your mailbox is over its quota, so sending is blocked. Delete some mail (and empty Deleted Items), then send again."})
	case errors.Is(err, delivery.ErrSentItemsFull):
		return s.renderCompose(c, http.StatusInsufficientStorage, f, map[string]string{"attach": "This message does not fit in your mailbox (its copy in Sent Items would take you over your quota). Remove attachments or delete some mail."})
	case errors.Is(err, delivery.ErrTooLarge):
		return s.renderCompose(c, http.StatusRequestEntityTooLarge, f, map[string]string{"attach": "This message is too large: a message may be at most " + humanBytes(s.maxMessageSize()) + " with its attachments."})
	case errors.Is(err, delivery.ErrNoRelay):
		return s.renderCompose(c, http.StatusUnprocessableEntity, f, map[string]string{"to": "Mail to addresses outside the organisation cannot be sent from this server."})
	case errors.Is(err, delivery.ErrMalformed):
		return s.renderCompose(c, http.StatusUnprocessableEntity, f, map[string]string{"to": "Check the addresses: one of them cannot be read."})
	default:
		return err
	}
	s.afterSend(ctx, me, f, res)
	if res != nil && len(res.Held) > 0 {
		s.flash(c, "Sent. Mail to "+strings.Join(res.Held, ", ")+" is held for review under the secure-mail rules.")
	} else {
		s.flash(c, "Message sent.")
	}
	if f.Source != 0 {
		if src, err := s.store.ItemByID(ctx, me.ID, f.Source); err == nil {
			return c.Redirect(http.StatusSeeOther, itemURL(src.FolderID, src.ID))
		}
	}
	return c.Redirect(http.StatusSeeOther, "/mail")
}

// afterSend marks the original as answered or forwarded (as SmartReply
// and SmartForward do, so phones show the icon) and removes the draft.
func (s *Server) afterSend(ctx context.Context, me *store.User, f composeForm, res *delivery.Result) {
	if f.Source != 0 {
		verb := 0
		switch f.Mode {
		case modeReply:
			verb = verbReplyToSender
		case modeReplyAll:
			verb = verbReplyToAll
		case modeForward, modeForwardAtt:
			verb = verbForward
		}
		if verb != 0 {
			if _, err := s.store.UpdateItem(ctx, me.ID, f.Source, store.FlagChange{LastVerb: &verb}); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("sent from the web; could not mark the original", "err", err)
			}
		}
	}
	if f.Draft != 0 {
		if it, err := s.store.ItemByID(ctx, me.ID, f.Draft); err == nil && it.IsDraft {
			if err := s.store.DeleteItem(ctx, me.ID, f.Draft); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("sent draft not removed from Drafts", "err", err)
			}
		}
	}
}

// LastVerbExecuted values (MS-ASEMAIL 2.2.2.45), as SmartReply and
// SmartForward set them.
const (
	verbReplyToSender = 1
	verbReplyToAll    = 2
	verbForward       = 3
)

// checkFrom refuses (403, audited) a From the user may not send as: only
// their own address or an owner who granted them send on behalf.
func (s *Server) checkFrom(c echo.Context, me *store.User, from string) error {
	if from == "" || strings.EqualFold(from, me.Email) {
		return nil
	}
	owners, err := s.onBehalfOwners(c.Request().Context(), me)
	if err != nil {
		return err
	}
	for _, o := range owners {
		if strings.EqualFold(o.Email, from) {
			return nil
		}
	}
	s.audit(c, &store.AuditEvent{Action: "mail.send_on_behalf", TargetType: "mailbox", Target: from, Outcome: "refused",
		Detail: "no send-on-behalf grant from this mailbox"})
	return echo.NewHTTPError(http.StatusForbidden, "You may not send mail as "+from+": its owner has not given you send-on-behalf access.")
}

// SendOnBehalf is what the web needs of the delegate grants;
// governance.Service implements it.
type SendOnBehalf interface {
	CanSendOnBehalf(ctx context.Context, actorID, ownerID int64) bool
}

// onBehalfOwners lists the users who let me send on their behalf, each
// checked through governance as EAS SendMail on behalf is.
func (s *Server) onBehalfOwners(ctx context.Context, me *store.User) ([]*store.User, error) {
	gov, ok := s.d.Delegations.(SendOnBehalf)
	if !ok {
		return nil, nil
	}
	grants, err := s.store.DelegationsTo(ctx, me.ID)
	if err != nil {
		return nil, err
	}
	var out []*store.User
	for _, g := range grants {
		if g.Scope != store.ScopeMail || g.Permission != store.PermissionSendOnBehalf || slices.ContainsFunc(out, func(u *store.User) bool { return u.ID == g.OwnerID }) {
			continue
		}
		if !gov.CanSendOnBehalf(ctx, me.ID, g.OwnerID) {
			continue
		}
		u, err := s.store.UserByID(ctx, g.OwnerID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		if !u.Disabled {
			out = append(out, u)
		}
	}
	return out, nil
}
