package activesync

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"airlock/directory"
	"airlock/store"
)

// Status values of Search (MS-ASCMD 2.2.3.177.13 Status (Search)): the
// Search element's own (1 or 3) and the Store's.
const (
	searchOK            = 1
	searchInvalid       = 2 // the request was invalid
	searchServerError   = 3
	searchAccessDenied  = 5
	searchTooComplex    = 8
	searchFolderSyncReq = 11
)

// Picture status values (MS-ASCMD 2.2.3.177.13 for gal:Picture, and
// 2.2.3.177.12 ResolveRecipients; common status codes 173-175).
const (
	pictureOK          = 1
	pictureNone        = 173
	pictureTooLarge    = 174
	pictureLimitPassed = 175
)

// galMaxResults caps one GAL page, whatever Range asks (Exchange does the
// same).
const galMaxResults = 100

// search serves MS-ASCMD 2.2.1.16 Search on the stores Airlock has: "GAL"
// (the staff directory) and "Mailbox" (the user's mail). "DocumentLibrary"
// (UNC and SharePoint links) is refused, always, and audited: reaching
// internal file shares through the mail server is the PEAS attack, and
// Airlock never proxies a document library.
func (h *Handler) search(ctx context.Context, r *Request) (*Response, error) {
	req := root(r.Doc, "Search:Search")
	stores := children(req, "Search:Store")
	if req == nil || len(stores) != 1 {
		return nil, &Error{HTTP: 400, Status: StatusInvalidContent, Legacy: 400, Reason: "Search request without one Store"}
	}
	doc, resp := newDoc("Search:Search")
	add(resp, "Search:Status", itoa(searchOK))
	out := resp.CreateElement("Search:Response").CreateElement("Search:Store")
	st := stores[0]
	var err error
	switch name := text(st, "Search:Name"); {
	case strings.EqualFold(name, "GAL"):
		err = h.searchGAL(ctx, r, st, out)
	case strings.EqualFold(name, "Mailbox"):
		err = h.searchMailbox(ctx, r, st, out)
	case strings.EqualFold(name, "DocumentLibrary"):
		h.refuseDocumentLibrary(ctx, r, st)
		add(out, "Search:Status", itoa(searchAccessDenied))
	default:
		add(out, "Search:Status", itoa(searchInvalid))
	}
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return nil, errRetryLater(err)
		}
		r.Log.Error("search", "err", err)
		doc, resp = newDoc("Search:Search")
		add(resp, "Search:Status", itoa(searchServerError))
	}
	return &Response{Doc: doc}, nil
}

// refuseDocumentLibrary records the attempt in the audit log: the link
// (cut to 256 characters) and whether credentials were sent, never the
// credentials.
func (h *Handler) refuseDocumentLibrary(ctx context.Context, r *Request, st *etree.Element) {
	link := ""
	if q := child(st, "Search:Query"); q != nil {
		for _, eq := range q.FindElements(".//EqualTo") {
			if v := text(eq, "Search:Value"); v != "" {
				link = v
				break
			}
		}
	}
	if len(link) > 256 {
		link = link[:256]
	}
	opts := child(st, "Search:Options")
	withCreds := child(opts, "Search:UserName") != nil || child(opts, "Search:Password") != nil
	err := h.store.Audit(ctx, &store.AuditEvent{Actor: r.User.Email, ActorIP: clientIP(r.HTTP), Action: "eas.document_library_refused",
		TargetType: "document_library", Target: link, UserID: &r.User.ID, DevicePK: &r.Device.ID, Outcome: "refused",
		Detail: fmt.Sprintf("Search of a document library (credentials sent: %v); Airlock gives no document library access", withCreds)})
	if err != nil {
		r.Log.Error("audit document library refusal", "err", err)
	}
	r.Log.Warn("Search of a document library refused")
}

// parseSearchRange reads a Range "first-last" (MS-ASCMD 2.2.3.143.3); absent is
// 0-(def-1). The window is cut to limit results.
func parseSearchRange(s string, def, limit int) (first, last int, ok bool) {
	if strings.TrimSpace(s) == "" {
		return 0, def - 1, true
	}
	a, b, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || first < 0 || last < first || first > 100000 {
		return 0, 0, false
	}
	if last-first+1 > limit {
		last = first + limit - 1
	}
	return first, last, true
}

// pictureOpts is a Picture request (MS-ASCMD 2.2.3.135): at most
// MaxPictures pictures of at most MaxSize bytes; 0 is no limit.
type pictureOpts struct {
	MaxSize, MaxPictures int
	sent                 int
}

func parsePictureOpts(el *etree.Element, page string) *pictureOpts {
	if el == nil {
		return nil
	}
	p := &pictureOpts{}
	p.MaxSize, _ = strconv.Atoi(text(el, page+":MaxSize"))
	p.MaxPictures, _ = strconv.Atoi(text(el, page+":MaxPictures"))
	return p
}

