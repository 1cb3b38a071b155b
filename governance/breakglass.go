package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"airlock/internal/notice"
	"airlock/store"
)

// Refusals of break-glass steps; compare with errors.Is.
var (
	ErrReasonRequired  = errors.New("governance: a reason is required")
	ErrBadDuration     = errors.New("governance: access duration out of bounds")
	ErrSelfApproval    = errors.New("governance: the requester cannot approve their own request")
	ErrOwnerApproval   = errors.New("governance: the mailbox owner cannot approve")
	ErrAlreadyApproved = errors.New("governance: this person has already approved this request")
	ErrNoRole          = errors.New("governance: the approver holds no required role that is still to approve")
	ErrAmbiguousRole   = errors.New("governance: the approver holds both required roles: say which one they approve as")
	ErrNotPending      = errors.New("governance: the request is not waiting for approval")
	ErrSelfRequest     = errors.New("governance: a user cannot request break-glass access to their own mailbox")
)

// MinReasonLength is the shortest reason accepted for a request.
const MinReasonLength = 10

// Grant is access one user has to another user's mailbox.
type Grant struct {
	Kind    string // "breakglass" or "delegate"
	OwnerID int64
	ActorID int64
	// Mail and Calendar say what may be read; SendOnBehalf allows mail
	// From the owner with Sender the actor.
	Mail, Calendar, SendOnBehalf bool
	// ManageCalendar (a calendar delegation with send on behalf) lets the
	// actor add, change, cancel and answer the owner's meetings, their
	// meeting mail From the owner with Sender the actor (calendar_write.go).
	ManageCalendar bool
	// ReadOnly is always true today for mail: no grant lets the actor
	// change the owner's mail.
	ReadOnly bool
	// RequestID and Expires, for break-glass.
	RequestID int64
	Expires   *time.Time
}

// RequestBreakGlass files a request by requester for access to owner's
// mailbox for d, audited. It gives no access until approved.
func (s *Service) RequestBreakGlass(ctx context.Context, requester, owner *store.User, reason string, d time.Duration, ip string) (*store.BreakGlass, error) {
	a := Actor{UserID: requester.ID, Name: requester.Email, IP: ip}
	reason = strings.TrimSpace(reason)
	var err error
	switch {
	case requester.ID == owner.ID:
		err = ErrSelfRequest
	case len(reason) < MinReasonLength:
		err = fmt.Errorf("at least %d characters: %w", MinReasonLength, ErrReasonRequired)
	case d < time.Minute || d > s.maxBreakGlass():
		err = fmt.Errorf("%v (allowed: 1m to %v): %w", d, s.maxBreakGlass(), ErrBadDuration)
	case requester.Disabled:
		err = fmt.Errorf("requester %s is disabled: %w", requester.Email, ErrNotPending)
	}
	if err != nil {
		s.audit(ctx, a, "breakglass.request", "mailbox", owner.Email, owner.ID, "denied", err.Error())
		return nil, err
	}
	now := s.now()
	b := &store.BreakGlass{
		RequesterID: requester.ID, OwnerID: owner.ID, Reason: reason,
		DurationSeconds: int64(d / time.Second), CreatedAt: now, PendingUntil: now.Add(s.pendingFor()),
	}
	if err := s.Store.CreateBreakGlass(ctx, b); err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("request %d for %v: %s", b.ID, d, reason)
	if err := s.audit(ctx, a, "breakglass.request", "mailbox", owner.Email, owner.ID, "success", detail); err != nil {
		return nil, err
	}
	s.log().Info("break-glass requested", "request", b.ID)
	return b, nil
}

// decideApproval applies the two-person rule to one approval: approverID,
// holding roles, approving request b that already has approvals, as role
// as ("" to let the rule choose). It returns the approval to record and
// whether it completes the request.
func decideApproval(b *store.BreakGlass, approvals []store.BreakGlassApproval, approverID int64, roles []string, as, withhold string, now time.Time) (*store.BreakGlassApproval, bool, error) {
	if b.State != store.BreakGlassPending || !now.Before(b.PendingUntil) {
		return nil, false, fmt.Errorf("request %d is %s: %w", b.ID, b.State, ErrNotPending)
	}
	if approverID == b.RequesterID {
		return nil, false, ErrSelfApproval
	}
	if approverID == b.OwnerID {
		return nil, false, ErrOwnerApproval
	}
	filled := map[string]bool{}
	for _, a := range approvals {
		if a.ApproverID == approverID {
			return nil, false, ErrAlreadyApproved
		}
		filled[a.Role] = true
	}
	var open []string
	for _, r := range BreakGlassRoles {
		if slices.Contains(roles, r) && !filled[r] {
			open = append(open, r)
		}
	}
	role := as
	switch {
	case as != "" && !slices.Contains(open, as):
		return nil, false, fmt.Errorf("cannot approve as %q (can fill: %v): %w", as, open, ErrNoRole)
	case as != "":
	case len(open) == 0:
		return nil, false, fmt.Errorf("holds %v, still to approve: %v: %w", roles, missing(filled), ErrNoRole)
	case len(open) > 1:
		return nil, false, ErrAmbiguousRole
	default:
		role = open[0]
	}
	filled[role] = true
	return &store.BreakGlassApproval{Role: role, WithholdNotice: strings.TrimSpace(withhold)}, len(missing(filled)) == 0, nil
}

