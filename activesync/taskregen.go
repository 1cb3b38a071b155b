package activesync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"airlock/pim"
	"airlock/store"
)

// Recurring tasks move on when an occurrence is completed (MS-ASTASK
// 2.2.2.18 Regenerate and DeadOccur; what Outlook and Exchange do is in
// pim.Task.CompleteOccurrence). MS-ASTASK leaves generating the next
// occurrence to the server: a device marks the task Complete, and the
// server, once the Sync has committed, adds the completed occurrence as a
// task of its own and moves the series to its next date. Every device of
// the user, the one that completed it included, then gets an Add (the
// completed copy) and a Change (the series) on its next Sync, each once.
//
// A device that does the work itself (sends the completed copy as an Add
// and the series with its new dates, not complete) is left alone: the
// series it sends is not complete, and its completed copy has no running
// pattern (no Recurrence, or DeadOccur=1).
//
// A task a device adds already complete with a running pattern (a task
// created and ticked offline, or completed on a device that has not synced
// it yet) is a completion too, and moves on the same way: MS-OXOTASK
// leaves generating the next occurrence to whoever completes the task, and
// under EAS that is the server whether the completed series arrives as a
// Change or an Add. Left alone, the series would stay complete for ever
// and no later occurrence would appear on any device.

// committed is the Tasks class's syncObserver: each series a device has
// just marked complete, or added complete, moves on.
func (tasksCodec) committed(ctx context.Context, h *Handler, r *Request, folder *store.Folder, done []syncApplied) {
	seen := map[int64]bool{}
	for _, d := range done {
		if (d.Kind != "Change" && d.Kind != "Add") || seen[d.ItemID] {
			continue
		}
		seen[d.ItemID] = true
		if d.Before != nil {
			var before pim.Task
			if before.FromItem(d.Before) == nil && before.Complete {
				continue // already complete: not a completion now
			}
		}
		moved, err := RegenerateTask(ctx, h.store, r.User.ID, d.ItemID)
		if err != nil {
			r.Log.Error("recurring task", "item", d.ItemID, "err", err)
		} else if moved {
			r.Log.Info("recurring task moved on", "item", d.ItemID)
		}
	}
}

// RegenerateTask moves a completed recurring task on to its next
// occurrence (or, at the end of its pattern, marks the series ended). It
// reports false, doing nothing, for a task that is not complete or not a
// running series. A task changed meanwhile by someone else is left as
// that change made it.
func RegenerateTask(ctx context.Context, st *store.Store, userID, itemID int64) (bool, error) {
	it, err := st.ItemByID(ctx, userID, itemID)
	if err != nil {
		return false, err
	}
	var t pim.Task
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
func CompleteTask(ctx context.Context, st *store.Store, userID, itemID int64, at time.Time) error {
	it, err := st.ItemByID(ctx, userID, itemID)
	if err != nil {
		return err
	}
	var t pim.Task
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
func applyOccurrence(ctx context.Context, st *store.Store, it *store.Item, t *pim.Task, at time.Time) (bool, error) {
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
