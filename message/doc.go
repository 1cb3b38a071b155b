// Package message turns a raw RFC 5322 message into the summary the store
// keeps for mail (store.Item with its Attachments), and serves the pieces an
// EAS client fetches later from the stored raw bytes: one attachment by its
// part index (ItemOperations Fetch by FileReference) and the text and HTML
// bodies (AirSyncBase Body types 1 and 2).
//
// Parsing is done by enmime, which repairs broken MIME, decodes RFC 2047
// headers and RFC 2231 file names and converts legacy charsets
// (windows-1252, ISO-2022-JP...) to UTF-8. This package adds what enmime does
// not know: the Exchange-specific fields (MessageClass, ThreadTopic,
// ConversationId, ConversationIndex, Importance) and a stable numbering of
// MIME parts.
//
// # What is fatal
//
// enmime accepts almost anything, so Parse decides up front what is not a
// message at all and returns an error wrapping ErrMalformed for it: empty
// input; input whose first line is not a header field (no header block);
// control characters or NUL in the header block (binary garbage); a header
// block that has none of the fields every real message carries (From,
// Sender, To, Cc, Subject, Date, Message-ID, Received...); and anything
// enmime itself refuses (for example a multipart message whose structure
// cannot be read). Everything else is accepted and repaired: a message with a
// broken part still yields a summary, because refusing a user's old mail
// over a bad boundary would lose it.
//
// # Implementation notes
//
// Part indexes. PartIndex numbers the nodes of enmime's part tree in a
// depth-first, pre-order walk: 0 is the root, its first child is 1, that
// child's first child (if any) is 2, and so on. Containers (multipart/*)
// take a number too, so adding a text alternative never renumbers the
// attachments after it. The same raw bytes always give the same tree, so the
// index stored at delivery still finds the part when a device fetches it.
// A message/rfc822 part is one leaf: a forwarded message is an attachment
// (an .eml), not a set of parts of its parent.
//
// Attachments are the leaf parts that are not the message's body: text/plain
// and text/html without a file name and not marked as attachments are body,
// as is a text/calendar part without a file name (the meeting request
// itself, which EAS carries as MeetingRequest, not as a file), and the
// detached S/MIME signature (clients verify it from the MIME, it is not user
// content). An encrypted S/MIME message (application/pkcs7-mime) has no
// readable body: its one part is the smime.p7m attachment, as Exchange shows
// it.
//
// Every string that reaches the store is valid UTF-8 without NUL bytes:
// PostgreSQL rejects both in text columns, and a single legacy header must
// not make a message undeliverable.
package message
