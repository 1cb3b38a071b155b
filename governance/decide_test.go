package governance

import (
	"errors"
	"testing"
	"time"

	"airlock/store"
)

// The two-person rule as a table: requester 1, owner 2.
func TestDecideApproval(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pending := store.BreakGlass{ID: 9, RequesterID: 1, OwnerID: 2, State: store.BreakGlassPending, PendingUntil: now.Add(time.Hour)}
	hr := store.BreakGlassApproval{ApproverID: 3, Role: RoleHRDirector}
	both := []string{RoleHRDirector, RoleProgrammeHead}
	for _, c := range []struct {
		name      string
		b         store.BreakGlass
		approvals []store.BreakGlassApproval
		approver  int64
		roles     []string
		as        string
		wantRole  string
		activate  bool
		err       error
	}{
		{"first approval", pending, nil, 3, []string{RoleHRDirector}, "", RoleHRDirector, false, nil},
		{"second, other role", pending, []store.BreakGlassApproval{hr}, 4, []string{RoleProgrammeHead}, "", RoleProgrammeHead, true, nil},
		{"second, same role", pending, []store.BreakGlassApproval{hr}, 4, []string{RoleHRDirector}, "", "", false, ErrNoRole},
		{"same person again", pending, []store.BreakGlassApproval{hr}, 3, both, RoleProgrammeHead, "", false, ErrAlreadyApproved},
		{"requester", pending, nil, 1, both, RoleHRDirector, "", false, ErrSelfApproval},
		{"owner", pending, nil, 2, both, RoleHRDirector, "", false, ErrOwnerApproval},
		{"no role", pending, nil, 5, nil, "", "", false, ErrNoRole},
		{"unknown role named", pending, nil, 5, []string{"admin"}, "admin", "", false, ErrNoRole},
		{"role not held", pending, nil, 5, []string{RoleHRDirector}, RoleProgrammeHead, "", false, ErrNoRole},
		{"both roles, no choice", pending, nil, 5, both, "", "", false, ErrAmbiguousRole},
		{"both roles, chosen", pending, nil, 5, both, RoleProgrammeHead, RoleProgrammeHead, false, nil},
		{"both roles, one left", pending, []store.BreakGlassApproval{hr}, 5, both, "", RoleProgrammeHead, true, nil},
		{"not pending", store.BreakGlass{ID: 9, RequesterID: 1, OwnerID: 2, State: store.BreakGlassActive, PendingUntil: now.Add(time.Hour)}, nil, 3, both, RoleHRDirector, "", false, ErrNotPending},
		{"too late", store.BreakGlass{ID: 9, RequesterID: 1, OwnerID: 2, State: store.BreakGlassPending, PendingUntil: now}, nil, 3, both, RoleHRDirector, "", false, ErrNotPending},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, act, err := decideApproval(&c.b, c.approvals, c.approver, c.roles, c.as, "", now)
			if !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			if a.Role != c.wantRole || act != c.activate {
				t.Fatalf("role %q activate %v, want %q %v", a.Role, act, c.wantRole, c.activate)
			}
		})
	}
}
