package web

// The owner's own control of their delegates: on /account, a mailbox
// owner gives a colleague read or send-on-behalf access to their mail or
// calendar, and ends it. The grant and revocation go through the same
// governance calls as `airlock delegate grant|revoke`, so the same rules
// apply and the same audit entries are written; the only refusals the web
// audits itself are those the service never sees (an address that is no
// enabled colleague, a scope or permission it does not know).
//
// An unknown and a disabled address get the same answer: the directory
// (GAL) already lists enabled staff, so nothing more is told. Access is
// checked against the store on every delegated request, so a revocation
// holds from the next one.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"airlock/governance"
	"airlock/store"
)

// DelegateGrants grants and revokes delegations, audited
// (governance.Service implements it).
type DelegateGrants interface {
	GrantDelegate(ctx context.Context, a governance.Actor, owner, delegate *store.User, scope, permission string) error
	RevokeDelegate(ctx context.Context, a governance.Actor, owner, delegate *store.User, scope string) error
}

func (s *Server) grants() DelegateGrants {
	g, _ := s.d.Delegations.(DelegateGrants)
	return g
}

const delegatesAnchor = "/account#delegates"

// colleague resolves the address typed in the form to an enabled user, or
// nil (unknown and disabled alike).
func (s *Server) colleague(ctx context.Context, addr string) (*store.User, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return nil, nil
	}
	u, err := s.store.UserByAddress(ctx, addr)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case u.Disabled:
		return nil, nil
	}
	return u, nil
}

// refuseGrant audits a refusal the service did not see, in the service's
// terms, and tells the owner why.
func (s *Server) refuseGrant(c echo.Context, action, detail, msg string) error {
	me := ident(c).User
	s.audit(c, &store.AuditEvent{Action: action, TargetType: "mailbox", Target: me.Email, UserID: &me.ID, Outcome: "failure", Detail: detail})
	s.flash(c, msg)
	return c.Redirect(http.StatusSeeOther, delegatesAnchor)
}

func (s *Server) myGrantDelegate(c echo.Context) error {
	g := s.grants()
	if g == nil {
		return echo.NewHTTPError(http.StatusNotFound, "Delegation is not available on this server.")
	}
	me := ident(c).User
	addr := strings.TrimSpace(c.FormValue("delegate"))
	scope, perm := c.FormValue("scope"), c.FormValue("permission")
	who, err := s.colleague(c.Request().Context(), addr)
	if err != nil {
		return err
	}
	if who == nil {
		return s.refuseGrant(c, "delegate.grant", addr+": no such enabled colleague",
			"No access was given: "+nonEmpty(addr, "an empty address")+" is not a colleague in the directory. Check the address in the address book.")
	}
	a := governance.Actor{UserID: me.ID, Name: me.Email, IP: c.RealIP()}
	err = g.GrantDelegate(c.Request().Context(), a, me, who, scope, perm)
	switch {
	case errors.Is(err, governance.ErrBadDelegation):
		return s.refuseGrant(c, "delegate.grant", who.Email+": "+scope+" "+perm+": "+err.Error(),
			"No access was given: choose mail or calendar, and read or act on your behalf.")
	case errors.Is(err, store.ErrConflict) && who.ID == me.ID:
		// Audited by the service.
		s.flash(c, "No access was given: you cannot be your own delegate.")
		return c.Redirect(http.StatusSeeOther, delegatesAnchor)
	case err != nil:
		return err
	}
	s.flash(c, nonEmpty(who.DisplayName, who.Email)+" may now "+rightsOf(scope, perm)+" ("+scope+"). You can end this here at any time.")
	return c.Redirect(http.StatusSeeOther, delegatesAnchor)
}

func (s *Server) myRevokeDelegate(c echo.Context) error {
	g := s.grants()
	if g == nil {
		return echo.NewHTTPError(http.StatusNotFound, "Delegation is not available on this server.")
	}
	me := ident(c).User
	addr, scope := strings.TrimSpace(c.FormValue("delegate")), c.FormValue("scope")
	if scope != store.ScopeMail && scope != store.ScopeCalendar {
		return s.refuseGrant(c, "delegate.revoke", addr+": "+scope+": unknown scope", "Nothing was changed: choose mail or calendar.")
	}
	// No enabled test here: a grant to someone since disabled still shows
	// on /account and can still be ended.
	who, err := s.store.UserByAddress(c.Request().Context(), addr)
	if errors.Is(err, store.ErrNotFound) || addr == "" {
		return s.refuseGrant(c, "delegate.revoke", addr+": "+scope+": no such colleague", noAccess(addr, scope))
	}
	if err != nil {
		return err
	}
	a := governance.Actor{UserID: me.ID, Name: me.Email, IP: c.RealIP()}
	err = g.RevokeDelegate(c.Request().Context(), a, me, who, scope)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Audited by the service.
		s.flash(c, noAccess(addr, scope))
		return c.Redirect(http.StatusSeeOther, delegatesAnchor)
	case err != nil:
		return err
	}
	s.flash(c, nonEmpty(who.DisplayName, who.Email)+" no longer has access to your "+scope+".")
	return c.Redirect(http.StatusSeeOther, delegatesAnchor)
}

// noAccess is the answer to revoking what was not granted, the same for an
// unknown address.
func noAccess(addr, scope string) string {
	return "Nothing was changed: " + nonEmpty(addr, "that address") + " had no access to your " + scope + "."
}
