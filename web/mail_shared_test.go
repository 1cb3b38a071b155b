package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"airlock/governance"
	"airlock/store"
	"airlock/store/storetest"
)

// TestSharedMailboxDelegates: a delegate with read access opens the
// owner's Inbox from the folder tree and reads a message (both audited;
// the message stays unread), cannot flag, move, delete, junk or mark it
// (403, audited, nothing changed) nor send as the owner; someone without
// a grant gets the same 404 as for a mailbox that does not exist, with
// nothing of it in the answer; a revoked grant is refused at the next
// request.
func TestSharedMailboxDelegates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newComposeEnv(t, st)
		owner := e.addUser("consultant@example.nhs.uk", composePW, store.RoleUser)
		reader := e.addUser("reader@example.nhs.uk", composePW, store.RoleUser)
		pa := e.addUser("pa@example.nhs.uk", composePW, store.RoleUser)
		stranger := e.addUser("stranger@example.nhs.uk", composePW, store.RoleUser)
		self := governance.Actor{UserID: owner.ID, Name: owner.Email}
		if err := e.gov.GrantDelegate(ctx, self, owner, reader, store.ScopeMail, store.PermissionRead); err != nil {
			t.Fatal(err)
		}
		if err := e.gov.GrantDelegate(ctx, self, owner, pa, store.ScopeMail, store.PermissionSendOnBehalf); err != nil {
			t.Fatal(err)
		}
		inbox := folderOf(t, st, owner, store.FolderInbox)
		trash := folderOf(t, st, owner, store.FolderDeletedItems)
		msg := deliver(t, st, owner, inbox.ID, []byte("From: Radiology <radiology@example.nhs.uk>\r\nTo: consultant@example.nhs.uk\r\nSubject: Scan results for clinic\r\nMessage-ID: <scan@example.nhs.uk>\r\n\r\nThe MRI report is attached to the record.\r\n"))
		base := "/mail/shared/" + owner.Email
		listURL := fmt.Sprintf("%s/%d", base, inbox.ID)
		readURL := fmt.Sprintf("%s/%d/%d", base, inbox.ID, msg.ID)

		b := e.browser()
		b.login(reader.Email, composePW)
		own := b.get("/mail")
		own = b.get(own.Location)
		if !strings.Contains(own.Body, "Mailboxes shared with me") || !strings.Contains(own.Body, `href="`+base+`"`) {
			t.Fatalf("the tree does not list the shared mailbox:\n%s", mainOf(own.Body))
		}
		if r := b.get(base); r.Code != http.StatusSeeOther || r.Location != listURL {
			t.Fatalf("the shared mailbox: HTTP %d to %q", r.Code, r.Location)
		}
		list := b.get(listURL)
		if list.Code != http.StatusOK || !strings.Contains(list.Body, "Scan results for clinic") || !strings.Contains(list.Body, `href="`+readURL+`"`) {
			t.Fatalf("the owner's Inbox: HTTP %d\n%s", list.Code, mainOf(list.Body))
		}
		if !sharedAudited(t, st, "mail.shared_open", reader.Email, owner.Email, `delegate: opened "Inbox"`) {
			t.Fatal("opening the Inbox was not audited")
		}
		pane := b.get(readURL)
		if pane.Code != http.StatusOK || !strings.Contains(pane.Body, "The MRI report is attached to the record.") {
			t.Fatalf("the message: HTTP %d\n%s", pane.Code, mainOf(pane.Body))
		}
		for _, banned := range []string{"/flag", "/delete", "/move", "/junk", "/unread", "Reply"} {
			if strings.Contains(mainOf(pane.Body), banned) {
				t.Errorf("the read-only pane offers %q", banned)
			}
		}
		if !sharedAudited(t, st, "mail.shared_read", reader.Email, owner.Email, fmt.Sprintf("message %d in \"Inbox\" read", msg.ID)) {
			t.Fatal("reading the message was not audited")
		}
		if it, _ := st.ItemByID(ctx, owner.ID, msg.ID); it.Read {
			t.Fatal("a delegate's reading marked the owner's message read")
		}

		// Nothing may change: 403, audited, the message as it was.
		for _, action := range []string{"flag", "read", "unread", "delete", "junk", "move", "images"} {
			r := b.postForm(readURL, readURL+"/"+action, url.Values{"to": {fmt.Sprint(trash.ID)}})
			if r.Code != http.StatusForbidden {
				t.Fatalf("%s: HTTP %d", action, r.Code)
			}
		}
		if r := b.postForm(listURL, listURL+"/empty", url.Values{"confirm": {"yes"}}); r.Code != http.StatusForbidden {
			t.Fatalf("empty: HTTP %d", r.Code)
		}
		if !e.audited("mail.shared_change", "refused") {
			t.Fatal("the refused changes were not audited")
		}
		// The own-mailbox routes with the owner's ids find nothing.
		if r := b.postForm(readURL, itemURL(inbox.ID, msg.ID)+"/delete", nil); r.Code != http.StatusNotFound {
			t.Fatalf("delete through the own route: HTTP %d", r.Code)
		}
		if it, err := st.ItemByID(ctx, owner.ID, msg.ID); err != nil || it.FolderID != inbox.ID || it.Read || it.FlagStatus != 0 {
			t.Fatalf("the owner's message changed: %+v %v", it, err)
		}
		// Nor send as the owner.
		r := b.postCompose(url.Values{"op": {"send"}, "from": {owner.Email}, "to": {stranger.Email}, "subject": {"Forged"}, "text": {"x"}}, nil, nil)
		if r.Code != http.StatusForbidden || len(e.items(stranger, store.FolderInbox)) != 0 {
			t.Fatalf("send as the owner: HTTP %d", r.Code)
		}

		// Someone without a grant learns nothing: the same 404 as for no
		// mailbox at all, nothing of the owner's mail in it.
		sb := e.browser()
		sb.login(stranger.Email, composePW)
		none := sb.get("/mail/shared/nobody@example.nhs.uk")
		for _, path := range []string{base, listURL, readURL, readURL + "/frame"} {
			r := sb.get(path)
			if r.Code != http.StatusNotFound || mainOf(r.Body) != mainOf(none.Body) || strings.Contains(r.Body, "Scan results") {
				t.Fatalf("%s for a stranger: HTTP %d\n%s", path, r.Code, mainOf(r.Body))
			}
		}
		if r := sb.postForm("/account", readURL+"/delete", nil); r.Code != http.StatusNotFound {
			t.Fatalf("a stranger's delete: HTTP %d", r.Code)
		}
		if strings.Contains(sb.get(sb.get("/mail").Location).Body, "Mailboxes shared with me") {
			t.Fatal("a stranger's tree lists shared mailboxes")
		}

		// A revoked grant is refused at the next request.
		if err := e.gov.RevokeDelegate(ctx, self, owner, reader, ""); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{listURL, readURL} {
			if r := b.get(path); r.Code != http.StatusNotFound || strings.Contains(r.Body, "Scan results") {
				t.Fatalf("%s after the revocation: HTTP %d", path, r.Code)
			}
		}
	})
}

