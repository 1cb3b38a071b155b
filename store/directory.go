package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The staff directory (the EAS Global Address List) is the users table:
// every enabled user with their directory fields. Disabled staff are not in
// it, whatever is searched.

// DirectoryQuery is a search of the directory.
type DirectoryQuery struct {
	// Text is matched, case-insensitively, as a prefix of the display name,
	// first name, last name, the local part of the e-mail address, the
	// department, the job title and the office (the site), and as a prefix
	// of any word of the display name, department, job title and office
	// ("bab" finds "Charles Babbage", "cardio" finds "Cardiology"; MS-ASCMD 2.2.3.142.2 Query:
	// "John" matches "John Frum" and "Barry Johnson", not "James
	// Littlejohn"). Empty matches nobody.
	Text string
	// Offset and Limit select a window of the results (Limit 0: 100).
	Offset, Limit int
}

// maxDirectoryResults bounds one directory page.
const maxDirectoryResults = 1000

// SearchDirectory returns a window of the enabled users matching q, in
// display-name order, and how many match in all.
func (s *Store) SearchDirectory(ctx context.Context, q DirectoryQuery) ([]User, int64, error) {
	text := strings.ToLower(strings.TrimSpace(q.Text))
	if text == "" {
		return nil, 0, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxDirectoryResults)
	prefix := escapeLike(text) + "%"
	word := "% " + escapeLike(text) + "%"
	where := s.db.WithContext(ctx).Model(&User{}).Where("disabled = ?", false).Where(
		`lower(display_name) LIKE ? ESCAPE '\' OR lower(first_name) LIKE ? ESCAPE '\' OR lower(last_name) LIKE ? ESCAPE '\'
		 OR email LIKE ? ESCAPE '\' OR lower(department) LIKE ? ESCAPE '\' OR lower(job_title) LIKE ? ESCAPE '\'
		 OR lower(display_name) LIKE ? ESCAPE '\' OR lower(department) LIKE ? ESCAPE '\' OR lower(job_title) LIKE ? ESCAPE '\'
		 OR lower(office) LIKE ? ESCAPE '\' OR lower(office) LIKE ? ESCAPE '\'`,
		prefix, prefix, prefix, prefix, prefix, prefix, word, word, word, prefix, word)
	var total int64
	if err := where.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, wrap(err, "search directory")
	}
	var users []User
	err := where.Session(&gorm.Session{}).Order("lower(display_name), email").Offset(max(q.Offset, 0)).Limit(limit).Find(&users).Error
	if err != nil {
		return nil, 0, wrap(err, "search directory")
	}
	return users, total, nil
}

// DirectoryEntry returns an enabled user by address (primary or alias),
// for resolving a recipient. A disabled user is not found.
func (s *Store) DirectoryEntry(ctx context.Context, addr string) (*User, error) {
	u, err := s.UserByAddress(ctx, addr)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, fmt.Errorf("directory entry %s: %w", NormalizeEmail(addr), ErrNotFound)
	}
	return u, nil
}

// UserPhoto is a staff photograph.
type UserPhoto struct {
	UserID      int64 `gorm:"primaryKey"`
	ContentType string
	Data        []byte
	UpdatedAt   time.Time
}

// Photo returns a user's photograph, or ErrNotFound.
func (s *Store) Photo(ctx context.Context, userID int64) (*UserPhoto, error) {
	var p UserPhoto
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).First(&p).Error; err != nil {
		return nil, wrap(err, "photo")
	}
	return &p, nil
}

// SetPhoto stores (or, with no data, removes) a user's photograph.
func (s *Store) SetPhoto(ctx context.Context, userID int64, contentType string, data []byte) error {
	db := s.db.WithContext(ctx)
	if len(data) == 0 {
		return wrap(db.Where("user_id = ?", userID).Delete(&UserPhoto{}).Error, "remove photo")
	}
	p := UserPhoto{UserID: userID, ContentType: contentType, Data: data, UpdatedAt: s.now()}
	return wrap(db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"content_type", "data", "updated_at"}),
	}).Create(&p).Error, "set photo")
}

// OofRecord is a user's stored out-of-office settings: Settings is the JSON
// the oof package writes; Generation changes on every save.
type OofRecord struct {
	UserID     int64  `gorm:"primaryKey"`
	Settings   string `gorm:"serializer:sealed"` // the reply texts; sealed at rest (keys.go)
	Generation int64
	UpdatedAt  time.Time
}

// TableName maps OofRecord to oof_settings.
func (OofRecord) TableName() string { return "oof_settings" }

// Oof returns a user's out-of-office record, or ErrNotFound when they never
// set one.
func (s *Store) Oof(ctx context.Context, userID int64) (*OofRecord, error) {
	var r OofRecord
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).First(&r).Error; err != nil {
		return nil, wrap(err, "oof settings")
	}
	return &r, nil
}

// SetOof saves a user's out-of-office settings and starts a new generation:
// senders answered under the previous settings will be answered again.
func (s *Store) SetOof(ctx context.Context, userID int64, settingsJSON string) (*OofRecord, error) {
	var r OofRecord
	err := s.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Where("user_id = ?", userID).First(&r).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			r = OofRecord{UserID: userID, Settings: settingsJSON, Generation: 1, UpdatedAt: s.now()}
			return wrap(tx.Create(&r).Error, "save oof settings")
		case err != nil:
			return wrap(err, "save oof settings")
		}
		r.Settings, r.Generation, r.UpdatedAt = settingsJSON, r.Generation+1, s.now()
		return wrap(tx.Model(&OofRecord{}).Where("user_id = ?", userID).
			Updates(map[string]any{"settings": settingsJSON, "generation": r.Generation, "updated_at": r.UpdatedAt}).Error, "save oof settings")
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// ClaimOofReply records that sender gets the automatic reply of userID's
// OOF generation. It reports false when the sender already got it: the
// primary key makes the claim atomic, so two nodes delivering two messages
// from the same sender at once send one reply.
func (s *Store) ClaimOofReply(ctx context.Context, userID, generation int64, sender string) (bool, error) {
	sender = NormalizeEmail(sender)
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&oofReply{
		UserID: userID, Generation: generation, Sender: sender, SentAt: s.now(),
	})
	if res.Error != nil {
		return false, wrap(res.Error, "claim oof reply")
	}
	return res.RowsAffected == 1, nil
}

type oofReply struct {
	UserID     int64  `gorm:"primaryKey"`
	Generation int64  `gorm:"primaryKey"`
	Sender     string `gorm:"primaryKey"`
	SentAt     time.Time
}

func (oofReply) TableName() string { return "oof_replies" }
