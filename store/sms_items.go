package store

// SMS items (health-service rules, the EAS SMS class of MS-ASMS): text messages kept in
// a user's mail folders (the Inbox for received ones, Sent Items for sent
// ones) as items of class SMS. Each has a small RFC 5322 message as its
// content, so that IMAP, search and ItemOperations see an ordinary
// plain-text mail; EAS serves them only to devices that ask for the SMS
// class (activesync/sms.go). Props holds the delivery status of one sent
// through the SMS gateway (SMSProps).

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SMSMessageClass is the message class of an SMS item (MS-ASMS 2.2.2.1.7
// MessageClass).
const SMSMessageClass = "IPM.Note.Mobile.SMS"

// Delivery states of a sent SMS item (SMSProps.Status).
const (
	SMSQueued = "queued" // waiting for the provider
	SMSSent   = "sent"   // the provider took it
	SMSFailed = "failed" // refused, or given up; Detail says why
)

// SMSProps are the SMS fields of an item, as JSON in Item.Props. Status is
// empty for a message received, or added by a device.
type SMSProps struct {
	Status string     `json:"status,omitempty"`
	Detail string     `json:"detail,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

// SMSPropsOf reads an SMS item's fields (zero for other items).
func SMSPropsOf(it *Item) SMSProps {
	var p SMSProps
	if it.Class == ClassSMS && it.Props != "" {
		json.Unmarshal([]byte(it.Props), &p)
	}
	return p
}

// JSON returns p as Item.Props.
func (p SMSProps) JSON() string {
	b, _ := json.Marshal(p)
	return string(b)
}

// setSMSStatus records a sent SMS item's delivery status inside tx and
// gives it a new change counter, so the sender's devices get it again. An
// item deleted meanwhile is left alone.
func setSMSStatus(tx *gorm.DB, itemID int64, status, detail string, at time.Time) error {
	var it Item
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "user_id", "folder_id", "class").
		Where("id = ? AND deleted = ?", itemID, false).Limit(1).Find(&it).Error
	if err != nil {
		return wrap(err, "sms status")
	}
	if it.ID == 0 || it.Class != ClassSMS {
		return nil
	}
	at = at.UTC()
	props := SMSProps{Status: status, Detail: detail, At: &at}.JSON()
	m, err := bumpFolder(tx, it.UserID, it.FolderID, 1)
	if err != nil {
		return err
	}
	return wrap(tx.Model(&Item{}).Where("id = ?", it.ID).
		Updates(map[string]any{"props": props, "modseq": m, "updated_at": at}).Error, "sms status")
}

// SMSItems lists a user's live SMS items of a folder, oldest first.
func (s *Store) SMSItems(ctx context.Context, userID, folderID int64) ([]Item, error) {
	var out []Item
	err := s.db.WithContext(ctx).Where("user_id = ? AND folder_id = ? AND class = ? AND deleted = ?", userID, folderID, ClassSMS, false).
		Order("id").Find(&out).Error
	return out, wrap(err, fmt.Sprintf("sms items of folder %d", folderID))
}
