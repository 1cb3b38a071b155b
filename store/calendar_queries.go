package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// CalendarItemsBetween returns a user's live calendar items, in every
// calendar folder, whose span overlaps [from, to): the start is before to
// and the end (for a recurring series, the end of its last occurrence, see
// pim) is after from. Callers expand recurring series themselves.
func (s *Store) CalendarItemsBetween(ctx context.Context, userID int64, from, to time.Time) ([]Item, error) {
	var items []Item
	err := s.db.WithContext(ctx).
		Where("user_id = ? AND class = ? AND deleted = ? AND start_time < ? AND (end_time > ? OR (end_time = start_time AND start_time >= ?))",
			userID, ClassCalendar, false, to.UTC(), from.UTC(), from.UTC()).
		Order("start_time, id").Limit(5000).Find(&items).Error
	return items, wrap(err, "calendar items")
}

// ItemByUID returns a user's live item of class with an iCalendar/vCard
// UID, the oldest first if several folders hold one.
func (s *Store) ItemByUID(ctx context.Context, userID int64, class Class, uid string) (*Item, error) {
	var it Item
	err := s.db.WithContext(ctx).Where("user_id = ? AND class = ? AND uid = ? AND deleted = ?", userID, class, uid, false).
		Order("id").First(&it).Error
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("%s item %q", class, uid))
	}
	return &it, nil
}

// ItemsByMessageClass returns a user's live mail items with a meeting
// message class prefix (e.g. "IPM.Schedule.Meeting.") and a UID, for
// finding the invitations of one meeting.
func (s *Store) ItemsByMessageClass(ctx context.Context, userID int64, classPrefix, uid string) ([]Item, error) {
	var items []Item
	err := s.db.WithContext(ctx).Where("user_id = ? AND class = ? AND deleted = ? AND uid = ? AND message_class LIKE ? ESCAPE '\\'",
		userID, ClassEmail, false, uid, escapeLike(classPrefix)+"%").Order("id").Find(&items).Error
	return items, wrap(err, "meeting messages")
}

// MailQuery is a mailbox search (EAS Search "Mailbox", Find).
type MailQuery struct {
	// FolderIDs limits the search; empty searches every mail folder.
	FolderIDs []int64
	// Text must occur (case-insensitively) in the subject, sender,
	// recipients, preview or body; every whitespace-separated word must.
	Text string
	// After and Before bound DateReceived (exclusive).
	After, Before *time.Time
	// ConversationID selects one conversation.
	ConversationID []byte
	Offset, Limit  int
}

// SearchMail returns a window of a user's live mail matching q, newest
// first, and how many match in all. The words are matched in Go after the
// candidates are opened (mailsearch.go, mailmatch.go).
func (s *Store) SearchMail(ctx context.Context, userID int64, q MailQuery) ([]Item, int64, error) {
	db := s.db.WithContext(ctx).Model(&Item{}).Where("user_id = ? AND class = ? AND deleted = ?", userID, ClassEmail, false)
	if len(q.FolderIDs) > 0 {
		db = db.Where("folder_id IN ?", q.FolderIDs)
	}
	if q.After != nil {
		db = db.Where("date_received > ?", q.After.UTC())
	}
	if q.Before != nil {
		db = db.Where("date_received < ?", q.Before.UTC())
	}
	if len(q.ConversationID) > 0 {
		db = db.Where("conversation_id = ?", q.ConversationID)
	}
	limit := q.Limit
	if limit <= 0 || limit > maxDirectoryResults {
		limit = 100
	}
	if words := strings.Fields(NormalizeSearchText(q.Text)); len(words) > 0 {
		return s.searchMailWords(ctx, db, words, max(q.Offset, 0), limit)
	}
	var total int64
	if err := db.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, wrap(err, "search mail")
	}
	var items []Item
	err := db.Session(&gorm.Session{}).Order("date_received DESC, id DESC").Offset(max(q.Offset, 0)).Limit(limit).Find(&items).Error
	if err != nil {
		return nil, 0, wrap(err, "search mail")
	}
	return items, total, s.loadAttachments(s.db.WithContext(ctx), items)
}
