package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// TestMailReadsStoredBodies: the reading pane and its frame show the
// bodies rendered when the message was stored, without parsing the MIME
// again (the stored rendering here differs from the raw message to tell
// them apart), and a message stored without one is rendered from the raw
// message as before. cid: pictures still come from the raw message.
func TestMailReadsStoredBodies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		u := e.addUser("reader@example.nhs.uk", "reader-pass-1", store.RoleUser)
		inbox := folderOf(t, st, u, store.FolderInbox)
		plainRaw := []byte("From: bob@example.nhs.uk\r\nTo: " + u.Email + "\r\nSubject: Rota\r\n\r\nText as sent.\r\n")
		plain := deliverRendered(t, st, u, inbox.ID, plainRaw, func(r *store.Rendered) { r.Text = "Text as stored." })
		html := deliverRendered(t, st, u, inbox.ID, hostileMail("figures@example.nhs.uk", u.Email, "http://127.0.0.1:9"),
			func(r *store.Rendered) {
				r.HTML = strings.Replace(r.HTML, "Hello from the figures team.", "Hello as stored.", 1)
			})
		old := deliverRendered(t, st, u, inbox.ID, []byte("From: bob@example.nhs.uk\r\nTo: "+u.Email+"\r\nSubject: Old\r\n\r\nRendered on read.\r\n"), nil)
		b := e.browser()
		b.login(u.Email, "reader-pass-1")
		if p := b.get(itemURL(inbox.ID, plain.ID)); p.Code != http.StatusOK || !strings.Contains(p.Body, "Text as stored.") || strings.Contains(p.Body, "Text as sent.") {
			t.Fatalf("plain pane does not show the stored body: HTTP %d\n%s", p.Code, mainOf(p.Body))
		}
		pane := b.get(itemURL(inbox.ID, html.ID))
		m := frameSrcRE.FindStringSubmatch(pane.Body)
		if pane.Code != http.StatusOK || m == nil {
			t.Fatalf("HTML pane: HTTP %d\n%s", pane.Code, mainOf(pane.Body))
		}
		frame := b.get(m[1])
		if !strings.Contains(frame.Body, "Hello as stored.") || strings.Contains(frame.Body, "Hello from the figures team.") {
			t.Fatalf("frame does not show the stored body:\n%s", frame.Body)
		}
		if strings.Contains(strings.ToLower(frame.Body), "<script") || !strings.Contains(frame.Body, `id="logo" src="data:image/png;base64,`) {
			t.Fatalf("frame not sanitised or lost its cid: picture:\n%s", frame.Body)
		}
		if p := b.get(itemURL(inbox.ID, old.ID)); !strings.Contains(p.Body, "Rendered on read.") {
			t.Fatalf("a message without a stored body is not rendered on read:\n%s", mainOf(p.Body))
		}
	})
}

// deliverRendered stores raw as delivery would, with its rendering changed
// by edit first, or without one when edit is nil (mail stored before
// bodies were kept).
func deliverRendered(t *testing.T, st *store.Store, u *store.User, folderID int64, raw []byte, edit func(*store.Rendered)) *store.Item {
	t.Helper()
	it, err := message.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		it.Rendered = nil
	} else {
		edit(it.Rendered)
	}
	it.UserID, it.FolderID = u.ID, folderID
	if err := st.AddItem(context.Background(), it, raw); err != nil {
		t.Fatal(err)
	}
	return it
}
