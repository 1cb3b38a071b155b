package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"airlock/migrations"
)

// This file holds what the EAS sync engine needs beyond the basic
// repository: a guarded, atomic "apply the device's changes and store the
// next sync state" (CommitSync), and a few batch reads that keep a Sync
// window to a constant number of queries.

// SyncOpKind says what a SyncOp does.
type SyncOpKind int

// The kinds of change a device sends in a Sync request (MS-ASCMD 2.2.3.7.2
// Add, 2.2.3.24 Change, 2.2.3.42.2 Delete).
const (
	// SyncOpAdd stores Item (UserID and FolderID set) with Raw as its
	// content (mail) or nil.
	SyncOpAdd SyncOpKind = iota + 1
	// SyncOpChange applies Change (mail flags) to ItemID.
	SyncOpChange
	// SyncOpReplace overwrites the content of the non-mail item ItemID
	// with Item's fields (see ReplaceItem); with Raw, the content of a mail
	// (a draft) with Raw and Item's summary (see replaceMail).
	SyncOpReplace
	// SyncOpDelete turns ItemID into a tombstone.
	SyncOpDelete
	// SyncOpMove moves ItemID to DstFolderID (a delete "as move" to
	// Deleted Items).
	SyncOpMove
)

// SyncOp is one change of a device, applied by CommitSync.
type SyncOp struct {
	Kind        SyncOpKind
	Item        *Item
	Raw         []byte
	ItemID      int64
	Change      FlagChange
	DstFolderID int64
	// InFolder: the item must be in this folder (the collection the device
	// named); otherwise the op fails with ErrNotFound.
	InFolder int64
	// Conflict detection for Change and Replace: the server's version
	// conflicts with the device's when the item's counter is above NotAfter
	// and is not Own (a version the device itself wrote). NotAfter 0 turns
	// detection off. Under server-wins (ClientWins false) a conflicting
	// change is not applied.
	NotAfter   int64
	Own        int64
	ClientWins bool
}

// SyncOpResult is what became of one SyncOp.
type SyncOpResult struct {
	// ItemID is the item the op produced or touched: the new id for Add
	// and Move, the same id otherwise.
	ItemID int64
	// Modseq is the item's counter after the op (for Delete and Move, the
	// source tombstone's).
	Modseq int64
	// Conflict: the server's version was newer (see SyncOp.NotAfter).
	Conflict bool
	// Applied is false when nothing was written (an error, or a conflict
	// the server won).
	Applied bool
	// Err is ErrNotFound (no such item of the user in that folder) or
	// ErrConflict (the item does not fit the folder), wrapped; other errors
	// abort the whole commit instead.
	Err error
}

// SyncStateGuard is what CommitSync checks before it writes: the newest
// stored generation of the collection must still be the one the new state
// was computed from. Two requests racing with one sync key thus cannot both
// commit: the second gets ErrConflict and nothing of it is applied.
type SyncStateGuard struct {
	// LatestKey is the newest generation's key expected; 0 when none may
	// exist (an initial sync) or when Restart is set.
	LatestKey int64
	// LatestID is that row's id; 0 matches any.
	LatestID int64
	// Restart starts a new chain (sync key 0): every stored generation of
	// the collection is replaced, whatever it was.
	Restart bool
}

// SyncCommit is one collection's share of a Sync request.
type SyncCommit struct {
	UserID     int64
	DevicePK   int64
	Collection string
	Guard      SyncStateGuard
	Ops        []SyncOp
	// State builds the next generation from the ops' results, inside the
	// transaction (it must not touch the database). A nil State, or a nil
	// returned state, stores nothing.
	State func(results []SyncOpResult) (*SyncState, error)
}

