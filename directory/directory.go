// Package directory answers questions about colleagues: who matches a name
// (the staff directory, EAS's Global Address List), who an address or a
// name in a To line is (recipient resolution, also against the user's own
// contacts), and when a colleague is free (merged free/busy from their
// calendar). The activesync package serves these as Search, Find and
// ResolveRecipients; the web dashboard may use them too.
//
// # Implementation notes
//
// The directory is the users table (store.SearchDirectory): enabled staff
// only. Searches shorter than MinQueryLen find nobody, so the directory
// cannot be listed letter by letter; mobile numbers are shown only when the
// organisation turns SettingShowMobile on. Contacts are matched in memory after a narrowing query, because
// their addresses live in the JSON of each item.
//
// Free/busy is computed, not stored: the colleague's calendar items that
// overlap the window are read (store.CalendarItemsBetween), recurring series
// are expanded in their own zone (pim.Event.Occurrences), and each 30-minute
// slot takes the strongest status of the occurrences that overlap it. An
// all-day event blocks its days from local midnight to local midnight in
// the event's zone, or the owner's (allDayZone), not in UTC.
package directory

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"airlock/pim"
	"airlock/store"
)

// Store is what this package needs from the store.
type Store interface {
	SearchDirectory(ctx context.Context, q store.DirectoryQuery) ([]store.User, int64, error)
	DirectoryEntry(ctx context.Context, addr string) (*store.User, error)
	CalendarItemsBetween(ctx context.Context, userID int64, from, to time.Time) ([]store.Item, error)
	FolderByType(ctx context.Context, userID int64, t store.FolderType) (*store.Folder, error)
	ListItems(ctx context.Context, userID, folderID, afterID int64, limit int) ([]store.Item, error)
	Photo(ctx context.Context, userID int64) (*store.UserPhoto, error)
	Setting(ctx context.Context, key, def string) (string, error)
}

var _ Store = (*store.Store)(nil)

// Free/busy digits (MS-ASCMD 2.2.3.104 MergedFreeBusy).
const (
	Free             = '0'
	Tentative        = '1'
	Busy             = '2'
	OutOfOffice      = '3'
	WorkingElsewhere = '4'
	NoData           = '5'
)

// Slot is the length of one free/busy digit.
const Slot = 30 * time.Minute

// MaxFreeBusySpan bounds one free/busy request: six weeks of slots.
const MaxFreeBusySpan = 42 * 24 * time.Hour

// strength orders the statuses: a slot shows the strongest one of the
// events that overlap it.
func strength(c byte) int {
	switch c {
	case OutOfOffice:
		return 5
	case Busy:
		return 4
	case WorkingElsewhere:
		return 3
	case Tentative:
		return 2
	case Free:
		return 1
	}
	return 0
}

// digit maps an event's BusyStatus (MS-ASCAL 2.2.2.9) to a free/busy digit.
func digit(busy int) byte {
	switch busy {
	case pim.BusyTentative:
		return Tentative
	case pim.BusyBusy:
		return Busy
	case pim.BusyOutOfOffice:
		return OutOfOffice
	case pim.BusyWorkingElsewhere:
		return WorkingElsewhere
	}
	return Free
}

