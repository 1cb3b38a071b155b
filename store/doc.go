// Package store keeps everything Airlock knows, on SQLite (the embedded
// default, a single file, pure Go driver) or PostgreSQL (production, shared by
// any number of stateless nodes). It is the only package that imports gorm;
// every other package sees plain structs and the methods of *Store, through
// narrow interfaces it declares itself.
//
// The schema is not created by gorm: it lives in versioned SQL files per
// dialect in package migrations and is applied by Open (or Migrate) with goose.
//
// Errors: every method wraps ErrNotFound, ErrConflict or ErrUnavailable with
// %w; compare with errors.Is. An item, folder or device of another user is
// reported as ErrNotFound, never as forbidden, so ids cannot be probed.
//
// # Implementation notes
//
// Change tracking. Each folder carries a counter (Folder.Modseq) and each
// user a hierarchy counter (User.HierarchyModseq). Every add, change, move or
// delete of an item bumps its folder's counter with
// "UPDATE ... SET modseq = modseq + n RETURNING modseq" inside the same
// transaction as the write, and stamps the item with the new value. The
// UPDATE holds the folder's row lock until commit (PostgreSQL) or the whole
// database's write lock (SQLite, BEGIN IMMEDIATE), so counters are handed out
// in commit order and strictly increase: a reader that sees counter N
// committed sees every change below N. "Everything since N" is therefore one
// indexed query on (folder_id, modseq), and an item that changed many times
// appears once, with its latest state.
//
// Change notification (notify.go). Every counter bump also records the
// change, (user, folder) or (user, hierarchy), in a set carried by the
// transaction's context. Store.tx publishes the set: on PostgreSQL with one
// "SELECT pg_notify('airlock_changes', ...)" inside the transaction, so
// PostgreSQL delivers it to every node's LISTEN only if and when the
// transaction commits; and, after a successful commit, to the in-process
// OnCommit hooks (the single-process SQLite server's Ping wake-ups). A
// rolled-back write publishes nothing. A transaction not begun by Store.tx
// still notifies PostgreSQL (immediately, in the transaction) but not the
// hooks, so every write path should go through Store.tx.
//
// Deletions leave tombstones: the row stays with Deleted set and a new
// counter, its content and blob reference cleared. A move is a tombstone in
// the source plus a new row (a new id, so a new EAS ServerId) in the
// destination sharing the same blob.
//
// Mail is stored once: the raw RFC 5322 message is a Blob; a message
// delivered to several local recipients shares one blob (Deliver). A blob is
// removed when its last item goes.
//
// Sync state keeps two generations per (device, collection), the current key
// and the previous one, so a device that lost a response can resend its
// previous key and get the same answer.
//
// Encryption at rest (keys.go, blobs.go, mailmatch.go): raw messages and
// their search text are sealed (AES-256-GCM) under a data key per blob,
// wrapped by a master key that is not in the database; secrets in org
// settings and the message text in summary fields are sealed under named
// keys it wraps, through gorm serializers. The dedupe hash of a blob is an
// HMAC. Mailbox search therefore matches words in Go over the user's
// candidate items, after a keyed trigram filter per text
// (searchfilter.go) has ruled out most bodies unopened.
//
// Sign-in failure counters (authfailures.go) are charged before a password
// is verified: ReserveAuthAttempt creates each key's row if missing, locks
// it (SELECT ... FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE on SQLite) and
// charges all keys in one transaction, or none when one is locked; a
// success gives the charge back. ExpireAuthFailures deletes spent rows.
//
// The audit log is append-only and hash-chained (each row's hash covers its
// fields and the previous hash); VerifyAudit detects an edited or removed
// row. The hash is an HMAC-SHA256 under an audit key that lives outside the
// database (Options.AuditKey), so someone who can write the database cannot
// recompute it. Rows written before the key existed keep their unkeyed
// SHA-256 ("legacy"); they may only form a prefix of the chain, and the
// first keyed row's HMAC covers the last legacy hash, so the legacy prefix
// cannot be rewritten without breaking it. Deleting the newest rows leaves a
// valid, shorter chain: the caller detects that against the head recorded
// outside the database (internal/auditlog's anchor file).
//
// Callers must not hold a transaction open across network I/O; methods
// commit before they return, so a response is only written after its state
// is durable.
package store