func missing(filled map[string]bool) []string {
	var out []string
	for _, r := range BreakGlassRoles {
		if !filled[r] {
			out = append(out, r)
		}
	}
	return out
}

// ApproveBreakGlass records approver's approval of request id, as role as
// (needed only when they hold both required roles). withhold, when not
// empty, is the approver's reason for not telling the owner; the owner is
// told unless every approver gave one. Refusals are audited too.
func (s *Service) ApproveBreakGlass(ctx context.Context, id int64, approver *store.User, as, withhold, ip string) (*store.BreakGlass, error) {
	a := Actor{UserID: approver.ID, Name: approver.Email, IP: ip}
	now := s.now()
	var role string
	b, err := s.Store.ApproveBreakGlass(ctx, id, approver.ID, now, func(b *store.BreakGlass, as2 []store.BreakGlassApproval, roles []string) (*store.BreakGlassApproval, bool, error) {
		if approver.Disabled {
			return nil, false, fmt.Errorf("approver %s is disabled: %w", approver.Email, ErrNoRole)
		}
		ap, activate, err := decideApproval(b, as2, approver.ID, roles, as, withhold, now)
		if ap != nil {
			role = ap.Role
		}
		return ap, activate, err
	})
	target := fmt.Sprintf("breakglass:%d", id)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			// The keys caught what the rule did not see (a concurrent
			// approval): same answer as the rule's.
			err = fmt.Errorf("%v: %w", err, ErrAlreadyApproved)
		}
		s.audit(ctx, a, "breakglass.approve", "breakglass", target, 0, "denied", err.Error())
		return nil, err
	}
	detail := "as " + role
	if withhold != "" {
		detail += "; asks that the owner not be told: " + withhold
	}
	if err := s.audit(ctx, a, "breakglass.approve", "breakglass", target, b.OwnerID, "success", detail); err != nil {
		return nil, err
	}
	if b.State == store.BreakGlassActive {
		detail := fmt.Sprintf("access for user %d until %s", b.RequesterID, b.ExpiresAt.Format(time.RFC3339))
		if b.NoticeWithheld {
			detail += "; the owner will not be told (every approver gave a reason)"
		}
		if err := s.audit(ctx, a, "breakglass.activate", "breakglass", target, b.OwnerID, "success", detail); err != nil {
			return nil, err
		}
		s.log().Info("break-glass access in force", "request", b.ID)
	}
	return b, nil
}

// Access reports whether actor may open owner's mailbox under break-glass
// now. Any failure to find out denies (and is logged).
func (s *Service) Access(ctx context.Context, actorID, ownerID int64) (Grant, bool) {
	b, err := s.Store.ActiveBreakGlass(ctx, actorID, ownerID, s.now())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log().Error("break-glass access check failed; denying", "err", err)
		}
		return Grant{}, false
	}
	return Grant{Kind: "breakglass", OwnerID: ownerID, ActorID: actorID, Mail: true, Calendar: true, ReadOnly: true, RequestID: b.ID, Expires: b.ExpiresAt}, true
}

