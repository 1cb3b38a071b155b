// Package scheduling carries meetings between calendars: when an organizer
// creates, changes or cancels a meeting (on a device, through EAS Sync),
// every attendee gets a meeting message (RFC 5546 iTIP over RFC 6047 iMIP:
// a text/calendar part with METHOD REQUEST or CANCEL); colleagues on this
// server also get the meeting in their calendar at once, tentatively, or
// lose it when it is cancelled. When an attendee answers (EAS
// MeetingResponse), their calendar takes the answer, a local organizer's
// copy records it in its attendee list (an answer to one occurrence in that
// occurrence's exception), and a REPLY goes to the organizer, or a COUNTER
// when the attendee proposes a new time (EAS 16.1); a proposal lasts until
// the organizer moves the meeting (KeepProposals). The files attached to a
// meeting (16.x) travel with its requests into attendees' copies
// (meeting_files.go).
//
// Mail goes through the same submission path as any mail the user sends
// (delivery.Service.Submit): local recipients' Inboxes in one transaction,
// remote ones through the relay queue.
//
// # Implementation notes
//
// The organizer's copy is the reference: attendees' copies are derived from
// it (MeetingStatus "received", the organizer's time-zone blob, the
// attendee's own reminder and answer kept across updates unless the times
// change). Copies are found by UID in the attendee's calendars.
//
// Meeting mail is sent after the organizer's change is committed, outside
// its transaction: a crash between the two loses the invitations, never
// the organizer's meeting (the device shows it; an edit resends). Nothing
// here runs while a store transaction is open.
package scheduling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"airlock/delivery"
	"airlock/pim"
	"airlock/store"
)

// Submitter sends a message as a user; delivery.Service implements it.
type Submitter interface {
	Submit(ctx context.Context, sub delivery.Submission) (*delivery.Result, error)
}

// Store is what scheduling needs from the store.
type Store interface {
	DirectoryEntry(ctx context.Context, addr string) (*store.User, error)
	Aliases(ctx context.Context, userID int64) ([]string, error)
	ItemByUID(ctx context.Context, userID int64, class store.Class, uid string) (*store.Item, error)
	FolderByType(ctx context.Context, userID int64, t store.FolderType) (*store.Folder, error)
	AddItem(ctx context.Context, it *store.Item, raw []byte) error
	ReplaceItem(ctx context.Context, it *store.Item) error
	ReplaceItemFiles(ctx context.Context, it *store.Item, raw []byte) error
	Blob(ctx context.Context, userID, itemID int64) ([]byte, error)
	DeleteItem(ctx context.Context, userID, itemID int64) error
}

var _ Store = (*store.Store)(nil)

