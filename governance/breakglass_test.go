package governance_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"airlock/governance"
	"airlock/store"
	"airlock/store/storetest"
)

type people struct {
	requester, owner, hr, ph, both, admin *store.User
}

func setupPeople(t *testing.T, st *store.Store, g *governance.Service) people {
	t.Helper()
	p := people{
		requester: addUser(t, st, "manager@example.nhs.uk"),
		owner:     addUser(t, st, "owner@example.nhs.uk"),
		hr:        addUser(t, st, "hr@example.nhs.uk"),
		ph:        addUser(t, st, "head@example.nhs.uk"),
		both:      addUser(t, st, "both@example.nhs.uk"),
		admin:     addUser(t, st, "admin@example.nhs.uk"),
	}
	if err := st.SetUserRole(ctx, p.admin.ID, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	op := governance.Actor{Name: "cli:root", IP: "local"}
	for _, g2 := range []struct {
		u    *store.User
		role string
	}{{p.hr, governance.RoleHRDirector}, {p.ph, governance.RoleProgrammeHead}, {p.both, governance.RoleHRDirector}, {p.both, governance.RoleProgrammeHead}} {
		if err := g.GrantRole(ctx, op, g2.u, g2.role); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.GrantRole(ctx, op, p.hr, "superuser"); !errors.Is(err, governance.ErrUnknownRole) {
		t.Fatalf("unknown role granted: %v", err)
	}
	return p
}

func TestBreakGlassNeedsTwoPeopleInTwoRoles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g, clk := newService(st)
		p := setupPeople(t, st, g)

		req, err := g.RequestBreakGlass(ctx, p.requester, p.owner, "Patient safety: referrals waiting in an absent clinician's inbox", 4*time.Hour, "10.0.0.5")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := g.Access(ctx, p.requester.ID, p.owner.ID); ok {
			t.Fatal("access before any approval")
		}
		for _, c := range []struct {
			who  *store.User
			as   string
			want error
		}{
			{p.requester, "", governance.ErrSelfApproval},
			{p.owner, "", governance.ErrOwnerApproval},
			{p.admin, "", governance.ErrNoRole}, // an admin without a role is nobody here
		} {
			if _, err := g.ApproveBreakGlass(ctx, req.ID, c.who, c.as, "", ""); !errors.Is(err, c.want) {
				t.Fatalf("%s approving: got %v, want %v", c.who.Email, err, c.want)
			}
		}
		b, err := g.ApproveBreakGlass(ctx, req.ID, p.hr, "", "", "10.0.0.6")
		if err != nil {
			t.Fatal(err)
		}
		if b.State != store.BreakGlassPending {
			t.Fatalf("one approval made it %s", b.State)
		}
		if _, ok := g.Access(ctx, p.requester.ID, p.owner.ID); ok {
			t.Fatal("one approval gave access")
		}
		if _, err := g.ApproveBreakGlass(ctx, req.ID, p.hr, "", "", ""); !errors.Is(err, governance.ErrAlreadyApproved) {
			t.Fatalf("second approval by the same person: %v", err)
		}
		// The HR role is filled: a second HR director cannot complete it.
		if _, err := g.ApproveBreakGlass(ctx, req.ID, p.both, governance.RoleHRDirector, "", ""); !errors.Is(err, governance.ErrNoRole) {
			t.Fatalf("second approval in a filled role: %v", err)
		}
		if _, ok := g.Access(ctx, p.requester.ID, p.owner.ID); ok {
			t.Fatal("access without a programme head")
		}
		clk.Add(10 * time.Minute)
		b, err = g.ApproveBreakGlass(ctx, req.ID, p.ph, "", "", "10.0.0.7")
		if err != nil {
			t.Fatal(err)
		}
		if b.State != store.BreakGlassActive || !b.ExpiresAt.Equal(clk.Now().Add(4*time.Hour)) {
			t.Fatalf("after two approvals: %s until %v", b.State, b.ExpiresAt)
		}
		gr, ok := g.Access(ctx, p.requester.ID, p.owner.ID)
		if !ok || gr.RequestID != req.ID || !gr.ReadOnly {
			t.Fatalf("no access after two approvals: %+v %v", gr, ok)
		}
		if _, ok := g.Access(ctx, p.hr.ID, p.owner.ID); ok {
			t.Fatal("an approver got access")
		}
		if _, ok := g.Access(ctx, p.requester.ID, p.hr.ID); ok {
			t.Fatal("access to another mailbox")
		}

		clk.Add(4*time.Hour - time.Second)
		if _, ok := g.Access(ctx, p.requester.ID, p.owner.ID); !ok {
			t.Fatal("access ended early")
		}
		clk.Add(time.Second)
		if _, ok := g.Access(ctx, p.requester.ID, p.owner.ID); ok {
			t.Fatal("access after expiry")
		}
		// The owner hears of it when it ends, once.
		if n := len(inbox(t, st, p.owner)); n != 0 {
			t.Fatalf("owner told before the end: %d messages", n)
		}
		for range 2 {
			if _, err := g.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		msgs := inbox(t, st, p.owner)
		if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "break-glass") {
			t.Fatalf("owner's inbox: %+v", msgs)
		}
		raw, err := st.Blob(ctx, p.owner.ID, msgs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"manager@example.nhs.uk", "hr@example.nhs.uk", "head@example.nhs.uk", "Patient safety", fmt.Sprintf("request %d", req.ID)} {
			if !strings.Contains(string(raw), want) {
				t.Errorf("notice lacks %q:\n%s", want, raw)
			}
		}
		b, _, _ = st.BreakGlassByID(ctx, req.ID)
		if b.State != store.BreakGlassEnded || b.OwnerNotifiedAt == nil {
			t.Fatalf("after sweep: %+v", b)
		}

		// The audit shows every step, refusals included, in order.
		var got []string
		for _, e := range auditActions(t, st, "breakglass.") {
			got = append(got, e.Action+"/"+e.Outcome+"/"+e.Actor)
		}
		want := []string{
			"breakglass.request/success/manager@example.nhs.uk",
			"breakglass.approve/denied/manager@example.nhs.uk",
			"breakglass.approve/denied/owner@example.nhs.uk",
			"breakglass.approve/denied/admin@example.nhs.uk",
			"breakglass.approve/success/hr@example.nhs.uk",
			"breakglass.approve/denied/hr@example.nhs.uk",
			"breakglass.approve/denied/both@example.nhs.uk",
			"breakglass.approve/success/head@example.nhs.uk",
			"breakglass.activate/success/head@example.nhs.uk",
			"breakglass.end/success/system",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if bad, err := st.VerifyAuditChain(ctx); err != nil || bad != 0 {
			t.Fatalf("audit chain broken at %d: %v", bad, err)
		}
	})
}

