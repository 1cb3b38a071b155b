package pim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"airlock/store"
)

// Completing a recurring task on the server: the series moves on as
// CompleteOccurrence says, stored in one transaction through the store's
// RegenerateTask, so the completed copy and the moved series reach every
// device at its next Sync. EAS calls this after a device marks a task
// complete; the staff web calls CompleteTask when a person ticks one.

// TaskStore is what completing a task needs of the store (*store.Store).
type TaskStore interface {
	ItemByID(ctx context.Context, userID, itemID int64) (*store.Item, error)
	ReplaceItem(ctx context.Context, it *store.Item) error
	RegenerateTask(ctx context.Context, r *store.TaskRegeneration) error
}

var _ TaskStore = (*store.Store)(nil)

// RegenerateTask moves a completed recurring task on to its next
// occurrence (or, at the end of its pattern, marks the series ended). It
// reports false, doing nothing, for a task that is not complete or not a
// running series. A task changed meanwhile by someone else is left as
// that change made it.
func RegenerateTask(ctx context.Context, st TaskStore, userID, itemID int64) (bool, error) {
	it, err := st.ItemByID(ctx, userID, itemID)
	if err != nil {
		return false, err
	}
	var t Task
	if err := t.FromItem(it); err != nil {
		return false, err
	}
	if !t.Complete || !t.Recurs() {
		return false, nil
	}
	return applyOccurrence(ctx, st, it, &t, time.Now())
}

// CompleteTask completes a task on the server's side (not from a device),
// at `at`: a recurring one moves on as RegenerateTask says, any other is
// marked complete. Completing a completed task changes nothing.
func CompleteTask(ctx context.Context, st TaskStore, userID, itemID int64, at time.Time) error {
	it, err := st.ItemByID(ctx, userID, itemID)
	if err != nil {
		return err
	}
	var t Task
	if err := t.FromItem(it); err != nil {
		return err
	}
	if t.Complete {
		return nil
	}
	at = at.UTC()
	t.Complete, t.DateCompleted = true, &at
	if t.Recurs() {
		_, err := applyOccurrence(ctx, st, it, &t, at)
		return err
	}
	repl, err := t.ToItem(userID, it.FolderID)
	if err != nil {
		return err
	}
	repl.ID = it.ID
	return st.ReplaceItem(ctx, repl)
}

// applyOccurrence stores what completing t's occurrence makes, over the
// version it of the series.
func applyOccurrence(ctx context.Context, st TaskStore, it *store.Item, t *Task, at time.Time) (bool, error) {
	occ, err := t.CompleteOccurrence(at)
	if err != nil {
		return false, err
	}
	series, err := occ.Next.ToItem(it.UserID, it.FolderID)
	if err != nil {
		return false, err
	}
	r := &store.TaskRegeneration{UserID: it.UserID, ItemID: it.ID, Modseq: it.Modseq, Series: series}
	if occ.Done != nil {
		if r.Done, err = occ.Done.ToItem(it.UserID, it.FolderID); err != nil {
			return false, err
		}
	}
	err = st.RegenerateTask(ctx, r)
	if errors.Is(err, store.ErrConflict) {
		return false, nil // changed meanwhile: that change stands
	}
	if err != nil {
		return false, fmt.Errorf("recurring task %d: %w", it.ID, err)
	}
	return true, nil
}
