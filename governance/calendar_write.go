package governance

// Calendar delegation with send on behalf.
//
// A calendar delegation with permission send_on_behalf lets a personal
// assistant keep a consultant's diary: add, change and cancel the owner's
// appointments and meetings, and answer the meeting requests the owner
// received. Everything happens in the owner's own calendar and Inbox,
// through the store, so the owner's devices see each change at their next
// Sync (push wakes them). The meeting mail is the owner's (package
// scheduling, with the owner as organizer or attendee), submitted by the
// delegate: From the owner, Sender the delegate (RFC 5322 3.6.2), which
// mail clients show as "PA on behalf of Consultant".
//
// Delivery lets that From through only for mail marked here as meeting
// mail of a managed calendar (meetingOnBehalf), checking the grant again
// at submission; a calendar delegate still cannot send ordinary mail as
// the owner (that is the mail scope's send_on_behalf).
//
// The grant is checked afresh on every call, so a revocation takes effect
// at once; every action and every refusal is audited
// (delegate.calendar_write, actor the delegate, target the owner).
// Private appointments, meetings someone else organises (they can only be
// answered) and recurring series are not changed here: the first are
// hidden from delegates, the others are edited on the owner's device.
// Break-glass access, which is read-only, does not allow writes.

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
)

var (
	// ErrNoDelegation: actor may not manage owner's calendar now (no
	// grant, a read-only or mail-only one, revoked, or the owner
	// themself). One error for all, so callers answer alike.
	ErrNoDelegation = errors.New("governance: no delegated access to manage this calendar")
	// ErrNotEditable: a delegate cannot change this event (private, a
	// meeting someone else organises, or a recurring series).
	ErrNotEditable = errors.New("governance: a delegate cannot change this event")
	// ErrBadEntry: an appointment with no title, an end before its start,
	// or an attendee that is not an email address.
	ErrBadEntry = errors.New("governance: invalid appointment")
	// ErrNotRequest: the item is not a meeting request the owner can
	// answer.
	ErrNotRequest = errors.New("governance: not a meeting request")
	// ErrMeetingMail: the change is saved but some meeting mail failed.
	ErrMeetingMail = errors.New("governance: saved, but meeting mail was not sent to everyone")
	// ErrNoScheduling: the server was built without Meetings.
	ErrNoScheduling = errors.New("governance: meeting scheduling is not configured")
)

// meetingKey marks a context whose mail is the meeting mail of a calendar
// managed by delegation; only this package can set it.
type meetingKey struct{}

type meetingGrant struct{ actorID, ownerID int64 }

// meetingOnBehalf reports whether ctx carries meeting mail that actor
// sends for owner's managed calendar, and the grant still holds.
func (s *Service) meetingOnBehalf(ctx context.Context, actorID, ownerID int64) bool {
	m, ok := ctx.Value(meetingKey{}).(meetingGrant)
	return ok && m.actorID == actorID && m.ownerID == ownerID && s.CanManageCalendar(ctx, actorID, ownerID)
}

// CanManageCalendar reports whether actor holds a calendar delegation with
// send on behalf from owner now. Failures deny.
func (s *Service) CanManageCalendar(ctx context.Context, actorID, ownerID int64) bool {
	if actorID == ownerID {
		return false
	}
	g, ok := s.DelegateAccess(ctx, actorID, ownerID)
	return ok && g.ManageCalendar
}

// manage checks the grant for one action, auditing a refusal.
func (s *Service) manage(ctx context.Context, a Actor, owner *store.User, action string) error {
	if s.CanManageCalendar(ctx, a.UserID, owner.ID) {
		if s.Meetings == nil {
			return ErrNoScheduling
		}
		return nil
	}
	s.audit(ctx, a, "delegate.calendar_write", "calendar", owner.Email, owner.ID, "denied", action+": no calendar delegation with send on behalf")
	return ErrNoDelegation
}

// DiaryEntry is an appointment as a delegate writes it. With attendees it
// is a meeting the owner organises.
type DiaryEntry struct {
	UID                            string // "" adds one
	Summary, Location, Description string
	Start, End                     time.Time
	TimeZone                       string // IANA name; "" is UTC
	Attendees                      []string
}

