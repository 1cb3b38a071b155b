package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the display zone below, on hosts without zoneinfo

	"github.com/labstack/echo/v4"

	"airlock/store"
)

// The staff web's mail: the folder tree, the message list, the reading pane
// (mail_read.go), actions on messages (mail_actions.go) and folders
// (mail_folders.go). It shows the same mailbox phones sync: every read goes
// through the store's folder and item queries, and every change through the
// same store calls ActiveSync uses, so change counters move and held Pings
// wake as if a phone had made the change.

// mailPageSize is the number of messages on one page of the list.
const mailPageSize = 50

// displayZone is where dates are shown, until the per-user time-zone
// setting exists.
var displayZone = func() *time.Location {
	if z, err := time.LoadLocation("Europe/London"); err == nil {
		return z
	}
	return time.UTC
}()

// mailRoutes mounts /mail on the signed-in group.
func (s *Server) mailRoutes(h *echo.Group) {
	m := h.Group("/mail", s.requireUser)
	m.GET("", s.mailHome)
	m.GET("/folders", s.mailFolders)
	m.POST("/folders", s.mailFolderCreate)
	m.POST("/folders/:id/rename", s.mailFolderRename)
	m.POST("/folders/:id/delete", s.mailFolderDelete)
	m.GET("/:folder", s.mailList)
	m.POST("/:folder/empty", s.mailEmpty)
	m.GET("/:folder/:item", s.mailRead)
	m.GET("/:folder/:item/frame", s.mailFrame)
	m.GET("/:folder/:item/att/:att", s.mailAttachment)
	m.POST("/:folder/:item/:action", s.mailAction)
}

// folderNode is one line of the folder tree.
type folderNode struct {
	ID     int64
	Name   string
	Depth  int
	Type   store.FolderType
	Unread int64
	// Total is filled only where it is shown (the folders page).
	Total   int64
	Current bool
	// UserMade: created by the user (on a phone or here): may be renamed,
	// moved and deleted.
	UserMade bool
	Parent   int64
}

// URL is the folder's list page.
func (n folderNode) URL() string { return "/mail/" + strconv.FormatInt(n.ID, 10) }

// Indent is the tree depth as a CSS class suffix, capped.
func (n folderNode) Indent() int { return min(n.Depth, 6) }

// mailShell is what every mail page shows around its content: the tree.
type mailShell struct {
	Tree []folderNode
	// SearchQuery fills the search box (mail_search.go).
	SearchQuery string
	// SMS and Fax link the side bar to those pages (sms.go).
	SMS, Fax bool
	// The mailboxes shared with the user, filled when rendering
	// (mail_shared.go).
	sharedList
}

// OwnFolders says whether the user made any mail folder.
func (m mailShell) OwnFolders() bool {
	for _, n := range m.Tree {
		if n.UserMade {
			return true
		}
	}
	return false
}

// defaultOrder puts the default folders first, in Outlook's order.
var defaultOrder = map[store.FolderType]int{
	store.FolderInbox: 1, store.FolderDrafts: 2, store.FolderSentItems: 3, store.FolderDeletedItems: 4, store.FolderOutbox: 5,
}

// isMailFolder: the folders the mail pages show (the same folders a phone
// lists for mail, user-made ones included).
func isMailFolder(f *store.Folder) bool {
	return f.Class == store.ClassEmail && f.Type != store.FolderRecipientsCache
}

// mailTree returns the user's mail folders as a tree in display order,
// with their counts. current is marked.
func (s *Server) mailTree(ctx context.Context, userID, current int64) ([]folderNode, error) {
	all, err := s.store.Folders(ctx, userID)
	if err != nil {
		return nil, err
	}
	var mail []store.Folder
	for i := range all {
		if isMailFolder(&all[i]) {
			mail = append(mail, all[i])
		}
	}
	counts, err := s.counts.get(ctx, s.store, userID, mail)
	if err != nil {
		return nil, err
	}
	known := map[int64]bool{}
	for _, f := range mail {
		known[f.ID] = true
	}
	children := map[int64][]store.Folder{}
	for _, f := range mail {
		parent := f.ParentID
		if !known[parent] { // under a non-mail folder: show at the top
			parent = 0
		}
		children[parent] = append(children[parent], f)
	}
	for _, list := range children {
		slices.SortFunc(list, func(a, b store.Folder) int {
			oa, ob := defaultOrder[a.Type], defaultOrder[b.Type]
			if oa == 0 {
				oa = 100
			}
			if ob == 0 {
				ob = 100
			}
			if oa != ob {
				return oa - ob
			}
			return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		})
	}
	var out []folderNode
	var walk func(parent int64, depth int)
	walk = func(parent int64, depth int) {
		for _, f := range children[parent] {
			_, userMade := userFolderType(f.Type)
			out = append(out, folderNode{ID: f.ID, Name: f.Name, Depth: depth, Type: f.Type, Unread: counts[f.ID],
				Current: f.ID == current, UserMade: userMade, Parent: f.ParentID})
			if depth < 32 {
				walk(f.ID, depth+1)
			}
		}
	}
	walk(0, 0)
	return out, nil
}

