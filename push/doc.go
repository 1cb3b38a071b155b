// Package push tells waiting requests (EAS Ping) that a folder changed.
//
// The store publishes every committed change of a folder's items or of a
// user's folder hierarchy (store.Change). A Broker fans those changes out to
// in-process subscribers; it implements activesync.Notifier. Changes reach
// the Broker in one of two ways, chosen by Attach:
//
//   - SQLite (one process): the store's OnCommit hook calls Broker.Publish
//     after each commit.
//   - PostgreSQL (any number of nodes): the store runs pg_notify inside each
//     writing transaction, and a PGListener on every node holds one
//     dedicated connection doing LISTEN and hands what it hears to the
//     Broker. NOTIFY is transactional, so a node hears a change only once it
//     is committed, and every node hears every change, its own included.
//
// # Implementation notes
//
// Cost of an idle subscriber. A subscription is one entry in a per-user
// slice in one map guarded by one mutex, and one channel with a buffer of
// one. There is no goroutine per subscriber, no polling and no database
// query while nothing changes. Publish never blocks: if a subscriber's
// buffer is full it already has a wake-up pending, and a subscriber learns
// what changed by reading the counters from the store after waking, not from
// the value it received, so coalesced or lost values cost nothing but an
// early re-check.
//
// Request arrivals. On PostgreSQL the Broker also carries, on its own
// channel (store.ArrivalChannel), the news that a request of a device
// arrived on some node (Announce, OnArrival), so that a node holding an
// older Ping of the device ends it (activesync/ping_crossnode.go). Each
// process has a random node name, to tell its own announcements from the
// others'. It costs one NOTIFY per EAS request; on SQLite there is one node
// and it costs nothing.
//
// Lost notifications. While the listener is disconnected (PostgreSQL
// restarting) NOTIFYs are lost. After each reconnect the listener calls
// Broker.WakeAll, so every waiting Ping re-reads its counters once and
// nothing that committed during the outage goes unnoticed.
package push