// TestReadingPaneOnBehalf: a message whose Sender is not its From shows
// "Sender on behalf of From"; one without, or with the same, does not.
func TestReadingPaneOnBehalf(t *testing.T) {
	for _, tc := range []struct{ head, want string }{
		{"From: \"Alice Jones\" <alice@example.nhs.uk>\r\nSender: \"Carol Evans\" <carol@example.nhs.uk>\r\n", "Carol Evans <carol@example.nhs.uk>"},
		{"From: alice@example.nhs.uk\r\nSender: =?utf-8?q?Z=C3=B6e?= <zoe@example.nhs.uk>\r\n", "Zöe <zoe@example.nhs.uk>"},
		{"From: alice@example.nhs.uk\r\nSender: ALICE@example.nhs.uk\r\n", ""},
		{"From: alice@example.nhs.uk\r\n", ""},
		{"From: alice@example.nhs.uk\r\nSender: not an address\r\n", ""},
	} {
		raw := tc.head + "Subject: x\r\n\r\nbody\r\n"
		from := strings.TrimPrefix(strings.SplitN(tc.head, "\r\n", 2)[0], "From: ")
		if got := sentOnBehalf([]byte(raw), from); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.head, got, tc.want)
		}
	}
}

func sharedAudited(t *testing.T, st *store.Store, action, actor, target, detail string) bool {
	t.Helper()
	evs, err := st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Actor == actor && ev.Target == target && ev.Outcome == "success" && strings.Contains(ev.Detail, detail) {
			return true
		}
	}
	return false
}