func (in *DiaryEntry) check(owner *store.User) error {
	in.Summary = strings.TrimSpace(in.Summary)
	switch {
	case in.Summary == "" || len(in.Summary) > 255:
		return fmt.Errorf("%w: a title of 1 to 255 characters is needed", ErrBadEntry)
	case in.Start.IsZero() || !in.End.After(in.Start):
		return fmt.Errorf("%w: the end must be after the start", ErrBadEntry)
	case in.End.Sub(in.Start) > 14*24*time.Hour:
		return fmt.Errorf("%w: at most 14 days long", ErrBadEntry)
	case len(in.Attendees) > 100:
		return fmt.Errorf("%w: at most 100 attendees", ErrBadEntry)
	case len(in.Location) > 255 || len(in.Description) > 32000:
		return fmt.Errorf("%w: location or description too long", ErrBadEntry)
	}
	if in.TimeZone != "" {
		if _, err := pim.ResolveTimeZone(in.TimeZone); err != nil {
			return fmt.Errorf("%w: unknown time zone %q", ErrBadEntry, in.TimeZone)
		}
	}
	var list []string
	for _, a := range in.Attendees {
		addr, err := mail.ParseAddress(strings.TrimSpace(a))
		if err != nil {
			return fmt.Errorf("%w: attendee %q is not an email address", ErrBadEntry, a)
		}
		if k := store.NormalizeEmail(addr.Address); k != store.NormalizeEmail(owner.Email) && !slices.Contains(list, k) {
			list = append(list, k)
		}
	}
	in.Attendees = list
	return nil
}

// editable reports whether a delegate may change or cancel e.
func editable(e *pim.Event) bool {
	private := e.Sensitivity == pim.SensitivityPrivate || e.Sensitivity == pim.SensitivityConfidential
	received := e.MeetingStatus == pim.MeetingReceived || e.MeetingStatus == pim.MeetingCanceledReceived
	return !private && !received && e.RRule == ""
}

// withMeetingMail marks ctx so that delivery lets actor's meeting mail go
// From owner.
func withMeetingMail(ctx context.Context, actor, owner *store.User) context.Context {
	return context.WithValue(ctx, meetingKey{}, meetingGrant{actorID: actor.ID, ownerID: owner.ID})
}

// DelegateSaveEvent adds (in.UID empty) or changes an appointment or
// meeting in owner's calendar for actor, and sends the meeting mail
// (invitations, updates, cancellations of removed attendees) From owner,
// Sender actor. It returns the event's UID. An error wrapping
// ErrMeetingMail means the change was saved.
func (s *Service) DelegateSaveEvent(ctx context.Context, actor, owner *store.User, ip string, in DiaryEntry) (string, error) {
	a := Actor{UserID: actor.ID, Name: actor.Email, IP: ip}
	verb := "add"
	if in.UID != "" {
		verb = "change"
	}
	if err := s.manage(ctx, a, owner, verb); err != nil {
		return "", err
	}
	if err := in.check(owner); err != nil {
		return "", err
	}
	var before *pim.Event
	var cur *store.Item
	after := &pim.Event{BusyStatus: pim.BusyBusy}
	if in.UID != "" {
		var err error
		if cur, err = s.Store.ItemByUID(ctx, owner.ID, store.ClassCalendar, in.UID); err != nil {
			return "", err
		}
		var e pim.Event
		if err := e.FromItem(cur); err != nil {
			return "", err
		}
		if !editable(&e) {
			return "", ErrNotEditable
		}
		before = &e
		c := e
		c.Attendees = nil
		after = &c
	}
	after.Summary, after.Location, after.Description = in.Summary, in.Location, in.Description
	after.Start, after.End, after.TimeZone = in.Start.UTC(), in.End.UTC(), in.TimeZone
	for _, addr := range in.Attendees {
		att := pim.Attendee{Email: addr, Type: pim.AttendeeRequired, Status: pim.StatusNotResponded}
		if before != nil { // a kept attendee keeps their answer
			if i := slices.IndexFunc(before.Attendees, func(x pim.Attendee) bool { return strings.EqualFold(x.Email, addr) }); i >= 0 {
				att = before.Attendees[i]
			}
		}
		if u, err := s.Store.DirectoryEntry(ctx, addr); err == nil && att.Name == "" {
			att.Name = u.DisplayName
		}
		after.Attendees = append(after.Attendees, att)
	}
	if len(after.Attendees) > 0 {
		after.Organizer = pim.Person{Name: owner.DisplayName, Email: owner.Email}
		after.MeetingStatus, after.ResponseType, after.ResponseRequested = pim.MeetingOrganizer, pim.ResponseOrganizer, true
	} else {
		after.Organizer, after.MeetingStatus, after.ResponseType = pim.Person{}, pim.MeetingNone, pim.ResponseNone
	}
	if before != nil && scheduling.IsOrganized(before) && pim.SignificantChange(before, after) {
		after.Sequence = before.Sequence + 1
	}
	if cur != nil {
		it, err := after.ToItem(owner.ID, cur.FolderID)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadEntry, err)
		}
		it.ID = cur.ID
		if err := s.Store.ReplaceItem(ctx, it); err != nil {
			return "", err
		}
	} else {
		f, err := s.Store.FolderByType(ctx, owner.ID, store.FolderCalendar)
		if err != nil {
			return "", err
		}
		it, err := after.ToItem(owner.ID, f.ID)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadEntry, err)
		}
		if err := s.Store.AddItemWithinQuota(ctx, it, nil); err != nil {
			return "", err
		}
	}
	detail := fmt.Sprintf("%s %q at %s, %d attendees (%s for %s)", verb, after.Summary, after.Start.Format(time.RFC3339), len(after.Attendees), actor.Email, owner.Email)
	if err := s.audit(ctx, a, "delegate.calendar_write", "calendar", owner.Email, owner.ID, "success", detail); err != nil {
		return after.UID, err
	}
	if err := s.Meetings.OnBehalf(actor).Organized(withMeetingMail(ctx, actor, owner), owner, before, after); err != nil {
		s.log().Error("meeting mail on behalf", "owner", owner.Email, "delegate", actor.Email, "err", err)
		return after.UID, fmt.Errorf("%w: %v", ErrMeetingMail, err)
	}
	return after.UID, nil
}