// CommitSync applies a device's changes to one collection and stores the
// next sync state generation in one transaction, after checking the guard.
// Either all of it is durable when CommitSync returns, or none of it is; so
// a response written after CommitSync never promises what the store does not
// hold, and a device that lost the response and resends its request finds
// the ops' results in the state it was about to get.
//
// Per-op failures (an unknown item, an item of another folder) are reported
// in the results and do not stop the others; database errors abort all.
func (s *Store) CommitSync(ctx context.Context, c *SyncCommit) ([]SyncOpResult, error) {
	var results []SyncOpResult
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockSyncState(tx, c.DevicePK, c.Collection); err != nil {
			return err
		}
		if !c.Guard.Restart {
			var latest SyncState
			err := tx.Select("id", "sync_key").Where("device_pk = ? AND collection = ?", c.DevicePK, c.Collection).
				Order("sync_key DESC").Limit(1).Find(&latest).Error
			if err != nil {
				return wrap(err, "commit sync: read state")
			}
			if latest.SyncKey != c.Guard.LatestKey || (c.Guard.LatestID != 0 && latest.ID != c.Guard.LatestID) {
				return fmt.Errorf("commit sync: state of %s moved from key %d to %d: %w", c.Collection, c.Guard.LatestKey, latest.SyncKey, ErrConflict)
			}
		}
		results = make([]SyncOpResult, len(c.Ops))
		for i := range c.Ops {
			r, err := s.applySyncOp(tx, c.UserID, &c.Ops[i])
			if err != nil {
				return err
			}
			results[i] = r
		}
		if c.State == nil {
			return nil
		}
		st, err := c.State(results)
		if err != nil || st == nil {
			return err
		}
		st.ID, st.DevicePK, st.Collection = 0, c.DevicePK, c.Collection
		q := tx.Where("device_pk = ? AND collection = ?", c.DevicePK, c.Collection)
		if !c.Guard.Restart {
			q = q.Where("sync_key >= ? OR sync_key < ?", st.SyncKey, st.SyncKey-1)
		}
		if err := q.Delete(&SyncState{}).Error; err != nil {
			return wrap(err, "commit sync: prune state")
		}
		return wrap(tx.Create(st).Error, "commit sync: save state")
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// lockSyncState serialises writers of one (device, collection) state. On
// SQLite the transaction already holds the database's write lock (BEGIN
// IMMEDIATE); on PostgreSQL a transaction-scoped advisory lock is taken, so
// nodes sharing the database serialise too.
func (s *Store) lockSyncState(tx *gorm.DB, devicePK int64, collection string) error {
	if s.dialect != migrations.Postgres {
		return nil
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "sync_state\x00%d\x00%s", devicePK, collection)
	return wrap(tx.Exec("SELECT pg_advisory_xact_lock(?)", int64(h.Sum64())).Error, "lock sync state")
}

// SaveSyncStateIf stores a state generation like SaveSyncState, but only if
// the guard holds (ErrConflict otherwise). For states that go with no item
// change, such as the folder hierarchy's.
func (s *Store) SaveSyncStateIf(ctx context.Context, st *SyncState, g SyncStateGuard) error {
	_, err := s.CommitSync(ctx, &SyncCommit{DevicePK: st.DevicePK, Collection: st.Collection, Guard: g,
		State: func([]SyncOpResult) (*SyncState, error) { return st, nil }})
	return err
}

func (s *Store) applySyncOp(tx *gorm.DB, userID int64, op *SyncOp) (SyncOpResult, error) {
	fail := func(err error) (SyncOpResult, error) {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			return SyncOpResult{ItemID: op.ItemID, Err: err}, nil
		}
		return SyncOpResult{}, err
	}
	if op.Kind == SyncOpAdd {
		it := op.Item
		if it == nil {
			return SyncOpResult{}, fmt.Errorf("sync add: no item")
		}
		it.UserID = userID
		if op.InFolder != 0 {
			it.FolderID = op.InFolder
		}
		// an Add over the quota fails alone (quota_writes.go).
		if err := addWithinQuota(tx, it, op.Raw, 0); err != nil {
			var qe *QuotaError
			if errors.As(err, &qe) {
				return SyncOpResult{Err: err}, nil
			}
			return fail(err)
		}
		return SyncOpResult{ItemID: it.ID, Modseq: it.Modseq, Applied: true}, nil
	}
	var cur Item
	// FOR UPDATE: a concurrent change, move or delete of the same item
	// (another device) must finish first, and the row is then read again
	// (PostgreSQL re-checks deleted = false), so a change never lands on a
	// tombstone or overwrites a counter it did not see. SQLite serialises
	// writers anyway and ignores the clause.
	q := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ? AND user_id = ? AND deleted = ?", op.ItemID, userID, false)
	if op.InFolder != 0 {
		q = q.Where("folder_id = ?", op.InFolder)
	}
	if err := q.First(&cur).Error; err != nil {
		return fail(wrap(err, fmt.Sprintf("item %d", op.ItemID)))
	}
	res := SyncOpResult{ItemID: cur.ID, Modseq: cur.Modseq}
	switch op.Kind {
	case SyncOpChange, SyncOpReplace:
		if op.NotAfter != 0 && cur.Modseq > op.NotAfter && cur.Modseq != op.Own {
			res.Conflict = true
			if !op.ClientWins {
				return res, nil
			}
		}
		m, err := bumpFolder(tx, userID, cur.FolderID, 1)
		if err != nil {
			return fail(err)
		}
		fields := map[string]any{"modseq": m, "updated_at": time.Now().UTC()}
		if op.Kind == SyncOpChange {
			ch := op.Change
			if ch.Read != nil {
				fields["read"] = *ch.Read
			}
			if ch.FlagStatus != nil {
				fields["flag_status"] = *ch.FlagStatus
			}
			if ch.Flag != nil {
				fields["flag"] = *ch.Flag
			} else if ch.FlagStatus != nil {
				fields["flag"] = "" // a status alone: the old dates no longer hold
			}
			if ch.Categories != nil {
				fields["categories"] = *ch.Categories
			}
			if ch.LastVerb != nil {
				fields["last_verb"], fields["last_verb_at"] = *ch.LastVerb, time.Now().UTC()
			}
			if ch.Props != nil {
				fields["props"] = *ch.Props
			}
		} else {
			it := op.Item
			if it == nil {
				return SyncOpResult{}, fmt.Errorf("sync replace: no item")
			}
			if op.Raw != nil {
				if cur.Class != ClassEmail {
					// A 16.x calendar item whose attachments changed: its
					// event fields as in any replace, its content as a
					// draft's (activesync/calendar_attachments.go).
					fields["uid"], fields["start_time"], fields["end_time"], fields["props"] = it.UID, it.StartTime, it.EndTime, it.Props
				}
				// A mail's new content (a 16.x draft): drafts.go.
				if err := replaceMail(tx, &cur, it, op.Raw, fields); err != nil {
					return fail(err)
				}
				res.Modseq, res.Applied = m, true
				return res, nil
			}
			fields["subject"], fields["uid"], fields["start_time"], fields["end_time"] = it.Subject, it.UID, it.StartTime, it.EndTime
			fields["props"], fields["categories"] = it.Props, it.Categories
			if cur.BlobID == nil { // usage follows the new content (quota_writes.go)
				if err := resize(tx, &cur, contentSize(it), fields); err != nil {
					return SyncOpResult{}, err
				}
			}
		}
		if err := tx.Model(&Item{}).Where("id = ?", cur.ID).Updates(fields).Error; err != nil {
			return SyncOpResult{}, wrap(err, "sync change")
		}
		res.Modseq, res.Applied = m, true
		return res, nil
	case SyncOpDelete:
		if err := tombstone(tx, &cur); err != nil {
			return fail(err)
		}
		var m int64
		if err := tx.Model(&Item{}).Where("id = ?", cur.ID).Pluck("modseq", &m).Error; err != nil {
			return SyncOpResult{}, wrap(err, "sync delete")
		}
		res.Modseq, res.Applied = m, true
		return res, nil
	case SyncOpMove:
		if cur.FolderID == op.DstFolderID {
			return fail(fmt.Errorf("sync move: source and destination are the same folder: %w", ErrConflict))
		}
		// Both counters are bumped below: lock them in order (move.go).
		if err := lockFolders(tx, userID, cur.FolderID, op.DstFolderID); err != nil {
			return SyncOpResult{}, err
		}
		var atts []Attachment
		if err := tx.Where("item_id = ?", cur.ID).Order("part_index").Find(&atts).Error; err != nil {
			return SyncOpResult{}, wrap(err, "sync move")
		}
		moved := cur
		moved.FolderID, moved.Attachments, moved.Class = op.DstFolderID, atts, keepClass(cur.Class)
		if err := addItem(tx, &moved, nil, derefID(cur.BlobID)); err != nil {
			return fail(err)
		}
		if err := tombstone(tx, &cur); err != nil {
			return fail(err)
		}
		res.ItemID, res.Modseq, res.Applied = moved.ID, moved.Modseq, true
		return res, nil
	}
	return SyncOpResult{}, fmt.Errorf("sync op: unknown kind %d", op.Kind)
}

