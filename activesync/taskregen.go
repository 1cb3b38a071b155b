package activesync

import (
	"context"

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
		moved, err := pim.RegenerateTask(ctx, h.store, r.User.ID, d.ItemID)
		if err != nil {
			r.Log.Error("recurring task", "item", d.ItemID, "err", err)
		} else if moved {
			r.Log.Info("recurring task moved on", "item", d.ItemID)
		}
	}
}
