package web_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"airlock/importer"
	"airlock/internal/server"
	"airlock/store"
	"airlock/store/storetest"
)

// TestBrowserMail runs the staff web's mail in Chromium (web/e2e/mail.mjs)
// against the real server, on SQLite and on PostgreSQL: a member of staff
// signs in and reads a message imported from a Maildir; an HTML message
// carrying a script, an onerror handler and a remote image on this test's
// own loopback server runs nothing and fetches nothing until "show images"
// is clicked, then fetches the image once; axe-core finds no serious or
// critical accessibility violation on the inbox and the reading pane.
// Screenshots at 1366x768 and 390x844 (SQLite run) go to docs/screenshots
// with -update-screenshots.
func TestBrowserMail(t *testing.T) {
	node := browserTools(t)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			outDir := t.TempDir()
			if *updateScreenshots && dialect == "sqlite" {
				outDir, _ = filepath.Abs("../docs/screenshots")
				os.MkdirAll(outDir, 0o755)
			}
			runMailBrowser(t, node, storetest.DSN(t, dialect), outDir)
		})
	}
}

// browserTools finds node and chromium and installs the npm packages, or
// skips (fails in CI).
func browserTools(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	_, cerr := os.Stat(chromium)
	if err != nil || cerr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node (%v) or %s (%v) missing; scripts/test installs them", err, chromium, cerr)
		}
		t.Skipf("node or chromium missing (node: %v, chromium: %v)", err, cerr)
	}
	_, err1 := os.Stat("e2e/node_modules/playwright-core")
	_, err2 := os.Stat("e2e/node_modules/axe-core")
	if err1 != nil || err2 != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--silent")
		cmd.Dir = "e2e"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in web/e2e: %v\n%s", err, out)
		}
	}
	return node
}

// hitCounter is the remote server a message's pictures point at.
type hitCounter struct {
	mu   sync.Mutex
	hits map[string]int
}

func (h *hitCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hits[r.URL.Path]++
	h.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/pixel.png" {
		png, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hitCounter) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path]
}

func (h *hitCounter) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, v := range h.hits {
		n += v
	}
	return n
}

func runMailBrowser(t *testing.T, node, dsn, outDir string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	const pw = "e2e-Passw0rd"
	seedUsers(t, dsn, pw)

	remote := &hitCounter{hits: map[string]int{}}
	rs := httptest.NewServer(remote)
	defer rs.Close()

	pr, pwr := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- server.Run(ctx, server.Config{DB: dsn, Listen: "127.0.0.1:0", Hostname: "mail.example.nhs.uk", Domain: "example.nhs.uk", PlainHTTP: true, DataDir: dir},
			slog.New(slog.NewTextHandler(io.Discard, nil)), pwr)
	}()
	base := waitForBanner(t, pr, errc)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Alice's old mail, from a Maildir.
	md := filepath.Join(dir, "Maildir")
	writeMailMaildir(t, md, rs.URL)
	sum, err := importer.Import(ctx, st, "alice@example.nhs.uk", "", []string{md}, io.Discard)
	if err != nil || sum.TotalImported() != len(mailboxSeed)+2 {
		t.Fatalf("import: %v, %v", sum, err)
	}
	alice, _ := st.UserByAddress(ctx, "alice@example.nhs.uk")

	cmd := exec.Command(node, "e2e/mail.mjs", base, outDir)
	cmd.Env = append(os.Environ(), "AIRLOCK_USER=alice@example.nhs.uk", "AIRLOCK_PASSWORD="+pw, "CHROMIUM="+chromium)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	defer func() {
		if !done {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	lines := bufio.NewScanner(stdout)
	step := func(want string) {
		t.Helper()
		for lines.Scan() {
			line := lines.Text()
			t.Log("browser: " + line)
			if line == "STEP "+want {
				return
			}
			if strings.HasPrefix(line, "FAIL") {
				break
			}
		}
		cmd.Wait()
		done = true
		t.Fatalf("browser did not reach %q:\n%s", want, stderr.String())
	}
	resume := func() { fmt.Fprintln(stdin, "go") }

	step("inbox")
	if n := remote.total(); n != 0 {
		t.Fatalf("the inbox made %d requests to the remote server", n)
	}
	resume()

	step("read-imported")
	rota := itemBySubject(t, st, alice.ID, "Ward rota for March")
	if !rota.Read {
		t.Fatal("reading the imported message did not mark it read")
	}
	resume()

	step("hostile-open")
	if n := remote.total(); n != 0 {
		t.Fatalf("before 'show images': %d requests left for the remote server (%v)", n, remote.hits)
	}
	resume()

	step("images-shown")
	if n := remote.count("/pixel.png"); n != 1 {
		t.Fatalf("after 'show images': the picture was fetched %d times, want 1", n)
	}
	if n := remote.count("/script") + remote.count("/onerror"); n != 0 {
		t.Fatalf("the message's script ran (%d requests)", n)
	}
	resume()

	step("done")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser run: %v\n%s", err, stderr.String())
	}
	done = true
	if n := remote.count("/script") + remote.count("/onerror"); n != 0 {
		t.Fatalf("the message's script ran (%d requests)", n)
	}
	for _, shot := range []string{"mail-inbox", "mail-inbox-phone", "mail-reading", "mail-reading-phone"} {
		if fi, err := os.Stat(filepath.Join(outDir, shot+".png")); err != nil || fi.Size() < 5000 {
			t.Errorf("screenshot %s.png missing or empty: %v", shot, err)
		}
	}
}

