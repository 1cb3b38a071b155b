package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"gorm.io/gorm"

	"airlock/internal/keyring"
)

// What a blob's data key seals, bound into each sealed value.
var (
	blobAAD       = []byte("blobs.data")
	searchTextAAD = []byte("blob_texts.sealed")
)

// newBlob stores raw content sealed under a new data key and returns its
// id, inside tx.
func newBlob(tx *gorm.DB, data []byte) (int64, error) {
	id, _, err := sealBlob(tx, data)
	return id, err
}

// sealBlob is newBlob, also returning the blob's data key, for what is
// sealed beside it (bodies.go).
func sealBlob(tx *gorm.DB, data []byte) (int64, *keyring.Key, error) {
	r, err := ringOf(tx.Statement.Context)
	if err != nil {
		return 0, nil, err
	}
	if err := lockMasterCheck(tx); err != nil {
		return 0, nil, err
	}
	dek, wrapped := r.NewDataKey()
	b := Blob{Digest: blobDigest(r, data), Size: int64(len(data)), Data: dek.Seal(data, blobAAD), DEK: wrapped}
	if err := tx.Create(&b).Error; err != nil {
		return 0, nil, wrap(err, "store blob")
	}
	return b.ID, dek, nil
}

// blobDigest is the keyed content hash kept in blobs.sha256.
func blobDigest(r *keyring.Ring, data []byte) string {
	m := hmac.New(sha256.New, r.Key(keyring.Dedupe))
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// BlobDigest is the content hash the store keeps for data: HMAC-SHA256
// under the database's dedupe key, so equal content has equal digests but
// the database alone cannot confirm a guess.
func (s *Store) BlobDigest(data []byte) string { return blobDigest(s.keys, data) }

// openBlob opens a blob's data with its wrapped data key. A blob without
// one was stored in clear by an older release (sealed at start,
// seal_existing.go).
func (s *Store) openBlob(wrapped, data []byte) ([]byte, error) {
	if wrapped == nil {
		return data, nil
	}
	dek, err := s.keys.DataKey(wrapped)
	if err != nil {
		return nil, fmt.Errorf("blob key: %w", err)
	}
	out, err := dek.Open(data, blobAAD)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return out, nil
}
