package activesync

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/beevik/etree"

	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
)

// Status values of MeetingResponse (MS-ASCMD 2.2.3.177.8).
const (
	mrOK             = 1
	mrInvalidRequest = 2 // not a meeting request, or not found
	mrMailboxError   = 3
	mrServerError    = 4
)

// meetingResponse serves MS-ASCMD 2.2.1.11 MeetingResponse: the user
// accepts (1), tentatively accepts (2) or declines (3) a meeting, named by
// the meeting request in a mail folder or by the meeting in a calendar
// (CollectionId and RequestId, or a Search LongId), optionally one
// occurrence (InstanceId, 14.1+), optionally with a new time proposed
// (SendResponse ProposedStartTime/EndTime, 16.1: the organizer gets a
// COUNTER; a meeting that disallows proposals answers Status 2).
//
// The user's calendar takes the answer (scheduling.Respond); a colleague
// who organised it sees it in the meeting's attendee list; the request
// leaves the Inbox for Deleted Items. The reply mail to the organizer is
// sent by the server from 16.0 when the device asks (SendResponse);
// devices of earlier versions send it themselves with SendMail (MS-ASCMD
// 3.1.5.6), so the server does not, to avoid a second reply.
func (h *Handler) meetingResponse(ctx context.Context, r *Request) (*Response, error) {
	req := root(r.Doc, "MeetingResponse:MeetingResponse")
	reqs := children(req, "MeetingResponse:Request")
	if req == nil || len(reqs) == 0 || len(reqs) > 100 {
		return nil, &Error{HTTP: 400, Status: StatusInvalidContent, Legacy: 400, Reason: "MeetingResponse without Request"}
	}
	doc, resp := newDoc("MeetingResponse:MeetingResponse")
	sched := &scheduling.Service{Store: h.store, Mail: h.mail, Log: r.Log}
	for _, rq := range reqs {
		res := resp.CreateElement("MeetingResponse:Result")
		id := text(rq, "MeetingResponse:RequestId")
		if id == "" {
			id = text(rq, "Search:LongId")
			add(res, "Search:LongId", id)
		} else {
			add(res, "MeetingResponse:RequestId", id)
		}
		status, calID, err := h.respondOne(ctx, r, sched, rq, id)
		if err != nil {
			if errors.Is(err, store.ErrUnavailable) {
				return nil, errRetryLater(err)
			}
			r.Log.Error("meeting response", "err", err)
			status = mrServerError
		}
		add(res, "MeetingResponse:Status", itoa(status))
		if status == mrOK && calID != 0 {
			add(res, "MeetingResponse:CalendarId", strconv.FormatInt(calID, 10))
		}
		if iid := text(rq, "MeetingResponse:InstanceId"); iid != "" && r.Version >= V160 {
			add(res, "MeetingResponse:InstanceId", iid)
		}
	}
	return &Response{Doc: doc}, nil
}

