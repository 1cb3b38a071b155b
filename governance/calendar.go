package governance

// Calendar delegation served.
//
// A calendar delegation (scope calendar, permission read, or
// send_on_behalf which includes read) lets the delegate read the owner's
// diary: the case is a personal assistant who keeps a
// consultant's diary and needs to see it, whole and current, alongside
// their own. What is served, and what is not:
//
//   - The owner's calendar as an iCalendar file (RFC 5545), from the web:
//     /account/delegations lists the diaries shared with the signed-in user,
//     and /account/delegations/<owner>/calendar.ics is the diary itself. The
//     file works as a download and as a subscription ("internet calendar"
//     in Outlook, Thunderbird, iOS and Android calendar apps): it accepts
//     the web session or the user's own Airlock credentials (HTTP Basic),
//     never a token in the URL, which would outlive the grant.
//   - Every request checks the grant afresh (DelegatedCalendarICS), so a
//     revocation takes effect at the next fetch, and every read and
//     refusal is audited (delegate.calendar_read) with the address it came
//     from.
//   - Private appointments (MS-ASCAL Sensitivity private or confidential)
//     show as "Private appointment" at their time, without location,
//     description, attendees or categories: a delegate sees that the time
//     is taken, not why, as Exchange's delegates do by default.
//   - Colleagues' free/busy (ResolveRecipients Availability) is already
//     open to everyone in the organisation and carries no detail, so a
//     delegation adds nothing there.
//   - Not served here: another user's calendar as an EAS folder (EAS has
//     no shared calendars; FolderSync lists the user's own folders) and
//     CalDAV. Writes need more than read: a calendar delegation with send
//     on behalf lets the delegate add, change, cancel and answer the
//     owner's meetings from the web (calendar_write.go).
//
// Break-glass access, which covers the whole mailbox, serves the calendar
// the same way while it is in force.

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"airlock/pim"
	"airlock/store"
)

// CalendarOwners lists the users whose calendar actor may read now (a
// calendar delegation, or break-glass in force), by address.
func (s *Service) CalendarOwners(ctx context.Context, actorID int64) ([]*store.User, error) {
	ids := map[int64]bool{}
	ds, err := s.Store.DelegationsTo(ctx, actorID)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.Scope == store.ScopeCalendar {
			ids[d.OwnerID] = true
		}
	}
	bgs, err := s.Store.ActiveBreakGlassFor(ctx, actorID, s.now())
	if err != nil {
		return nil, err
	}
	for _, b := range bgs {
		ids[b.OwnerID] = true
	}
	var list []int64
	for id := range ids {
		list = append(list, id)
	}
	users, err := s.Store.UsersByIDs(ctx, list)
	if err != nil {
		return nil, err
	}
	out := make([]*store.User, 0, len(users))
	for _, u := range users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *store.User) int {
		switch {
		case a.Email < b.Email:
			return -1
		case a.Email > b.Email:
			return 1
		}
		return 0
	})
	return out, nil
}

// calendarGrant is the grant under which actor may read owner's calendar
// now, checked afresh.
func (s *Service) calendarGrant(ctx context.Context, actorID, ownerID int64) (Grant, bool) {
	if actorID == ownerID {
		return Grant{}, false
	}
	if g, ok := s.Access(ctx, actorID, ownerID); ok {
		return g, true
	}
	g, ok := s.DelegateAccess(ctx, actorID, ownerID)
	return g, ok && g.Calendar
}

// DelegatedCalendarICS returns owner's calendar as an iCalendar file for
// actor, with private appointments masked; allowed is false (and nothing
// returned) when actor holds no calendar delegation or break-glass for
// owner now. Reads and refusals are audited.
func (s *Service) DelegatedCalendarICS(ctx context.Context, actor, owner *store.User, ip string) (ics []byte, allowed bool, err error) {
	a := Actor{UserID: actor.ID, Name: actor.Email, IP: ip}
	g, ok := s.calendarGrant(ctx, actor.ID, owner.ID)
	if !ok {
		s.audit(ctx, a, "delegate.calendar_read", "calendar", owner.Email, owner.ID, "denied", "no calendar delegation")
		return nil, false, nil
	}
	events, err := s.calendarEvents(ctx, owner.ID)
	if err != nil {
		return nil, true, err
	}
	var b bytes.Buffer
	if len(events) == 0 {
		b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airlock//Airlock//EN\r\nEND:VCALENDAR\r\n")
	} else if err := pim.WriteICS(&b, events, nil); err != nil {
		return nil, true, fmt.Errorf("calendar of %s: %w", owner.Email, err)
	}
	detail := fmt.Sprintf("%d events, as %s", len(events), g.Kind)
	if err := s.audit(ctx, a, "delegate.calendar_read", "calendar", owner.Email, owner.ID, "success", detail); err != nil {
		return nil, true, err // no unaudited read
	}
	return b.Bytes(), true, nil
}

// calendarEvents reads every event of the user's calendar folders, private
// ones masked.
func (s *Service) calendarEvents(ctx context.Context, userID int64) ([]pim.Event, error) {
	folders, err := s.Store.Folders(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []pim.Event
	for _, f := range folders {
		if f.Class != store.ClassCalendar || f.Deleted {
			continue
		}
		var after int64
		for {
			items, err := s.Store.ListItems(ctx, userID, f.ID, after, 500)
			if err != nil {
				return nil, err
			}
			for i := range items {
				var e pim.Event
				if err := e.FromItem(&items[i]); err != nil {
					s.log().Warn("delegated calendar: unreadable event left out", "item", items[i].ID, "err", err)
					continue
				}
				out = append(out, maskPrivate(e))
			}
			if len(items) < 500 {
				break
			}
			after = items[len(items)-1].ID
		}
	}
	return out, nil
}

// maskPrivate hides what a private or confidential appointment is about
// (MS-ASCAL 2.2.2.41 Sensitivity 2 and 3), keeping its time and busy
// status.
func maskPrivate(e pim.Event) pim.Event {
	private := func(n int) bool { return n == pim.SensitivityPrivate || n == pim.SensitivityConfidential }
	if private(e.Sensitivity) {
		e.Summary, e.Location, e.Description = "Private appointment", "", ""
		e.Attendees, e.Categories, e.Organizer = nil, nil, pim.Person{}
		e.OnlineMeetingConfLink, e.OnlineMeetingLink = "", ""
	}
	xs := make([]pim.Exception, len(e.Exceptions))
	for i, x := range e.Exceptions {
		if private(e.Sensitivity) || (x.Sensitivity != nil && private(*x.Sensitivity)) {
			if x.Summary != "" || (x.Sensitivity != nil && private(*x.Sensitivity)) {
				x.Summary = "Private appointment"
			}
			x.Location, x.Description, x.Attendees, x.Categories = "", "", nil, nil
		}
		xs[i] = x
	}
	e.Exceptions = xs
	return e
}