func TestBreakGlassOnePersonWithBothRolesCountsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g, _ := newService(st)
		p := setupPeople(t, st, g)
		req, err := g.RequestBreakGlass(ctx, p.requester, p.owner, "Fraud investigation, counter-fraud team", time.Hour, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.ApproveBreakGlass(ctx, req.ID, p.both, "", "", ""); !errors.Is(err, governance.ErrAmbiguousRole) {
			t.Fatalf("approver with both roles and no choice: %v", err)
		}
		if _, err := g.ApproveBreakGlass(ctx, req.ID, p.both, governance.RoleHRDirector, "", ""); err != nil {
			t.Fatal(err)
		}
		for _, as := range []string{governance.RoleProgrammeHead, ""} {
			if _, err := g.ApproveBreakGlass(ctx, req.ID, p.both, as, "", ""); !errors.Is(err, governance.ErrAlreadyApproved) {
				t.Fatalf("second approval as %q by the person with both roles: %v", as, err)
			}
		}
		if _, ok := g.Access(ctx, p.requester.ID, p.owner.ID); ok {
			t.Fatal("one person holding both roles gave access alone")
		}
		// Even a rule that let it through is stopped by the table's keys.
		_, err = st.ApproveBreakGlass(ctx, req.ID, p.both.ID, time.Now(), func(*store.BreakGlass, []store.BreakGlassApproval, []string) (*store.BreakGlassApproval, bool, error) {
			return &store.BreakGlassApproval{Role: governance.RoleProgrammeHead}, true, nil
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("database accepted a second approval by one person: %v", err)
		}
		_, err = st.ApproveBreakGlass(ctx, req.ID, p.ph.ID, time.Now(), func(*store.BreakGlass, []store.BreakGlassApproval, []string) (*store.BreakGlassApproval, bool, error) {
			return &store.BreakGlassApproval{Role: governance.RoleHRDirector}, true, nil
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("database accepted two approvals in one role: %v", err)
		}
		if _, ok := g.Access(ctx, p.requester.ID, p.owner.ID); ok {
			t.Fatal("access after refused approvals")
		}
		// A real programme head completes it.
		if b, err := g.ApproveBreakGlass(ctx, req.ID, p.ph, "", "", ""); err != nil || b.State != store.BreakGlassActive {
			t.Fatalf("completing approval: %v", err)
		}
	})
}

