package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Lock order. A transaction that changes items takes its locks in this
// order: the item rows it reads FOR UPDATE, then the folder rows whose
// counters it bumps (by id, ascending, when there are several), then the
// user's row (quota). Two transactions that each lock one folder cannot
// deadlock; a move locks two, and without an order two opposite moves of
// one user (A to B and B to A at once, from two devices) each held one
// folder and waited for the other: PostgreSQL broke the cycle with
// "deadlock detected" (40P01) and the device got MoveItems Status 5.

// lockFolders takes the row locks of the user's folders in id order, inside
// tx, before their counters are bumped. SQLite serialises writers (BEGIN
// IMMEDIATE) and has no row locks, so it does nothing there.
func lockFolders(tx *gorm.DB, userID int64, ids ...int64) error {
	if tx.Dialector.Name() != "postgres" || len(ids) < 2 {
		return nil
	}
	var got []int64
	err := tx.Raw("SELECT id FROM folders WHERE id IN ? AND user_id = ? ORDER BY id FOR UPDATE", ids, userID).Scan(&got).Error
	return wrap(err, "lock folders")
}

// txRetry is tx, run a second time if PostgreSQL aborted the first attempt
// as a deadlock victim (40P01) or a serialization failure (40001): those
// roll the whole transaction back, so running fn again is safe when fn
// only works through tx and sets, rather than accumulates, what it
// returns. The lock order above makes deadlocks rare; a transaction that
// still meets one (against a writer that locks in another order) retries
// instead of failing the device's request.
func (s *Store) txRetry(ctx context.Context, fn func(tx *gorm.DB) error) error {
	err := s.tx(ctx, fn)
	if err != nil && retryable(err) && ctx.Err() == nil {
		err = s.tx(ctx, fn)
	}
	return err
}

// retryable reports a PostgreSQL deadlock or serialization failure.
func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}