// picture writes a Picture element for u with statusName and dataName on
// its page: the photo, or why there is none.
func (h *Handler) picture(ctx context.Context, parent *etree.Element, name, statusName, dataName string, u *store.User, p *pictureOpts) error {
	el := parent.CreateElement(name)
	ph, err := h.store.Photo(ctx, u.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		add(el, statusName, itoa(pictureNone))
		return nil
	case err != nil:
		return err
	case p.MaxSize > 0 && len(ph.Data) > p.MaxSize:
		add(el, statusName, itoa(pictureTooLarge))
	case p.MaxPictures > 0 && p.sent >= p.MaxPictures:
		add(el, statusName, itoa(pictureLimitPassed))
	default:
		p.sent++
		add(el, statusName, itoa(pictureOK))
		add(el, dataName, base64.StdEncoding.EncodeToString(ph.Data))
	}
	return nil
}

// galProperties writes a colleague's GAL properties (MS-ASCMD 2.2.3.139.3)
// on page ("Search" or "Find" for the Picture element's own page); the
// mobile number only when the organisation shows them (showMobile).
func (h *Handler) galProperties(ctx context.Context, props *etree.Element, u *store.User, pics *pictureOpts, picPage string, v Version, showMobile bool) error {
	add(props, "GAL:DisplayName", directory.DisplayName(u))
	addIf(props, "GAL:Phone", u.Phone)
	addIf(props, "GAL:Office", u.Office)
	addIf(props, "GAL:Title", u.JobTitle)
	addIf(props, "GAL:Company", u.Organisation)
	add(props, "GAL:Alias", directory.Alias(u))
	addIf(props, "GAL:FirstName", u.FirstName)
	addIf(props, "GAL:LastName", u.LastName)
	if showMobile {
		addIf(props, "GAL:MobilePhone", u.Mobile)
	}
	add(props, "GAL:EmailAddress", u.Email)
	if pics != nil && v >= V141 {
		name := "GAL:Picture"
		if picPage == "Find" {
			name = "Find:Picture"
		}
		return h.picture(ctx, props, name, "GAL:Status", "GAL:Data", u, pics)
	}
	return nil
}

// searchGAL is a directory search (MS-ASCMD 3.1.5.9.1): Query matched as
// a prefix of names, address, department and job title, Range, and from
// 14.1 Picture.
func (h *Handler) searchGAL(ctx context.Context, r *Request, st, out *etree.Element) error {
	q := text(st, "Search:Query")
	opts := child(st, "Search:Options")
	first, last, ok := parseSearchRange(text(opts, "Search:Range"), galMaxResults, galMaxResults)
	if q == "" || !ok {
		add(out, "Search:Status", itoa(searchInvalid))
		return nil
	}
	users, total, err := directory.Search(ctx, h.store, q, first, last-first+1)
	if err != nil {
		return err
	}
	showMobile, err := directory.ShowMobile(ctx, h.store)
	if err != nil {
		return err
	}
	add(out, "Search:Status", itoa(searchOK))
	pics := parsePictureOpts(child(opts, "Search:Picture"), "Search")
	for i := range users {
		props := out.CreateElement("Search:Result").CreateElement("Search:Properties")
		if err := h.galProperties(ctx, props, &users[i], pics, "Search", r.Version, showMobile); err != nil {
			return err
		}
	}
	if len(users) > 0 {
		add(out, "Search:Range", fmt.Sprintf("%d-%d", first, first+len(users)-1))
	}
	add(out, "Search:Total", strconv.FormatInt(total, 10))
	return nil
}

// mailQuery is a parsed mailbox Query (MS-ASCMD 2.2.3.142.2): an And of
// Class, CollectionIds, FreeText, DateReceived bounds, ConversationId.
type mailQuery struct {
	q           store.MailQuery
	collections []string
}

// parseMailQuery reads a Query; tooComplex is set for what Exchange does
// not support either (Or, EqualTo in a mailbox).
func parseMailQuery(el *etree.Element, space string) (mq mailQuery, ok, tooComplex bool) {
	if el == nil {
		return mq, false, false
	}
	var walk func(*etree.Element) bool
	walk = func(e *etree.Element) bool {
		for _, c := range e.ChildElements() {
			switch {
			case c.Space == space && c.Tag == "And":
				if !walk(c) {
					return false
				}
			case c.Space == space && (c.Tag == "Or" || c.Tag == "EqualTo"):
				tooComplex = true
				return false
			case c.Space == "AirSync" && c.Tag == "Class":
				if v := strings.TrimSpace(c.Text()); v != "" && v != "Email" {
					return false
				}
			case c.Space == "AirSync" && c.Tag == "CollectionId":
				mq.collections = append(mq.collections, strings.TrimSpace(c.Text()))
			case c.Space == space && c.Tag == "FreeText":
				mq.q.Text = strings.TrimSpace(strings.Join([]string{mq.q.Text, c.Text()}, " "))
			case c.Space == space && c.Tag == "ConversationId":
				id, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.Text()))
				if err != nil {
					id = []byte(strings.TrimSpace(c.Text()))
				}
				mq.q.ConversationID = id
			case c.Space == space && (c.Tag == "GreaterThan" || c.Tag == "LessThan"):
				t, ok := parseEASTime(text(c, space+":Value"))
				if !ok || child(c, "Email:DateReceived") == nil {
					return false
				}
				if c.Tag == "GreaterThan" {
					mq.q.After = &t
				} else {
					mq.q.Before = &t
				}
			default:
				return false
			}
		}
		return true
	}
	ok = walk(el)
	return mq, ok && !tooComplex, tooComplex
}

