package governance_test

import (
	"errors"
	"testing"

	"airlock/governance"
	"airlock/store"
	"airlock/store/storetest"
)

func TestDelegatesGrantCheckListRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g, _ := newService(st)
		owner := addUser(t, st, "consultant@example.nhs.uk")
		pa := addUser(t, st, "pa@example.nhs.uk")
		other := addUser(t, st, "other@example.nhs.uk")
		self := governance.Actor{UserID: owner.ID, Name: owner.Email}

		if _, ok := g.MailboxAccess(ctx, pa.ID, owner.ID); ok {
			t.Fatal("access before any grant")
		}
		for _, bad := range [][2]string{{store.ScopeCalendar, "write"}, {"contacts", store.PermissionRead}} {
			if err := g.GrantDelegate(ctx, self, owner, pa, bad[0], bad[1]); !errors.Is(err, governance.ErrBadDelegation) {
				t.Fatalf("scope %s permission %s: %v", bad[0], bad[1], err)
			}
		}
		if err := g.GrantDelegate(ctx, self, owner, owner, store.ScopeMail, store.PermissionRead); err == nil {
			t.Fatal("delegated to themselves")
		}
		if err := g.GrantDelegate(ctx, self, owner, pa, store.ScopeMail, store.PermissionRead); err != nil {
			t.Fatal(err)
		}
		gr, ok := g.MailboxAccess(ctx, pa.ID, owner.ID)
		if !ok || !gr.Mail || gr.SendOnBehalf || gr.Calendar || gr.Kind != "delegate" {
			t.Fatalf("after read grant: %+v %v", gr, ok)
		}
		if g.CanSendOnBehalf(ctx, pa.ID, owner.ID) {
			t.Fatal("read grant allows sending")
		}
		if _, ok := g.MailboxAccess(ctx, other.ID, owner.ID); ok {
			t.Fatal("someone else has access")
		}
		if _, ok := g.MailboxAccess(ctx, owner.ID, pa.ID); ok {
			t.Fatal("delegation works backwards")
		}
		// An admin upgrades it for the owner: the owner is told.
		admin := governance.Actor{Name: "cli:root"}
		if err := g.GrantDelegate(ctx, admin, owner, pa, store.ScopeMail, store.PermissionSendOnBehalf); err != nil {
			t.Fatal(err)
		}
		if err := g.GrantDelegate(ctx, admin, owner, pa, store.ScopeCalendar, store.PermissionRead); err != nil {
			t.Fatal(err)
		}
		if !g.CanSendOnBehalf(ctx, pa.ID, owner.ID) {
			t.Fatal("send on behalf not granted")
		}
		if n := len(inbox(t, st, owner)); n != 2 {
			t.Fatalf("owner got %d notices of admin grants, want 2", n)
		}
		list, err := g.Delegates(ctx, owner)
		if err != nil || len(list) != 2 || list[0].DelegateEmail != pa.Email || list[0].Scope != store.ScopeCalendar || list[1].Permission != store.PermissionSendOnBehalf {
			t.Fatalf("owner's list: %+v %v", list, err)
		}
		shared, err := g.SharedMailboxes(ctx, pa.ID)
		if err != nil || len(shared) != 1 || shared[0].OwnerID != owner.ID || !shared[0].SendOnBehalf {
			t.Fatalf("pa's shared mailboxes: %+v %v", shared, err)
		}
		if err := g.RevokeDelegate(ctx, self, owner, pa, store.ScopeMail); err != nil {
			t.Fatal(err)
		}
		if gr, ok := g.MailboxAccess(ctx, pa.ID, owner.ID); !ok || gr.Mail || !gr.Calendar {
			t.Fatalf("after revoking mail: %+v %v", gr, ok)
		}
		if err := g.RevokeDelegate(ctx, self, owner, pa, ""); err != nil {
			t.Fatal(err)
		}
		// The delegate is told of each grant (three) and each revocation
		// (two), whoever made it.
		if n := len(inbox(t, st, pa)); n != 5 {
			t.Fatalf("delegate got %d notices, want 5", n)
		}
		if _, ok := g.MailboxAccess(ctx, pa.ID, owner.ID); ok {
			t.Fatal("access after revoking everything")
		}
		if err := g.RevokeDelegate(ctx, self, owner, pa, ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoking nothing: %v", err)
		}
		if n := len(auditActions(t, st, "delegate.")); n != 7 {
			t.Fatalf("%d delegate audit events, want 7", n)
		}
	})
}