func itemBySubject(t *testing.T, st *store.Store, userID int64, subject string) *store.Item {
	t.Helper()
	inbox, err := st.FolderByType(context.Background(), userID, store.FolderInbox)
	if err != nil {
		t.Fatal(err)
	}
	items, err := st.ListItems(context.Background(), userID, inbox.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		if items[i].Subject == subject {
			return &items[i]
		}
	}
	t.Fatalf("no message %q in the Inbox", subject)
	return nil
}

// mailboxSeed is ordinary mail, so the inbox looks like one.
var mailboxSeed = []struct{ from, subject, body string }{
	{`"Bob Smith" <bob@example.nhs.uk>`, "Radiology handover notes", "Handover notes for the weekend are on the shared drive."},
	{`"Carol Evans" <carol@example.nhs.uk>`, "Pharmacy stock check on Thursday", "Please make sure the cupboard is unlocked by 9."},
	{`"Estates Helpdesk" <estates@example.nhs.uk>`, "Planned power work, Block C", "Power will be off in Block C between 06:00 and 07:00."},
	{`"Learning and Development" <learning@example.nhs.uk>`, "Your mandatory training is due", "Information governance training is due by the end of the month."},
	{`"IT Service Desk" <it@example.nhs.uk>`, "New phones for the ward", "The new handsets arrive next week; bring your old one to swap."},
	{`"Dr Priya Shah" <priya.shah@example.nhs.uk>`, "Clinic letter for review", "Could you look over the attached letter before it goes out?"},
}

// writeMailMaildir writes Alice's Maildir: ordinary mail, the rota (plain
// text with a link) and the hostile HTML message pointing at remote.
func writeMailMaildir(t *testing.T, dir, remote string) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	when := time.Now().UTC().Add(-72 * time.Hour)
	write := func(name string, raw string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(raw, "\n", "\r\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range mailboxSeed {
		d := when.Add(time.Duration(i) * 7 * time.Hour)
		flags := ":2,S"
		if i%2 == 1 {
			flags = ":2,"
		}
		if i == 5 {
			flags = ":2,F"
		}
		write(fmt.Sprintf("cur/%d.seed%d.e2e%s", d.Unix(), i, flags), fmt.Sprintf("From: %s\nTo: \"Alice Jones\" <alice@example.nhs.uk>\nSubject: %s\nDate: %s\nMessage-ID: <seed%d@example.nhs.uk>\n\n%s\n",
			m.from, m.subject, d.Format(time.RFC1123Z), i, m.body))
	}
	d := time.Now().UTC().Add(-2 * time.Hour)
	write(fmt.Sprintf("new/%d.rota.e2e", d.Unix()), "From: \"Bob Smith\" <bob@example.nhs.uk>\nTo: \"Alice Jones\" <alice@example.nhs.uk>\nSubject: Ward rota for March\nDate: "+d.Format(time.RFC1123Z)+
		"\nMessage-ID: <rota@example.nhs.uk>\n\nHi Alice,\n\nThe rota for March is at https://intranet.example.nhs.uk/rota/march and <b>nights</b> are marked.\n\nBob\n")
	d = time.Now().UTC().Add(-20 * time.Minute)
	write(fmt.Sprintf("new/%d.hostile.e2e", d.Unix()), "From: \"Quarterly Figures\" <figures@partner.example.org>\nTo: \"Alice Jones\" <alice@example.nhs.uk>\nSubject: Quarterly figures\nDate: "+d.Format(time.RFC1123Z)+
		"\nMessage-ID: <figures@partner.example.org>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"+
		"<html><head><meta http-equiv=\"refresh\" content=\"0;url="+remote+"/refresh\"><style>body{background:url("+remote+"/css)}</style></head><body>"+
		"<h2 id=\"greeting\">Quarterly figures</h2><p>The figures for the quarter are below.</p>"+
		"<script>fetch('"+remote+"/script');document.title='pwned';alert('pwned')</script>"+
		"<img src=\"x\" onerror=\"fetch('"+remote+"/onerror');alert('pwned')\">"+
		"<p><img id=\"remote\" src=\""+remote+"/pixel.png\" alt=\"Chart of the quarter\" width=\"120\" height=\"60\"></p>"+
		"<p>Read more on <a href=\"https://www.nhs.uk/\">the NHS website</a>.</p></body></html>\n")
}