// FreeBusy returns the user's merged free/busy for [from, to): one digit per
// 30-minute slot (the last slot may be partial), as EAS ResolveRecipients
// Availability sends it. Cancelled meetings and meetings the user declined
// do not count; a window longer than MaxFreeBusySpan is cut to it.
func FreeBusy(ctx context.Context, st Store, userID int64, from, to time.Time) (string, error) {
	from, to = from.UTC(), to.UTC()
	if !to.After(from) {
		return "", nil
	}
	if to.Sub(from) > MaxFreeBusySpan {
		to = from.Add(MaxFreeBusySpan)
	}
	n := int((to.Sub(from) + Slot - 1) / Slot)
	slots := []byte(strings.Repeat(string(rune(Free)), n))
	// All-day events are stored as UTC dates, and their day starts up to
	// allDayMargin earlier or later in their zone: read and expand that
	// much more, and place them below.
	items, err := st.CalendarItemsBetween(ctx, userID, from.Add(-allDayMargin), to.Add(allDayMargin))
	if err != nil {
		return "", err
	}
	own := userZone(ctx, st, userID)
	for i := range items {
		var e pim.Event
		if err := e.FromItem(&items[i]); err != nil {
			continue // an unreadable item does not make the colleague busy
		}
		if e.MeetingStatus == pim.MeetingCanceledOrganizer || e.MeetingStatus == pim.MeetingCanceledReceived ||
			e.ResponseType == pim.ResponseDeclined {
			continue
		}
		occs, err := e.Occurrences(from.Add(-allDayMargin), to.Add(allDayMargin))
		if err != nil {
			continue
		}
		for _, o := range occs {
			allDay := e.AllDay
			if o.Exception != nil && o.Exception.AllDay != nil {
				allDay = *o.Exception.AllDay
			}
			if allDay {
				loc := allDayZone(&e, own)
				o.Start, o.End = localDay(o.Start, loc), localDay(o.End, loc)
			}
			busy := e.BusyStatus
			if o.Exception != nil && o.Exception.BusyStatus != nil {
				busy = *o.Exception.BusyStatus
			}
			if o.Exception != nil && o.Exception.ResponseType != nil && *o.Exception.ResponseType == pim.ResponseDeclined {
				continue
			}
			d := digit(busy)
			if d == Free {
				continue
			}
			first := int(o.Start.Sub(from) / Slot)
			last := int((o.End.Sub(from) + Slot - 1) / Slot) // exclusive
			if o.End.Equal(o.Start) {
				last = first + 1
			}
			for s := max(first, 0); s < min(last, n); s++ {
				if strength(d) > strength(slots[s]) {
					slots[s] = d
				}
			}
		}
	}
	return string(slots), nil
}

// allDayMargin is the furthest a zone is from UTC (UTC+14, UTC-12).
const allDayMargin = 14 * time.Hour

// allDayZone is the zone whose days an all-day event of the owner blocks:
// the zone the event was written in (its TimeZone, which EAS devices
// always send), else the owner's own zone (an imported floating date, or
// one written where no zone was given).
func allDayZone(e *pim.Event, own *time.Location) *time.Location {
	if e.TimeZone != "" {
		if loc, err := pim.ResolveTimeZone(e.TimeZone); err == nil {
			return loc
		}
	}
	return own
}

// userZone is the user's time-zone setting (store.UserTimeZone), UTC when
// the store keeps none or it does not resolve.
func userZone(ctx context.Context, st Store, userID int64) *time.Location {
	z, ok := st.(interface {
		UserTimeZone(ctx context.Context, userID int64) (string, error)
	})
	if !ok {
		return time.UTC
	}
	name, err := z.UserTimeZone(ctx, userID)
	if err != nil {
		return time.UTC
	}
	loc, err := pim.ResolveTimeZone(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// localDay is the start of the date t (a stored all-day date, midnight
// UTC) in loc.
func localDay(t time.Time, loc *time.Location) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, loc)
}

// NoFreeBusy is a window's worth of "no data" digits, for recipients whose
// calendar is not here.
func NoFreeBusy(from, to time.Time) string {
	if !to.After(from) {
		return ""
	}
	if to.Sub(from) > MaxFreeBusySpan {
		to = from.Add(MaxFreeBusySpan)
	}
	return strings.Repeat(string(rune(NoData)), int((to.Sub(from)+Slot-1)/Slot))
}

// MinQueryLen is the shortest directory search answered, in characters:
// one or two letters match a large part of the staff, and a device could
// walk the whole directory with 26 single-letter searches.
const MinQueryLen = 3

// Search finds enabled staff by a prefix of their name, address,
// department or job title (see store.DirectoryQuery). A query shorter than
// MinQueryLen finds nobody.
func Search(ctx context.Context, st Store, text string, offset, limit int) ([]store.User, int64, error) {
	if utf8.RuneCountInString(strings.TrimSpace(text)) < MinQueryLen {
		return nil, 0, nil
	}
	return st.SearchDirectory(ctx, store.DirectoryQuery{Text: text, Offset: offset, Limit: limit})
}

// SettingShowMobile is the organisation setting ("true"/"false") that says
// whether colleagues' mobile numbers are shown in the directory. Off by
// default: a mobile is often a personal phone, and the desk phone is
// enough to reach someone at work (UK GDPR data minimisation, Article
// 5(1)(c)); an organisation that wants them listed turns it on.
const SettingShowMobile = "directory_show_mobile"

// ShowMobile reads SettingShowMobile.
func ShowMobile(ctx context.Context, st Store) (bool, error) {
	v, err := st.Setting(ctx, SettingShowMobile, "false")
	return v == "true", err
}

