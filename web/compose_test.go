package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/governance"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

const composePW = "compose-pass-2026"

// composeEnv is a server whose web sends through a delivery service with
// the governance rules, as serve wires it.
type composeEnv struct {
	*testEnv
	gov  *governance.Service
	mail *delivery.Service
}

func newComposeEnv(t *testing.T, st *store.Store) *composeEnv {
	t.Helper()
	e := &composeEnv{testEnv: newEnv(t, st)}
	e.gov = &governance.Service{Store: st, Hostname: "mail.example.nhs.uk"}
	e.mail = &delivery.Service{Store: st, Hostname: "mail.example.nhs.uk", Rules: &governance.Rules{Service: e.gov}}
	e.Web.d.Delegations = e.gov
	e.Web.d.Mail = e.mail
	return e
}

// upload is a file for a multipart post.
type upload struct {
	name, contentType string
	data              []byte
}

// postCompose posts the compose form (multipart, as the browser does)
// with the token of the compose page.
func (b *browser) postCompose(form url.Values, files []upload, header map[string]string) *resp {
	b.t.Helper()
	page := b.get(composePath)
	if page.Code != 200 {
		b.t.Fatalf("compose page: HTTP %d", page.Code)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("_csrf", page.csrf(b.t))
	for k, vs := range form {
		for _, v := range vs {
			w.WriteField(k, v)
		}
	}
	for _, f := range files {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="attach"; filename=%q`, f.name)}
		h["Content-Type"] = []string{f.contentType}
		pw, _ := w.CreatePart(h)
		pw.Write(f.data)
	}
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, b.base+composePath, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

func (e *composeEnv) items(u *store.User, ft store.FolderType) []store.Item {
	e.t.Helper()
	f := folderOf(e.t, e.Store, u, ft)
	its, err := e.Store.ListItems(context.Background(), u.ID, f.ID, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return its
}

func (e *composeEnv) raw(u *store.User, it *store.Item) string {
	e.t.Helper()
	b, err := e.Store.Blob(context.Background(), u.ID, it.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// TestComposeSanitisesHostileHTML: whatever markup the editor's field
// carries (a forged post needs no editor), what is sent has no script,
// handler, form, frame or foreign URL scheme, and carries a plain-text
// alternative the server wrote.
func TestComposeSanitisesHostileHTML(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		banned   []string
		want     []string
	}{
		{"script", `<p>Hello</p><script>alert(1)</script>`, []string{"<script", "alert"}, []string{"<p>Hello</p>"}},
		{"handlers", `<img src="https://x.example/a.png" onerror="alert(1)"><div onclick="b()">t</div>`, []string{"onerror", "onclick", "alert"}, []string{">t</div>"}},
		{"javascript link", `<a href="javascript:alert(1)">x</a><a href="&#106;avascript:alert(2)">y</a>`, []string{"javascript", "alert"}, []string{"x", "y"}},
		{"form and frames", `<form action="https://evil.example/"><input name="p"></form><iframe src="https://evil.example/"></iframe><object data="x"></object>`, []string{"<form", "<input", "<iframe", "<object", "evil.example"}, nil},
		{"style escape", `<div style="position:fixed;top:0;background:url(https://evil.example/t)">over</div><style>body{display:none}</style>`, []string{"position", "url(", "<style", "evil.example"}, []string{"over"}},
		{"meta and base", `<meta http-equiv="refresh" content="0;url=https://evil.example/"><base href="https://evil.example/">ok`, []string{"<meta", "<base", "evil.example"}, []string{"ok"}},
		{"relative link", `<a href="/logout">out</a>`, []string{"/logout"}, []string{"out"}},
		{"formatting kept", `<p><b>bold</b> <i>it</i> <u>u</u></p><ul><li>one</li></ul><blockquote>q</blockquote><a href="https://www.nhs.uk/">nhs</a>`, nil,
			[]string{"<b>bold</b>", "<i>it</i>", "<u>u</u>", "<li>one</li>", "<blockquote>q</blockquote>", `href="https://www.nhs.uk/"`, `rel="noreferrer noopener"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := strings.ToLower(sanitizeComposed(tc.in))
			for _, b := range tc.banned {
				if strings.Contains(out, strings.ToLower(b)) {
					t.Errorf("keeps %q: %s", b, out)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, strings.ToLower(w)) {
					t.Errorf("lost %q: %s", w, out)
				}
			}
		})
	}
	// Through the send path: what the colleague receives.
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newComposeEnv(t, st)
		alice := e.addUser("alice@example.nhs.uk", composePW, store.RoleUser)
		bob := e.addUser("bob@example.nhs.uk", composePW, store.RoleUser)
		b := e.browser()
		b.login(alice.Email, composePW)
		r := b.postCompose(url.Values{"op": {"send"}, "to": {bob.Email}, "subject": {"Hostile markup"}, "format": {"html"},
			"html": {`<p id="x" onmouseover="steal()">Ward <b>round</b> at 9</p><script>fetch('https://evil.example/')</script><img src=x onerror=alert(1)>`},
			"text": {"this field is ignored when the editor wrote HTML"}}, nil, nil)
		if r.Code != http.StatusSeeOther {
			t.Fatalf("send: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		got := e.items(bob, store.FolderInbox)
		if len(got) != 1 {
			t.Fatalf("bob has %d messages", len(got))
		}
		raw := e.raw(bob, &got[0])
		low := strings.ToLower(raw)
		for _, bad := range []string{"<script", "onmouseover", "onerror", "evil.example", "steal(", "ignored when"} {
			if strings.Contains(low, bad) {
				t.Errorf("sent message keeps %q:\n%s", bad, raw)
			}
		}
		text, htm, err := message.Bodies([]byte(raw))
		if err != nil || !strings.Contains(low, "multipart/alternative") || strings.TrimSpace(text) != "Ward round at 9" || !strings.Contains(htm, "<b>round</b>") {
			t.Errorf("no text alternative or lost the formatting:\n%s", raw)
		}
	})
}

