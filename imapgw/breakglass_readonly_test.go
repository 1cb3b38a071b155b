package imapgw_test

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"airlock/governance"
	"airlock/store"
	"airlock/store/storetest"
)

// Break-glass access is for reading in place: nothing can be copied into
// the reader's own mailbox (where it would outlive the grant), nothing in
// the owner's mailbox can be changed, reading marks nothing \Seen, and
// every message read is audited, not only the opening of the mailbox.
func TestBreakGlassReadOnlyAndEveryReadAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := start(t, st)
		owner := e.eas.AddUser(t, "absent@example.nhs.uk", pw)
		manager := e.eas.AddUser(t, "manager@example.nhs.uk", pw)
		hr := e.eas.AddUser(t, "hr@example.nhs.uk", pw)
		head := e.eas.AddUser(t, "head@example.nhs.uk", pw)
		op := governance.Actor{Name: "cli:root"}
		e.g.GrantRole(ctx, op, hr, governance.RoleHRDirector)
		e.g.GrantRole(ctx, op, head, governance.RoleProgrammeHead)
		deliver(t, st, owner, "Urgent referral")
		deliver(t, st, owner, "Second referral")
		req, err := e.g.RequestBreakGlass(ctx, manager, owner, "Referrals waiting while the owner is on leave", time.Hour, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []*store.User{hr, head} {
			if _, err := e.g.ApproveBreakGlass(ctx, req.ID, a, "", "", ""); err != nil {
				t.Fatal(err)
			}
		}
		c := e.login(t, "manager@example.nhs.uk")
		box := "Other Users/absent@example.nhs.uk/INBOX"
		if _, err := c.Select(box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		body := &imap.FetchItemBodySection{} // not PEEK: would set \Seen
		msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}}).Collect()
		if err != nil || len(msgs) != 2 {
			t.Fatalf("fetch: %d %v", len(msgs), err)
		}
		if evs, _ := st.ListAudit(ctx, store.AuditFilter{Action: "breakglass.message_read"}); len(evs) != 2 {
			t.Errorf("%d message reads audited, want 2", len(evs))
		}

		// Every write is refused.
		if _, err := c.Copy(imap.SeqSetNum(1, 2), "INBOX").Wait(); err == nil {
			t.Error("COPY into the reader's own INBOX accepted")
		}
		if _, err := c.Copy(imap.SeqSetNum(1), box).Wait(); err == nil {
			t.Error("COPY within the owner's mailbox accepted")
		}
		if _, err := c.Move(imap.SeqSetNum(1), "INBOX").Wait(); err == nil {
			t.Error("MOVE accepted")
		}
		if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err == nil {
			t.Error("STORE accepted")
		}
		if err := c.Expunge().Close(); err == nil {
			t.Error("EXPUNGE accepted")
		}
		msg := "Subject: planted\r\n\r\nx\r\n"
		ap := c.Append(box, int64(len(msg)), nil)
		ap.Write([]byte(msg))
		ap.Close()
		if _, err := ap.Wait(); err == nil {
			t.Error("APPEND into the owner's mailbox accepted")
		}
		if evs, _ := st.ListAudit(ctx, store.AuditFilter{Action: "breakglass.copy_refused"}); len(evs) != 2 {
			t.Errorf("%d refused copies audited, want 2", len(evs))
		}

		// Nothing was copied, and the owner's mail is as it was: unread.
		for _, u := range []*store.User{manager, owner} {
			inbox, err := st.FolderByType(ctx, u.ID, store.FolderInbox)
			if err != nil {
				t.Fatal(err)
			}
			items, err := st.ListItems(ctx, u.ID, inbox.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			want := map[int64]int{manager.ID: 0, owner.ID: 2}[u.ID]
			if len(items) != want {
				t.Errorf("%s's INBOX holds %d messages, want %d", u.Email, len(items), want)
			}
			for _, it := range items {
				if u.ID == owner.ID && it.Read {
					t.Errorf("the owner's %q was marked read by the break-glass reader", it.Subject)
				}
			}
		}
	})
}
