package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// BulkInsertDevices inserts many devices in batches, for seeding large
// installations in benchmarks and imports. Rows are inserted as given (no
// registration logic, no audit); each device's UserID must exist. IDs are
// set on return.
func (s *Store) BulkInsertDevices(ctx context.Context, ds []Device) error {
	now := s.now()
	for i := range ds {
		if ds[i].State == "" {
			ds[i].State = DeviceNew
		}
		if ds[i].FirstSeen.IsZero() {
			ds[i].FirstSeen = now
		}
	}
	if len(ds) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).CreateInBatches(ds, 200).Error
	return wrap(err, fmt.Sprintf("bulk insert %d devices", len(ds)))
}

// BulkInsertMail stores many messages in one folder of the user, sharing
// one raw message, in batches: for seeding large mailboxes in benchmarks.
// Each item's folder and user are set here, and each gets its own change
// counter, reserved in one bump per batch; quota is charged as usual. IDs
// are set on return.
func (s *Store) BulkInsertMail(ctx context.Context, userID, folderID int64, items []Item, raw []byte) error {
	const batch = 500
	for start := 0; start < len(items); start += batch {
		part := items[start:min(start+batch, len(items))]
		err := s.tx(ctx, func(tx *gorm.DB) error {
			blobID, err := newBlob(tx, raw)
			if err != nil {
				return err
			}
			first, err := bumpFolder(tx, userID, folderID, len(part))
			if err != nil {
				return err
			}
			for i := range part {
				it := &part[i]
				it.ID, it.UserID, it.FolderID, it.Modseq, it.Deleted = 0, userID, folderID, first+int64(i), false
				it.BlobID, it.Size = &blobID, int64(len(raw))
				if it.Class == "" {
					it.Class = ClassEmail
				}
			}
			if err := tx.Omit("Attachments").CreateInBatches(part, 100).Error; err != nil {
				return wrap(err, "bulk insert mail")
			}
			return adjustQuota(tx, userID, int64(len(part)*len(raw)))
		})
		if err != nil {
			return fmt.Errorf("bulk insert %d messages: %w", len(items), err)
		}
	}
	return nil
}