func TestBreakGlassNoticeWithheldOnlyWhenBothApproversSaySo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g, clk := newService(st)
		p := setupPeople(t, st, g)
		for i, withhold := range [][2]string{{"", "police investigation"}, {"police investigation, ref 12/345", "police request"}} {
			req, err := g.RequestBreakGlass(ctx, p.requester, p.owner, "Disciplinary investigation of the owner", time.Hour, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.ApproveBreakGlass(ctx, req.ID, p.hr, "", withhold[0], ""); err != nil {
				t.Fatal(err)
			}
			b, err := g.ApproveBreakGlass(ctx, req.ID, p.ph, "", withhold[1], "")
			if err != nil {
				t.Fatal(err)
			}
			if want := i == 1; b.NoticeWithheld != want {
				t.Fatalf("case %d: withheld %v", i, b.NoticeWithheld)
			}
			clk.Add(2 * time.Hour)
			if n, err := g.Sweep(ctx); err != nil || n != 1 {
				t.Fatalf("sweep: %d %v", n, err)
			}
		}
		if n := len(inbox(t, st, p.owner)); n != 1 {
			t.Fatalf("owner got %d notices, want 1 (the second was withheld)", n)
		}
		ends := auditActions(t, st, "breakglass.end")
		if len(ends) != 2 || !strings.Contains(ends[1].Detail, "not told") {
			t.Fatalf("end events: %+v", ends)
		}
	})
}

func TestBreakGlassRequestChecksAndRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g, clk := newService(st)
		p := setupPeople(t, st, g)
		if _, err := g.RequestBreakGlass(ctx, p.requester, p.owner, "short", time.Hour, ""); !errors.Is(err, governance.ErrReasonRequired) {
			t.Fatalf("short reason: %v", err)
		}
		if _, err := g.RequestBreakGlass(ctx, p.requester, p.owner, "A long enough reason", 30*24*time.Hour, ""); !errors.Is(err, governance.ErrBadDuration) {
			t.Fatalf("month-long access: %v", err)
		}
		if _, err := g.RequestBreakGlass(ctx, p.owner, p.owner, "A long enough reason", time.Hour, ""); !errors.Is(err, governance.ErrSelfRequest) {
			t.Fatalf("own mailbox: %v", err)
		}
		req, err := g.RequestBreakGlass(ctx, p.requester, p.owner, "A long enough reason", time.Hour, "")
		if err != nil {
			t.Fatal(err)
		}
		g.ApproveBreakGlass(ctx, req.ID, p.hr, "", "", "")
		if _, err := g.ApproveBreakGlass(ctx, req.ID, p.ph, "", "", ""); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute)
		if err := g.RevokeBreakGlass(ctx, governance.Actor{Name: "hr@example.nhs.uk"}, req.ID, "done"); err != nil {
			t.Fatal(err)
		}
		if _, ok := g.Access(ctx, p.requester.ID, p.owner.ID); ok {
			t.Fatal("access after revocation")
		}
		if n := len(inbox(t, st, p.owner)); n != 1 {
			t.Fatalf("owner not told of revoked access: %d", n)
		}
		if err := g.RevokeBreakGlass(ctx, governance.Actor{Name: "x"}, req.ID, ""); !errors.Is(err, governance.ErrNotPending) {
			t.Fatalf("revoking twice: %v", err)
		}
		// A request nobody approves lapses.
		req2, _ := g.RequestBreakGlass(ctx, p.requester, p.owner, "A long enough reason", time.Hour, "")
		clk.Add(8 * 24 * time.Hour)
		if _, err := g.ApproveBreakGlass(ctx, req2.ID, p.hr, "", "", ""); !errors.Is(err, governance.ErrNotPending) {
			t.Fatalf("approving a stale request: %v", err)
		}
		g.Sweep(ctx)
		b, _, _ := st.BreakGlassByID(ctx, req2.ID)
		if b.State != store.BreakGlassLapsed {
			t.Fatalf("stale request is %s", b.State)
		}
	})
}
