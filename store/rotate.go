package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"airlock/internal/keyring"
	"airlock/migrations"
)

// ErrKeyRotated: the database's master key was rotated after this process
// opened it; it must be restarted with the new key before it stores new
// content (its data keys would be wrapped under the old one).
var ErrKeyRotated = fmt.Errorf("%w: rotated since this process started; restart it with the new key", ErrMasterKey)

// lockMasterCheck makes sure, inside tx, that the database's master key is
// still the one this store opened it with, and holds the check row (FOR
// SHARE on PostgreSQL; SQLite's BEGIN IMMEDIATE holds the whole database)
// so that a rotation waits until tx is done and then re-wraps what it
// stored.
func lockMasterCheck(tx *gorm.DB) error {
	r, err := ringOf(tx.Statement.Context)
	if err != nil {
		return err
	}
	q := tx.Model(&keyRow{}).Where("name = ?", checkName)
	if tx.Dialector.Name() == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "SHARE"})
	}
	var row keyRow
	if err := q.Find(&row).Error; err != nil {
		return wrap(err, "master key check")
	}
	if keyring.KeyID(row.Wrapped) != r.MasterID() {
		return ErrKeyRotated
	}
	return nil
}

// RotateMasterKey re-wraps every named key and every blob's data key
// under next, and replaces the check value, in one transaction; no data
// is re-encrypted. From then on only next opens the database, so the
// caller must have stored next where the next start finds it before
// calling. It returns how many data keys it re-wrapped. Other processes
// using the database must be restarted with next: until then they cannot
// open message contents and refuse to store new ones (ErrKeyRotated), so
// nothing is stored under a key that no longer opens it. Not for use while
// other goroutines use s.
func (s *Store) RotateMasterKey(ctx context.Context, next *keyring.Key) (int, error) {
	if next.ID() == s.keys.MasterID() {
		return 0, errors.New("rotate: the new master key is the current one")
	}
	n := 0
	err := s.tx(ctx, func(tx *gorm.DB) error {
		q := tx.Model(&keyRow{})
		if s.dialect == migrations.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var rows []keyRow
		if err := q.Find(&rows).Error; err != nil {
			return wrap(err, "rotate: read keyring")
		}
		for _, r := range rows {
			var w []byte
			var err error
			if r.Name == checkName {
				if keyring.KeyID(r.Wrapped) != s.keys.MasterID() {
					return ErrKeyRotated
				}
				w = keyring.CheckValue(next)
			} else if w, err = s.keys.Rewrap(r.Wrapped, r.Name, next); err != nil {
				return fmt.Errorf("rotate: %w", err)
			}
			if err := tx.Model(&keyRow{}).Where("name = ?", r.Name).Updates(map[string]any{"wrapped": w, "updated_at": s.now()}).Error; err != nil {
				return wrap(err, "rotate: keyring")
			}
		}
		var err error
		n, err = s.rewrapBlobKeys(tx, next)
		return err
	})
	if err != nil {
		return 0, err
	}
	named := map[string]*keyring.Key{}
	for _, name := range keyring.Names {
		named[name] = s.keys.Named(name)
	}
	s.keys = keyring.NewRing(next, named)
	return n, nil
}

// rewrapBlobKeys re-wraps every blob's data key under next, in batches.
func (s *Store) rewrapBlobKeys(tx *gorm.DB, next *keyring.Key) (int, error) {
	n := 0
	var last int64
	for {
		var batch []Blob
		err := tx.Select("id", "dek").Where("id > ? AND dek IS NOT NULL", last).Order("id").Limit(1000).Find(&batch).Error
		if err != nil {
			return n, wrap(err, "rotate: blobs")
		}
		if len(batch) == 0 {
			return n, nil
		}
		for _, b := range batch {
			w, err := s.keys.Rewrap(b.DEK, "", next)
			if err != nil {
				return n, fmt.Errorf("rotate: blob %d: %w", b.ID, err)
			}
			if err := tx.Model(&Blob{}).Where("id = ?", b.ID).Update("dek", w).Error; err != nil {
				return n, wrap(err, "rotate: blobs")
			}
			n++
		}
		last = batch[len(batch)-1].ID
	}
}
