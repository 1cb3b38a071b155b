package web_test

import (
	"bufio"
	"context"
	"encoding/base64"
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
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// TestBrowserCompose runs composing in Chromium (web/e2e/compose.mjs)
// against the real server, on SQLite and PostgreSQL: the search box finds
// a message by a word of its body; a reply with an attachment, written in
// the rich editor, reaches the colleague's phone (an EAS Sync), whose
// ItemOperations fetches the file; a delegate with send on behalf sends
// as the owner, picking the colleague from the address suggestions, and
// the recipient sees the delegate as Sender; a delegate with read access
// gets no From choice and a forged post is refused (403, audited). axe-core
// checks the compose page; screenshots at 1366x768 and 390x844 (SQLite
// run) go to docs/screenshots with -update-screenshots.
func TestBrowserCompose(t *testing.T) {
	node := browserTools(t)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			outDir := t.TempDir()
			if *updateScreenshots && dialect == "sqlite" {
				outDir, _ = filepath.Abs("../docs/screenshots")
				os.MkdirAll(outDir, 0o755)
			}
			runComposeBrowser(t, node, storetest.DSN(t, dialect), outDir)
		})
	}
}

// seedMessage stores raw in the user's Inbox as delivery would.
func seedMessage(t *testing.T, st *store.Store, u *store.User, raw string) {
	t.Helper()
	ctx := context.Background()
	it, err := message.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := st.FolderByType(ctx, u.ID, store.FolderInbox)
	if err != nil {
		t.Fatal(err)
	}
	it.UserID, it.FolderID = u.ID, inbox.ID
	if err := st.AddItem(ctx, it, []byte(raw)); err != nil {
		t.Fatal(err)
	}
}

