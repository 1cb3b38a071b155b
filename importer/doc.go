// Package importer loads a user's existing mail, calendar and contacts into
// their Airlock mailbox: Maildir directories, mbox files, single messages
// (.eml), directories of messages, iCalendar (.ics) and vCard (.vcf) files.
//
// The format of each path is told by its content, never by its name: a
// directory with cur/ and new/ is a Maildir; any other directory is walked
// (hidden entries skipped) and each file inside is told apart the same way;
// a file starting with a "From " line is an mbox, with BEGIN:VCALENDAR an
// iCalendar file, with BEGIN:VCARD a vCard file, and anything else is taken
// as one message (which fails, and is reported, if it is not one).
//
// # Target folders
//
// With an empty folder path, mail goes to the Inbox, events to the
// Calendar, contacts to Contacts and tasks (VTODO) to Tasks. A folder path
// ("Archive/2019") names the folder for the main class of every path given
// (mail for mail sources, events for .ics, contacts for .vcf); missing
// folders along it are created as user folders of that class. If the folder
// exists but holds another class (events aimed at a mail folder), those
// items go to their class's default folder and a line says so. Tasks from an
// .ics go to the named folder only if it is a Tasks folder.
//
// # Errors
//
// A malformed message, mbox message, calendar entry or card is reported on
// the report writer as one line, "path[: entry]: reason", counted, and
// skipped. Every item is stored in its own transaction, so a failure never
// undoes what was already imported; an interrupted import can simply be run
// again (see duplicates). Import returns an error only when it cannot go on:
// unknown user, cancelled context, database unavailable.
//
// # Duplicates
//
// Importing the same data twice stores it once. An item is a duplicate when
// its target folder already holds an item with the same key: for mail the
// Message-ID, or for a message without one the SHA-256 of its raw bytes;
// for events, tasks and contacts the UID (a card or event without UID gets
// one derived from its text, see package pim). Duplicates are skipped,
// counted and reported as such. The check is per folder: the same message
// imported into Inbox and into Archive is stored in both, as the user asked.
// Flags of a skipped duplicate are not updated.
//
// # Maildir and mbox flags
//
// Maildir info flags (the ":2,FRS" suffix of names in cur/) map to Read (S),
// FlagStatus 2 "flagged" (F) and LastVerbExecuted (R: replied, P: passed on
// = forwarded); messages in new/ are unread. mbox Status: and X-Status:
// headers as written by mutt, Thunderbird and Dovecot map the same way
// (Status R = read, X-Status F = flagged, A = answered). Maildir++ subfolders
// (".Sent", ".Archive") are not followed; import them one by one with a
// folder path.
package importer