// RevokeBreakGlass stops a pending or active request. If access had begun,
// the owner is told (unless the notice was withheld).
func (s *Service) RevokeBreakGlass(ctx context.Context, a Actor, id int64, why string) error {
	b, approvals, err := s.Store.BreakGlassByID(ctx, id)
	if err != nil {
		return err
	}
	now := s.now()
	var n *store.Delivery
	if b.State == store.BreakGlassActive && !b.NoticeWithheld {
		if n, err = s.ownerNotice(ctx, b, approvals, now, "revoked early by "+a.Name); err != nil {
			return err
		}
	}
	ok, err := s.Store.EndBreakGlass(ctx, id, []store.BreakGlassState{store.BreakGlassPending, store.BreakGlassActive}, store.BreakGlassRevoked, a.Name, now, n)
	if err != nil {
		return err
	}
	target := fmt.Sprintf("breakglass:%d", id)
	if !ok {
		s.audit(ctx, a, "breakglass.revoke", "breakglass", target, b.OwnerID, "failure", "not pending or active")
		return fmt.Errorf("request %d is %s: %w", id, b.State, ErrNotPending)
	}
	detail := strings.TrimSpace(why)
	if n != nil {
		detail += "; owner told"
	}
	return s.audit(ctx, a, "breakglass.revoke", "breakglass", target, b.OwnerID, "success", detail)
}

// Sweep ends the access of active requests whose time has run out (telling
// the owner, unless withheld) and lapses pending requests nobody approved
// in time. Serve runs it every minute; it is safe on many nodes at once.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	due, err := s.Store.DueBreakGlass(ctx, now)
	if err != nil {
		return 0, err
	}
	sys := Actor{Name: "system"}
	n := 0
	for i := range due {
		b := &due[i]
		target := fmt.Sprintf("breakglass:%d", b.ID)
		if b.State == store.BreakGlassPending {
			ok, err := s.Store.EndBreakGlass(ctx, b.ID, []store.BreakGlassState{store.BreakGlassPending}, store.BreakGlassLapsed, "system", now, nil)
			if err != nil {
				return n, err
			}
			if ok {
				n++
				s.audit(ctx, sys, "breakglass.lapse", "breakglass", target, b.OwnerID, "success", "not approved in time")
			}
			continue
		}
		var d *store.Delivery
		if !b.NoticeWithheld {
			_, approvals, err := s.Store.BreakGlassByID(ctx, b.ID)
			if err != nil {
				return n, err
			}
			if d, err = s.ownerNotice(ctx, b, approvals, *b.ExpiresAt, "ended as planned"); err != nil {
				return n, err
			}
		}
		ok, err := s.Store.EndBreakGlass(ctx, b.ID, []store.BreakGlassState{store.BreakGlassActive}, store.BreakGlassEnded, "system", now, d)
		if err != nil {
			return n, err
		}
		if ok {
			n++
			detail := "access ended; owner told"
			if b.NoticeWithheld {
				detail = "access ended; owner not told (withheld by the approvers)"
			}
			s.audit(ctx, sys, "breakglass.end", "breakglass", target, b.OwnerID, "success", detail)
		}
	}
	return n, nil
}

// ownerNotice is the owner's message about access that took place.
func (s *Service) ownerNotice(ctx context.Context, b *store.BreakGlass, approvals []store.BreakGlassApproval, end time.Time, how string) (*store.Delivery, error) {
	ids := []int64{b.OwnerID, b.RequesterID}
	for _, a := range approvals {
		ids = append(ids, a.ApproverID)
	}
	users, err := s.Store.UsersByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	owner := users[b.OwnerID]
	if owner == nil {
		return nil, fmt.Errorf("owner %d: %w", b.OwnerID, store.ErrNotFound)
	}
	name := func(id int64) string {
		if u := users[id]; u != nil {
			return fmt.Sprintf("%s <%s>", u.DisplayName, u.Email)
		}
		return fmt.Sprintf("user %d (deleted)", id)
	}
	var body strings.Builder
	fmt.Fprintf(&body, "Under the break-glass procedure, %s had access to your mailbox\n", name(b.RequesterID))
	fmt.Fprintf(&body, "from %s until %s (%s).\n\n", b.ActivatedAt.Format(time.RFC1123), end.Format(time.RFC1123), how)
	fmt.Fprintf(&body, "Reason given: %s\n\nApproved by:\n", b.Reason)
	for _, a := range approvals {
		fmt.Fprintf(&body, "  %s, as %s, on %s\n", name(a.ApproverID), strings.ReplaceAll(a.Role, "_", " "), a.ApprovedAt.Format(time.RFC1123))
	}
	fmt.Fprintf(&body, "\nReference: break-glass request %d. Every access is recorded in the audit log;\nask your information governance team if you have questions.\n", b.ID)
	return notice.Notice{
		Hostname: s.Hostname, To: owner, Kind: "breakglass", Now: end,
		Subject: "Your mailbox was accessed under the break-glass procedure", Body: body.String(),
	}.Delivery(ctx, s.Store)
}