// DelegateCancelEvent removes an appointment or meeting from owner's
// calendar for actor; the attendees of a meeting get a cancellation From
// owner, Sender actor.
func (s *Service) DelegateCancelEvent(ctx context.Context, actor, owner *store.User, ip, uid string) error {
	a := Actor{UserID: actor.ID, Name: actor.Email, IP: ip}
	if err := s.manage(ctx, a, owner, "cancel"); err != nil {
		return err
	}
	cur, err := s.Store.ItemByUID(ctx, owner.ID, store.ClassCalendar, uid)
	if err != nil {
		return err
	}
	var before pim.Event
	if err := before.FromItem(cur); err != nil {
		return err
	}
	if !editable(&before) {
		return ErrNotEditable
	}
	if err := s.Store.DeleteItem(ctx, owner.ID, cur.ID); err != nil {
		return err
	}
	detail := fmt.Sprintf("cancel %q at %s, %d attendees (%s for %s)", before.Summary, before.Start.Format(time.RFC3339), len(before.Attendees), actor.Email, owner.Email)
	if err := s.audit(ctx, a, "delegate.calendar_write", "calendar", owner.Email, owner.ID, "success", detail); err != nil {
		return err
	}
	if err := s.Meetings.OnBehalf(actor).Organized(withMeetingMail(ctx, actor, owner), owner, &before, nil); err != nil {
		s.log().Error("meeting cancellation on behalf", "owner", owner.Email, "delegate", actor.Email, "err", err)
		return fmt.Errorf("%w: %v", ErrMeetingMail, err)
	}
	return nil
}

// DelegateRespond answers, for owner, the meeting request itemID in
// owner's mailbox (a request in a mail folder, or the meeting in their
// calendar): scheduling.Accept, Tentative or Decline. The owner's
// calendar takes the answer, a colleague organizer's copy records it, and
// the reply goes to the organizer From owner, Sender actor. An answered
// request leaves the Inbox for Deleted Items, as on a device.
func (s *Service) DelegateRespond(ctx context.Context, actor, owner *store.User, ip string, itemID int64, response int) error {
	a := Actor{UserID: actor.ID, Name: actor.Email, IP: ip}
	if err := s.manage(ctx, a, owner, "respond"); err != nil {
		return err
	}
	if response < scheduling.Accept || response > scheduling.Decline {
		return fmt.Errorf("%w: response %d", ErrNotRequest, response)
	}
	e, request, err := s.meetingOf(ctx, owner, itemID)
	if err != nil {
		return err
	}
	sched := s.Meetings.OnBehalf(actor)
	_, err = sched.Respond(withMeetingMail(ctx, actor, owner), owner, e, scheduling.Answer{Response: response, Notify: true})
	if errors.Is(err, scheduling.ErrNotAMeeting) {
		return ErrNotRequest
	}
	word := map[int]string{scheduling.Accept: "accept", scheduling.Tentative: "tentative", scheduling.Decline: "decline"}[response]
	detail := fmt.Sprintf("respond %s to %q from %s (%s for %s)", word, e.Summary, e.Organizer.Email, actor.Email, owner.Email)
	if err != nil {
		s.audit(ctx, a, "delegate.calendar_write", "calendar", owner.Email, owner.ID, "failure", detail+": "+err.Error())
		return err
	}
	if request != nil {
		if trash, err := s.Store.FolderByType(ctx, owner.ID, store.FolderDeletedItems); err == nil && trash.ID != request.FolderID {
			if _, err := s.Store.MoveItem(ctx, owner.ID, request.ID, trash.ID); err != nil {
				s.log().Warn("delegated meeting response: request not moved", "err", err)
			}
		}
	}
	return s.audit(ctx, a, "delegate.calendar_write", "calendar", owner.Email, owner.ID, "success", detail)
}

