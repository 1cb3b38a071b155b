package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// The staff web's message list: one folder, in pages, by date or sender
// with keyset paging (indexes in migration 00080), and by subject through
// SubjectOrder, which sorts in Go so that subjects never have to be
// compared by the database.

// MailSort orders a folder's message list.
type MailSort int

const (
	MailNewest  MailSort = iota // date received, newest first
	MailOldest                  // date received, oldest first
	MailSender                  // sender name or address, A to Z
	MailSubject                 // subject, A to Z (SubjectOrder)
)

// MailListQuery asks for one page of a folder's messages.
type MailListQuery struct {
	FolderID int64
	Sort     MailSort // MailNewest, MailOldest or MailSender
	Unread   bool     // only unread messages
	Flagged  bool     // only flagged messages (FlagStatus 2, MS-ASEMAIL 2.2.2.34)
	// After and Before are the ids of the last and first rows of the page
	// the reader comes from (at most one is set): the page that follows or
	// precedes it. The cursor is an id, not a sort key, so no mail content
	// travels in URLs; the key is read back from the row, which a
	// tombstone keeps when the message has been moved or deleted since.
	After, Before int64
	Limit         int
}

// MailPage is a page of a message list. More says a further page exists
// in the direction the query went.
type MailPage struct {
	Items []Item
	More  bool
}

// listColumns are what a message list shows.
var listColumns = []string{"id", "folder_id", "class", "subject", "from_addr", "date_received", "read",
	"flag_status", "has_attachments", "importance", "is_draft", "preview"}

// sortKey is the indexed sender key (migration 00080).
const senderKey = `ltrim(lower(from_addr), '"')`

// MailList returns one page of a folder of the user, sorted by date or by
// sender. Subject order is not done here (see SubjectOrder).
func (s *Store) MailList(ctx context.Context, userID int64, q MailListQuery) (*MailPage, error) {
	if q.Sort == MailSubject {
		return nil, fmt.Errorf("mail list: sort by subject goes through SubjectOrder")
	}
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 50
	}
	if _, err := s.FolderByID(ctx, userID, q.FolderID); err != nil {
		return nil, err
	}
	db := s.db.WithContext(ctx).Model(&Item{}).Select(listColumns).
		Where("folder_id = ? AND deleted = ?", q.FolderID, false)
	db = mailFilter(db, q.Unread, q.Flagged)

	key, desc := "date_received", true
	switch q.Sort {
	case MailOldest:
		desc = false
	case MailSender:
		key, desc = senderKey, false
	}
	backward := q.Before != 0
	cursor := q.After
	if backward {
		cursor, desc = q.Before, !desc
	}
	if cursor != 0 {
		// The cursor row must be one of the user's in this folder, live or
		// a tombstone.
		sub := s.db.Model(&Item{}).Select(key).Where("id = ? AND user_id = ? AND folder_id = ?", cursor, userID, q.FolderID)
		op := ">"
		if desc {
			op = "<"
		}
		// (key, id) after the cursor's, written so that both databases
		// read it as one range on the index's key column: key >= k
		// bounds the range, the rest only sorts out the ties.
		db = db.Where(fmt.Sprintf("%[1]s %[2]s= (?) AND (%[1]s %[2]s (?) OR id %[2]s ?)", key, op), sub, sub, cursor)
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	var items []Item
	err := db.Order(key + dir).Order("id" + dir).Limit(q.Limit + 1).Find(&items).Error
	if err != nil {
		return nil, wrap(err, "mail list")
	}
	page := &MailPage{Items: items}
	if len(items) > q.Limit {
		page.Items, page.More = items[:q.Limit], true
	}
	if backward {
		slices.Reverse(page.Items)
	}
	return page, nil
}

func mailFilter(db *gorm.DB, unread, flagged bool) *gorm.DB {
	if unread {
		db = db.Where("read = ?", false)
	}
	if flagged {
		db = db.Where("flag_status = ?", 2)
	}
	return db
}

// SubjectEntry is one live message of a folder in the subject order, with
// what the list's filters need.
type SubjectEntry struct {
	ID      int64
	Key     string // the subject, lower-cased and trimmed
	Read    bool
	Flagged bool
}

func subjectEntryOf(it *Item) SubjectEntry {
	return SubjectEntry{ID: it.ID, Key: strings.ToLower(strings.TrimSpace(it.Subject)), Read: it.Read, Flagged: it.FlagStatus == 2}
}

// CompareSubjectEntries orders by subject, case-insensitively, and the
// latest stored first among equal subjects (ids grow with arrival).
func CompareSubjectEntries(a, b SubjectEntry) int {
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return compareDesc(a.ID, b.ID)
}

