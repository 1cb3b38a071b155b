// Package delivery moves mail in and out of Airlock.
//
//   - Inbound: SMTP and LMTP listeners (emersion/go-smtp) deliver to local
//     users, by primary address or alias, into their Inbox. Unknown
//     recipients are refused at RCPT (550 5.1.1) and oversized messages at
//     DATA (552 5.3.4), so nothing half-accepted is ever stored. The SMTP
//     listener is not an open relay: without AUTH it takes local
//     recipients only, and mail from outside the internal networks that
//     claims the organisation's own domains is refused (spoof.go).
//   - Submission: Service.Submit stores a message a user sends (EAS
//     SendMail, SmartReply, SmartForward; SMTP with AUTH): local recipients
//     get it in their Inbox at once, remote ones go to the relay queue, the
//     sender keeps a copy in Sent Items, all in one transaction keyed by the
//     device's ClientId.
//   - Outbound: Relay is the queue worker. It hands queued mail to the
//     configured smarthost (STARTTLS required unless disabled, AUTH PLAIN),
//     retries temporary failures with exponential backoff, and on a
//     permanent failure (5xx, or too many attempts) delivers a delivery
//     status notification (RFC 3464 multipart/report) to the sender's Inbox.
//   - Compose: ComposeSmart builds the message of an EAS SmartReply or
//     SmartForward from the device's new text and the stored original.
//
// # Implementation notes
//
// A message is stored once. The raw bytes (with our Received field on top)
// are one blob shared by every local copy, written by store.Deliver or
// store.Submit in one transaction: every recipient gets it or none does. The
// message is parsed (package message) after the Received field is added, so
// the part indexes stored with its attachments match the stored bytes.
//
// The outbound queue is a table, not memory: a row is written in the same
// transaction as the sender's copy, so a crash loses no accepted mail.
// Workers on any node claim a due row by moving its next attempt forward (a
// lease); a worker that dies mid-send only delays the message by the lease,
// after which it is sent again.
//
// Exactly once is not possible over SMTP: between the relay's 250 and our
// record of it there is always a moment in which a crash leaves us not
// knowing. RFC 5321 6.1 settles which way to err: a duplicate, never a
// loss. So delivery to the relay is "at least once", made as close to once
// as it can be:
//   - every message goes out with one Message-ID on every attempt (its own,
//     or one derived from its queue row, withMessageID), so the far side can
//     recognise a duplicate;
//   - the worker commits data_started_at before DATA. A claimed message with
//     it set was interrupted between DATA and its settlement: it is sent
//     again, unchanged, logged and counted as in doubt (Relay.InDoubt). One
//     crash in that window costs at most one duplicate; a crash before DATA
//     costs none;
//   - once the relay has answered, a database that is briefly unreachable is
//     waited out while the lease is ours (Relay.settle), instead of leaving
//     the outcome to the lease's expiry and sending again.
//
// EAS devices before 14.0 send mail without a ClientId, and resend it when
// our answer is lost. Submission.Resend (the device and a fingerprint of
// what it sent, see activesync/resend.go) is recorded in the delivery's
// transaction, and a repeat within its window gets ErrResent, nothing sent.
//
// The organisation's domains, for the spoofing rule, are the configured
// names and the domains of every user's address and alias (a store query
// per domain, cached a minute), each with its subdomains; the envelope
// sender is judged at MAIL and From:/Sender: (encoded words decoded) after
// DATA, before anything is stored.
//
// From is forced: a submitted message whose From is not one of the
// authenticated user's addresses gets the user's primary address instead,
// and Bcc is removed from what anyone receives (it only adds recipients).
package delivery
