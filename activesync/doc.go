// Package activesync serves Exchange ActiveSync (MS-ASHTTP, MS-ASCMD):
// one gate for every command (handler.go), then the commands.
//
// Handler is a plain http.Handler mounted at /Microsoft-Server-ActiveSync;
// protocol tests drive it as a real device would, through whole
// conversations, with package eastest. The WBXML codec is package wbxml.
//
// # Implementation notes
//
// The order of a request (handler.go ServeHTTP, admit, gate):
//
//  1. HTTP: OPTIONS answers discovery (MS-ASHTTP 2.2.3, 2.2.4); only POST
//     goes further. The request line is parsed, plain or base64 encoded
//     (request.go ParseQuery, MS-ASHTTP 2.2.1.1.1), and the command looked
//     up in the command table.
//  2. Authentication (auth.go): HTTP Basic against the user store. A
//     disabled account may still Provision to finish a pending remote wipe.
//  3. Protocol version and device identity: MS-ASProtocolVersion must be
//     one we speak and at least the command's MinVersion; DeviceId and
//     DeviceType must be valid.
//  4. The device decision (devices.Service.Admit): allowed, quarantined,
//     blocked or wiped, and whether a wipe is pending.
//  5. The gate (gate, MS-ASPROV 3.2.5.1): too many devices; Provision always
//     passes (it carries the wipe and the policy) unless the device is
//     blocked; a pending wipe answers 449; a blocked device is refused; a
//     command with NeedsPolicy checks the policy key; a quarantined device
//     reaches only the commands marked Quarantine (quarantine.go).
//  6. Admission and the body: the body limit of the command, a slot in
//     flight for the device and the account (inflight.go), then the body is
//     read before a deadline and decoded from WBXML (or kept raw for
//     SendMail, SmartReply, SmartForward).
//  7. The command table (commands.go) runs the handler. A command marked
//     Push (Ping, Sync) first ends the Ping or Sync the device holds.
//  8. The response: a WBXML document written by writeResponse, or an error
//     turned into an HTTP status and an EAS Status by writeError (errors.go);
//     clients get generic text, the cause goes to the log. A held Ping may
//     leave its handler and wait on its own (ping_detach.go).
//
// A test loops over the command table to prove that no command skips the
// gate; a new command is one row of commandTable.
//
// Request bodies are bounded before they are read: each command has a
// limit (only those that carry mail or attachments get the large one, and
// only for an allowed device), the body is read after authentication and
// the device's gate, within an admission slot that caps a device's and an
// account's requests and body bytes in flight (held Pings and Syncs with
// Wait do not count), and before a read deadline sized by its length
// (inflight.go).
//
// # The sync engine
//
// Sync (sync.go, MS-ASCMD 2.2.1.21) and its state (syncstate.go) keep
// these invariants; the full argument is in the comment at the top of
// sync.go.
//
//   - Change counters. The store bumps a folder's counter (Modseq) in the
//     same transaction as every write to one of its items and stamps the
//     item with it (store package doc), so "everything since N" is one
//     indexed query and counters follow commit order.
//   - Commands and state together. A collection's client commands and the
//     state of its next sync key are committed in one transaction
//     (store.CommitSync) before the response is built; the state records
//     the counter reached, the items the device holds and the results of
//     its commands. The commit is guarded by the generation it was computed
//     from: a racing request with the same key applies nothing and gets
//     Status 3.
//   - Notifications after commit. Waiting Pings and Syncs with Wait are
//     woken (notify.go) only for committed changes: a rolled-back write
//     wakes nobody, and on PostgreSQL the wake-up crosses nodes through
//     LISTEN/NOTIFY sent inside the transaction.
//   - The replay promise (MS-ASCMD 3.1.5.9). The store keeps generations N
//     and N-1 of a key. A device that resends key N after a lost response
//     gets a response whose new key's state covers exactly what that
//     response carried: its own commands are not applied again (their
//     recorded results come back, with the same ServerIds), the server's
//     changes come as they stand now, and the new key's state is replaced
//     by the one that covers the replay. Not identical bytes: the device
//     never saw the lost response, and the next Sync neither repeats nor
//     skips an item.
//   - No echo: versions the device wrote itself are not sent back to it.
//   - Loop detection. A device that keeps resending a key after data was
//     sent for it gets a smaller window, then one item, then that single
//     item is set aside (audited) so one broken item does not stop a
//     folder.
//   - Bounded cost: WindowSize, a scan budget and a command limit bound one
//     request whatever the folder holds.
//
// # Where each part of the specifications lives
//
//	handler.go, request.go        MS-ASHTTP: request line, headers, OPTIONS
//	errors.go                     MS-ASCMD 2.2.2 common status codes
//	inflight.go                   request admission and body limits
//	auth.go                       authentication (HTTP Basic)
//	provision.go                  MS-ASPROV Provision, policy key, remote wipe
//	quarantine.go                 what a quarantined device sees
//	settings.go, settings_oof.go  MS-ASCMD 2.2.1.18 Settings, Oof
//	foldersync.go                 MS-ASCMD 2.2.1.3-2.2.1.6 FolderSync, FolderCreate/Update/Delete
//	sync.go, syncstate.go         MS-ASCMD 2.2.1.21 Sync, sync keys, 3.1.5.9 replays
//	syncwait_supersede.go         MS-ASCMD 3.1.5.4 Sync with Wait as push
//	getitemestimate.go            MS-ASCMD 2.2.1.9 GetItemEstimate
//	moveitems.go                  MS-ASCMD 2.2.1.12 MoveItems
//	itemoperations.go             MS-ASCMD 2.2.1.10 ItemOperations, 2.2.1.7 GetAttachment
//	ping.go, ping_crossnode.go    MS-ASCMD 2.2.1.13 Ping, supersession across nodes
//	ping_detach.go, connwatch_*.go  held Pings outside net/http
//	notify.go                     change notification to waiting requests
//	sendmail.go, resend.go        MS-ASCMD 2.2.1.17, 2.2.1.19, 2.2.1.20 SendMail, SmartReply, SmartForward
//	search.go                     MS-ASCMD 2.2.1.16 Search (mailbox, GAL)
//	find.go                       MS-ASCMD 2.2.1.2 Find (16.1)
//	resolverecipients.go          MS-ASCMD 2.2.1.15 ResolveRecipients
//	meetingresponse.go            MS-ASCMD 2.2.1.11 MeetingResponse
//	meetingrequest.go             MS-ASEMAIL 2.2.2.48 MeetingRequest in mail
//	email.go, drafts.go, flag.go  MS-ASEMAIL items, drafts (16.x), flags
//	bodycache.go, rtf.go          MS-ASAIRS bodies, body preference, RTF
//	sms.go                        MS-ASMS the SMS class
//	calendar*.go                  MS-ASCAL calendar items and attachments
//	recurrence.go, timezone.go    MS-ASCAL 2.2.2.37 Recurrence, MS-ASDTYPE 2.6.4 TimeZone
//	contacts.go                   MS-ASCNTC contacts
//	tasks.go, taskregen.go        MS-ASTASK tasks, recurring tasks
//	notes.go                      MS-ASNOTE notes
//	pimcodecs.go                  helpers shared by the class codecs
//
// docs/protocol-status.md lists each MS-AS* section and whether it is
// supported.
package activesync
