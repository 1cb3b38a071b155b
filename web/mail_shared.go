package web

// Mailboxes shared with the user (/mail/shared/<owner>/...): a delegate
// with a mail grant, or an approved break-glass reader, opens the owner's
// mail folders, lists and reads their messages. Access is decided on
// every request by governance (MailboxAccess, the check IMAP's "Other
// Users" mailboxes and EAS use), so a revoked grant is refused at the next
// click. The access is for reading only: no flag, move, delete or junk
// (refused with 403 and audited), and opening a message does not mark it
// read. Each folder opened and each message read (the pane, its body
// frame, an attachment) is audited against the owner's mailbox, by
// message id and folder, never by subject. Someone without access gets
// the same 404 whether the mailbox exists or not. Sending on the owner's
// behalf is compose's From selector (compose.go), checked there.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"airlock/governance"
	"airlock/store"
)

// SharedMail is what the web needs of governance to open other users'
// mail (governance.Service implements it).
type SharedMail interface {
	MailboxAccess(ctx context.Context, actorID, ownerID int64) (governance.Grant, bool)
	SharedMailboxes(ctx context.Context, actorID int64) ([]governance.Grant, error)
}

const sharedPrefix = "/mail/shared/"

// sharedBox is one mailbox shared with the user, in the folder tree.
type sharedBox struct {
	Name, Email, URL string
	SendOnBehalf     bool
	Current          bool
}

// sharedList is embedded in the mail pages' data; the renderer fills it
// (fillShared), so every mail page lists the shared mailboxes.
type sharedList struct {
	Shared []sharedBox
}

func (l *sharedList) sharedSlot() *[]sharedBox { return &l.Shared }

// fillShared lists the mailboxes shared with the user into data that has
// a slot for them. Failures leave the list empty: it is a convenience,
// and every shared page checks access itself.
func (s *Server) fillShared(c echo.Context, data any) {
	slot, ok := data.(interface{ sharedSlot() *[]sharedBox })
	id := ident(c)
	if !ok || id == nil {
		return
	}
	*slot.sharedSlot() = s.sharedBoxes(c.Request().Context(), id.User.ID, "")
}

func (s *Server) sharedBoxes(ctx context.Context, userID int64, current string) []sharedBox {
	gov, ok := s.d.Delegations.(SharedMail)
	if !ok {
		return nil
	}
	grants, err := gov.SharedMailboxes(ctx, userID)
	if err != nil || len(grants) == 0 {
		return nil
	}
	ids := make([]int64, len(grants))
	for i, g := range grants {
		ids[i] = g.OwnerID
	}
	owners, err := s.store.UsersByIDs(ctx, ids)
	if err != nil {
		return nil
	}
	var out []sharedBox
	for _, g := range grants {
		if o := owners[g.OwnerID]; o != nil {
			out = append(out, sharedBox{Name: nonEmpty(o.DisplayName, o.Email), Email: o.Email, URL: sharedBase(o.Email),
				SendOnBehalf: g.SendOnBehalf, Current: strings.EqualFold(o.Email, current)})
		}
	}
	return out
}

func sharedBase(owner string) string { return sharedPrefix + url.PathEscape(owner) }

// sharedURL turns an own-mailbox address (/mail/...) into the same page
// of owner's mailbox.
func sharedURL(owner, own string) string {
	return sharedBase(owner) + strings.TrimPrefix(own, "/mail")
}

func (s *Server) sharedRoutes(h *echo.Group) {
	g := h.Group("/mail/shared", s.requireUser)
	g.GET("/:owner", s.sharedHome)
	g.GET("/:owner/:folder", s.sharedList)
	g.GET("/:owner/:folder/:item", s.sharedRead)
	g.GET("/:owner/:folder/:item/frame", s.sharedFrame)
	g.GET("/:owner/:folder/:item/att/:att", s.sharedAttachment)
	// Anything that would change the owner's mail is refused.
	g.POST("/:owner/:folder/:item", s.sharedRefuse)
	g.POST("/:owner/:folder/:item/:action", s.sharedRefuse)
}

// sharedAccess is an open shared mailbox: its owner and the grant.
type sharedAccess struct {
	owner *store.User
	grant governance.Grant
}

// errNoSharedMailbox is the one answer to a mailbox the user may not open,
// whether or not it exists.
var errNoSharedMailbox = echo.NewHTTPError(http.StatusNotFound, "No such mailbox, or it is not shared with you.")

