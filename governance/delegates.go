package governance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"airlock/internal/notice"
	"airlock/store"
)

// ErrBadDelegation: an unknown scope or permission.
var ErrBadDelegation = errors.New("governance: unknown delegation scope or permission")

// DelegateView is a grant with the people's addresses, for listings.
type DelegateView struct {
	store.Delegate
	OwnerEmail, DelegateEmail string
}

func checkDelegation(scope, permission string) error {
	switch {
	case scope == store.ScopeMail && (permission == store.PermissionRead || permission == store.PermissionSendOnBehalf):
	case scope == store.ScopeCalendar && (permission == store.PermissionRead || permission == store.PermissionSendOnBehalf):
	default:
		return fmt.Errorf("scope %q permission %q (mail or calendar: read or send_on_behalf): %w", scope, permission, ErrBadDelegation)
	}
	return nil
}

// GrantDelegate lets delegate use owner's mail or calendar, audited. The
// delegate is sent a notice, so they know what they now hold (and can
// query a grant they did not expect); when someone other than the owner
// makes the grant (an admin for them), the owner is sent one too, so that
// the grant is never hidden from them.
func (s *Service) GrantDelegate(ctx context.Context, a Actor, owner, delegate *store.User, scope, permission string) error {
	if err := checkDelegation(scope, permission); err != nil {
		return err
	}
	d := &store.Delegate{OwnerID: owner.ID, DelegateID: delegate.ID, Scope: scope, Permission: permission, GrantedBy: a.Name}
	err := s.Store.GrantDelegate(ctx, d)
	detail := fmt.Sprintf("%s: %s %s", delegate.Email, scope, permission)
	if err != nil {
		s.audit(ctx, a, "delegate.grant", "mailbox", owner.Email, owner.ID, "failure", detail+": "+err.Error())
		return err
	}
	if err := s.audit(ctx, a, "delegate.grant", "mailbox", owner.Email, owner.ID, "success", detail); err != nil {
		return err
	}
	s.tell(ctx, delegate, "You have been given delegated access to a mailbox", fmt.Sprintf("You may now %s the %s of %s <%s> (granted by %s).", verbFor(permission), scope, owner.DisplayName, owner.Email, a.Name))
	if a.UserID != owner.ID {
		s.tellOwner(ctx, owner, fmt.Sprintf("%s <%s> may now %s your %s (granted by %s).", delegate.DisplayName, delegate.Email, verb(permission), scope, a.Name))
	}
	return nil
}

// RevokeDelegate ends a grant (every scope when scope is empty), audited.
func (s *Service) RevokeDelegate(ctx context.Context, a Actor, owner, delegate *store.User, scope string) error {
	err := s.Store.RevokeDelegate(ctx, owner.ID, delegate.ID, scope)
	detail := delegate.Email + ": " + scope
	if scope == "" {
		detail = delegate.Email + ": all"
	}
	if err != nil {
		s.audit(ctx, a, "delegate.revoke", "mailbox", owner.Email, owner.ID, "failure", detail+": "+err.Error())
		return err
	}
	if err := s.audit(ctx, a, "delegate.revoke", "mailbox", owner.Email, owner.ID, "success", detail); err != nil {
		return err
	}
	s.tell(ctx, delegate, "Your delegated access to a mailbox has ended", fmt.Sprintf("Your delegated access (%s) to the mailbox of %s <%s> has ended (revoked by %s).", strings.TrimPrefix(detail, delegate.Email+": "), owner.DisplayName, owner.Email, a.Name))
	if a.UserID != owner.ID {
		s.tellOwner(ctx, owner, fmt.Sprintf("%s <%s> no longer has delegated access (%s) to your mailbox (revoked by %s).", delegate.DisplayName, delegate.Email, strings.TrimPrefix(detail, delegate.Email+": "), a.Name))
	}
	return nil
}

func verb(permission string) string {
	if permission == store.PermissionSendOnBehalf {
		return "read and act on behalf of you in"
	}
	return "read"
}

// verbFor is verb seen from the delegate's side.
func verbFor(permission string) string {
	if permission == store.PermissionSendOnBehalf {
		return "read and act on behalf of the owner in"
	}
	return "read"
}

func (s *Service) tellOwner(ctx context.Context, owner *store.User, text string) {
	s.tell(ctx, owner, "Delegated access to your mailbox changed", text+"\n\nYou can see every delegate of your mailbox on your page in Airlock (/my).")
}