// BlobsOf returns the raw content of the user's live items among ids, by
// item id, in one query. Items without content or not the user's are left
// out.
func (s *Store) BlobsOf(ctx context.Context, userID int64, ids []int64) (map[int64][]byte, error) {
	cs, err := s.ContentsOf(ctx, userID, ids) // bodies.go
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]byte, len(cs))
	for id, c := range cs {
		out[id] = c.Raw
	}
	return out, nil
}

// CountChangesSince counts the items of a folder (tombstones included) whose
// counter is above since: an upper bound of what a device with that
// high-water mark has still to receive (GetItemEstimate).
func (s *Store) CountChangesSince(ctx context.Context, userID, folderID, since int64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Item{}).Where("folder_id = ? AND user_id = ? AND modseq > ?", folderID, userID, since).Count(&n).Error
	return n, wrap(err, "count changes")
}

// ItemsDatedBetween returns the ids of a folder's live items whose date
// (DateReceived for mail, EndTime for calendar items) lies in [from, to):
// the items that leave a device's FilterType window when its cut-off moves
// from from to to.
func (s *Store) ItemsDatedBetween(ctx context.Context, userID, folderID int64, from, to time.Time) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Item{}).
		Where("folder_id = ? AND user_id = ? AND deleted = ?", folderID, userID, false).
		Where("(date_received >= ? AND date_received < ?) OR (end_time >= ? AND end_time < ?)", from, to, from, to).
		Order("id").Pluck("id", &ids).Error
	return ids, wrap(err, "items dated between")
}

// statementCounters holds each store's StatementCounter (kept outside
// Store so that this file stays self-contained).
var statementCounters sync.Map // *Store -> *atomic.Int64

// StatementCounter returns a counter of the SQL statements this store runs
// from now on (queries, inserts, updates, deletes, raw statements;
// BEGIN/COMMIT are not counted). For benchmarks that report database
// round trips per request; counting costs an atomic add per statement.
func (s *Store) StatementCounter() *atomic.Int64 {
	c := new(atomic.Int64)
	got, loaded := statementCounters.LoadOrStore(s, c)
	if loaded {
		return got.(*atomic.Int64)
	}
	count := func(*gorm.DB) { c.Add(1) }
	cb := s.db.Callback()
	cb.Query().After("gorm:query").Register("airlock:count_query", count)
	cb.Create().After("gorm:create").Register("airlock:count_create", count)
	cb.Update().After("gorm:update").Register("airlock:count_update", count)
	cb.Delete().After("gorm:delete").Register("airlock:count_delete", count)
	cb.Row().After("gorm:row").Register("airlock:count_row", count)
	cb.Raw().After("gorm:raw").Register("airlock:count_raw", count)
	return c
}
