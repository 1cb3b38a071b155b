// Package sim simulates Exchange ActiveSync devices against Airlock servers
// and checks that nothing is lost, duplicated or left inconsistent: the EAS
// counterpart of Dovecot's imaptest.
// cmd/airlock-sim is its command line; docs/scale.md has the figures
// measured with it.
//
// The simulator is a client written from the specifications (MS-ASHTTP,
// MS-ASPROV, MS-ASCMD), not from the server's code: it shares only the
// WBXML codec (activesync/wbxml) and, for ground truth, the store.
//
// # Parts
//
//   - Conn (wire.go): one device's HTTP link. Basic authentication, the
//     MS-ASHTTP query and headers, the policy key (re-provisioning on HTTP
//     449 and Status 142-144), retries through network errors, 5xx and
//     Status 110/111, fail-over between server URLs, and the client-side
//     faults: a response read and thrown away so the same request is sent
//     again (MS-ASCMD 3.1.5.9), a connection cut halfway through a
//     response.
//   - Device (device.go): a phone. OPTIONS, Provision (both phases),
//     FolderSync, Sync with windowing of Inbox, Sent Items and Deleted
//     Items, Ping, and the user's actions: read/flag changes (Sync
//     Change), deletes (Sync Delete, DeletesAsMoves), moves (MoveItems) and
//     mail to colleagues (SendMail with a ClientId). It keeps a replica of
//     each folder: ServerId -> (token, read, flag).
//   - Runner (run.go): N devices over M users, an action scheduler, an
//     injector delivering mail over SMTP (or into the database), timed
//     events (faults), and quiescent checkpoints.
//   - Checker (checker.go): compares every replica with the server's
//     folders read from the database (StoreTruth) and with an oracle
//     device that syncs from key 0 at every check; checks every message of
//     the run against the Ledger (each accepted message exactly once in
//     each recipient's mailbox and nowhere else). Verdict counts lost,
//     duplicated, divergent and misdelivered items, and protocol anomalies
//     devices saw on the way.
//   - Cluster and FaultRun (cluster.go, fault.go): a throwaway PostgreSQL
//     (internal/testpg) and `airlock serve --plain-http` nodes as child
//     processes, SIGKILLed and restarted on schedule; PostgreSQL stopped
//     abruptly and restarted.
//   - Bench (bench.go): the published figures: idle Ping memory, wake-up
//     latency, initial sync of a large Inbox; syncrate.go: the sustained
//     Sync rate at rising load, with PostgreSQL's work per Sync;
//     firstsync.go: the first sync after a migration, many devices at
//     once on mailboxes of the mailmix the node never read, with the
//     node's CPU per mail and the window latency.
//
// # Implementation notes
//
// Every message the run creates carries a token, "[sim TOKEN]" in its
// Subject and <TOKEN@sim.airlock.test> as its Message-ID (and as the
// SendMail ClientId). Tokens start with a run id, so mail already in the
// mailboxes is left out of the message checks. Deletes use DeletesAsMoves,
// so a message never leaves its mailbox: each must be found exactly once.
//
// Checks need quiet. A checkpoint stops the action scheduler and the
// injector (injMu), lets every device finish what it is doing and
// acknowledge (phase.stopped), then has every device sync all its folders
// (phase.settled), and only then reads the database and runs the oracles.
// Between checkpoints devices report only what is wrong whatever the
// timing: an Add of a ServerId the device holds, a Change or Delete of one
// it never had, more commands than its WindowSize.
//
// A moved item gets a new ServerId in Airlock; the moving device drops the
// old one at once and takes the new one from the destination's next Sync.
// ServerIds the device dropped itself are remembered, so the server's
// Delete for them is not an anomaly.
//
// The comparison with the database assumes Airlock's ids: a mail's
// ServerId is its items row id, a folder's CollectionId its folders row id.
// The oracle comparison assumes nothing.
//
// SMTP injection behaves as an MTA: 4xx (or no connection) is retried on
// the next listener, 5xx is final. Every recipient exists, so a 5xx means
// the message would bounce: it counts as lost. A failure after the data
// went out leaves the outcome unknown: the message must then be in all its
// recipients' mailboxes or in none.
package sim
