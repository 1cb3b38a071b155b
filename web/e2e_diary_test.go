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
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock/activesync/eastest"
	"airlock/internal/server"
	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

// TestBrowserDiary runs the diary and the directory in Chromium
// (web/e2e/diary.mjs) against the real server, on SQLite and PostgreSQL:
// Alice finds Bob in the directory (search, then his card), arranges a
// weekly meeting with him from the card (checking who is free first);
// Bob accepts it from his phone (EAS MeetingResponse); Alice's diary then
// shows the acceptance, in the week view and on the meeting. axe-core
// finds no serious or critical violation on the diary week and the
// directory; screenshots of both at 1366x768 and 390x844 go to
// docs/screenshots with -update-screenshots (SQLite run).
func TestBrowserDiary(t *testing.T) {
	node := browserTools(t)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			outDir := t.TempDir()
			if *updateScreenshots && dialect == "sqlite" {
				outDir, _ = filepath.Abs("../docs/screenshots")
				os.MkdirAll(outDir, 0o755)
			}
			runDiaryBrowser(t, node, storetest.DSN(t, dialect), outDir)
		})
	}
}

func runDiaryBrowser(t *testing.T, node, dsn, outDir string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const pw = "e2e-Passw0rd"
	seedUsers(t, dsn, pw)
	pr, pwr := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- server.Run(ctx, server.Config{DB: dsn, Listen: "127.0.0.1:0", Hostname: "mail.example.nhs.uk", Domain: "example.nhs.uk", PlainHTTP: true, DataDir: t.TempDir()},
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
	bob, _ := st.UserByAddress(ctx, "bob@example.nhs.uk")
	bob.JobTitle, bob.Office, bob.Phone = "Consultant Radiologist", "St Mary's Hospital", "020 7946 0002"
	if err := st.UpdateDirectory(ctx, bob); err != nil {
		t.Fatal(err)
	}
	alice, _ := st.UserByAddress(ctx, "alice@example.nhs.uk")
	// Something already in Alice's week, so the diary looks lived in.
	london, _ := pim.ResolveTimeZone("Europe/London")
	monday := nextMonday(time.Now().In(london))
	addAppointment(t, st, alice, "Outpatient clinic", "Clinic 3", monday.Add(14*time.Hour), 3*time.Hour)
	addAppointment(t, st, alice, "Audit meeting", "Seminar room", monday.AddDate(0, 0, 2).Add(9*time.Hour), time.Hour)

	// Bob's phone.
	phone := eastest.NewDevice(t, base, eastest.Profile{Name: "BobPhone", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "14.1", Model: "iPhone14,7", OS: "iOS 16.1"}, bob.Email, pw)
	phone.CheckWithLibwbxml = false
	phone.Provision(1)
	phone.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	inbox, _ := st.FolderByType(ctx, bob.ID, store.FolderInbox)

	cmd := exec.Command(node, "e2e/diary.mjs", base, outDir)
	cmd.Env = append(os.Environ(), "AIRLOCK_USER=alice@example.nhs.uk", "AIRLOCK_PASSWORD="+pw, "CHROMIUM="+chromium,
		"MEETING_DATE="+monday.Format(time.DateOnly))
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

	step("meeting-made")
	items, err := st.ListItems(ctx, bob.ID, inbox.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	reqID := int64(0)
	for _, it := range items {
		if it.MessageClass == "IPM.Schedule.Meeting.Request" && it.Subject == "Weekly imaging review" {
			reqID = it.ID
		}
	}
	if reqID == 0 {
		t.Fatal("no meeting request in Bob's Inbox")
	}
	res := phone.Do("MeetingResponse", `<MeetingResponse:MeetingResponse><MeetingResponse:Request><MeetingResponse:UserResponse>1</MeetingResponse:UserResponse>
		<MeetingResponse:CollectionId>`+strconv.FormatInt(inbox.ID, 10)+`</MeetingResponse:CollectionId><MeetingResponse:RequestId>`+strconv.FormatInt(reqID, 10)+`</MeetingResponse:RequestId>
		</MeetingResponse:Request></MeetingResponse:MeetingResponse>`)
	res.Expect(200, "MeetingResponse:Result/MeetingResponse:Status", "1")
	resume()

	step("done")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser run: %v\n%s", err, stderr.String())
	}
	done = true
	for _, shot := range []string{"diary-week", "diary-week-phone", "directory-card", "directory-card-phone"} {
		if fi, err := os.Stat(filepath.Join(outDir, shot+".png")); err != nil || fi.Size() < 5000 {
			t.Errorf("screenshot %s.png missing or empty: %v", shot, err)
		}
	}
}

// nextMonday is the local midnight of the Monday after t.
func nextMonday(t time.Time) time.Time {
	d := 8 - int(t.Weekday())
	if t.Weekday() == time.Sunday {
		d = 1
	}
	return time.Date(t.Year(), t.Month(), t.Day()+d, 0, 0, 0, 0, t.Location())
}

func addAppointment(t *testing.T, st *store.Store, u *store.User, summary, where string, start time.Time, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	f, err := st.FolderByType(ctx, u.ID, store.FolderCalendar)
	if err != nil {
		t.Fatal(err)
	}
	e := pim.Event{Summary: summary, Location: where, Start: start.UTC(), End: start.Add(d).UTC(), TimeZone: "Europe/London", BusyStatus: pim.BusyBusy}
	it, err := e.ToItem(u.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddItem(ctx, it, nil); err != nil {
		t.Fatal(err)
	}
}
