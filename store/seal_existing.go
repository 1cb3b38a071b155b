package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"airlock/internal/keyring"
	"airlock/migrations"
)

// Sealing what an older release stored in clear. The server calls
// SealExisting at start until it returns 0, then Compact. Rows are
// sealed in batches, each row under a guard that it is still in clear, so
// nodes starting at once on PostgreSQL do not seal one row twice.

// sealedColumns are the columns of one table sealed through the gorm
// serializers (keys.go).
type sealedColumns struct {
	table, pk, key string
	text, bytes    []string
}

var legacyColumns = []sealedColumns{
	{"items", "id", keyring.Fields, []string{"subject", "thread_topic", "preview", "props"}, nil},
	{"org_settings", "key", keyring.Settings, []string{"value"}, nil},
	{"outbound_queue", "id", keyring.Fields, nil, []string{"data"}},
	{"held_mail", "id", keyring.Fields, []string{"subject"}, []string{"data"}},
	{"sms_outbox", "id", keyring.Fields, []string{"body", "subject"}, nil},
	{"oof_settings", "user_id", keyring.Fields, []string{"settings"}, nil},
}

// SealExisting seals up to batch blobs and up to batch rows of each table
// with sealed columns that were stored in clear, and returns how many it
// sealed; call it until it returns 0.
func (s *Store) SealExisting(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = 200
	}
	n, err := s.sealLegacyBlobs(ctx, batch)
	if err != nil {
		return n, err
	}
	for _, c := range legacyColumns {
		for _, col := range c.text {
			m, err := s.sealLegacyColumn(ctx, c, col, false, batch)
			if n += m; err != nil {
				return n, err
			}
		}
		for _, col := range c.bytes {
			m, err := s.sealLegacyColumn(ctx, c, col, true, batch)
			if n += m; err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// inClear is the SQL condition of a column value not yet sealed.
func (s *Store) inClear(col string, bytes bool) string {
	switch {
	case !bytes:
		return col + " <> '' AND " + col + " NOT LIKE '$al1$%'"
	case s.dialect == migrations.Postgres:
		return "substring(" + col + " from 1 for 3) <> '\\x616c01'::bytea"
	}
	return "substr(" + col + ", 1, 3) <> X'616C01'"
}

func (s *Store) sealLegacyColumn(ctx context.Context, c sealedColumns, col string, bytes bool, batch int) (int, error) {
	var rows []map[string]any
	err := s.db.WithContext(ctx).Table(c.table).Select(c.pk, col).Where(s.inClear(col, bytes)).Limit(batch).Find(&rows).Error
	if err != nil {
		return 0, wrap(err, "seal "+c.table)
	}
	k := s.keys.Named(c.key)
	aad := []byte(c.table + "." + col)
	n := 0
	for _, r := range rows {
		var sealed any
		switch v := r[col].(type) {
		case string:
			if bytes {
				sealed = k.Seal([]byte(v), aad)
			} else {
				sealed = k.SealString(v, aad)
			}
		case []byte:
			if bytes {
				sealed = k.Seal(v, aad)
			} else {
				sealed = k.SealString(string(v), aad)
			}
		default:
			return n, fmt.Errorf("seal %s.%s: unexpected %T", c.table, col, v)
		}
		res := s.db.WithContext(ctx).Table(c.table).Where(c.pk+" = ? AND "+s.inClear(col, bytes), r[c.pk]).
			Update(col, sealed)
		if res.Error != nil {
			return n, wrap(res.Error, "seal "+c.table)
		}
		n += int(res.RowsAffected)
	}
	return n, nil
}

// sealLegacyBlobs gives blobs stored in clear a data key, and seals their
// data and search text under it.
func (s *Store) sealLegacyBlobs(ctx context.Context, batch int) (int, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Blob{}).Where("dek IS NULL").Order("id").Limit(batch).Pluck("id", &ids).Error
	if err != nil {
		return 0, wrap(err, "seal blobs")
	}
	n := 0
	for _, id := range ids {
		err := s.tx(ctx, func(tx *gorm.DB) error {
			var b Blob
			if err := tx.Where("id = ? AND dek IS NULL", id).Find(&b).Error; err != nil || b.ID == 0 {
				return wrap(err, "seal blob") // nil: sealed or freed meanwhile
			}
			dek, wrapped := s.keys.NewDataKey()
			res := tx.Model(&Blob{}).Where("id = ? AND dek IS NULL", id).Updates(map[string]any{
				"data": dek.Seal(b.Data, blobAAD), "dek": wrapped, "sha256": blobDigest(s.keys, b.Data)})
			if res.Error != nil || res.RowsAffected == 0 {
				return wrap(res.Error, "seal blob")
			}
			n++
			var t blobText
			if err := tx.Where("blob_id = ? AND sealed IS NULL", id).Find(&t).Error; err != nil || t.BlobID == 0 {
				return wrap(err, "seal search text")
			}
			return wrap(tx.Model(&blobText{}).Where("blob_id = ?", id).Updates(map[string]any{
				"body": "", "sealed": dek.Seal([]byte(t.Body), searchTextAAD),
				"grams": newGramHasher(s.keys.Key(keyring.Search)).build(id, t.Body)}).Error, "seal search text")
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Compact rewrites the database files after SealExisting sealed rows, so
// the pages that held them in clear are not left in the file: VACUUM and
// an emptied write-ahead log on SQLite, VACUUM FULL of the sealed tables
// on PostgreSQL (its write-ahead log archive and backups taken before
// keep what they kept).
func (s *Store) Compact(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	if s.dialect == migrations.Postgres {
		return wrap(db.Exec("VACUUM FULL blobs, blob_texts, items, org_settings, outbound_queue, held_mail, sms_outbox").Error, "vacuum")
	}
	if err := db.Exec("VACUUM").Error; err != nil {
		return wrap(err, "vacuum")
	}
	return wrap(db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error, "checkpoint")
}