func (h *Handler) respondOne(ctx context.Context, r *Request, sched *scheduling.Service, rq *etree.Element, id string) (int, int64, error) {
	answer, err := strconv.Atoi(text(rq, "MeetingResponse:UserResponse"))
	if err != nil || answer < scheduling.Accept || answer > scheduling.Decline {
		return mrInvalidRequest, 0, nil
	}
	itemID, ok := parseItemID(id)
	if !ok {
		return mrInvalidRequest, 0, nil
	}
	it, err := h.store.ItemByID(ctx, r.User.ID, itemID)
	if errors.Is(err, store.ErrNotFound) {
		return mrInvalidRequest, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	if c := text(rq, "MeetingResponse:CollectionId"); c != "" && c != strconv.FormatInt(it.FolderID, 10) {
		return mrInvalidRequest, 0, nil
	}
	var e *pim.Event
	var request *store.Item
	switch it.Class {
	case store.ClassCalendar:
		var ev pim.Event
		if ev.FromItem(it) != nil {
			return mrInvalidRequest, 0, nil
		}
		e = &ev
	case store.ClassEmail:
		if it.MessageClass != "IPM.Schedule.Meeting.Request" {
			return mrInvalidRequest, 0, nil
		}
		raw, err := h.store.Blob(ctx, r.User.ID, it.ID)
		if err != nil {
			return 0, 0, err
		}
		method, ev, err := pim.ParseITIP(scheduling.CalendarPart(raw))
		if err != nil || (method != "" && method != pim.MethodRequest) || !ev.RecurrenceID.IsZero() {
			return mrInvalidRequest, 0, nil // a request for one occurrence alone is not answerable here
		}
		e, request = ev, it
	default:
		return mrInvalidRequest, 0, nil
	}
	if e.Organizer.Email == "" || e.MeetingStatus == pim.MeetingOrganizer {
		return mrInvalidRequest, 0, nil // nothing to answer: no organizer, or the user's own
	}
	a := scheduling.Answer{Response: answer}
	if iid := text(rq, "MeetingResponse:InstanceId"); iid != "" {
		if r.Version < V141 {
			return mrInvalidRequest, 0, nil // InstanceId is 14.1+
		}
		t, ok := parseEASTime(iid)
		if !ok {
			return mrInvalidRequest, 0, nil
		}
		if e.AllDay {
			t = dateOfLocal(t, eventZone(e)) // local midnight names the stored date
		}
		if e.RRule == "" || !e.IsOccurrence(t) {
			return mrInvalidRequest, 0, nil
		}
		a.Instance = &t
	}
	if sr := child(rq, "MeetingResponse:SendResponse"); sr != nil && r.Version >= V160 {
		a.Notify = true
		a.Comment = readBody(sr)
		var ok bool
		if a.ProposedStart, a.ProposedEnd, ok = proposal(sr, e, r.Version); !ok {
			return mrInvalidRequest, 0, nil
		}
	}
	calID, err := sched.Respond(ctx, r.User, e, a)
	if errors.Is(err, scheduling.ErrNotAMeeting) || errors.Is(err, scheduling.ErrProposalRefused) {
		return mrInvalidRequest, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	if request != nil && a.Instance == nil {
		// The request is answered: it leaves the Inbox.
		if trash, err := h.store.FolderByType(ctx, r.User.ID, store.FolderDeletedItems); err == nil && trash.ID != request.FolderID {
			if _, err := h.store.MoveItem(ctx, r.User.ID, request.ID, trash.ID); err != nil {
				r.Log.Warn("meeting response: request not moved", "err", err)
			}
		}
	}
	if answer == scheduling.Decline && a.Instance == nil {
		calID = 0
	}
	return mrOK, calID, nil
}

// proposal reads a new time proposal (MS-ASCMD 2.2.3.141
// ProposedStartTime, 2.2.3.140 ProposedEndTime, 16.1) from SendResponse:
// zero times for none; ok is false for a malformed one. An end without a
// start is malformed; a start alone keeps the meeting's length.
func proposal(sr *etree.Element, e *pim.Event, v Version) (start, end time.Time, ok bool) {
	if v < V161 {
		return time.Time{}, time.Time{}, true
	}
	s, e2 := text(sr, "MeetingResponse:ProposedStartTime"), text(sr, "MeetingResponse:ProposedEndTime")
	if s == "" {
		return time.Time{}, time.Time{}, e2 == ""
	}
	start, ok = parseEASTime(s)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	end = start.Add(e.End.Sub(e.Start))
	if e2 != "" {
		if end, ok = parseEASTime(e2); !ok || end.Before(start) {
			return time.Time{}, time.Time{}, false
		}
	}
	return start.UTC(), end.UTC(), true
}

// committed sends the meeting mail of what the user, as organizer, did to
// meetings on a device (scheduling.Organized): invitations for a new
// meeting, updates (also when only its files changed: attendees get the
// current set), cancellations. Failures are logged: the device's
// change stands.
func (calendarCodec) committed(ctx context.Context, h *Handler, r *Request, folder *store.Folder, done []syncApplied) {
	sched := &scheduling.Service{Store: h.store, Mail: h.mail, Log: r.Log}
	seen := map[int64]bool{}
	for _, d := range done {
		if seen[d.ItemID] {
			continue // several commands on one series were applied as one
		}
		seen[d.ItemID] = true
		var before, after *pim.Event
		var beforeFiles, afterFiles []store.Attachment
		if d.Before != nil {
			var e pim.Event
			if e.FromItem(d.Before) == nil {
				before = &e
			}
			beforeFiles = d.Before.Attachments
		}
		if d.Kind != "Delete" || d.Instance {
			it, err := h.store.ItemByID(ctx, r.User.ID, d.ItemID)
			if err == nil {
				var e pim.Event
				if e.FromItem(it) == nil {
					after = &e
				}
				afterFiles = it.Attachments
			}
		}
		if !scheduling.IsOrganized(before) && !scheduling.IsOrganized(after) {
			continue
		}
		start := time.Now()
		if err := sched.OrganizedChange(ctx, r.User, before, after, !sameFiles(beforeFiles, afterFiles)); err != nil {
			r.Log.Error("meeting mail", "err", err, "item", d.ItemID)
		} else {
			r.Log.Info("meeting mail sent", "item", d.ItemID, "kind", d.Kind, "took", time.Since(start))
		}
	}
}

// sameFiles reports whether two attachment lists of one event name the
// same files (an edit keeps a file's id; a new file gets a new one).
func sameFiles(a, b []store.Attachment) bool {
	if len(a) != len(b) {
		return false
	}
	ids := map[int64]bool{}
	for _, x := range a {
		ids[x.ID] = true
	}
	for _, x := range b {
		if !ids[x.ID] {
			return false
		}
	}
	return true
}
