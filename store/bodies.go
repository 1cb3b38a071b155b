package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// A mail's body as readers need it, rendered once when it is stored.
//
// Rendering a body from the raw message (a MIME parse, charset conversion,
// text from HTML) was most of what a device's first Sync of a mailbox cost.
// message.Parse renders it anyway when a message arrives, so the result is
// kept once per raw message in blob_bodies (migration 00090), beside its
// blob and sealed under the blob's data key, written in the transaction
// that writes the blob. Readers (Sync, ItemOperations, Search) get it with
// the raw message (ContentsOf, Content); a message without one (stored
// before, or not readable as MIME) is rendered from the raw message as
// before. BackfillBodies fills in mail stored before.
//
// The preview and the attachment list were already derived when a message
// is stored and kept on its item (items.preview, attachments).

// Rendered is the body of a mail: the plain text (derived from the HTML
// when there is only HTML) and the HTML body as sent, both UTF-8. HTML is
// empty for mail without an HTML part. The HTML is not sanitised: the web
// does that for its readers.
type Rendered struct {
	Text string
	HTML string
	// Source is the SHA-256 of the raw message rendered: the store keeps
	// the rendering only beside that very message, so a caller that
	// changes the message after parsing it cannot store a body that does
	// not match. It is not stored.
	Source [sha256.Size]byte
}

// bodiesAAD binds a sealed rendering to its table.
var bodiesAAD = []byte("blob_bodies.sealed")

// Encoding of a rendering before sealing: a version byte, a flags byte,
// the length of the text as a uvarint, the text, then the HTML.
const (
	bodyV1         = 1
	bodyUnreadable = 1 << 0 // the message could not be rendered: read the raw
)

func encodeRendered(r *Rendered) []byte {
	if r == nil {
		return []byte{bodyV1, bodyUnreadable}
	}
	b := make([]byte, 0, 2+binary.MaxVarintLen64+len(r.Text)+len(r.HTML))
	b = append(b, bodyV1, 0)
	b = binary.AppendUvarint(b, uint64(len(r.Text)))
	return append(append(b, r.Text...), r.HTML...)
}

// decodeRendered returns nil for a message that could not be rendered.
func decodeRendered(b []byte) (*Rendered, error) {
	if len(b) < 2 || b[0] != bodyV1 {
		return nil, errors.New("stored body: unknown encoding")
	}
	if b[1]&bodyUnreadable != 0 {
		return nil, nil
	}
	n, k := binary.Uvarint(b[2:])
	if k <= 0 || n > uint64(len(b)-2-k) {
		return nil, errors.New("stored body: bad length")
	}
	rest := b[2+k:]
	return &Rendered{Text: string(rest[:n]), HTML: string(rest[n:])}, nil
}

type blobBody struct {
	BlobID int64 `gorm:"primaryKey"`
	Sealed []byte
}

func (blobBody) TableName() string { return "blob_bodies" }

// newMailBlob stores a raw message as a new blob inside tx, with the
// rendering of the first of items that was rendered from exactly raw.
func newMailBlob(tx *gorm.DB, raw []byte, items ...*Item) (int64, error) {
	id, dek, err := sealBlob(tx, raw)
	if err != nil {
		return 0, err
	}
	var sum *[sha256.Size]byte
	for _, it := range items {
		if it.Rendered == nil {
			continue
		}
		if sum == nil {
			s := sha256.Sum256(raw)
			sum = &s
		}
		if it.Rendered.Source != *sum {
			continue
		}
		row := blobBody{BlobID: id, Sealed: dek.Seal(encodeRendered(it.Rendered), bodiesAAD)}
		return id, wrap(tx.Create(&row).Error, "store body")
	}
	return id, nil
}

// Content is what a reader needs of a mail item: the raw message and its
// stored rendering (nil when there is none: render Raw).
type Content struct {
	Raw      []byte
	Rendered *Rendered
}

