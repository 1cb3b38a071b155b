package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"airlock/migrations"
)

// ChangeChannel is the PostgreSQL NOTIFY channel on which every committed
// change is published, with the payload "<userID>:<folderID>" (Change.Payload).
const ChangeChannel = "airlock_changes"

// Change names what a committed transaction changed: the items of one
// folder, or, with FolderID 0, the user's folder hierarchy.
type Change struct {
	UserID   int64
	FolderID int64
}

// Payload is the change as NOTIFY carries it.
func (c Change) Payload() string {
	return strconv.FormatInt(c.UserID, 10) + ":" + strconv.FormatInt(c.FolderID, 10)
}

// ParseChange reads a NOTIFY payload written by Payload.
func ParseChange(payload string) (Change, error) {
	u, f, ok := strings.Cut(payload, ":")
	if !ok {
		return Change{}, fmt.Errorf("change payload %q: want USER:FOLDER", payload)
	}
	uid, err1 := strconv.ParseInt(u, 10, 64)
	fid, err2 := strconv.ParseInt(f, 10, 64)
	if err1 != nil || err2 != nil || uid <= 0 || fid < 0 {
		return Change{}, fmt.Errorf("change payload %q: want USER:FOLDER", payload)
	}
	return Change{UserID: uid, FolderID: fid}, nil
}

// changeHooks are the in-process functions told about commits.
type changeHooks struct {
	mu   sync.RWMutex
	next int
	fns  map[int]func(Change)
}

// OnCommit registers fn to be called, in this process, after every
// transaction of this Store that bumped a change counter has committed: once
// per distinct change, on the committing goroutine. fn must not block (hand
// the change to a channel or a map); it must not call the Store.
//
// It is how a single-process (SQLite) server wakes its Pings. On PostgreSQL
// the same changes also go out with NOTIFY on ChangeChannel to every node,
// this one included, so a server there listens (push.PGListener) instead of
// registering here, or it would hear each change twice.
//
// The returned function unregisters fn.
func (s *Store) OnCommit(fn func(Change)) (remove func()) {
	h := &s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = map[int]func(Change){}
	}
	h.next++
	id := h.next
	h.fns[id] = fn
	return func() {
		h.mu.Lock()
		delete(h.fns, id)
		h.mu.Unlock()
	}
}

// DialNotify opens a new dedicated connection to the store's PostgreSQL
// database, outside the pool, for LISTEN. It fails on SQLite.
func (s *Store) DialNotify(ctx context.Context) (*pgx.Conn, error) {
	if s.dialect != migrations.Postgres {
		return nil, fmt.Errorf("dial notify: the %s store has no NOTIFY", s.dialect)
	}
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return nil, fmt.Errorf("dial notify: %w", unavailable(err))
	}
	return conn, nil
}

// changeSet collects the changes of one transaction (see tx).
type changeSet struct {
	list []Change
}

type changeSetKey struct{}

func (cs *changeSet) add(c Change) {
	for _, x := range cs.list {
		if x == c {
			return
		}
	}
	cs.list = append(cs.list, c)
}

// noteChange records, inside tx, that c will be published when tx commits.
// Every counter bump calls it (bumpFolder, bumpHierarchy).
func noteChange(tx *gorm.DB, c Change) error {
	if cs, ok := tx.Statement.Context.Value(changeSetKey{}).(*changeSet); ok {
		cs.add(c)
		return nil
	}
	// A transaction not begun by Store.tx: publish at once, still inside
	// the transaction. NOTIFY keeps it until commit; the in-process hooks
	// cannot, so they miss it, which only delays a Ping to its next check.
	return notifyInTx(tx, []Change{c})
}

// notifyInTx queues the changes with pg_notify in the transaction: PostgreSQL
// delivers them only if, and when, it commits. One statement for all.
func notifyInTx(tx *gorm.DB, changes []Change) error {
	if len(changes) == 0 || tx.Dialector.Name() != "postgres" {
		return nil
	}
	var q strings.Builder
	args := make([]any, 0, len(changes)+1)
	args = append(args, ChangeChannel)
	q.WriteString("SELECT pg_notify(?, p) FROM (VALUES ")
	for i, c := range changes {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?)")
		args = append(args, c.Payload())
	}
	q.WriteString(") AS v(p)")
	return wrap(tx.Exec(q.String(), args...).Error, "notify changes")
}

// afterCommit tells the in-process hooks about a committed change set.
func (s *Store) afterCommit(cs *changeSet) {
	if len(cs.list) == 0 {
		return
	}
	s.hooks.mu.RLock()
	defer s.hooks.mu.RUnlock()
	for _, fn := range s.hooks.fns {
		for _, c := range cs.list {
			fn(c)
		}
	}
}