// sharedOwner checks, now, that the user may read the mail of :owner.
func (s *Server) sharedOwner(c echo.Context) (*sharedAccess, error) {
	gov, ok := s.d.Delegations.(SharedMail)
	if !ok {
		return nil, errNoSharedMailbox
	}
	ctx := c.Request().Context()
	me := ident(c).User
	addr, err := url.PathUnescape(c.Param("owner"))
	if err != nil {
		return nil, errNoSharedMailbox
	}
	owner, err := s.store.UserByAddress(ctx, addr)
	if err != nil || owner.ID == me.ID {
		s.auditRefusal(c, "mail.shared_open", me.Email, "no such mailbox or not shared")
		return nil, errNoSharedMailbox
	}
	g, ok := gov.MailboxAccess(ctx, me.ID, owner.ID)
	if !ok || !g.Mail {
		s.auditRefusal(c, "mail.shared_open", me.Email, "no such mailbox or not shared")
		return nil, errNoSharedMailbox
	}
	return &sharedAccess{owner: owner, grant: g}, nil
}

// sharedFolder resolves :folder among the owner's mail folders.
func (s *Server) sharedFolder(c echo.Context) (*sharedAccess, *store.Folder, error) {
	a, err := s.sharedOwner(c)
	if err != nil {
		return nil, nil, err
	}
	id, err := strconv.ParseInt(c.Param("folder"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such folder.")
	}
	f, err := s.store.FolderByID(c.Request().Context(), a.owner.ID, id)
	if err != nil || !isMailFolder(f) {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such folder.")
	}
	return a, f, nil
}

// sharedItem resolves :item in the owner's folder.
func (s *Server) sharedItem(c echo.Context) (*sharedAccess, *store.Folder, *store.Item, error) {
	a, f, err := s.sharedFolder(c)
	if err != nil {
		return nil, nil, nil, err
	}
	id, err := strconv.ParseInt(c.Param("item"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such message.")
	}
	it, err := s.store.ItemByID(c.Request().Context(), a.owner.ID, id)
	if err != nil || it.FolderID != f.ID {
		return nil, nil, nil, echo.NewHTTPError(http.StatusNotFound, "This message is no longer here: it may have been moved or deleted.")
	}
	return a, f, it, nil
}

// auditShared records a folder opened or a message read in a shared
// mailbox, against the owner's mailbox.
func (s *Server) auditShared(c echo.Context, a *sharedAccess, action, detail string) {
	detail = a.grant.Kind + ": " + detail
	if a.grant.Kind == "breakglass" {
		detail += fmt.Sprintf(" under break-glass request %d", a.grant.RequestID)
	}
	s.audit(c, &store.AuditEvent{Action: action, TargetType: "mailbox", Target: a.owner.Email, UserID: &a.owner.ID, Outcome: "success", Detail: detail})
}

func (s *Server) sharedHome(c echo.Context) error {
	a, err := s.sharedOwner(c)
	if err != nil {
		return err
	}
	f, err := s.store.FolderByType(c.Request().Context(), a.owner.ID, store.FolderInbox)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, sharedBase(a.owner.Email)+"/"+strconv.FormatInt(f.ID, 10))
}

// sharedShell is what every shared page shows around its content: the
// owner's folders and the other shared mailboxes.
type sharedShell struct {
	Owner        *store.User
	OwnerName    string
	Tree         []sharedNode
	Boxes        []sharedBox
	SendOnBehalf bool
	BreakGlass   bool
}

type sharedNode struct {
	folderNode
	Href string
}

func (s *Server) sharedShellOf(ctx context.Context, me *store.User, a *sharedAccess, current int64) (sharedShell, error) {
	tree, err := s.mailTree(ctx, a.owner.ID, current)
	if err != nil {
		return sharedShell{}, err
	}
	sh := sharedShell{Owner: a.owner, OwnerName: nonEmpty(a.owner.DisplayName, a.owner.Email), SendOnBehalf: a.grant.SendOnBehalf,
		BreakGlass: a.grant.Kind == "breakglass", Boxes: s.sharedBoxes(ctx, me.ID, a.owner.Email)}
	for _, n := range tree {
		sh.Tree = append(sh.Tree, sharedNode{folderNode: n, Href: sharedURL(a.owner.Email, n.URL())})
	}
	return sh, nil
}

type sharedListData struct {
	sharedShell
	Folder                     *store.Folder
	Rows                       []mailRow
	Unread                     int64
	NextURL, PrevURL, FirstURL string
}

// sharedList is a folder of the owner's, newest first, 50 a page.
func (s *Server) sharedList(c echo.Context) error {
	a, f, err := s.sharedFolder(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	me := ident(c).User
	q := parseListQuery(c)
	q.Sort, q.Unread, q.Flagged = "", false, false
	items, more, err := s.mailPage(ctx, a.owner.ID, f, q)
	if err != nil {
		return err
	}
	sh, err := s.sharedShellOf(ctx, me, a, f.ID)
	if err != nil {
		return err
	}
	s.auditShared(c, a, "mail.shared_open", fmt.Sprintf("opened %q", f.Name))
	d := &sharedListData{sharedShell: sh, Folder: f}
	for _, n := range sh.Tree {
		if n.ID == f.ID {
			d.Unread = n.Unread
		}
	}
	for i := range items {
		r := rowOf(f.ID, &items[i])
		r.URL = sharedURL(a.owner.Email, r.URL)
		d.Rows = append(d.Rows, r)
	}
	hasNext, hasPrev := more, q.After != 0
	if q.Before != 0 {
		hasNext, hasPrev = true, more
	}
	if len(items) > 0 {
		if hasNext {
			d.NextURL = sharedURL(a.owner.Email, q.url(f.ID, items[len(items)-1].ID, 0))
		}
		if hasPrev {
			d.PrevURL = sharedURL(a.owner.Email, q.url(f.ID, 0, items[0].ID))
		}
	}
	if q.After != 0 || q.Before != 0 {
		d.FirstURL = sharedURL(a.owner.Email, q.url(f.ID, 0, 0))
	}
	return s.render(c, http.StatusOK, "mail_shared.html", sh.OwnerName+": "+f.Name, d)
}

type sharedReadData struct {
	sharedShell
	Folder                     *store.Folder
	ListURL, Subject, From, To string
	Cc, Date, SentBy           string
	HTML                       bool
	FrameURL, ShowOnceURL      string
	Text                       []textSeg
	Remote                     int
	ShowImages                 bool
	Attachments                []attRow
}

// sharedRead is the reading pane of an owner's message, read-only: it is
// not marked read.
func (s *Server) sharedRead(c echo.Context) error {
	a, f, it, err := s.sharedItem(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	me := ident(c).User
	raw, text, html, err := s.mailBodies(ctx, a.owner.ID, it)
	if err != nil {
		return err
	}
	sh, err := s.sharedShellOf(ctx, me, a, f.ID)
	if err != nil {
		return err
	}
	s.auditShared(c, a, "mail.shared_read", fmt.Sprintf("message %d in %q read", it.ID, f.Name))
	u := sharedURL(a.owner.Email, itemURL(f.ID, it.ID))
	d := &sharedReadData{sharedShell: sh, Folder: f, ListURL: sharedURL(a.owner.Email, "/mail/"+strconv.FormatInt(f.ID, 10)),
		Subject: nonEmpty(it.Subject, "(no subject)"), From: it.FromAddr, To: it.ToAddrs, Cc: it.CcAddrs,
		SentBy: sentOnBehalf(raw, it.FromAddr)}
	if it.DateReceived != nil {
		d.Date = fullDate(*it.DateReceived)
	}
	d.ShowImages = c.QueryParam("images") == "1" || s.imagesAlways(ctx, me.ID, senderAddress(it.FromAddr))
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
	return s.render(c, http.StatusOK, "mail_shared_read.html", d.Subject, d)
}

func (s *Server) sharedFrame(c echo.Context) error {
	a, f, it, err := s.sharedItem(c)
	if err != nil {
		return err
	}
	s.auditShared(c, a, "mail.shared_read", fmt.Sprintf("body of message %d in %q read", it.ID, f.Name))
	return s.serveFrame(c, a.owner.ID, ident(c).User.ID, it)
}

func (s *Server) sharedAttachment(c echo.Context) error {
	a, f, it, err := s.sharedItem(c)
	if err != nil {
		return err
	}
	s.auditShared(c, a, "mail.shared_read", fmt.Sprintf("attachment %s of message %d in %q read", c.Param("att"), it.ID, f.Name))
	return s.serveAttachment(c, a.owner.ID, it)
}

// sharedRefuse answers any change to a shared mailbox: 403 for someone
// who may read it (audited), the usual 404 for anyone else.
func (s *Server) sharedRefuse(c echo.Context) error {
	a, f, err := s.sharedFolder(c)
	if err != nil {
		return err
	}
	action := nonEmpty(c.Param("action"), c.Param("item"))
	s.audit(c, &store.AuditEvent{Action: "mail.shared_change", TargetType: "mailbox", Target: a.owner.Email, UserID: &a.owner.ID,
		Outcome: "refused", Detail: fmt.Sprintf("%s: %s in %q: access is read-only", a.grant.Kind, action, f.Name)})
	return echo.NewHTTPError(http.StatusForbidden, "You may read this mailbox, not change it.")
}

// sentOnBehalf is the Sender of a message whose Sender is not its From
// (sent by a delegate on the From's behalf), as "Name <address>"; "" when
// they are the same or there is none.
func sentOnBehalf(raw []byte, from string) string {
	if len(raw) == 0 {
		return ""
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	sender := m.Header.Get("Sender")
	if sender == "" {
		return ""
	}
	a, err := mail.ParseAddress(sender)
	if err != nil || strings.EqualFold(a.Address, senderAddress(from)) {
		return ""
	}
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}
