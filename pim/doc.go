// Package pim holds the structured fields of the non-mail item classes
// (calendar events, contacts, tasks, notes), their mapping to and from the
// store (JSON in store.Item.Props, with the indexed columns UID, Subject,
// StartTime and EndTime filled alongside), and their exchange formats:
// iCalendar (RFC 5545, with go-ical) and vCard 3.0/4.0 (RFC 2426, RFC 6350,
// with go-vcard).
//
// The field sets follow the EAS schemas the activesync package serves:
// MS-ASCAL (calendar), MS-ASCNTC (contacts), MS-ASTASK (tasks) and MS-ASNOTE
// (notes). Enumerations keep their EAS numeric values (Sensitivity,
// BusyStatus, AttendeeStatus, AttendeeType, MeetingStatus, Importance) so
// that no second mapping is needed on the wire.
//
// # Errors in files
//
// ParseICS and ParseVCF never give up on a whole file for one bad entry: each
// entry is decoded on its own, a malformed one is returned as an *EntryError
// (its 1-based position, its UID when one could be read, and the reason) and
// skipped, and every other entry is kept. A file that is not iCalendar or
// vCard at all yields one EntryError with Index 0.
//
// # Implementation notes
//
// Times. Event.Start and End are instants (UTC in the JSON); TimeZone names
// the IANA zone they were given in, which recurrence expansion and the EAS
// TimeZone blob need (a weekly 09:00 meeting stays at 09:00 local across
// DST). Floating times (no TZID, no Z) are read as UTC, with TimeZone "".
// An all-day event has Start and End at midnight UTC of its first day and of
// the day after its last (DTEND is exclusive in RFC 5545), whatever zone the
// file had: an all-day event is a date, not an instant.
//
// TZIDs are resolved with time.LoadLocation, then as Windows zone names
// (Outlook writes "GMT Standard Time"), then by the trailing "Area/City" of
// vendor-prefixed ids ("/mozilla.org/20050126_1/Europe/London"). The zone
// database is embedded (time/tzdata) so this works on a minimal host. VTIMEZONE
// definitions in the file are not used; WriteICS writes one per zone, built
// from the zone's rules for the event's year.
//
// Recurring series. The RRULE is kept as its RFC 5545 text and checked with
// rrule-go; EXDATEs become ExDates, and RECURRENCE-ID overrides are folded
// into the master's Exceptions (a cancelled override is a Deleted exception).
// The item's EndTime column holds the end of the whole series, not of the
// first occurrence, so a calendar window query finds a series that started
// long ago; a series without COUNT or UNTIL ends at SeriesForever.
//
// Meeting messages (itip.go). WriteITIP and ParseITIP carry RFC 5546
// REQUEST, CANCEL, REPLY and COUNTER. A message about one occurrence has a
// lone RECURRENCE-ID component, read into Event.RecurrenceID (never
// stored). A COUNTER's DTSTART and DTEND are the proposal; the meeting's
// own times travel as Outlook's X-MS-OLK-ORIGINALSTART/END, and the
// proposal is held on the attendee (Attendee.ProposedStart and End), which
// is also how an organizer's copy keeps a pending proposal.
package pim