// userFolderType reports whether folders of type t are the user's own.
func userFolderType(t store.FolderType) (store.FolderType, bool) {
	switch t {
	case store.FolderUserGeneric, store.FolderUserMail:
		return t, true
	}
	return t, false
}

// mailFolder returns the user's mail folder named by the :folder
// parameter, or 404 (another user's folder is not found either).
func (s *Server) mailFolder(c echo.Context) (*store.Folder, error) {
	id, err := strconv.ParseInt(c.Param("folder"), 10, 64)
	if err != nil || id <= 0 {
		return nil, echo.NewHTTPError(http.StatusNotFound, "No such folder.")
	}
	f, err := s.store.FolderByID(c.Request().Context(), ident(c).User.ID, id)
	if err != nil {
		return nil, err
	}
	if !isMailFolder(f) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "No such folder.")
	}
	return f, nil
}

// mailHome opens the Inbox.
func (s *Server) mailHome(c echo.Context) error {
	f, err := s.store.FolderByType(c.Request().Context(), ident(c).User.ID, store.FolderInbox)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/mail/"+strconv.FormatInt(f.ID, 10))
}

// mailRow is one line of the message list.
type mailRow struct {
	ID       int64
	URL      string
	From     string
	Subject  string
	Preview  string
	Date     string
	DateFull string
	Read     bool
	Flagged  bool
	Attach   bool
	High     bool
}

// sortNames are the list orders a reader may pick, by their URL value.
var sortNames = []struct {
	Key   string
	Label string
	Sort  store.MailSort
}{
	{"", "Newest first", store.MailNewest},
	{"oldest", "Oldest first", store.MailOldest},
	{"sender", "Sender (A to Z)", store.MailSender},
	{"subject", "Subject (A to Z)", store.MailSubject},
}

type mailListData struct {
	mailShell
	Folder      *store.Folder
	Counts      folderNode
	Rows        []mailRow
	Sort        string
	Sorts       any
	Unread      bool
	Flagged     bool
	NextURL     string
	PrevURL     string
	FirstURL    string
	IsDeleted   bool
	Description string
}

// listQuery is the list's state in its URL: sort, filters and cursor.
type listQuery struct {
	Sort            string
	Unread, Flagged bool
	After, Before   int64
}

func parseListQuery(c echo.Context) listQuery {
	q := listQuery{Sort: c.QueryParam("sort"), Unread: c.QueryParam("unread") == "1", Flagged: c.QueryParam("flagged") == "1"}
	q.After, _ = strconv.ParseInt(c.QueryParam("after"), 10, 64)
	q.Before, _ = strconv.ParseInt(c.QueryParam("before"), 10, 64)
	if _, ok := sortOf(q.Sort); !ok {
		q.Sort = ""
	}
	return q
}

func sortOf(key string) (store.MailSort, bool) {
	for _, s := range sortNames {
		if s.Key == key {
			return s.Sort, true
		}
	}
	return store.MailNewest, false
}