// tell delivers a notice about a delegation change to u's Inbox. A failure
// is logged, not returned: the grant or revocation itself has happened.
func (s *Service) tell(ctx context.Context, u *store.User, subject, text string) {
	d, err := notice.Notice{
		Hostname: s.Hostname, To: u, Kind: "delegate", Now: s.now(),
		Subject: subject, Body: text + "\n",
	}.Delivery(ctx, s.Store)
	if err == nil {
		err = s.Store.Deliver(ctx, *d)
	}
	if err != nil {
		s.log().Error("could not send a notice of a delegation change", "to", u.Email, "err", err)
	}
}

// Delegates lists the grants an owner made, with addresses: what the owner
// sees.
func (s *Service) Delegates(ctx context.Context, owner *store.User) ([]DelegateView, error) {
	ds, err := s.Store.DelegatesOf(ctx, owner.ID)
	if err != nil {
		return nil, err
	}
	return s.views(ctx, ds)
}

// DelegationsTo lists the mailboxes a user was given access to.
func (s *Service) DelegationsTo(ctx context.Context, delegate *store.User) ([]DelegateView, error) {
	ds, err := s.Store.DelegationsTo(ctx, delegate.ID)
	if err != nil {
		return nil, err
	}
	return s.views(ctx, ds)
}

func (s *Service) views(ctx context.Context, ds []store.Delegate) ([]DelegateView, error) {
	var ids []int64
	for _, d := range ds {
		ids = append(ids, d.OwnerID, d.DelegateID)
	}
	users, err := s.Store.UsersByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]DelegateView, len(ds))
	for i, d := range ds {
		out[i] = DelegateView{Delegate: d}
		if u := users[d.OwnerID]; u != nil {
			out[i].OwnerEmail = u.Email
		}
		if u := users[d.DelegateID]; u != nil {
			out[i].DelegateEmail = u.Email
		}
	}
	return out, nil
}

// DelegateAccess reports what actor may do with owner's mailbox by
// delegation. Failures deny.
func (s *Service) DelegateAccess(ctx context.Context, actorID, ownerID int64) (Grant, bool) {
	ds, err := s.Store.DelegatesOf(ctx, ownerID)
	if err != nil {
		s.log().Error("delegate check failed; denying", "err", err)
		return Grant{}, false
	}
	g := Grant{Kind: "delegate", OwnerID: ownerID, ActorID: actorID, ReadOnly: true}
	for _, d := range ds {
		if d.DelegateID != actorID {
			continue
		}
		switch d.Scope {
		case store.ScopeMail:
			g.Mail = true
			g.SendOnBehalf = d.Permission == store.PermissionSendOnBehalf
		case store.ScopeCalendar:
			g.Calendar = true
			g.ManageCalendar = d.Permission == store.PermissionSendOnBehalf
		}
	}
	return g, g.Mail || g.Calendar
}

// CanSendOnBehalf reports whether actor may send mail From owner.
func (s *Service) CanSendOnBehalf(ctx context.Context, actorID, ownerID int64) bool {
	g, ok := s.DelegateAccess(ctx, actorID, ownerID)
	return ok && g.SendOnBehalf
}

// MailboxAccess is what actor may do with owner's mail: break-glass (read
// everything) or a delegation. Failures deny.
func (s *Service) MailboxAccess(ctx context.Context, actorID, ownerID int64) (Grant, bool) {
	if actorID == ownerID {
		return Grant{}, false // their own mailbox is not a grant
	}
	if g, ok := s.Access(ctx, actorID, ownerID); ok {
		return g, true
	}
	return s.DelegateAccess(ctx, actorID, ownerID)
}

// SharedMailboxes lists the owners whose mail actor may open now, by
// break-glass or a mail delegation, each once.
func (s *Service) SharedMailboxes(ctx context.Context, actorID int64) ([]Grant, error) {
	var out []Grant
	seen := map[int64]bool{}
	bgs, err := s.Store.ActiveBreakGlassFor(ctx, actorID, s.now())
	if err != nil {
		return nil, err
	}
	for _, b := range bgs {
		if !seen[b.OwnerID] {
			seen[b.OwnerID] = true
			out = append(out, Grant{Kind: "breakglass", OwnerID: b.OwnerID, ActorID: actorID, Mail: true, Calendar: true, ReadOnly: true, RequestID: b.ID, Expires: b.ExpiresAt})
		}
	}
	ds, err := s.Store.DelegationsTo(ctx, actorID)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.Scope != store.ScopeMail || seen[d.OwnerID] {
			continue
		}
		seen[d.OwnerID] = true
		out = append(out, Grant{Kind: "delegate", OwnerID: d.OwnerID, ActorID: actorID, Mail: true, ReadOnly: true, SendOnBehalf: d.Permission == store.PermissionSendOnBehalf})
	}
	return out, nil
}
