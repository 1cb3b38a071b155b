package store

import (
	"fmt"

	"gorm.io/gorm"
)

// replaceMail gives the live mail cur new content inside tx: raw becomes
// its message (a new blob; the old one is freed when nothing else refers
// to it) and it's summary fields replace cur's. fields already holds the
// new change counter. It is how a 16.x device's change of a draft is stored
// (MS-ASEMAIL 3.1.5.3): the draft stays a real MIME message, so the user's
// other devices and IMAP see the same thing.
//
// Attachments keep their identity: an entry of it.Attachments with the id
// of one of cur's attachments updates that row (the device's FileReference
// for it stays valid); an entry with id 0 is new and gets its id here; an
// attachment of cur not listed is deleted.
func replaceMail(tx *gorm.DB, cur, it *Item, raw []byte, fields map[string]any) error {
	// Check first: a failed op must leave nothing written.
	var old []Attachment
	if err := tx.Where("item_id = ?", cur.ID).Find(&old).Error; err != nil {
		return wrap(err, "replace mail: attachments")
	}
	drop := map[int64]bool{}
	for _, a := range old {
		drop[a.ID] = true
	}
	for _, a := range it.Attachments {
		if a.ID != 0 && !drop[a.ID] {
			return fmt.Errorf("replace mail: attachment %d is not the item's: %w", a.ID, ErrConflict)
		}
		delete(drop, a.ID)
	}
	blobID, err := newMailBlob(tx, raw, it) // bodies.go
	if err != nil {
		return err
	}
	if it.SearchText != "" {
		if err := saveSearchText(tx, blobID, it.SearchText); err != nil { // mailsearch.go
			return err
		}
	}
	size := int64(len(raw))
	fields["blob_id"], fields["size"] = blobID, size
	fields["message_id"], fields["subject"] = it.MessageID, it.Subject
	fields["from_addr"], fields["to_addrs"], fields["cc_addrs"], fields["bcc_addrs"] = it.FromAddr, it.ToAddrs, it.CcAddrs, it.BccAddrs
	fields["reply_to"], fields["date_received"] = it.ReplyTo, it.DateReceived
	fields["read"], fields["flag_status"], fields["flag"] = it.Read, it.FlagStatus, it.Flag
	fields["importance"], fields["has_attachments"], fields["is_draft"] = it.Importance, len(it.Attachments) > 0, it.IsDraft
	fields["message_class"], fields["thread_topic"] = it.MessageClass, it.ThreadTopic
	fields["conversation_id"], fields["conversation_index"] = it.ConversationID, it.ConversationIndex
	fields["categories"], fields["preview"] = it.Categories, it.Preview
	if err := tx.Model(&Item{}).Where("id = ?", cur.ID).Updates(fields).Error; err != nil {
		return wrap(err, "replace mail")
	}
	for id := range drop {
		if err := tx.Delete(&Attachment{}, id).Error; err != nil {
			return wrap(err, "replace mail: delete attachment")
		}
	}
	for i := range it.Attachments {
		a := &it.Attachments[i]
		a.ItemID = cur.ID
		if a.ID == 0 {
			if err := tx.Create(a).Error; err != nil {
				return wrap(err, "replace mail: add attachment")
			}
			continue
		}
		if err := tx.Model(&Attachment{}).Where("id = ?", a.ID).Updates(map[string]any{
			"part_index": a.PartIndex, "file_name": a.FileName, "content_type": a.ContentType,
			"content_id": a.ContentID, "size": a.Size, "inline": a.Inline,
		}).Error; err != nil {
			return wrap(err, "replace mail: update attachment")
		}
	}
	if cur.BlobID != nil {
		if err := tx.Exec("DELETE FROM blobs WHERE id = ? AND NOT EXISTS (SELECT 1 FROM items WHERE blob_id = ?)", *cur.BlobID, *cur.BlobID).Error; err != nil {
			return wrap(err, "replace mail: free blob")
		}
	}
	return adjustQuota(tx, cur.UserID, size-cur.Size)
}