// TestComposeAttachmentLimits: a file over the message limit and a
// message over the sender's quota are refused with a clear message next
// to the file field, and nothing is sent.
func TestComposeAttachmentLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newComposeEnv(t, st)
		e.Web.d.MaxMessageSize = 64 << 10
		alice := e.addUser("alice@example.nhs.uk", composePW, store.RoleUser)
		bob := e.addUser("bob@example.nhs.uk", composePW, store.RoleUser)
		b := e.browser()
		b.login(alice.Email, composePW)
		form := url.Values{"op": {"send"}, "to": {bob.Email}, "subject": {"Scan"}, "text": {"Attached."}}
		big := upload{"scan.pdf", "application/pdf", bytes.Repeat([]byte("x"), 100<<10)}
		r := b.postCompose(form, []upload{big}, nil)
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="attach-error"`) ||
			!strings.Contains(r.Body, "&#34;scan.pdf&#34; is 100.0 KiB; a message may carry at most 64.0 KiB in all") {
			t.Fatalf("over the size limit: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		if !strings.Contains(r.Body, `value="Scan"`) || !strings.Contains(r.Body, "Files you chose before were not kept") {
			t.Fatalf("the form lost what was typed:\n%s", mainOf(r.Body))
		}
		// A mailbox with 20 KiB of room: a 30 KiB file does not fit.
		lvl, err := st.CreateServiceLevel(ctx, "tiny", 20<<10)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AssignServiceLevel(ctx, &lvl.ID, []int64{alice.ID}); err != nil {
			t.Fatal(err)
		}
		r = b.postCompose(form, []upload{{"notes.txt", "text/plain", bytes.Repeat([]byte("n"), 30<<10)}}, nil)
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Your mailbox is full") || !strings.Contains(r.Body, `id="attach-error"`) {
			t.Fatalf("over quota: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		// The automatic save says the same, as JSON.
		r = b.postCompose(url.Values{"op": {"save"}, "subject": {"Scan"}}, []upload{{"notes.txt", "text/plain", bytes.Repeat([]byte("n"), 30<<10)}}, map[string]string{"X-Autosave": "1"})
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Your mailbox is full") {
			t.Fatalf("autosave over quota: HTTP %d %s", r.Code, r.Body)
		}
		if n := len(e.items(bob, store.FolderInbox)); n != 0 {
			t.Fatalf("bob got %d messages", n)
		}
		if n := len(e.items(alice, store.FolderDrafts)); n != 0 {
			t.Fatalf("alice has %d drafts", n)
		}
	})
}

// newPhoneVersion is newPhone speaking another protocol version.
func newPhoneVersion(t *testing.T, base, email, pw, version string) *phone {
	t.Helper()
	d := eastest.NewDevice(t, base, eastest.Profile{Name: "iPhoneMail", DeviceType: "iPhone", UserAgent: "Apple-iPhone15C2/2201.100", Version: version, Model: "iPhone15,2", OS: "iOS 17.1"}, email, pw)
	d.CheckWithLibwbxml = false
	d.Provision(1)
	p := &phone{t: t, d: d, hierKey: "0", folders: map[string]string{}, keys: map[string]string{}}
	p.folderSync()
	return p
}

func elText(el *etree.Element, tag string) string {
	if f := el.FindElement(".//" + tag); f != nil {
		return f.Text()
	}
	return ""
}

// TestComposeDraftReachesPhone: the automatic save puts the draft in
// Drafts through the store's draft ops, so a 16.1 phone's Sync of Drafts
// gets it, then its change; opening it resumes it; sending removes it.
func TestComposeDraftReachesPhone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newComposeEnv(t, st)
		alice := e.addUser("alice@example.nhs.uk", composePW, store.RoleUser)
		bob := e.addUser("bob@example.nhs.uk", composePW, store.RoleUser)
		ph := newPhoneVersion(t, e.URL, alice.Email, composePW, "16.1")
		if n := len(ph.sync("Drafts")); n != 0 {
			t.Fatalf("drafts at first: %d", n)
		}
		b := e.browser()
		b.login(alice.Email, composePW)
		auto := map[string]string{"X-Autosave": "1"}
		r := b.postCompose(url.Values{"op": {"save"}, "to": {bob.Email}, "subject": {"Discharge summary"}, "format": {"html"}, "html": {"<p>First <b>draft</b></p>"}},
			[]upload{{"summary.txt", "text/plain", []byte("Patient discharged.")}}, auto)
		var saved draftJSON
		if r.Code != 200 || json.Unmarshal([]byte(r.Body), &saved) != nil || saved.Draft == 0 || len(saved.Files) != 1 {
			t.Fatalf("autosave: HTTP %d %s", r.Code, r.Body)
		}
		cmds := ph.sync("Drafts")
		if count(cmds, "Add") != 1 || elText(cmds[0], "Subject") != "Discharge summary" {
			t.Fatalf("the phone's Drafts after the save: %d adds", count(cmds, "Add"))
		}
		// The next save changes the same draft, keeping the file.
		r = b.postCompose(url.Values{"op": {"save"}, "draft": {strconv.FormatInt(saved.Draft, 10)}, "to": {bob.Email}, "subject": {"Discharge summary (final)"},
			"format": {"html"}, "html": {"<p>Final</p>"}, "keep": {strconv.FormatInt(saved.Files[0].ID, 10)}}, nil, auto)
		var again draftJSON
		if json.Unmarshal([]byte(r.Body), &again) != nil || again.Draft != saved.Draft || len(again.Files) != 1 {
			t.Fatalf("second save: %s", r.Body)
		}
		cmds = ph.sync("Drafts")
		if count(cmds, "Change") != 1 || elText(cmds[0], "Subject") != "Discharge summary (final)" {
			t.Fatalf("the phone's Drafts after the change: %v", len(cmds))
		}
		// Opening it from Drafts resumes it.
		drafts := folderOf(t, st, alice, store.FolderDrafts)
		list := b.get(fmt.Sprintf("/mail/%d", drafts.ID))
		resume := fmt.Sprintf("/mail/compose?draft=%d", saved.Draft)
		if !strings.Contains(list.Body, `href="`+strings.ReplaceAll(resume, "&", "&amp;")+`"`) {
			t.Fatalf("the Drafts list does not open the draft to edit:\n%s", mainOf(list.Body))
		}
		page := b.get(resume)
		if page.Code != 200 || !strings.Contains(page.Body, `value="Discharge summary (final)"`) || !strings.Contains(page.Body, "summary.txt") {
			t.Fatalf("resume: HTTP %d\n%s", page.Code, mainOf(page.Body))
		}
		// Sending removes it, and the phone is told.
		r = b.postCompose(url.Values{"op": {"send"}, "draft": {strconv.FormatInt(saved.Draft, 10)}, "to": {bob.Email}, "subject": {"Discharge summary (final)"},
			"text": {"Final."}, "keep": {strconv.FormatInt(again.Files[0].ID, 10)}}, nil, nil)
		if r.Code != http.StatusSeeOther {
			t.Fatalf("send: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		if cmds := ph.sync("Drafts"); count(cmds, "Delete")+count(cmds, "SoftDelete") != 1 {
			t.Fatalf("the phone was not told the draft went: %d commands", len(cmds))
		}
		got := e.items(bob, store.FolderInbox)
		if len(got) != 1 || len(got[0].Attachments) != 1 || got[0].Attachments[0].FileName != "summary.txt" {
			t.Fatalf("bob got %d messages", len(got))
		}
	})
}

// TestComposeReplyWithAttachmentReachesPhone: a reply with a file, sent
// from the web, arrives on the colleague's phone with the file fetchable
// (ItemOperations); the reply threads, is in Sent Items, and the original
// shows as replied to on the sender's phone.
func TestComposeReplyWithAttachmentReachesPhone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newComposeEnv(t, st)
		alice := e.addUser("alice@example.nhs.uk", composePW, store.RoleUser)
		bob := e.addUser("bob@example.nhs.uk", composePW, store.RoleUser)
		inbox := folderOf(t, st, alice, store.FolderInbox)
		orig := deliver(t, st, alice, inbox.ID, []byte("From: Bob <bob@example.nhs.uk>\r\nTo: alice@example.nhs.uk\r\nSubject: Bed state\r\nMessage-ID: <bed@example.nhs.uk>\r\n\r\nHow many beds tonight?\r\n"))
		bobPhone := newPhone(t, e.URL, bob.Email, composePW)
		bobPhone.sync("Inbox")
		alicePhone := newPhone(t, e.URL, alice.Email, composePW)
		alicePhone.sync("Inbox")
		if err := e.Web.store.SetSetting(ctx, signatureKey(alice.ID), "Alice Jones\nWard 7"); err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		b.login(alice.Email, composePW)
		page := b.get(fmt.Sprintf("/mail/compose?reply=%d", orig.ID))
		if page.Code != 200 || !strings.Contains(page.Body, `value="RE: Bed state"`) || !strings.Contains(page.Body, `value="&#34;Bob&#34; &lt;bob@example.nhs.uk&gt;"`) ||
			!strings.Contains(page.Body, "&gt; How many beds tonight?") || !strings.Contains(page.Body, "-- \nAlice Jones\nWard 7") {
			t.Fatalf("reply form: HTTP %d\n%s", page.Code, mainOf(page.Body))
		}
		r := b.postCompose(url.Values{"op": {"send"}, "mode": {"reply"}, "source": {strconv.FormatInt(orig.ID, 10)}, "to": {"Bob <bob@example.nhs.uk>"},
			"subject": {"RE: Bed state"}, "text": {"Four. The list is attached.\n\n> How many beds tonight?"}},
			[]upload{{"beds.csv", "text/csv", []byte("ward,beds\n7,4\n")}}, nil)
		if r.Code != http.StatusSeeOther || r.Location != itemURL(inbox.ID, orig.ID) {
			t.Fatalf("send: HTTP %d %s\n%s", r.Code, r.Location, mainOf(r.Body))
		}
		cmds := bobPhone.sync("Inbox")
		if count(cmds, "Add") != 1 || elText(cmds[0], "Subject") != "RE: Bed state" {
			t.Fatalf("bob's phone: %d adds", count(cmds, "Add"))
		}
		ref := elText(cmds[0], "FileReference")
		if ref == "" {
			t.Fatalf("no attachment on bob's phone")
		}
		fr := bobPhone.d.Do("ItemOperations", `<ItemOperations:ItemOperations><ItemOperations:Fetch><ItemOperations:Store>Mailbox</ItemOperations:Store><AirSyncBase:FileReference>`+ref+`</AirSyncBase:FileReference></ItemOperations:Fetch></ItemOperations:ItemOperations>`)
		data, _ := base64.StdEncoding.DecodeString(fr.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Properties/ItemOperations:Data"))
		if fr.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Status") != "1" || string(data) != "ward,beds\n7,4\n" {
			t.Fatalf("fetch: %s", fr.XML())
		}
		got := e.items(bob, store.FolderInbox)
		raw := e.raw(bob, &got[0])
		if !strings.Contains(raw, "In-Reply-To: <bed@example.nhs.uk>") || !strings.Contains(raw, "References: <bed@example.nhs.uk>") {
			t.Fatalf("no threading headers:\n%s", raw)
		}
		if sent := e.items(alice, store.FolderSentItems); len(sent) != 1 {
			t.Fatalf("alice's Sent Items: %d", len(sent))
		}
		if o, _ := st.ItemByID(ctx, alice.ID, orig.ID); o.LastVerb != verbReplyToSender {
			t.Fatalf("the original's last verb: %d", o.LastVerb)
		}
		if cmds := alicePhone.sync("Inbox"); count(cmds, "Change") != 1 {
			t.Fatalf("alice's phone was not told of the reply: %d commands", len(cmds))
		}
		// Forward as an attachment carries the original whole.
		r = b.postCompose(url.Values{"op": {"send"}, "mode": {"forwardatt"}, "source": {strconv.FormatInt(orig.ID, 10)}, "to": {bob.Email},
			"subject": {"FW: Bed state"}, "text": {"See below."}}, nil, nil)
		if r.Code != http.StatusSeeOther {
			t.Fatalf("forward as attachment: HTTP %d\n%s", r.Code, mainOf(r.Body))
		}
		got = e.items(bob, store.FolderInbox)
		fw := got[len(got)-1]
		if len(fw.Attachments) != 1 || !strings.Contains(e.raw(bob, &fw), "message/rfc822") {
			t.Fatalf("forward as attachment: %+v", fw.Attachments)
		}
	})
}

// TestComposeSendOnBehalf: a delegate with send on behalf picks the owner
// as From; the message goes From the owner with the delegate as Sender.
// A delegate with read access only gets no choice, and a forged post is
// refused with 403, audited, and sends nothing.
func TestComposeSendOnBehalf(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newComposeEnv(t, st)
		owner := e.addUser("consultant@example.nhs.uk", composePW, store.RoleUser)
		pa := e.addUser("pa@example.nhs.uk", composePW, store.RoleUser)
		reader := e.addUser("reader@example.nhs.uk", composePW, store.RoleUser)
		gp := e.addUser("gp@example.nhs.uk", composePW, store.RoleUser)
		self := governance.Actor{UserID: owner.ID, Name: owner.Email}
		if err := e.gov.GrantDelegate(ctx, self, owner, pa, store.ScopeMail, store.PermissionSendOnBehalf); err != nil {
			t.Fatal(err)
		}
		if err := e.gov.GrantDelegate(ctx, self, owner, reader, store.ScopeMail, store.PermissionRead); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			who     *store.User
			choice  bool
			code    int
			arrives bool
		}{
			{pa, true, http.StatusSeeOther, true},
			{reader, false, http.StatusForbidden, false},
			{gp, false, http.StatusForbidden, false},
		} {
			t.Run(tc.who.Email, func(t *testing.T) {
				b := e.browser()
				b.login(tc.who.Email, composePW)
				page := b.get(composePath)
				if has := strings.Contains(page.Body, `<option value="consultant@example.nhs.uk"`); has != tc.choice {
					t.Fatalf("From choice of the owner: %v, want %v", has, tc.choice)
				}
				before := len(e.items(gp, store.FolderInbox))
				subject := "Clinic letter from " + tc.who.Email
				r := b.postCompose(url.Values{"op": {"send"}, "from": {owner.Email}, "to": {gp.Email}, "subject": {subject}, "text": {"Letter."}}, nil, nil)
				if r.Code != tc.code {
					t.Fatalf("send as the owner: HTTP %d, want %d", r.Code, tc.code)
				}
				got := e.items(gp, store.FolderInbox)
				if arrived := len(got) > before; arrived != tc.arrives {
					t.Fatalf("arrived %v, want %v", arrived, tc.arrives)
				}
				if !tc.arrives {
					if !e.audited("mail.send_on_behalf", "refused") {
						t.Fatal("the refusal was not audited")
					}
					return
				}
				raw := e.raw(gp, &got[len(got)-1])
				if got[len(got)-1].FromAddr == "" || !strings.Contains(got[len(got)-1].FromAddr, owner.Email) ||
					!strings.Contains(raw, "Sender: \"pa\" <pa@example.nhs.uk>") && !strings.Contains(raw, "Sender: pa <pa@example.nhs.uk>") {
					t.Fatalf("From %q, header:\n%s", got[len(got)-1].FromAddr, raw[:strings.Index(raw, "\r\n\r\n")])
				}
			})
		}
	})
}

// TestMailSearch: the search box finds a message by a word of its body,
// its subject and its sender, in any folder, and nothing of another
// user's.
func TestMailSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newComposeEnv(t, st)
		alice := e.addUser("alice@example.nhs.uk", composePW, store.RoleUser)
		other := e.addUser("other@example.nhs.uk", composePW, store.RoleUser)
		inbox := folderOf(t, st, alice, store.FolderInbox)
		deliver(t, st, alice, inbox.ID, []byte("From: Pharmacy <pharmacy@example.nhs.uk>\r\nTo: alice@example.nhs.uk\r\nSubject: Stock check\r\n\r\nThe methotrexate order arrives Thursday.\r\n"))
		deliver(t, st, alice, inbox.ID, []byte("From: Estates <estates@example.nhs.uk>\r\nTo: alice@example.nhs.uk\r\nSubject: Power work\r\n\r\nBlock C.\r\n"))
		oi := folderOf(t, st, other, store.FolderInbox)
		deliver(t, st, other, oi.ID, []byte("From: x@example.nhs.uk\r\nTo: other@example.nhs.uk\r\nSubject: Secret methotrexate\r\n\r\nmethotrexate\r\n"))
		b := e.browser()
		b.login(alice.Email, composePW)
		for _, tc := range []struct{ q, want, not string }{
			{"methotrexate", "Stock check", "Secret"},
			{"power", "Power work", "Stock check"},
			{"estates", "Power work", "Stock check"},
			{"nosuchword", "No messages match", "Stock check"},
			{"m", "at least two characters", "Stock check"},
		} {
			r := b.get("/mail/search?q=" + url.QueryEscape(tc.q))
			if r.Code != 200 || !strings.Contains(r.Body, tc.want) || strings.Contains(r.Body, tc.not) {
				t.Errorf("search %q: HTTP %d\n%s", tc.q, r.Code, mainOf(r.Body))
			}
		}
	})
}

// TestAddressSuggestions: colleagues from the directory and recent
// recipients, from three characters on, for signed-in staff only.
func TestAddressSuggestions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newComposeEnv(t, st)
		alice := e.addUser("alice@example.nhs.uk", composePW, store.RoleUser)
		e.addUser("bobby.tables@example.nhs.uk", composePW, store.RoleUser)
		sent := folderOf(t, st, alice, store.FolderSentItems)
		deliver(t, st, alice, sent.ID, []byte("From: alice@example.nhs.uk\r\nTo: \"Roberta Outside\" <roberta@partner.example.org>\r\nSubject: s\r\n\r\nx\r\n"))
		b := e.browser()
		b.login(alice.Email, composePW)
		get := func(q string) []suggestion {
			r := b.get("/mail/addresses?q=" + url.QueryEscape(q))
			var out []suggestion
			if r.Code != 200 || json.Unmarshal([]byte(r.Body), &out) != nil {
				t.Fatalf("%q: HTTP %d %s", q, r.Code, r.Body)
			}
			return out
		}
		if got := get("bo"); len(got) != 0 {
			t.Fatalf("two characters found %v", got)
		}
		got := get("bobby")
		if len(got) != 1 || got[0].Email != "bobby.tables@example.nhs.uk" || got[0].From != "directory" {
			t.Fatalf("directory: %+v", got)
		}
		got = get("rob")
		if len(got) != 1 || got[0].Email != "roberta@partner.example.org" || got[0].From != "recent" {
			t.Fatalf("recent: %+v", got)
		}
		if page := b.get(composePath); !strings.Contains(page.Body, `<option value="&#34;Roberta Outside&#34; &lt;roberta@partner.example.org&gt;">`) {
			t.Fatalf("no datalist of recent recipients:\n%s", mainOf(page.Body))
		}
		if r := e.browser().get("/mail/addresses?q=bobby"); r.Code == 200 {
			t.Fatalf("signed out: HTTP %d", r.Code)
		}
	})
}
