package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"airlock/store"
)

// Governance roles.
const (
	RoleHRDirector    = "hr_director"
	RoleProgrammeHead = "programme_head"
)

// BreakGlassRoles are the roles that must each approve a break-glass
// request, by different people.
var BreakGlassRoles = []string{RoleHRDirector, RoleProgrammeHead}

// KnownRoles are the roles that can be granted.
var KnownRoles = []string{RoleHRDirector, RoleProgrammeHead}

// ErrUnknownRole: the role is not one of KnownRoles.
var ErrUnknownRole = errors.New("governance: unknown role")

// GrantRole gives a user a governance role, audited.
func (s *Service) GrantRole(ctx context.Context, a Actor, u *store.User, role string) error {
	if !slices.Contains(KnownRoles, role) {
		return fmt.Errorf("%q (known: %v): %w", role, KnownRoles, ErrUnknownRole)
	}
	err := s.Store.GrantRole(ctx, u.ID, role, a.Name)
	outcome := "success"
	if err != nil {
		outcome = "failure"
	}
	if aerr := s.audit(ctx, a, "role.grant", "user", u.Email, u.ID, outcome, role); aerr != nil && err == nil {
		return aerr
	}
	return err
}

// RevokeRole takes a governance role away, audited.
func (s *Service) RevokeRole(ctx context.Context, a Actor, u *store.User, role string) error {
	err := s.Store.RevokeRole(ctx, u.ID, role)
	outcome := "success"
	if err != nil {
		outcome = "failure"
	}
	if aerr := s.audit(ctx, a, "role.revoke", "user", u.Email, u.ID, outcome, role); aerr != nil && err == nil {
		return aerr
	}
	return err
}