// SubjectOrder returns a folder's live messages in the subject order, and
// the folder's change counter read before them (so changes made while they
// are read are merged again later, which is harmless). It is the one
// place subjects are compared, and it compares them in Go: subjects are
// sealed at rest, so the database cannot order them. Callers cache the
// result and bring it up to date with MergeSubjectChanges.
func (s *Store) SubjectOrder(ctx context.Context, userID, folderID int64) (int64, []SubjectEntry, error) {
	modseq, err := s.FolderModseq(ctx, userID, folderID)
	if err != nil {
		return 0, nil, err
	}
	// Four columns of every message, read into Items so that the sealed
	// subject is opened by its serializer (keys.go).
	var items []Item
	err = s.db.WithContext(ctx).Model(&Item{}).Select("id", "subject", "read", "flag_status").
		Where("folder_id = ? AND user_id = ? AND deleted = ?", folderID, userID, false).Find(&items).Error
	if err != nil {
		return 0, nil, wrap(err, "subject order")
	}
	out := make([]SubjectEntry, len(items))
	for i := range items {
		out[i] = subjectEntryOf(&items[i])
	}
	slices.SortFunc(out, CompareSubjectEntries)
	return modseq, out, nil
}

// MergeSubjectChanges applies changed items of folderID (from ChangesSince:
// tombstones, moves out, new mail, flag changes) to an ordered list and
// returns a new list; the old one is left as it was for readers holding it.
func MergeSubjectChanges(entries []SubjectEntry, changed []Item, folderID int64) []SubjectEntry {
	gone := make(map[int64]bool, len(changed))
	for i := range changed {
		gone[changed[i].ID] = true
	}
	out := make([]SubjectEntry, 0, len(entries)+len(changed))
	for _, e := range entries {
		if !gone[e.ID] {
			out = append(out, e)
		}
	}
	for i := range changed {
		it := &changed[i]
		if it.Deleted || it.FolderID != folderID {
			continue
		}
		e := subjectEntryOf(it)
		at, _ := slices.BinarySearchFunc(out, e, CompareSubjectEntries)
		out = slices.Insert(out, at, e)
	}
	return out
}

func compareDesc(a, b int64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// MailListItems returns the list columns of the user's live items among
// ids, in the order of ids (a page of SubjectOrder).
func (s *Store) MailListItems(ctx context.Context, userID int64, ids []int64) ([]Item, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// By primary key alone: with user_id in the WHERE clause SQLite's
	// planner walks an index on user_id instead. Ownership and liveness
	// are checked on the rows.
	var rows []Item
	err := s.db.WithContext(ctx).Model(&Item{}).Select(append([]string{"user_id", "deleted"}, listColumns...)).
		Where("id IN ?", ids).Find(&rows).Error
	if err != nil {
		return nil, wrap(err, "mail list items")
	}
	items := rows[:0]
	for _, it := range rows {
		if it.UserID == userID && !it.Deleted {
			items = append(items, it)
		}
	}
	pos := make(map[int64]int, len(ids))
	for i, id := range ids {
		pos[id] = i
	}
	slices.SortFunc(items, func(a, b Item) int { return pos[a.ID] - pos[b.ID] })
	return items, nil
}

// UnreadCounts returns the number of unread live messages in each of the
// given folders of the user (folders without any are left out). Each count
// reads one range of items_list_unread without touching the rows; callers
// that show them often should keep them against the folders' change
// counters (Folder.Modseq moves with every change to an item, read state
// included).
func (s *Store) UnreadCounts(ctx context.Context, userID int64, folderIDs []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(folderIDs) == 0 {
		return out, nil
	}
	// Only the user's folders: the count below need not check user_id
	// per row, which the index does not hold.
	var own []int64
	if err := s.db.WithContext(ctx).Model(&Folder{}).Where("id IN ? AND user_id = ? AND deleted = ?", folderIDs, userID, false).
		Pluck("id", &own).Error; err != nil {
		return nil, wrap(err, "unread counts")
	}
	if len(own) == 0 {
		return out, nil
	}
	var rows []struct {
		FolderID int64
		N        int64
	}
	err := s.db.WithContext(ctx).Model(&Item{}).Select("folder_id, COUNT(*) AS n").
		Where("folder_id IN ? AND deleted = ? AND read = ?", own, false, false).Group("folder_id").Scan(&rows).Error
	if err != nil {
		return nil, wrap(err, "unread counts")
	}
	for _, r := range rows {
		out[r.FolderID] = r.N
	}
	return out, nil
}