// ContentsOf returns the raw content of the user's live items among ids,
// and their stored renderings, by item id, in one query. Items without
// content are absent from the map.
func (s *Store) ContentsOf(ctx context.Context, userID int64, ids []int64) (map[int64]Content, error) {
	out := make(map[int64]Content, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []contentRow
	err := s.db.WithContext(ctx).Table("items").
		Select("items.id AS item_id, blobs.data AS data, blobs.dek AS dek, blob_bodies.sealed AS body").
		Joins("JOIN blobs ON blobs.id = items.blob_id").
		Joins("LEFT JOIN blob_bodies ON blob_bodies.blob_id = blobs.id").
		Where("items.id IN ? AND items.user_id = ? AND items.deleted = ?", ids, userID, false).
		Scan(&rows).Error
	if err != nil {
		return nil, wrap(err, "item contents")
	}
	for _, r := range rows {
		if out[r.ItemID], err = s.openContent(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Content returns the raw content of a live item of the user and its
// stored rendering.
func (s *Store) Content(ctx context.Context, userID, itemID int64) (Content, error) {
	var rows []contentRow
	err := s.db.WithContext(ctx).Table("items").
		Select("items.id AS item_id, blobs.data AS data, blobs.dek AS dek, blob_bodies.sealed AS body").
		Joins("JOIN blobs ON blobs.id = items.blob_id").
		Joins("LEFT JOIN blob_bodies ON blob_bodies.blob_id = blobs.id").
		Where("items.id = ? AND items.user_id = ? AND items.deleted = ?", itemID, userID, false).
		Limit(1).Scan(&rows).Error
	if err != nil {
		return Content{}, wrap(err, fmt.Sprintf("content of item %d", itemID))
	}
	if len(rows) == 0 {
		return Content{}, fmt.Errorf("content of item %d: %w", itemID, ErrNotFound)
	}
	return s.openContent(rows[0])
}

type contentRow struct {
	ItemID int64
	Data   []byte
	DEK    []byte
	Body   []byte
}

// openContent opens a blob and its rendering under one unwrapping of the
// data key. A rendering that does not open is left out (the raw message is
// rendered instead), so a damaged row costs time, not the message.
func (s *Store) openContent(r contentRow) (Content, error) {
	if r.DEK == nil {
		return Content{Raw: r.Data}, nil // stored in clear by an older release
	}
	dek, err := s.keys.DataKey(r.DEK)
	if err != nil {
		return Content{}, fmt.Errorf("blob key: %w", err)
	}
	raw, err := dek.Open(r.Data, blobAAD)
	if err != nil {
		return Content{}, fmt.Errorf("blob: %w", err)
	}
	c := Content{Raw: raw}
	if r.Body != nil {
		if plain, err := dek.Open(r.Body, bodiesAAD); err == nil {
			c.Rendered, _ = decodeRendered(plain)
		}
	}
	return c, nil
}

// BackfillBodies gives up to batch stored mail messages without a stored
// rendering one, made by render from the raw message, and returns how many
// it did; call it until it returns 0. A message render cannot read is
// marked so, and is not tried again: it is rendered when read, as before.
// Several callers may run at once: the first rendering of a blob wins.
func (s *Store) BackfillBodies(ctx context.Context, render func(raw []byte) (*Rendered, error), batch int) (int, error) {
	if batch <= 0 {
		batch = 100
	}
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT b.id FROM blobs b
		WHERE b.dek IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM blob_bodies r WHERE r.blob_id = b.id)
		  AND EXISTS (SELECT 1 FROM items i WHERE i.blob_id = b.id AND i.class = ?)
		ORDER BY b.id LIMIT ?`, ClassEmail, batch).Scan(&ids).Error
	if err != nil {
		return 0, wrap(err, "body backfill")
	}
	for _, id := range ids {
		var b Blob
		if err := s.db.WithContext(ctx).Select("id", "data", "dek").First(&b, id).Error; err != nil {
			if err := wrap(err, "body backfill"); !errors.Is(err, ErrNotFound) {
				return 0, err
			}
			continue // freed meanwhile
		}
		dek, err := s.keys.DataKey(b.DEK)
		if err != nil {
			return 0, fmt.Errorf("body backfill: blob %d key: %w", id, err)
		}
		raw, err := dek.Open(b.Data, blobAAD)
		if err != nil {
			return 0, fmt.Errorf("body backfill: blob %d: %w", id, err)
		}
		r, err := render(raw)
		if err != nil {
			r = nil // marked unreadable
		}
		row := blobBody{BlobID: id, Sealed: dek.Seal(encodeRendered(r), bodiesAAD)}
		err = s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
		if err != nil && s.db.WithContext(ctx).Select("id").First(&Blob{}, id).Error == nil {
			return 0, wrap(err, "body backfill") // not because the blob was freed meanwhile
		}
	}
	return len(ids), nil
}