// resolveSearchFolders turns the CollectionIds into mail folder ids, with
// their subfolders when deep; none means every mail folder.
func (h *Handler) resolveSearchFolders(ctx context.Context, r *Request, ids []string, deep bool) ([]int64, bool, error) {
	if len(ids) == 0 {
		return nil, true, nil
	}
	all, err := h.store.Folders(ctx, r.User.ID)
	if err != nil {
		return nil, false, err
	}
	byID := map[int64]store.Folder{}
	for _, f := range all {
		byID[f.ID] = f
	}
	var out []int64
	for _, s := range ids {
		id, ok := parseItemID(s)
		f, found := byID[id]
		if !ok || !found || f.Class != store.ClassEmail {
			return nil, false, nil
		}
		out = append(out, id)
	}
	if deep {
		for i := 0; i < len(out); i++ {
			for _, f := range all {
				if f.ParentID == out[i] && f.Class == store.ClassEmail {
					out = append(out, f.ID)
				}
			}
		}
	}
	return out, true, nil
}

// searchOptionsBody reads the body preferences of Search Options, the
// same way Sync reads them.
func searchOptionsBody(opts *etree.Element) (*syncOptions, bool) {
	if opts == nil {
		return &syncOptions{}, true
	}
	tmp := etree.NewElement("AirSync:Collection")
	o := opts.Copy()
	o.Space, o.Tag = "AirSync", "Options"
	for _, c := range o.ChildElements() {
		if c.Space == "Search" || c.Space == "Find" {
			o.RemoveChild(c) // Range, DeepTraversal...: not Sync options
		}
	}
	tmp.AddChild(o)
	so, ok := parseOptions(tmp)
	if so == nil {
		so = &syncOptions{}
	}
	return so, ok
}

// searchMailbox is a mailbox search (MS-ASCMD 3.1.5.9.2). Results carry the
// item's Email class fields as Sync renders them.
func (h *Handler) searchMailbox(ctx context.Context, r *Request, st, out *etree.Element) error {
	mq, ok, tooComplex := parseMailQuery(child(st, "Search:Query"), "Search")
	opts := child(st, "Search:Options")
	first, last, rok := parseSearchRange(text(opts, "Search:Range"), 100, 100)
	so, bok := searchOptionsBody(opts)
	switch {
	case tooComplex:
		add(out, "Search:Status", itoa(searchTooComplex))
		return nil
	case !ok || !rok || !bok || (mq.q.Text == "" && len(mq.q.ConversationID) == 0):
		add(out, "Search:Status", itoa(searchInvalid))
		return nil
	}
	folders, found, err := h.resolveSearchFolders(ctx, r, mq.collections, child(opts, "Search:DeepTraversal") != nil)
	if err != nil {
		return err
	}
	if !found {
		add(out, "Search:Status", itoa(searchFolderSyncReq))
		return nil
	}
	mq.q.FolderIDs, mq.q.Offset, mq.q.Limit = folders, first, last-first+1
	items, total, err := h.store.SearchMail(ctx, r.User.ID, mq.q)
	if err != nil {
		return err
	}
	add(out, "Search:Status", itoa(searchOK))
	ro := renderOpts{Options: so, Version: r.Version}
	for i := range items {
		it := &items[i]
		res := out.CreateElement("Search:Result")
		add(res, "AirSync:Class", "Email")
		add(res, "Search:LongId", strconv.FormatInt(it.ID, 10))
		add(res, "AirSync:CollectionId", strconv.FormatInt(it.FolderID, 10))
		var raw []byte
		if len(so.BodyPrefs) > 0 {
			c, err := h.store.Content(ctx, r.User.ID, it.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			raw, it.Rendered = c.Raw, c.Rendered
		}
		emailCodec{}.write(res.CreateElement("Search:Properties"), it, raw, true, ro)
	}
	if len(items) > 0 {
		add(out, "Search:Range", fmt.Sprintf("%d-%d", first, first+len(items)-1))
	}
	add(out, "Search:Total", strconv.FormatInt(total, 10))
	return nil
}
