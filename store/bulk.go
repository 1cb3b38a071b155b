package store

import (
	"context"
	"fmt"
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
