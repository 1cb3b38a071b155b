package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/governance"
	"airlock/internal/server"
	"airlock/store"
	"airlock/store/storetest"
)

// TestBrowserShared runs web/e2e/shared.mjs in Chromium against the real
// server, on SQLite and PostgreSQL: a delegate with read access opens the
// owner's Inbox from his folder tree and reads a message (audited, left
// unread), is offered nothing that changes it and cannot send as the
// owner (no From choice; a forged post is 403); a delegate with send on
// behalf sends as the owner and the recipient's reading pane shows
// "Carol Evans <...> on behalf of Alice"; the owner adds a contact and a
// weekly task in the web and ticks the task done (it moves on a week), and
// her phone's Sync gets the contact and the tasks. axe-core on the shared
// reading pane, /contacts, a contact's card and form, /tasks and a task's
// form; screenshots at 1366x768 and 390x844 (SQLite run) go to
// docs/screenshots with -update-screenshots.
func TestBrowserShared(t *testing.T) {
	node := browserTools(t)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			outDir := t.TempDir()
			if *updateScreenshots && dialect == "sqlite" {
				outDir, _ = filepath.Abs("../docs/screenshots")
				os.MkdirAll(outDir, 0o755)
			}
			runSharedBrowser(t, node, storetest.DSN(t, dialect), outDir)
		})
	}
}

func runSharedBrowser(t *testing.T, node, dsn, outDir string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	const pw = "e2e-Passw0rd"
	seedUsers(t, dsn, pw)
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
	alice, _ := st.UserByAddress(ctx, "alice@example.nhs.uk")
	bob, _ := st.UserByAddress(ctx, "bob@example.nhs.uk")
	carol, _ := st.UserByAddress(ctx, "carol@example.nhs.uk")
	gov := &governance.Service{Store: st, Hostname: "mail.example.nhs.uk"}
	self := governance.Actor{UserID: alice.ID, Name: alice.Email}
	if err := gov.GrantDelegate(ctx, self, alice, bob, store.ScopeMail, store.PermissionRead); err != nil {
		t.Fatal(err)
	}
	if err := gov.GrantDelegate(ctx, self, alice, carol, store.ScopeMail, store.PermissionSendOnBehalf); err != nil {
		t.Fatal(err)
	}
	seedMessage(t, st, alice, "From: \"Ward 7\" <ward7@example.nhs.uk>\r\nTo: \"Alice Jones\" <alice@example.nhs.uk>\r\nSubject: Ward round notes\r\nDate: "+
		time.Now().Add(-time.Hour).Format(time.RFC1123Z)+"\r\nMessage-ID: <round@example.nhs.uk>\r\n\r\nBay 3 needs a review before noon.\r\n")
	notes := findSubject(t, st, alice, "Ward round notes")

	// Alice's phone, its contacts and tasks synced before the browser runs.
	phone := eastest.NewDevice(t, base, eastest.Profile{Name: "iPhoneMail", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "14.1", Model: "iPhone14,7", OS: "iOS 16.1"}, alice.Email, pw)
	phone.CheckWithLibwbxml = false
	phone.Provision(1)
	fs := phone.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	ids, keys := map[string]string{}, map[string]string{}
	for _, el := range fs.Find("FolderHierarchy:Changes").ChildElements() {
		if el.Tag == "Add" {
			ids[el.SelectElement("Type").Text()] = el.SelectElement("ServerId").Text()
		}
	}
	sync := func(typ string) string {
		t.Helper()
		id := ids[typ]
		if keys[id] == "" {
			r := phone.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>0</AirSync:SyncKey><AirSync:CollectionId>`+id+`</AirSync:CollectionId></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
			keys[id] = r.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey")
		}
		r := phone.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>`+keys[id]+`</AirSync:SyncKey><AirSync:CollectionId>`+id+`</AirSync:CollectionId><AirSync:GetChanges>1</AirSync:GetChanges><AirSync:WindowSize>100</AirSync:WindowSize></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
		if k := r.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey"); k != "" {
			keys[id] = k
		}
		return r.XML()
	}
	sync("9") // Contacts
	sync("7") // Tasks

	cmd := exec.Command(node, "e2e/shared.mjs", base, outDir)
	cmd.Env = append(os.Environ(), "AIRLOCK_PASSWORD="+pw, "CHROMIUM="+chromium)
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

	step("read-only")
	for _, action := range []string{"mail.shared_open", "mail.shared_read"} {
		evs, err := st.ListAudit(ctx, store.AuditFilter{Action: action, Limit: 10})
		if err != nil || len(evs) == 0 || evs[0].Actor != bob.Email || evs[0].Target != alice.Email {
			t.Fatalf("%s not audited: %v %+v", action, err, evs)
		}
	}
	if it, _ := st.ItemByID(ctx, alice.ID, notes.ID); it == nil || it.Read {
		t.Fatal("Bob's reading marked Alice's message read")
	}
	if hasSubject(t, st, carol, "Forged") {
		t.Fatal("the forged message was sent")
	}
	resume()

	step("on-behalf")
	got := lastInInbox(t, st, bob, "Theatre list for Monday")
	if !strings.Contains(got.FromAddr, alice.Email) {
		t.Fatalf("From %q", got.FromAddr)
	}
	resume()

	step("recipient")
	resume()

	step("pim")
	contacts, tasks := sync("9"), sync("7")
	if !strings.Contains(contacts, "priya.shah@pharmacy.example.org") || !strings.Contains(contacts, "Leeds Pharmacy") {
		t.Fatalf("the contact is not on Alice's phone:\n%s", contacts)
	}
	if strings.Count(tasks, "Controlled drugs check") != 2 || !strings.Contains(tasks, "2026-03-09") {
		t.Fatalf("the done task and the series moved on are not on Alice's phone:\n%s", tasks)
	}
	resume()

	step("done")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser run: %v\n%s", err, stderr.String())
	}
	done = true
	for _, shot := range []string{"contacts", "contacts-phone", "contact-card", "contact-card-phone", "tasks", "tasks-phone"} {
		if fi, err := os.Stat(filepath.Join(outDir, shot+".png")); err != nil || fi.Size() < 5000 {
			t.Errorf("screenshot %s.png missing or empty: %v", shot, err)
		}
	}
}
