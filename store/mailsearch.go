package store

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"airlock/migrations"
)

// Mailbox search in the body (EAS Search "Mailbox" and Find FreeText).
//
// The searchable text of a message is kept once per raw message, in
// blob_texts beside its blob (migration 00051): a message delivered to
// several staff, or moved, shares one blob and so one text; a deleted item
// lets go of its blob (tombstone) and so of its text, which goes with the
// blob. The text is normalised here, in Go, both when it is stored and
// when words are looked for, so SQLite and PostgreSQL (whose lower() differ
// outside ASCII) match the same: plain LIKE on the stored lower-case text,
// answered on PostgreSQL by a trigram index when pg_trgm is there
// (mailWordMatch).

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

// blobText is a row of blob_texts.
type blobText struct {
	BlobID int64 `gorm:"primaryKey"`
	Body   string
}

func (blobText) TableName() string { return "blob_texts" }

// saveSearchText records the searchable text of a blob inside tx, unless
// it has one already (the other recipients of one delivery).
func saveSearchText(tx *gorm.DB, blobID int64, text string) error {
	if blobID == 0 {
		return nil
	}
	return wrap(tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&blobText{BlobID: blobID, Body: text}).Error, "store search text")
}

// mailWordMatch is the condition one FreeText word (already normalised)
// puts on an item: in the subject, the addresses, the preview or the body
// text. The body part is written for each database:
//
//   - PostgreSQL, words of three characters or more: the set of texts
//     that contain the word, found once through the trigram index (a
//     hashed subplan), then matched against the user's items;
//   - PostgreSQL, shorter words (trigrams cannot help): the texts of the
//     user's candidate items, read one by one with LIKE;
//   - SQLite: the same, with GLOB, which compares bytes and is several
//     times faster than LIKE's case folding there (the stored text is
//     lower-case already); instr() is slower still in the pure-Go SQLite.
func (s *Store) mailWordMatch(db *gorm.DB, word string) *gorm.DB {
	p := "%" + escapeLike(word) + "%"
	body := `EXISTS (SELECT 1 FROM blob_texts t WHERE t.blob_id = items.blob_id AND t.body GLOB ?)`
	arg := any("*" + escapeGlob(word) + "*")
	if s.dialect == migrations.Postgres {
		body, arg = `EXISTS (SELECT 1 FROM blob_texts t WHERE t.blob_id = items.blob_id AND t.body LIKE ? ESCAPE '\')`, p
		if utf8.RuneCountInString(word) >= 3 {
			body = `items.blob_id IN (SELECT blob_id FROM blob_texts WHERE body LIKE ? ESCAPE '\')`
		}
	}
	return db.Where(`(lower(subject) LIKE ? ESCAPE '\' OR lower(from_addr) LIKE ? ESCAPE '\' OR lower(to_addrs) LIKE ? ESCAPE '\'
		OR lower(cc_addrs) LIKE ? ESCAPE '\' OR lower(preview) LIKE ? ESCAPE '\' OR `+body+`)`, p, p, p, p, p, arg)
}

// escapeGlob makes GLOB's wildcards (* ? [) match themselves.
func escapeGlob(s string) string {
	return strings.NewReplacer("[", "[[]", "*", "[*]", "?", "[?]").Replace(s)
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
		if err := s.db.WithContext(ctx).Select("id", "data").First(&b, id).Error; err != nil {
			if err := wrap(err, "search text backfill"); !errors.Is(err, ErrNotFound) {
				return 0, err
			}
			continue // freed meanwhile
		}
		text := NormalizeSearchText(index(b.Data))
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return saveSearchText(tx, id, text) })
		if err != nil && !errors.Is(err, ErrConflict) { // the blob was freed meanwhile
			return 0, err
		}
	}
	return len(ids), nil
}
