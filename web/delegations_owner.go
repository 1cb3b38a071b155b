package web

// What a mailbox owner sees of their delegates: on /account, every
// colleague who holds a grant on their mail or calendar, with the rights
// it gives, so that no delegation is hidden from the owner.

import (
	"context"
	"time"

	"airlock/store"
)

type delegateRow struct {
	Name, Email   string
	Scope, Rights string
	Since         time.Time
	GrantedBy     string
}

// delegatesOf lists the grants userID made, read from the store at every
// look.
func (s *Server) delegatesOf(ctx context.Context, userID int64) ([]delegateRow, error) {
	ds, err := s.store.DelegatesOf(ctx, userID)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	ids := make([]int64, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.DelegateID)
	}
	users, err := s.store.UsersByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]delegateRow, 0, len(ds))
	for _, d := range ds {
		r := delegateRow{Scope: d.Scope, Rights: rightsOf(d.Scope, d.Permission), Since: d.GrantedAt, GrantedBy: d.GrantedBy}
		if u := users[d.DelegateID]; u != nil {
			r.Name, r.Email = u.DisplayName, u.Email
		}
		out = append(out, r)
	}
	return out, nil
}

func rightsOf(scope, permission string) string {
	switch {
	case permission == store.PermissionSendOnBehalf && scope == store.ScopeCalendar:
		return "read, and add, change, cancel and answer meetings on your behalf"
	case permission == store.PermissionSendOnBehalf:
		return "read, and send mail on your behalf"
	}
	return "read only"
}