// Service schedules meetings.
type Service struct {
	Store Store
	Mail  Submitter
	Log   *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// IsOrganized reports whether e is a meeting its owner organises: one with
// attendees, in the organizer's calendar.
func IsOrganized(e *pim.Event) bool {
	return e != nil && len(e.Attendees) > 0 &&
		(e.MeetingStatus == pim.MeetingOrganizer || e.MeetingStatus == pim.MeetingCanceledOrganizer)
}

func attendeeKey(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// Organized acts on a change of org's calendar: before and after are the
// event before and after (nil for an add or a delete). Only meetings org
// organises are acted on: new attendees get a REQUEST, removed ones a
// CANCEL, the others a REQUEST when the change is significant
// (pim.SignificantChange), and everyone a CANCEL when the meeting is
// deleted or cancelled.
func (s *Service) Organized(ctx context.Context, org *store.User, before, after *pim.Event) error {
	return s.OrganizedChange(ctx, org, before, after, false)
}

// OrganizedChange is Organized, told also whether the meeting's files
// (16.x calendar attachments) changed: the attendees kept then get an
// update carrying the new set, as for a significant change.
func (s *Service) OrganizedChange(ctx context.Context, org *store.User, before, after *pim.Event, filesChanged bool) error {
	if !IsOrganized(before) && !IsOrganized(after) {
		return nil
	}
	if before != nil && !IsOrganized(before) {
		before = nil // it just became a meeting
	}
	self := map[string]bool{attendeeKey(org.Email): true}
	if aliases, err := s.Store.Aliases(ctx, org.ID); err == nil {
		for _, a := range aliases {
			self[attendeeKey(a)] = true
		}
	}
	list := func(e *pim.Event) map[string]pim.Attendee {
		out := map[string]pim.Attendee{}
		if e == nil {
			return out
		}
		for _, a := range e.Attendees {
			if k := attendeeKey(a.Email); k != "" && !self[k] {
				out[k] = a
			}
		}
		return out
	}
	was, now := list(before), list(after)
	cancelled := after == nil || after.MeetingStatus == pim.MeetingCanceledOrganizer
	var errs []error
	switch {
	case cancelled:
		if before == nil || before.MeetingStatus == pim.MeetingCanceledOrganizer {
			if after == nil {
				return nil // a cancelled meeting deleted: they already know
			}
			before = after
			was = now
		}
		if len(was) > 0 {
			errs = append(errs, s.send(ctx, org, pim.MethodCancel, before, keys(was)))
		}
	default:
		var removed, added, kept []string
		for k := range was {
			if _, ok := now[k]; !ok {
				removed = append(removed, k)
			}
		}
		for k := range now {
			if _, ok := was[k]; ok {
				kept = append(kept, k)
			} else {
				added = append(added, k)
			}
		}
		if len(removed) > 0 {
			errs = append(errs, s.send(ctx, org, pim.MethodCancel, before, removed))
		}
		if before != nil && (filesChanged || pim.SignificantChange(before, after)) {
			added = append(added, kept...)
		}
		if len(added) > 0 {
			errs = append(errs, s.send(ctx, org, pim.MethodRequest, after, added))
		}
	}
	return errors.Join(errs...)
}

func keys(m map[string]pim.Attendee) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// send mails method for e from org to the addresses, and applies it to
// the calendars of the colleagues among them. A REQUEST carries the files
// of the organizer's meeting (meeting_files.go).
func (s *Service) send(ctx context.Context, org *store.User, method string, e *pim.Event, to []string) error {
	if len(to) == 0 {
		return nil
	}
	var files []File
	if method == pim.MethodRequest {
		var err error
		if files, err = s.organizerFiles(ctx, org, e.UID); err != nil {
			return fmt.Errorf("meeting files: %w", err)
		}
	}
	raw, err := ComposeWithFiles(org.DisplayName, org.Email, to, method, e, "", files)
	if err != nil {
		return err
	}
	var errs []error
	var local []string
	for _, addr := range to {
		u, err := s.Store.DirectoryEntry(ctx, addr)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		local = append(local, addr)
		if err := s.applyToAttendee(ctx, u, method, e, raw); err != nil {
			errs = append(errs, fmt.Errorf("calendar of %s: %w", u.Email, err))
		}
	}
	errs = append(errs, s.submit(ctx, org, raw, to, local))
	return errors.Join(errs...)
}

// submit sends raw to rcpts as u; if the relay is missing, the local
// recipients still get it.
func (s *Service) submit(ctx context.Context, u *store.User, raw []byte, rcpts, local []string) error {
	if s.Mail == nil {
		return nil
	}
	_, err := s.Mail.Submit(ctx, delivery.Submission{User: u, MIME: raw, Envelope: rcpts, Protocol: "HTTPS (ActiveSync meeting)"})
	if errors.Is(err, delivery.ErrNoRelay) && len(local) > 0 {
		s.log().Warn("meeting mail: no relay for remote attendees; local ones served", "user_id", u.ID)
		_, err = s.Mail.Submit(ctx, delivery.Submission{User: u, MIME: raw, Envelope: local, Protocol: "HTTPS (ActiveSync meeting)"})
	}
	return err
}

// applyToAttendee puts the organizer's meeting into a colleague's calendar
// (REQUEST: tentative until they answer; an answer survives an update that
// keeps the times) or takes it out (CANCEL). raw is the meeting message:
// the copy holds its files (meeting_files.go).
func (s *Service) applyToAttendee(ctx context.Context, u *store.User, method string, e *pim.Event, raw []byte) error {
	cur, err := s.Store.ItemByUID(ctx, u.ID, store.ClassCalendar, e.UID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if method == pim.MethodCancel {
		if cur == nil {
			return nil
		}
		return s.Store.DeleteItem(ctx, u.ID, cur.ID)
	}
	copyOf := attendeeCopy(e, u)
	if cur != nil {
		var old pim.Event
		if old.FromItem(cur) == nil {
			copyOf.Reminder = old.Reminder
			copyOf.Categories = old.Categories
			if old.Start.Equal(e.Start) && old.End.Equal(e.End) && old.RRule == e.RRule &&
				(old.ResponseType == pim.ResponseAccepted || old.ResponseType == pim.ResponseTentative) {
				copyOf.ResponseType, copyOf.BusyStatus, copyOf.AppointmentReplyTime = old.ResponseType, old.BusyStatus, old.AppointmentReplyTime
				setStatus(copyOf.Attendees, u.Email, statusOfResponse(old.ResponseType))
			}
		}
		it, err := copyOf.ToItem(u.ID, cur.FolderID)
		if err != nil {
			return err
		}
		it.ID = cur.ID
		blob := withFiles(it, raw)
		if blob == nil && !cur.HasAttachments {
			return s.Store.ReplaceItem(ctx, it)
		}
		return s.Store.ReplaceItemFiles(ctx, it, blob) // the current set, or none left
	}
	f, err := s.Store.FolderByType(ctx, u.ID, store.FolderCalendar)
	if err != nil {
		return err
	}
	it, err := copyOf.ToItem(u.ID, f.ID)
	if err != nil {
		return err
	}
	return s.Store.AddItem(ctx, it, withFiles(it, raw))
}

// attendeeCopy is the organizer's meeting as an attendee's calendar holds
// it before they answer.
func attendeeCopy(e *pim.Event, u *store.User) *pim.Event {
	c := *e
	// Others' proposals are for the organizer's eyes only.
	c.Attendees = carryProposals(nil, e.Attendees, true)
	c.Exceptions = append([]pim.Exception(nil), e.Exceptions...)
	for i := range c.Exceptions {
		c.Exceptions[i].Attendees = carryProposals(nil, c.Exceptions[i].Attendees, true)
	}
	c.MeetingStatus = pim.MeetingReceived
	c.ClientUID = "" // the organizer's device's name for it, not the attendee's
	c.ResponseRequested = true
	c.ResponseType = pim.ResponseNotResponded
	c.AppointmentReplyTime = time.Time{}
	if c.BusyStatus != pim.BusyFree {
		c.BusyStatus = pim.BusyTentative
	}
	return &c
}

func setStatus(as []pim.Attendee, email string, status int) bool {
	for i := range as {
		if strings.EqualFold(as[i].Email, email) {
			as[i].Status = status
			return true
		}
	}
	return false
}

// Responses of EAS MeetingResponse (MS-ASCMD 2.2.3.191 UserResponse).
const (
	Accept    = 1
	Tentative = 2
	Decline   = 3
)

func statusOfResponse(responseType int) int {
	switch responseType {
	case pim.ResponseAccepted:
		return pim.StatusAccepted
	case pim.ResponseTentative:
		return pim.StatusTentative
	case pim.ResponseDeclined:
		return pim.StatusDeclined
	}
	return pim.StatusNotResponded
}

// Answer is an attendee's response to a meeting.
type Answer struct {
	Response int // Accept, Tentative, Decline
	// Instance is the original start of the one occurrence answered; nil
	// answers the whole series.
	Instance *time.Time
	// Notify sends the REPLY mail to the organizer.
	Notify bool
	// Comment is the attendee's note, sent with the reply.
	Comment string
	// ProposedStart and ProposedEnd are a new time the attendee proposes
	// (EAS 16.1 MeetingResponse ProposedStartTime/EndTime); zero for none.
	// The organizer then gets a COUNTER (RFC 5546 3.2.7) instead of a
	// REPLY, and their copy shows the proposal on the attendee. The answer
	// itself counts as usual.
	ProposedStart, ProposedEnd time.Time
}

// proposes reports whether the answer carries a new time.
func (a *Answer) proposes() bool { return !a.ProposedStart.IsZero() }

// ErrNotAMeeting: the event has no organizer to answer.
var ErrNotAMeeting = errors.New("scheduling: not a meeting")

// ErrProposalRefused: the attendee proposed a new time for a meeting whose
// organizer does not accept proposals (DisallowNewTimeProposal), or the
// proposal ends before it starts.
var ErrProposalRefused = errors.New("scheduling: new time proposal refused")

// Respond records u's answer to meeting e (their copy, or the one in the
// request they got): their calendar takes it (a declined meeting, or
// occurrence, leaves it), a local organizer's attendee list records it
// (for one occurrence: in that occurrence's exception of the series),
// and with Notify a REPLY (a COUNTER with a proposal) goes to the
// organizer, naming the occurrence by RECURRENCE-ID. It returns the id of
// the attendee's calendar item, 0 when declined.
func (s *Service) Respond(ctx context.Context, u *store.User, e *pim.Event, a Answer) (int64, error) {
	if e.Organizer.Email == "" {
		return 0, ErrNotAMeeting
	}
	if a.proposes() && (e.DisallowNewTimeProposal || a.ProposedEnd.Before(a.ProposedStart)) {
		return 0, ErrProposalRefused
	}
	respType, status, busy := pim.ResponseAccepted, pim.StatusAccepted, pim.BusyBusy
	switch a.Response {
	case Tentative:
		respType, status, busy = pim.ResponseTentative, pim.StatusTentative, pim.BusyTentative
	case Decline:
		respType, status, busy = pim.ResponseDeclined, pim.StatusDeclined, pim.BusyFree
	}
	now := s.now()
	cur, err := s.Store.ItemByUID(ctx, u.ID, store.ClassCalendar, e.UID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	mine := attendeeCopy(e, u)
	folderID := int64(0)
	if cur != nil {
		var old pim.Event
		if err := old.FromItem(cur); err == nil {
			mine = &old
		}
		folderID = cur.FolderID
	}
	if folderID == 0 {
		f, err := s.Store.FolderByType(ctx, u.ID, store.FolderCalendar)
		if err != nil {
			return 0, err
		}
		folderID = f.ID
	}
	if organizerBusy := e.BusyStatus; a.Response == Accept && organizerBusy != pim.BusyFree && organizerBusy != pim.BusyTentative {
		busy = organizerBusy
	}
	calID := int64(0)
	switch {
	case a.Instance != nil:
		x := exceptionAt(mine, *a.Instance)
		if a.Response == Decline {
			*x = pim.Exception{RecurrenceID: x.RecurrenceID, Deleted: true}
		} else {
			rt, b := respType, busy
			x.ResponseType, x.BusyStatus, x.AppointmentReplyTime = &rt, &b, now
			x.Attendees = occurrenceAttendees(mine, x)
			setStatus(x.Attendees, u.Email, status)
		}
		calID, err = s.save(ctx, u, mine, cur, folderID)
	case a.Response == Decline:
		if cur != nil {
			err = s.Store.DeleteItem(ctx, u.ID, cur.ID)
		}
	default:
		mine.ResponseType, mine.BusyStatus, mine.AppointmentReplyTime = respType, busy, now
		mine.MeetingStatus = pim.MeetingReceived
		setStatus(mine.Attendees, u.Email, status)
		calID, err = s.save(ctx, u, mine, cur, folderID)
	}
	if err != nil {
		return 0, err
	}
	// The organizer's attendee list, when the organizer is a colleague.
	if org, err := s.Store.DirectoryEntry(ctx, e.Organizer.Email); err == nil {
		if err := s.recordAnswer(ctx, org, u, e.UID, status, a); err != nil {
			s.log().Error("meeting response: organizer's copy", "err", err)
		}
	}
	if a.Notify || a.proposes() {
		method := pim.MethodReply
		if a.proposes() {
			method = pim.MethodCounter
		}
		reply := replyEvent(e, a)
		reply.Attendees = []pim.Attendee{{Email: u.Email, Name: u.DisplayName, Type: pim.AttendeeRequired, Status: status,
			ProposedStart: a.ProposedStart, ProposedEnd: a.ProposedEnd}}
		raw, err := Compose(u.DisplayName, u.Email, []string{e.Organizer.Email}, method, reply, a.Comment)
		if err != nil {
			return calID, err
		}
		local := []string{}
		if _, err := s.Store.DirectoryEntry(ctx, e.Organizer.Email); err == nil {
			local = append(local, e.Organizer.Email)
		}
		if err := s.submit(ctx, u, raw, []string{e.Organizer.Email}, local); err != nil {
			return calID, err
		}
	}
	return calID, nil
}

// replyEvent is the meeting as a reply speaks of it: the series, or for an
// occurrence that occurrence alone (its own times, RECURRENCE-ID, no
// pattern).
func replyEvent(e *pim.Event, a Answer) *pim.Event {
	reply := *e
	reply.Exceptions, reply.ExDates = nil, nil
	if a.Instance == nil {
		return &reply
	}
	dur := e.End.Sub(e.Start)
	reply.RRule, reply.RecurrenceID = "", a.Instance.UTC()
	reply.Start, reply.End = *a.Instance, a.Instance.Add(dur)
	for _, x := range e.Exceptions {
		if x.RecurrenceID.Equal(*a.Instance) && !x.Deleted {
			if !x.Start.IsZero() {
				reply.Start = x.Start
				reply.End = x.Start.Add(dur)
			}
			if !x.End.IsZero() {
				reply.End = x.End
			}
			if x.Summary != "" {
				reply.Summary = x.Summary
			}
			if x.Location != "" {
				reply.Location = x.Location
			}
		}
	}
	return &reply
}

// occurrenceAttendees is the attendee list of one occurrence: its own, or
// a copy of the series'.
func occurrenceAttendees(e *pim.Event, x *pim.Exception) []pim.Attendee {
	if len(x.Attendees) > 0 {
		return x.Attendees
	}
	return append([]pim.Attendee(nil), e.Attendees...)
}

func (s *Service) save(ctx context.Context, u *store.User, e *pim.Event, cur *store.Item, folderID int64) (int64, error) {
	it, err := e.ToItem(u.ID, folderID)
	if err != nil {
		return 0, err
	}
	if cur != nil {
		it.ID = cur.ID
		return cur.ID, s.Store.ReplaceItem(ctx, it)
	}
	if err := s.Store.AddItem(ctx, it, nil); err != nil {
		return 0, err
	}
	return it.ID, nil
}

// exceptionAt returns e's exception for the occurrence at t, adding one.
func exceptionAt(e *pim.Event, t time.Time) *pim.Exception {
	for i := range e.Exceptions {
		if e.Exceptions[i].RecurrenceID.Equal(t) {
			return &e.Exceptions[i]
		}
	}
	e.Exceptions = append(e.Exceptions, pim.Exception{RecurrenceID: t.UTC()})
	return &e.Exceptions[len(e.Exceptions)-1]
}

// recordAnswer sets the attendee's status (and proposal) in the
// organizer's copy.
func (s *Service) recordAnswer(ctx context.Context, org, attendee *store.User, uid string, status int, a Answer) error {
	it, err := s.Store.ItemByUID(ctx, org.ID, store.ClassCalendar, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var e pim.Event
	if err := e.FromItem(it); err != nil {
		return err
	}
	addrs := []string{attendee.Email}
	if al, err := s.Store.Aliases(ctx, attendee.ID); err == nil {
		addrs = append(addrs, al...)
	}
	if !recordOn(&e, addrs, status, a) {
		return nil
	}
	next, err := e.ToItem(org.ID, it.FolderID)
	if err != nil {
		return err
	}
	next.ID = it.ID
	return s.Store.ReplaceItem(ctx, next)
}

// recordOn writes an attendee's answer into the organizer's event e: on
// the series, or for one occurrence on that occurrence's exception (made
// with the series' attendees when it has none; an occurrence the
// organizer deleted takes nothing). It reports whether e changed.
func recordOn(e *pim.Event, addrs []string, status int, a Answer) bool {
	list := &e.Attendees
	if a.Instance != nil {
		if e.RRule == "" || !e.IsOccurrence(*a.Instance) {
			return false
		}
		probe := *e
		probe.Exceptions = append([]pim.Exception(nil), e.Exceptions...)
		x := exceptionAt(&probe, *a.Instance)
		if x.Deleted {
			return false
		}
		x.Attendees = append([]pim.Attendee(nil), occurrenceAttendees(&probe, x)...)
		if !setAnswer(x.Attendees, addrs, status, a) {
			return false
		}
		e.Exceptions = probe.Exceptions
		return true
	}
	return setAnswer(*list, addrs, status, a)
}

// setAnswer sets the status and proposal of the attendee with one of the
// addresses.
func setAnswer(as []pim.Attendee, addrs []string, status int, a Answer) bool {
	changed := false
	for _, addr := range addrs {
		for i := range as {
			if strings.EqualFold(as[i].Email, addr) {
				as[i].Status = status
				as[i].ProposedStart, as[i].ProposedEnd = a.ProposedStart, a.ProposedEnd
				changed = true
			}
		}
	}
	return changed
}

// Compose builds an iMIP message (RFC 6047): a text summary and the
// text/calendar part with the method, from "name <from>" to the
// addresses. The calendar part has no file name, so it is the message's
// meeting content, not an attachment (see package message).
func Compose(name, from string, to []string, method string, e *pim.Event, comment string) ([]byte, error) {
	return ComposeWithFiles(name, from, to, method, e, comment, nil)
}

// ComposeWithFiles is Compose with files attached (the meeting's, for a
// REQUEST): the message is then multipart/mixed, the summary and the
// calendar part first (multipart/alternative), the files after, as
// Exchange sends a meeting request with attachments.
func ComposeWithFiles(name, from string, to []string, method string, e *pim.Event, comment string, files []File) ([]byte, error) {
	var ics bytes.Buffer
	replyFrom := ""
	if method == pim.MethodReply || method == pim.MethodCounter {
		replyFrom = from
	}
	if err := pim.WriteITIP(&ics, method, e, replyFrom); err != nil {
		return nil, err
	}
	var h mail.Header
	h.SetDate(time.Now())
	h.SetAddressList("From", []*mail.Address{{Name: name, Address: from}})
	var rcpts []*mail.Address
	for _, a := range to {
		rcpts = append(rcpts, &mail.Address{Address: a})
	}
	h.SetAddressList("To", rcpts)
	h.SetSubject(subjectFor(method, e))
	h.Set("MIME-Version", "1.0")
	var b bytes.Buffer
	var w, mixed *gomessage.Writer
	var err error
	if len(files) == 0 {
		h.Set("Content-Type", "multipart/alternative")
		if w, err = gomessage.CreateWriter(&b, h.Header); err != nil {
			return nil, err
		}
	} else {
		h.Set("Content-Type", "multipart/mixed")
		if mixed, err = gomessage.CreateWriter(&b, h.Header); err != nil {
			return nil, err
		}
		var ah gomessage.Header
		ah.Set("Content-Type", "multipart/alternative")
		if w, err = mixed.CreatePart(ah); err != nil {
			return nil, err
		}
	}
	var th gomessage.Header
	th.Set("Content-Type", "text/plain; charset=utf-8")
	tw, err := w.CreatePart(th)
	if err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(summaryText(method, e, comment))); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var ch gomessage.Header
	ch.Set("Content-Type", "text/calendar; charset=utf-8; method="+method)
	cw, err := w.CreatePart(ch)
	if err != nil {
		return nil, err
	}
	if _, err := cw.Write(ics.Bytes()); err != nil {
		return nil, err
	}
	if err := cw.Close(); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if mixed != nil {
		if err := writeFiles(mixed, files); err != nil {
			return nil, err
		}
		if err := mixed.Close(); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

func subjectFor(method string, e *pim.Event) string {
	switch method {
	case pim.MethodCancel:
		return "Canceled: " + e.Summary
	case pim.MethodCounter:
		return "New Time Proposed: " + e.Summary
	case pim.MethodReply:
		if len(e.Attendees) == 1 {
			switch e.Attendees[0].Status {
			case pim.StatusAccepted:
				return "Accepted: " + e.Summary
			case pim.StatusTentative:
				return "Tentative: " + e.Summary
			case pim.StatusDeclined:
				return "Declined: " + e.Summary
			}
		}
	}
	return e.Summary
}

func summaryText(method string, e *pim.Event, comment string) string {
	var b strings.Builder
	if comment != "" {
		b.WriteString(comment + "\r\n\r\n")
	}
	loc := e.Zone()
	when := e.Start.In(loc).Format("Monday 2 January 2006 15:04") + " - " + e.End.In(loc).Format("15:04 MST")
	if e.AllDay {
		when = e.Start.UTC().Format("Monday 2 January 2006") + " (all day)"
	}
	switch method {
	case pim.MethodCancel:
		b.WriteString("This meeting has been cancelled.\r\n\r\n")
	}
	fmt.Fprintf(&b, "When: %s\r\n", when)
	if method == pim.MethodCounter && len(e.Attendees) == 1 {
		p := e.Attendees[0]
		fmt.Fprintf(&b, "Proposed: %s - %s\r\n", p.ProposedStart.In(loc).Format("Monday 2 January 2006 15:04"), p.ProposedEnd.In(loc).Format("15:04 MST"))
	}
	if e.Location != "" {
		fmt.Fprintf(&b, "Where: %s\r\n", e.Location)
	}
	if e.Organizer.Email != "" {
		fmt.Fprintf(&b, "Organizer: %s\r\n", firstNonEmpty(e.Organizer.Name, e.Organizer.Email))
	}
	if method != pim.MethodReply && method != pim.MethodCounter && e.Description != "" {
		b.WriteString("\r\n" + e.Description + "\r\n")
	}
	return b.String()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// CalendarPart returns the text/calendar content of a meeting message (the
// first such part, decoded), or nil.
func CalendarPart(raw []byte) []byte {
	m, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err) {
		return nil
	}
	var found []byte
	_ = m.Walk(func(path []int, e *gomessage.Entity, err error) error {
		if err != nil || found != nil {
			return nil
		}
		ct, _, _ := e.Header.ContentType()
		if strings.EqualFold(ct, "text/calendar") {
			var b bytes.Buffer
			if _, err := b.ReadFrom(io.LimitReader(e.Body, 4<<20)); err == nil {
				found = b.Bytes()
			}
		}
		return nil
	})
	return found
}

// Incoming applies a meeting message from outside (iMIP over SMTP) to a
// local recipient's calendar, after delivery stored it in their Inbox. It
// is for delivery to call; meeting traffic between colleagues on this
// server is applied directly (Organized, Respond) and is ignored here.
//
//   - REQUEST from a remote organizer: the meeting enters the recipient's
//     calendar tentatively (an update keeps their answer if the times did
//     not change).
//   - CANCEL from a remote organizer: the meeting leaves it.
//   - REPLY from a remote attendee to a meeting the recipient organises:
//     the attendee's answer is recorded in the organizer's copy (on the
//     occurrence's exception when it names one by RECURRENCE-ID); a
//     COUNTER records the answer and the proposed time.
//
// The message must come from the person it speaks for: the ORGANIZER of a
// REQUEST or CANCEL, the one ATTENDEE of a REPLY, must be the envelope
// sender or the From address; and a CANCEL only removes a meeting with
// that organizer. Anything else is ignored (nil error).
func (s *Service) Incoming(ctx context.Context, rcpt *store.User, envelopeFrom string, raw []byte) error {
	ics := CalendarPart(raw)
	if ics == nil {
		return nil
	}
	method, e, err := pim.ParseITIP(ics)
	if err != nil || e == nil {
		return nil
	}
	senders := map[string]bool{attendeeKey(strings.Trim(envelopeFrom, "<>")): true}
	if m, err := mail.CreateReader(bytes.NewReader(raw)); err == nil {
		if from, err := m.Header.AddressList("From"); err == nil {
			for _, a := range from {
				senders[attendeeKey(a.Address)] = true
			}
		}
	}
	local := func(addr string) bool {
		_, err := s.Store.DirectoryEntry(ctx, addr)
		return err == nil
	}
	switch method {
	case pim.MethodRequest, pim.MethodCancel:
		org := attendeeKey(e.Organizer.Email)
		if org == "" || !senders[org] || local(org) || !e.RecurrenceID.IsZero() {
			return nil // a change of one occurrence alone is not applied
		}
		if method == pim.MethodCancel {
			cur, err := s.Store.ItemByUID(ctx, rcpt.ID, store.ClassCalendar, e.UID)
			if err != nil {
				return nil
			}
			var old pim.Event
			if old.FromItem(cur) != nil || attendeeKey(old.Organizer.Email) != org {
				return nil
			}
			return s.Store.DeleteItem(ctx, rcpt.ID, cur.ID)
		}
		return s.applyToAttendee(ctx, rcpt, pim.MethodRequest, e, raw)
	case pim.MethodReply, pim.MethodCounter:
		if len(e.Attendees) != 1 {
			return nil
		}
		who := attendeeKey(e.Attendees[0].Email)
		if !senders[who] || local(who) {
			return nil
		}
		it, err := s.Store.ItemByUID(ctx, rcpt.ID, store.ClassCalendar, e.UID)
		if err != nil {
			return nil
		}
		var org pim.Event
		if org.FromItem(it) != nil || !IsOrganized(&org) {
			return nil
		}
		a := Answer{ProposedStart: e.Attendees[0].ProposedStart, ProposedEnd: e.Attendees[0].ProposedEnd}
		if !e.RecurrenceID.IsZero() {
			inst := e.RecurrenceID
			a.Instance = &inst
		}
		if !recordOn(&org, []string{who}, e.Attendees[0].Status, a) {
			return nil
		}
		next, err := org.ToItem(rcpt.ID, it.FolderID)
		if err != nil {
			return err
		}
		next.ID = it.ID
		return s.Store.ReplaceItem(ctx, next)
	}
	return nil
}