func runComposeBrowser(t *testing.T, node, dsn, outDir string) {
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
	// Carol may send on Alice's behalf; Bob may only read her mail.
	gov := &governance.Service{Store: st, Hostname: "mail.example.nhs.uk"}
	self := governance.Actor{UserID: alice.ID, Name: alice.Email}
	if err := gov.GrantDelegate(ctx, self, alice, carol, store.ScopeMail, store.PermissionSendOnBehalf); err != nil {
		t.Fatal(err)
	}
	if err := gov.GrantDelegate(ctx, self, alice, bob, store.ScopeMail, store.PermissionRead); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	seedMessage(t, st, alice, "From: \"Carol Evans\" <carol@example.nhs.uk>\r\nTo: \"Alice Jones\" <alice@example.nhs.uk>\r\nSubject: Pharmacy stock check\r\nDate: "+
		now.Add(-3*time.Hour).Format(time.RFC1123Z)+"\r\nMessage-ID: <stock@example.nhs.uk>\r\n\r\nThe methotrexate order arrives on Thursday; please keep the cupboard clear.\r\n")
	seedMessage(t, st, alice, "From: \"Bob Smith\" <bob@example.nhs.uk>\r\nTo: \"Alice Jones\" <alice@example.nhs.uk>\r\nSubject: Bed state\r\nDate: "+
		now.Add(-time.Hour).Format(time.RFC1123Z)+"\r\nMessage-ID: <bed@example.nhs.uk>\r\n\r\nHow many beds do we have tonight?\r\n")

	// Bob's phone, synced before anything is sent.
	bobPhone := eastest.NewDevice(t, base, eastest.Profile{Name: "iPhoneMail", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "14.1", Model: "iPhone14,7", OS: "iOS 16.1"}, bob.Email, pw)
	bobPhone.CheckWithLibwbxml = false
	bobPhone.Provision(1)
	fs := bobPhone.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	inboxID := ""
	for _, el := range fs.Find("FolderHierarchy:Changes").ChildElements() {
		if el.Tag == "Add" && el.SelectElement("Type").Text() == "2" {
			inboxID = el.SelectElement("ServerId").Text()
		}
	}
	res := bobPhone.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>0</AirSync:SyncKey><AirSync:CollectionId>`+inboxID+`</AirSync:CollectionId></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
	syncKey := res.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey")
	bobSync := func() *eastest.Result {
		t.Helper()
		r := bobPhone.Do("Sync", `<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>`+syncKey+`</AirSync:SyncKey><AirSync:CollectionId>`+inboxID+`</AirSync:CollectionId><AirSync:GetChanges>1</AirSync:GetChanges><AirSync:WindowSize>100</AirSync:WindowSize></AirSync:Collection></AirSync:Collections></AirSync:Sync>`)
		if k := r.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey"); k != "" {
			syncKey = k
		}
		return r
	}
	bobSync()

	cmd := exec.Command(node, "e2e/compose.mjs", base, outDir)
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

	step("searched")
	resume()

	step("replied")
	r := bobSync()
	var add *struct{ subject, ref string }
	if cmds := r.Find("AirSync:Collections/AirSync:Collection/AirSync:Commands"); cmds != nil {
		for _, el := range cmds.ChildElements() {
			if el.Tag != "Add" {
				continue
			}
			s, ref := el.FindElement(".//Subject"), el.FindElement(".//FileReference")
			if s != nil && s.Text() == "RE: Bed state" && ref != nil {
				add = &struct{ subject, ref string }{s.Text(), ref.Text()}
			}
		}
	}
	if add == nil {
		t.Fatalf("the reply with its attachment is not on Bob's phone:\n%s", r.XML())
	}
	fr := bobPhone.Do("ItemOperations", `<ItemOperations:ItemOperations><ItemOperations:Fetch><ItemOperations:Store>Mailbox</ItemOperations:Store><AirSyncBase:FileReference>`+add.ref+`</AirSyncBase:FileReference></ItemOperations:Fetch></ItemOperations:ItemOperations>`)
	data, _ := base64.StdEncoding.DecodeString(fr.Text("ItemOperations:Response/ItemOperations:Fetch/ItemOperations:Properties/ItemOperations:Data"))
	if string(data) != "ward,beds\n7,4\n" {
		t.Fatalf("the phone fetched %q:\n%s", data, fr.XML())
	}
	resume()

	step("on-behalf")
	got := lastInInbox(t, st, bob, "Clinic list for Friday")
	raw, err := st.Blob(ctx, bob.ID, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	head := string(raw[:strings.Index(string(raw), "\r\n\r\n")])
	if !strings.Contains(got.FromAddr, "alice@example.nhs.uk") || !strings.Contains(head, "Sender: \"Carol Evans\" <carol@example.nhs.uk>") {
		t.Fatalf("From %q; header:\n%s", got.FromAddr, head)
	}
	r = bobSync()
	if !strings.Contains(r.XML(), "Clinic list for Friday") {
		t.Fatalf("the message sent on behalf is not on Bob's phone:\n%s", r.XML())
	}
	resume()

	step("read-only-refused")
	evs, err := st.ListAudit(ctx, store.AuditFilter{Action: "mail.send_on_behalf", Limit: 10})
	if err != nil || len(evs) == 0 || evs[0].Actor != bob.Email || evs[0].Outcome != "refused" {
		t.Fatalf("the forged send was not audited: %v %+v", err, evs)
	}
	if hasSubject(t, st, bob, "Forged") || hasSubject(t, st, carol, "Forged") {
		t.Fatal("the forged message was sent")
	}
	resume()

	step("done")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser run: %v\n%s", err, stderr.String())
	}
	done = true
	for _, shot := range []string{"mail-compose", "mail-compose-phone"} {
		if fi, err := os.Stat(filepath.Join(outDir, shot+".png")); err != nil || fi.Size() < 5000 {
			t.Errorf("screenshot %s.png missing or empty: %v", shot, err)
		}
	}
}

func lastInInbox(t *testing.T, st *store.Store, u *store.User, subject string) *store.Item {
	t.Helper()
	if it := findSubject(t, st, u, subject); it != nil {
		return it
	}
	t.Fatalf("no %q in %s's Inbox", subject, u.Email)
	return nil
}

func hasSubject(t *testing.T, st *store.Store, u *store.User, subject string) bool {
	return findSubject(t, st, u, subject) != nil
}

func findSubject(t *testing.T, st *store.Store, u *store.User, subject string) *store.Item {
	t.Helper()
	inbox, err := st.FolderByType(context.Background(), u.ID, store.FolderInbox)
	if err != nil {
		t.Fatal(err)
	}
	items, err := st.ListItems(context.Background(), u.ID, inbox.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(items) - 1; i >= 0; i-- {
		if strings.Contains(items[i].Subject, subject) {
			return &items[i]
		}
	}
	return nil
}
