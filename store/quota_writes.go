package store

// Quota on the write paths beyond delivery and send: a device's
// Sync Add (events, contacts, tasks, notes, SMS, 16.x drafts) and
// `airlock import` (AddItemWithinQuota).
//
// A Sync request carries many commands and commits them in one
// transaction; one Add over the quota must fail alone, the rest of the
// request going through. addWithinQuota therefore writes the item inside a
// savepoint, checks the quota after the write, exactly like
// enforceQuota's other callers (the UPDATE of users.quota_used holds that
// user's row lock, or SQLite's write lock, until commit, so two writers
// cannot both pass), and rolls back to the savepoint when the user went
// over: the item, its blob and the counter bump are undone, and the rest
// of the transaction is kept.
//
// Items without raw content (events, contacts, tasks, notes) count by
// contentSize, set in addItem and kept up to date by every replacement, so
// a delete always takes back exactly what the add and later changes put
// in. Moves inside the mailbox count zero (added at the destination, taken
// back at the source). There is no shared store from which items move into
// a mailbox (public folders are not served), so no other path grows it.

import (
	"errors"

	"gorm.io/gorm"
)

// contentSize is what an item without a raw message counts against its
// owner's quota: the bytes of its stored fields.
func contentSize(it *Item) int64 {
	return int64(len(it.Subject) + len(it.Props) + len(it.Categories) + len(it.UID) + len(it.Preview) +
		len(it.FromAddr) + len(it.ToAddrs) + len(it.CcAddrs))
}

// addWithinQuota is addItem refused with a *QuotaError, leaving nothing
// behind but keeping the rest of tx, when it takes the user over their
// quota.
func addWithinQuota(tx *gorm.DB, it *Item, raw []byte, blobID int64) error {
	const sp = "quota_add"
	if err := tx.SavePoint(sp).Error; err != nil {
		return wrap(err, "add item: savepoint")
	}
	cs, _ := tx.Statement.Context.Value(changeSetKey{}).(*changeSet)
	noted := 0
	if cs != nil {
		noted = len(cs.list)
	}
	err := addItem(tx, it, raw, blobID)
	if err == nil {
		if err = enforceQuota(tx, []int64{it.UserID}); err == nil {
			return nil
		}
	}
	var qe *QuotaError
	if !errors.As(err, &qe) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
		return err // the whole transaction fails anyway
	}
	if rerr := tx.RollbackTo(sp).Error; rerr != nil {
		return wrap(rerr, "add item: roll back to savepoint")
	}
	if cs != nil {
		cs.list = cs.list[:noted] // no wake-up for a change that was undone
	}
	it.ID, it.Modseq = 0, 0
	return err
}

// resize sets a replaced item's new content size and moves the owner's
// usage by the difference, inside tx (fields are the item's updates).
func resize(tx *gorm.DB, cur *Item, newSize int64, fields map[string]any) error {
	fields["size"] = newSize
	return adjustQuota(tx, cur.UserID, newSize-cur.Size)
}

// keepClass is the class a moved item asks for at its destination: SMS
// stays SMS (it lives among mail); everything else takes the folder's.
func keepClass(c Class) Class {
	if c == ClassSMS {
		return c
	}
	return ""
}

// classFits reports whether an item of class c may live in a folder of
// class f: its own class, or an SMS among mail (MS-ASCMD 2.2.3.27.6: SMS
// messages sync in the Inbox and Sent Items with Class SMS).
func classFits(c, f Class) bool {
	return c == f || (c == ClassSMS && f == ClassEmail)
}