// meetingOf reads the meeting an owner's item speaks of: a meeting
// request mail (with the mail item), or a meeting in their calendar that
// someone else organises.
func (s *Service) meetingOf(ctx context.Context, owner *store.User, itemID int64) (*pim.Event, *store.Item, error) {
	it, err := s.Store.ItemByID(ctx, owner.ID, itemID)
	if err != nil {
		return nil, nil, err
	}
	switch it.Class {
	case store.ClassCalendar:
		var e pim.Event
		if e.FromItem(it) != nil || e.Organizer.Email == "" || scheduling.IsOrganized(&e) {
			return nil, nil, ErrNotRequest
		}
		return &e, nil, nil
	case store.ClassEmail:
		if it.MessageClass != "IPM.Schedule.Meeting.Request" {
			return nil, nil, ErrNotRequest
		}
		raw, err := s.Store.Blob(ctx, owner.ID, it.ID)
		if err != nil {
			return nil, nil, err
		}
		method, e, err := pim.ParseITIP(scheduling.CalendarPart(raw))
		if err != nil || (method != "" && method != pim.MethodRequest) || !e.RecurrenceID.IsZero() || e.Organizer.Email == "" {
			return nil, nil, ErrNotRequest
		}
		return e, it, nil
	}
	return nil, nil, ErrNotRequest
}

// DiaryItem is one event of a managed calendar, as the delegate's page
// lists it (private ones masked).
type DiaryItem struct {
	pim.Event
	Private, Organized, Received, Editable bool
}

// MeetingRequest is a meeting request waiting in the owner's Inbox.
type MeetingRequest struct {
	ItemID   int64
	Subject  string
	From     string
	Received *time.Time
}

// Diary is what a delegate who manages a calendar sees of it.
type Diary struct {
	Owner    *store.User
	Events   []DiaryItem
	Requests []MeetingRequest
}

// DelegateDiary returns owner's calendar (events not yet over, private
// ones masked) and the meeting requests in their Inbox, for actor to
// manage; ErrNoDelegation without the grant. Audited as a calendar read.
func (s *Service) DelegateDiary(ctx context.Context, actor, owner *store.User, ip string) (*Diary, error) {
	a := Actor{UserID: actor.ID, Name: actor.Email, IP: ip}
	if err := s.manage(ctx, a, owner, "view"); err != nil {
		return nil, err
	}
	events, err := s.calendarEvents(ctx, owner.ID)
	if err != nil {
		return nil, err
	}
	d := &Diary{Owner: owner}
	since := s.now().Add(-24 * time.Hour)
	for _, e := range events {
		if e.RRule == "" && e.End.Before(since) {
			continue
		}
		d.Events = append(d.Events, DiaryItem{Event: e,
			Private:   e.Sensitivity == pim.SensitivityPrivate || e.Sensitivity == pim.SensitivityConfidential,
			Organized: scheduling.IsOrganized(&e), Received: e.MeetingStatus == pim.MeetingReceived || e.MeetingStatus == pim.MeetingCanceledReceived,
			Editable: editable(&e)})
	}
	slices.SortFunc(d.Events, func(x, y DiaryItem) int { return x.Start.Compare(y.Start) })
	inbox, err := s.Store.FolderByType(ctx, owner.ID, store.FolderInbox)
	if err != nil {
		return nil, err
	}
	var after int64
	for range 20 { // the newest 10,000 messages at most
		items, err := s.Store.ListItems(ctx, owner.ID, inbox.ID, after, 500)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if it.MessageClass == "IPM.Schedule.Meeting.Request" {
				d.Requests = append(d.Requests, MeetingRequest{ItemID: it.ID, Subject: it.Subject, From: it.FromAddr, Received: it.DateReceived})
			}
		}
		if len(items) < 500 {
			break
		}
		after = items[len(items)-1].ID
	}
	detail := fmt.Sprintf("%d events, %d requests, to manage", len(d.Events), len(d.Requests))
	if err := s.audit(ctx, a, "delegate.calendar_read", "calendar", owner.Email, owner.ID, "success", detail); err != nil {
		return nil, err
	}
	return d, nil
}