// url builds the list URL of folder with q's sort and filters and the
// given cursor.
func (q listQuery) url(folder int64, after, before int64) string {
	v := url.Values{}
	if q.Sort != "" {
		v.Set("sort", q.Sort)
	}
	if q.Unread {
		v.Set("unread", "1")
	}
	if q.Flagged {
		v.Set("flagged", "1")
	}
	if after != 0 {
		v.Set("after", strconv.FormatInt(after, 10))
	}
	if before != 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	u := "/mail/" + strconv.FormatInt(folder, 10)
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

func (s *Server) mailList(c echo.Context) error {
	f, err := s.mailFolder(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	me := ident(c).User
	q := parseListQuery(c)
	tree, err := s.mailTree(ctx, me.ID, f.ID)
	if err != nil {
		return err
	}
	items, more, err := s.mailPage(ctx, me.ID, f, q)
	if err != nil {
		return err
	}
	d := &mailListData{mailShell: mailShell{Tree: tree}, Folder: f, Sort: q.Sort, Sorts: sortNames, Unread: q.Unread, Flagged: q.Flagged,
		IsDeleted: f.Type == store.FolderDeletedItems}
	for _, n := range tree {
		if n.ID == f.ID {
			d.Counts = n
		}
	}
	for i := range items {
		r := rowOf(f.ID, &items[i])
		if f.Type == store.FolderDrafts && items[i].IsDraft {
			r.URL = composePath + "?draft=" + strconv.FormatInt(items[i].ID, 10) // a draft opens to be finished
		}
		d.Rows = append(d.Rows, r)
	}
	// Paging: forward has a next page if there is more that way; coming
	// back from a later page there always is one after.
	hasNext, hasPrev := more, q.After != 0
	if q.Before != 0 {
		hasNext, hasPrev = true, more
	}
	if len(items) > 0 {
		if hasNext {
			d.NextURL = q.url(f.ID, items[len(items)-1].ID, 0)
		}
		if hasPrev {
			d.PrevURL = q.url(f.ID, 0, items[0].ID)
		}
	}
	if q.After != 0 || q.Before != 0 {
		d.FirstURL = q.url(f.ID, 0, 0)
	}
	d.Description = describeList(d)
	return s.render(c, http.StatusOK, "mail.html", f.Name, d)
}

func describeList(d *mailListData) string {
	msg := "No unread messages"
	if d.Counts.Unread > 0 {
		msg = strconv.FormatInt(d.Counts.Unread, 10) + " unread"
	}
	switch {
	case d.Unread && d.Flagged:
		msg += ". Showing unread flagged messages"
	case d.Unread:
		msg += ". Showing unread messages"
	case d.Flagged:
		msg += ". Showing flagged messages"
	}
	return msg + "."
}

// mailPage reads one page of the list in the order asked for.
func (s *Server) mailPage(ctx context.Context, userID int64, f *store.Folder, q listQuery) ([]store.Item, bool, error) {
	sort, _ := sortOf(q.Sort)
	if sort != store.MailSubject {
		p, err := s.store.MailList(ctx, userID, store.MailListQuery{FolderID: f.ID, Sort: sort, Unread: q.Unread, Flagged: q.Flagged,
			After: q.After, Before: q.Before, Limit: mailPageSize})
		if err != nil {
			return nil, false, err
		}
		return p.Items, p.More, nil
	}
	ids, err := s.subjects.order(ctx, s.store, userID, f.ID, q.Unread, q.Flagged)
	if err != nil {
		return nil, false, err
	}
	var page []int64
	more := false
	switch {
	case q.Before != 0:
		end := slices.Index(ids, q.Before)
		if end < 0 {
			end = 0
		}
		start := max(0, end-mailPageSize)
		page, more = ids[start:end], start > 0
	default:
		start := 0
		if q.After != 0 {
			start = slices.Index(ids, q.After) + 1
			if start == 0 {
				start = len(ids) // the cursor left the folder: an empty page
			}
		}
		end := min(len(ids), start+mailPageSize)
		page, more = ids[start:end], end < len(ids)
	}
	items, err := s.store.MailListItems(ctx, userID, page)
	return items, more, err
}

// countCache keeps each folder's unread count against its change counter, which
// the folder list carries anyway: a tree whose folders did not change
// costs no count at all, and one that did recounts only those folders.
type countCache struct {
	mu      sync.Mutex
	entries map[int64]countEntry // by folder id
}

type countEntry struct {
	modseq int64
	unread int64
}

// countCacheSize bounds the cache; past it, it starts again.
const countCacheSize = 50000

func (cc *countCache) get(ctx context.Context, st *store.Store, userID int64, folders []store.Folder) (map[int64]int64, error) {
	out := make(map[int64]int64, len(folders))
	var stale []int64
	cc.mu.Lock()
	for _, f := range folders {
		if e, ok := cc.entries[f.ID]; ok && e.modseq == f.Modseq {
			out[f.ID] = e.unread
		} else {
			stale = append(stale, f.ID)
		}
	}
	cc.mu.Unlock()
	if len(stale) == 0 {
		return out, nil
	}
	fresh, err := st.UnreadCounts(ctx, userID, stale)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.entries == nil || len(cc.entries) > countCacheSize {
		cc.entries = map[int64]countEntry{}
	}
	for _, f := range folders {
		if slices.Contains(stale, f.ID) {
			// Counted after the folder list was read: a change in between
			// leaves the entry under the older counter, so it is redone.
			cc.entries[f.ID] = countEntry{modseq: f.Modseq, unread: fresh[f.ID]}
			out[f.ID] = fresh[f.ID]
		}
	}
	return out, nil
}

// subjectCache keeps the subject order of recently listed folders with
// the change counter it reflects. A later change (new mail, a move, a flag
// set on a phone) is merged in from the folder's changes since then, so a
// large folder is sorted once, not after every change; filters are applied
// to the cached order.
type subjectCache struct {
	mu      sync.Mutex
	entries map[subjectKey]subjectEntry
}

type subjectKey struct{ user, folder int64 }

type subjectEntry struct {
	modseq int64
	order  []store.SubjectEntry // never changed in place: readers may hold it
	used   time.Time
}

const (
	subjectCacheSize = 32
	// subjectMergeMax: more changes than this since the cached order, and
	// sorting afresh is as cheap as merging.
	subjectMergeMax = 2000
)

func (sc *subjectCache) order(ctx context.Context, st *store.Store, userID, folderID int64, unread, flagged bool) ([]int64, error) {
	order, err := sc.current(ctx, st, userID, folderID)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(order))
	for _, e := range order {
		if (unread && e.Read) || (flagged && !e.Flagged) {
			continue
		}
		ids = append(ids, e.ID)
	}
	return ids, nil
}

// current returns the folder's subject order, from the cache, merged with
// the changes since, or sorted afresh.
func (sc *subjectCache) current(ctx context.Context, st *store.Store, userID, folderID int64) ([]store.SubjectEntry, error) {
	modseq, err := st.FolderModseq(ctx, userID, folderID)
	if err != nil {
		return nil, err
	}
	k := subjectKey{userID, folderID}
	sc.mu.Lock()
	e, ok := sc.entries[k]
	sc.mu.Unlock()
	switch {
	case ok && e.modseq >= modseq:
		// up to date
	case ok:
		changed, err := st.ChangesSince(ctx, userID, folderID, e.modseq, subjectMergeMax+1)
		if err != nil {
			return nil, err
		}
		if len(changed) > subjectMergeMax {
			ok = false
			break
		}
		e.order = store.MergeSubjectChanges(e.order, changed, folderID)
		if n := len(changed); n > 0 {
			e.modseq = changed[n-1].Modseq
		}
	}
	if !ok {
		if e.modseq, e.order, err = st.SubjectOrder(ctx, userID, folderID); err != nil {
			return nil, err
		}
	}
	sc.put(k, e)
	return e.order, nil
}

func (sc *subjectCache) put(k subjectKey, e subjectEntry) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.entries == nil {
		sc.entries = map[subjectKey]subjectEntry{}
	}
	if _, ok := sc.entries[k]; !ok && len(sc.entries) >= subjectCacheSize {
		var oldest subjectKey
		var at time.Time
		for key, old := range sc.entries {
			if at.IsZero() || old.used.Before(at) {
				oldest, at = key, old.used
			}
		}
		delete(sc.entries, oldest)
	}
	e.used = time.Now()
	sc.entries[k] = e
}

func rowOf(folderID int64, it *store.Item) mailRow {
	r := mailRow{ID: it.ID, URL: "/mail/" + strconv.FormatInt(folderID, 10) + "/" + strconv.FormatInt(it.ID, 10),
		From: senderName(it.FromAddr), Subject: it.Subject, Preview: it.Preview, Read: it.Read, Flagged: it.FlagStatus == 2,
		Attach: it.HasAttachments, High: it.Importance == 2}
	if r.Subject == "" {
		r.Subject = "(no subject)"
	}
	if r.From == "" {
		r.From = "(no sender)"
	}
	if it.DateReceived != nil {
		r.Date, r.DateFull = shortDate(*it.DateReceived, time.Now()), fullDate(*it.DateReceived)
	}
	return r
}

// shortDate is a list date: the time today, the day and month this year,
// the whole date before.
func shortDate(t, now time.Time) string {
	t, now = t.In(displayZone), now.In(displayZone)
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("2 Jan")
	}
	return t.Format("2 Jan 2006")
}

func fullDate(t time.Time) string {
	return t.In(displayZone).Format("Monday 2 January 2006, 15:04 MST")
}