// Alias is the local part of a user's address, the GAL Alias.
func Alias(u *store.User) string {
	local, _, _ := strings.Cut(u.Email, "@")
	return local
}

// Recipient is one candidate for a name or address typed in a To line.
type Recipient struct {
	DisplayName string
	Email       string
	// User is the colleague, nil for a personal contact.
	User *store.User
}

// FromGAL says whether the recipient came from the directory (EAS
// ResolveRecipients Type 1) rather than the user's contacts (Type 2).
func (r Recipient) FromGAL() bool { return r.User != nil }

// maxContactsScanned bounds the contacts read when resolving one name.
const maxContactsScanned = 5000

// Resolve finds who a To entry means for user: an address of a colleague
// (primary or alias) is that colleague; else a contact with that address;
// else the colleagues and contacts whose names (or addresses, departments,
// job titles for colleagues) start with it. Colleagues come first. At most
// limit candidates are returned, with the number found in all.
func Resolve(ctx context.Context, st Store, user *store.User, to string, limit int) ([]Recipient, int, error) {
	to = strings.TrimSpace(to)
	if to == "" {
		return nil, 0, nil
	}
	if addr := bareAddress(to); addr != "" {
		u, err := st.DirectoryEntry(ctx, addr)
		if err == nil {
			return []Recipient{{DisplayName: displayName(u), Email: u.Email, User: u}}, 1, nil
		}
		contacts, err := contactsMatching(ctx, st, user.ID, func(c *pim.Contact) (string, bool) {
			for _, e := range []string{c.Email1, c.Email2, c.Email3} {
				if strings.EqualFold(bareAddress(e), addr) {
					return bareAddress(e), true
				}
			}
			return "", false
		})
		if err != nil {
			return nil, 0, err
		}
		if len(contacts) > 0 {
			return contacts[:1], 1, nil
		}
		return nil, 0, nil
	}
	users, total, err := st.SearchDirectory(ctx, store.DirectoryQuery{Text: to, Limit: max(limit, 1)})
	if err != nil {
		return nil, 0, err
	}
	var out []Recipient
	for i := range users {
		out = append(out, Recipient{DisplayName: displayName(&users[i]), Email: users[i].Email, User: &users[i]})
	}
	low := strings.ToLower(to)
	contacts, err := contactsMatching(ctx, st, user.ID, func(c *pim.Contact) (string, bool) {
		addr := bareAddress(firstNonEmpty(c.Email1, c.Email2, c.Email3))
		if addr == "" {
			return "", false
		}
		for _, s := range []string{c.DisplayName(), c.FirstName, c.LastName, c.NickName, addr} {
			ls := strings.ToLower(s)
			if strings.HasPrefix(ls, low) || strings.Contains(ls, " "+low) {
				return addr, true
			}
		}
		return "", false
	})
	if err != nil {
		return nil, 0, err
	}
	found := int(total) + len(contacts)
	for _, c := range contacts {
		if len(out) >= limit {
			break
		}
		out = append(out, c)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, found, nil
}

// contactsMatching scans the user's default Contacts folder.
func contactsMatching(ctx context.Context, st Store, userID int64, match func(*pim.Contact) (string, bool)) ([]Recipient, error) {
	f, err := st.FolderByType(ctx, userID, store.FolderContacts)
	if err != nil {
		return nil, nil // no contacts folder: no contacts
	}
	var out []Recipient
	after := int64(0)
	for scanned := 0; scanned < maxContactsScanned; {
		items, err := st.ListItems(ctx, userID, f.ID, after, 500)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			break
		}
		for i := range items {
			after = items[i].ID
			scanned++
			var c pim.Contact
			if c.FromItem(&items[i]) != nil {
				continue
			}
			if addr, ok := match(&c); ok {
				out = append(out, Recipient{DisplayName: c.DisplayName(), Email: addr})
			}
		}
	}
	return out, nil
}

// bareAddress returns the address in "Name <a@b>" or "a@b", or "".
func bareAddress(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	s = strings.TrimSpace(s)
	if strings.Count(s, "@") != 1 || strings.ContainsAny(s, " \t,;") || strings.HasPrefix(s, "@") || strings.HasSuffix(s, "@") {
		return ""
	}
	return store.NormalizeEmail(s)
}

func displayName(u *store.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	if n := strings.TrimSpace(u.FirstName + " " + u.LastName); n != "" {
		return n
	}
	return u.Email
}

// DisplayName is the name the directory shows for a colleague.
func DisplayName(u *store.User) string { return displayName(u) }

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
