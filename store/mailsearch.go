package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"airlock/internal/keyring"
)

// Mailbox search in the body (EAS Search "Mailbox" and Find FreeText).
//
// The searchable text of a message is kept once per raw message, in
// blob_texts beside its blob (migration 00051): a message delivered to
// several staff, or moved, shares one blob and so one text; a deleted item
// lets go of its blob (tombstone) and so of its text, which goes with the
// blob. The text is normalised here, in Go, both when it is stored and
// when words are looked for.
//
// At rest the text is sealed under its blob's data key and the subject and
// preview under the Fields key (keys.go), so the database cannot match
// words: SearchMail selects the user's candidate items in SQL (folder,
// dates, conversation) and matches the words here, after opening them.
// A keyed trigram filter per text (searchfilter.go) spares opening the
// texts that cannot hold a word.

// MaxSearchText bounds the text kept per message: the first 128 KiB of a
// body are searchable, what follows (long quoted threads, logs pasted in)
// is not.
const MaxSearchText = 128 << 10

// NormalizeSearchText is the searchable form of a text: lower-cased, runs
// of white space made one space, cut to MaxSearchText bytes on a character
// boundary.
func NormalizeSearchText(s string) string {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	if len(s) <= MaxSearchText {
		return s
	}
	cut := MaxSearchText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// blobText is a row of blob_texts. Body holds the text only for rows
// stored in clear by an older release; Sealed holds it under the blob's
// data key, and Grams its trigram filter.
type blobText struct {
	BlobID int64 `gorm:"primaryKey"`
	Body   string
	Sealed []byte
	Grams  []byte
}

func (blobText) TableName() string { return "blob_texts" }

// saveSearchText records the searchable text of a blob inside tx, sealed
// under the blob's data key, unless it has one already (the other
// recipients of one delivery).
func saveSearchText(tx *gorm.DB, blobID int64, text string) error {
	if blobID == 0 {
		return nil
	}
	r, err := ringOf(tx.Statement.Context)
	if err != nil {
		return err
	}
	var b struct {
		DEK []byte
		Has bool
	}
	res := tx.Raw("SELECT dek, EXISTS (SELECT 1 FROM blob_texts t WHERE t.blob_id = blobs.id) AS has FROM blobs WHERE id = ?", blobID).Scan(&b)
	if res.Error != nil {
		return wrap(res.Error, "store search text")
	}
	if res.RowsAffected == 0 || b.Has { // freed meanwhile, or the text is there
		return nil
	}
	row := blobText{BlobID: blobID, Body: text}
	if b.DEK != nil {
		dek, err := r.DataKey(b.DEK)
		if err != nil {
			return fmt.Errorf("store search text: %w", err)
		}
		row.Body, row.Sealed = "", dek.Seal([]byte(text), searchTextAAD)
		row.Grams = newGramHasher(r.Key(keyring.Search)).build(blobID, text)
	}
	return wrap(tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error, "store search text")
}

// BackfillSearchText gives up to batch stored messages without a
// searchable text one, made by index from the raw message, and returns how
// many it did; call it until it returns 0. A message index cannot read
// gets an empty text, so it is not tried again.
func (s *Store) BackfillSearchText(ctx context.Context, index func(raw []byte) string, batch int) (int, error) {
	if batch <= 0 {
		batch = 100
	}
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT b.id FROM blobs b
		WHERE NOT EXISTS (SELECT 1 FROM blob_texts t WHERE t.blob_id = b.id)
		  AND EXISTS (SELECT 1 FROM items i WHERE i.blob_id = b.id AND i.class = ?)
		ORDER BY b.id LIMIT ?`, ClassEmail, batch).Scan(&ids).Error
	if err != nil {
		return 0, wrap(err, "search text backfill")
	}
	for _, id := range ids {
		var b Blob
		if err := s.db.WithContext(ctx).Select("id", "data", "dek").First(&b, id).Error; err != nil {
			if err := wrap(err, "search text backfill"); !errors.Is(err, ErrNotFound) {
				return 0, err
			}
			continue // freed meanwhile
		}
		raw, err := s.openBlob(b.DEK, b.Data)
		if err != nil {
			return 0, err
		}
		text := NormalizeSearchText(index(raw))
		err = s.tx(ctx, func(tx *gorm.DB) error { return saveSearchText(tx, id, text) })
		if err != nil && !errors.Is(err, ErrConflict) { // the blob was freed meanwhile
			return 0, err
		}
	}
	return len(ids), nil
}
