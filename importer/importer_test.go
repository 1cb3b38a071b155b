package importer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const userEmail = "amira.patel@example.nhs.uk"

func newUser(t testing.TB, s *store.Store) *store.User {
	t.Helper()
	u := &store.User{Email: userEmail, DisplayName: "Amira Patel"}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func folder(t testing.TB, s *store.Store, u *store.User, path string) *store.Folder {
	t.Helper()
	f, err := s.FolderByPath(context.Background(), u.ID, path)
	if err != nil {
		t.Fatalf("folder %q: %v", path, err)
	}
	return f
}

func count(t testing.TB, s *store.Store, u *store.User, path string) int64 {
	t.Helper()
	n, err := s.CountItems(context.Background(), u.ID, folder(t, s, u, path).ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func allItems(t testing.TB, s *store.Store, u *store.User, path string) []store.Item {
	t.Helper()
	var out []store.Item
	var after int64
	for {
		items, err := s.ListItems(context.Background(), u.ID, folder(t, s, u, path).ID, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, items...)
		if len(items) < 500 {
			return out
		}
		after = items[len(items)-1].ID
	}
}

var baseDate = time.Date(2019, 3, 4, 8, 0, 0, 0, time.UTC)

// testMessage is message i of a generated mailbox: every seventh has a PDF
// attached.
func testMessage(i int) []byte {
	date := baseDate.Add(time.Duration(i) * time.Minute).Format(time.RFC1123Z)
	head := fmt.Sprintf("Return-Path: <sender%d@example.org>\r\nMessage-ID: <msg-%d@example.org>\r\nDate: %s\r\n"+
		"From: Sender %d <sender%d@example.org>\r\nTo: Amira Patel <%s>\r\nSubject: Referral %d\r\nMIME-Version: 1.0\r\n",
		i, i, date, i, i, userEmail, i)
	if i%7 != 0 {
		return []byte(head + "Content-Type: text/plain; charset=utf-8\r\n\r\nPlease see patient " + fmt.Sprint(i) + ".\r\n")
	}
	return []byte(head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nLetter attached.\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"letter-" + fmt.Sprint(i) + ".pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSVFT0YK\r\n--b--\r\n")
}

// maildirFlagsFor gives message i its flags: every third read, every tenth
// also flagged, every fourth still in new/.
func maildirName(i int) (sub, name string) {
	base := fmt.Sprintf("%d.M%dP42.ward7b", 1551686400+i, i)
	switch {
	case i%4 == 3:
		return "new", base
	case i%10 == 0:
		return "cur", base + ":2,FS"
	case i%3 == 0:
		return "cur", base + ":2,RS"
	}
	return "cur", base + ":2,"
}

func writeMaildir(t testing.TB, dir string, n int) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		sub, name := maildirName(i)
		if err := os.WriteFile(filepath.Join(dir, sub, name), testMessage(i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestImportMaildir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Maildir")
	writeMaildir(t, dir, 1000)
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := newUser(t, s)
		var report bytes.Buffer
		start := time.Now()
		sum, err := Import(ctx, s, userEmail, "", []string{dir}, &report)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("1000 messages in %v", time.Since(start))
		if sum.Imported[store.ClassEmail] != 1000 || sum.TotalSkipped() != 0 || report.Len() != 0 {
			t.Fatalf("summary %v, report:\n%s", sum, report.String())
		}
		if n := count(t, s, u, "Inbox"); n != 1000 {
			t.Fatalf("CountItems = %d, want 1000", n)
		}
		items := allItems(t, s, u, "Inbox")
		byID := map[string]store.Item{}
		for _, it := range items {
			byID[it.MessageID] = it
		}
		for _, i := range []int{0, 3, 7, 10, 11, 999} {
			it, ok := byID[fmt.Sprintf("msg-%d@example.org", i)]
			if !ok {
				t.Fatalf("message %d missing", i)
			}
			sub, name := maildirName(i)
			wantRead := sub == "cur" && strings.Contains(name, "S")
			wantFlag := 0
			if strings.Contains(name, "F") {
				wantFlag = 2
			}
			wantVerb := 0
			if strings.Contains(name, ",R") {
				wantVerb = 1
			}
			wantDate := baseDate.Add(time.Duration(i) * time.Minute)
			if it.Subject != fmt.Sprintf("Referral %d", i) || it.FromAddr != fmt.Sprintf(`"Sender %d" <sender%d@example.org>`, i, i) ||
				it.Read != wantRead || it.FlagStatus != wantFlag || it.LastVerb != wantVerb ||
				it.DateReceived == nil || !it.DateReceived.Equal(wantDate) || it.HasAttachments != (i%7 == 0) {
				t.Errorf("message %d (%s/%s) = %+v", i, sub, name, it)
			}
			if i%7 == 0 && (len(it.Attachments) != 1 || it.Attachments[0].FileName != fmt.Sprintf("letter-%d.pdf", i)) {
				t.Errorf("message %d attachments %+v", i, it.Attachments)
			}
			raw, err := s.Blob(ctx, u.ID, it.ID)
			if err != nil || !bytes.Equal(raw, testMessage(i)) {
				t.Errorf("message %d blob differs (%v)", i, err)
			}
		}
	})
}

func TestImportDuplicates(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "Maildir")
	writeMaildir(t, md, 20)
	// Two messages without Message-ID: told apart by their bytes.
	noID1 := []byte("From: a@example.org\r\nSubject: no id\r\n\r\none\r\n")
	noID2 := []byte("From: a@example.org\r\nSubject: no id\r\n\r\ntwo\r\n")
	os.WriteFile(filepath.Join(md, "cur", "9999.noid1:2,S"), noID1, 0o644)
	os.WriteFile(filepath.Join(md, "cur", "9999.noid2:2,S"), noID2, 0o644)
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := newUser(t, s)
		first, err := Import(ctx, s, userEmail, "", []string{md}, nil)
		if err != nil || first.Imported[store.ClassEmail] != 22 {
			t.Fatalf("first import: %v %v", first, err)
		}
		var report bytes.Buffer
		second, err := Import(ctx, s, userEmail, "", []string{md}, &report)
		if err != nil {
			t.Fatal(err)
		}
		if second.TotalImported() != 0 || second.Duplicates[store.ClassEmail] != 22 {
			t.Fatalf("second import: %v", second)
		}
		if n := count(t, s, u, "Inbox"); n != 22 {
			t.Fatalf("count after re-import = %d, want 22", n)
		}
		lines := strings.Split(strings.TrimSpace(report.String()), "\n")
		if len(lines) != 22 || !strings.Contains(report.String(), "cur/1551686400.M0P42.ward7b:2,FS: duplicate: Message-ID <msg-0@example.org> already in \"Inbox\"") ||
			!strings.Contains(report.String(), "9999.noid2:2,S: duplicate: identical message") {
			t.Errorf("report:\n%s", report.String())
		}
		// Duplicates are per folder: the same Maildir into an archive
		// folder is stored again.
		third, err := Import(ctx, s, userEmail, "Archive", []string{md}, nil)
		if err != nil || third.Imported[store.ClassEmail] != 22 {
			t.Fatalf("import into another folder: %v %v", third, err)
		}
		// The same message twice in one mbox is stored once.
		mbox := filepath.Join(dir, "twice.mbox")
		os.WriteFile(mbox, []byte("From x Mon Jan  1 00:00:00 2024\nMessage-ID: <same@x>\nFrom: a@x\n\nbody\n\nFrom x Mon Jan  1 00:00:00 2024\nMessage-ID: <same@x>\nFrom: a@x\n\nbody\n"), 0o644)
		fourth, err := Import(ctx, s, userEmail, "Lists", []string{mbox}, nil)
		if err != nil || fourth.Imported[store.ClassEmail] != 1 || fourth.Duplicates[store.ClassEmail] != 1 {
			t.Fatalf("mbox with a repeated message: %v %v", fourth, err)
		}
		// Calendar entries are keyed by UID.
		ics := filepath.Join(dir, "cal.ics")
		os.WriteFile(ics, []byte(icsFile), 0o644)
		Import(ctx, s, userEmail, "", []string{ics}, nil)
		again, err := Import(ctx, s, userEmail, "", []string{ics}, nil)
		if err != nil || again.TotalImported() != 0 || again.Duplicates[store.ClassCalendar] != 2 || count(t, s, u, "Calendar") != 2 {
			t.Fatalf("ics re-import: %v %v", again, err)
		}
	})
}

const mboxFile = "From alice@example.org Mon Jan  1 09:00:00 2024\n" +
	"Message-ID: <m1@example.org>\nDate: Mon, 01 Jan 2024 09:00:00 +0000\nFrom: alice@example.org\nSubject: first\nStatus: RO\nX-Status: F\n\n" +
	"Hello.\n>From the ward: all quiet.\n>>From here it was quoted twice.\n\n" +
	"From bob@example.org Mon Jan  1 10:00:00 2024\n" +
	"Message-ID: <m2@example.org>\nDate: Mon, 01 Jan 2024 10:00:00 +0000\nFrom: bob@example.org\nSubject: second\nStatus: O\n\n" +
	"Second body.\n\nFrom here on, an unquoted line an mboxo writer left.\n\n" +
	"From - Tue Jan  2 11:00:00 2024\n" +
	"Message-ID: <m3@example.org>\nDate: Tue, 02 Jan 2024 11:00:00 +0000\nFrom: carol@example.org\nSubject: third\n\nThird.\n"

func TestImportMbox(t *testing.T) {
	dir := t.TempDir()
	// The name says nothing: the content does.
	path := filepath.Join(dir, "Inbox")
	if err := os.WriteFile(path, []byte(mboxFile), 0o644); err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := newUser(t, s)
		var report bytes.Buffer
		sum, err := Import(ctx, s, userEmail, "Archive/2019", []string{path}, &report)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Imported[store.ClassEmail] != 3 || sum.TotalSkipped() != 0 {
			t.Fatalf("summary %v\n%s", sum, report.String())
		}
		f := folder(t, s, u, "Archive/2019")
		if f.Type != store.FolderUserMail || folder(t, s, u, "Archive").ID != f.ParentID {
			t.Errorf("created folder %+v", f)
		}
		if n := count(t, s, u, "Archive/2019"); n != 3 {
			t.Fatalf("count = %d", n)
		}
		items := allItems(t, s, u, "Archive/2019")
		want := []struct {
			subject       string
			read, flagged bool
			body          string
		}{
			{"first", true, true, "Hello.\nFrom the ward: all quiet.\n>From here it was quoted twice."},
			{"second", false, false, "Second body.\n\nFrom here on, an unquoted line an mboxo writer left."},
			{"third", false, false, "Third."},
		}
		for i, w := range want {
			it := items[i]
			raw, err := s.Blob(ctx, u.ID, it.ID)
			if err != nil {
				t.Fatal(err)
			}
			if it.Subject != w.subject || it.Read != w.read || (it.FlagStatus == 2) != w.flagged || !bytes.HasSuffix(raw, []byte("\n\n"+w.body+"\n")) {
				t.Errorf("message %d: %+v\n%q", i, it, raw)
			}
		}
	})
}

func TestImportEMLDirectory(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"one.eml":          testMessage(1),
		"two.eml":          testMessage(2),
		"nested/three.eml": testMessage(3),
		"broken.eml":       []byte("X-Scanner: clean\r\nX-Other: 1\r\n\r\nNo real headers.\r\n"),
		"notes.txt":        []byte("Shopping list:\nmilk\n"),
		".DS_Store":        {0, 0, 0, 1, 'B', 'u', 'd', '1'},
		"empty.eml":        {},
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := newUser(t, s)
		var report bytes.Buffer
		sum, err := Import(ctx, s, userEmail, "", []string{dir, filepath.Join(dir, "missing.eml")}, &report)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Imported[store.ClassEmail] != 3 || sum.Failed[store.ClassEmail] != 3 || sum.Unreadable != 1 {
			t.Errorf("summary %v", sum)
		}
		if n := count(t, s, u, "Inbox"); n != 3 {
			t.Errorf("count = %d, want 3", n)
		}
		want := []string{
			filepath.Join(dir, "broken.eml") + ": message: malformed: no message header fields",
			filepath.Join(dir, "empty.eml") + ": message: malformed: empty input",
			filepath.Join(dir, "notes.txt") + ": message: malformed: no header block",
			filepath.Join(dir, "missing.eml") + ": no such file or directory",
		}
		got := strings.Split(strings.TrimSpace(report.String()), "\n")
		if len(got) != len(want) {
			t.Fatalf("report:\n%s", report.String())
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Errorf("report line %d = %q, want prefix %q", i, got[i], want[i])
			}
		}
	})
}

const icsFile = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n" +
	"BEGIN:VEVENT\r\nUID:clinic-1@example.nhs.uk\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;TZID=Europe/London:20240603T090000\r\nDTEND;TZID=Europe/London:20240603T123000\r\nSUMMARY:Chest pain clinic\r\nORGANIZER:mailto:" + userEmail + "\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:nurse@example.nhs.uk\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:broken@example.nhs.uk\r\nDTSTART:20240603T25:00:00\r\nSUMMARY:Broken\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:mdt@example.nhs.uk\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;TZID=Europe/London:20240604T130000\r\nDTEND;TZID=Europe/London:20240604T140000\r\nRRULE:FREQ=WEEKLY;BYDAY=TU\r\nSUMMARY:MDT\r\nORGANIZER:mailto:lead@example.nhs.uk\r\nEND:VEVENT\r\n" +
	"BEGIN:VTODO\r\nUID:todo@example.nhs.uk\r\nSUMMARY:Revalidation form\r\nEND:VTODO\r\n" +
	"END:VCALENDAR\r\n"

func TestImportICS(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "export.txt") // not named .ics
	os.WriteFile(path, []byte(icsFile), 0o644)
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := newUser(t, s)
		var report bytes.Buffer
		sum, err := Import(ctx, s, userEmail, "", []string{path}, &report)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Imported[store.ClassCalendar] != 2 || sum.Imported[store.ClassTasks] != 1 || sum.Failed[store.ClassCalendar] != 1 {
			t.Errorf("summary %v", sum)
		}
		wantLine := path + ": entry 2 (UID broken@example.nhs.uk): DTSTART: bad date-time"
		if !strings.HasPrefix(report.String(), wantLine) || strings.Count(report.String(), "\n") != 1 {
			t.Errorf("report = %q, want %q", report.String(), wantLine)
		}
		if n := count(t, s, u, "Calendar"); n != 2 {
			t.Fatalf("calendar count = %d", n)
		}
		if n := count(t, s, u, "Tasks"); n != 1 {
			t.Errorf("tasks count = %d", n)
		}
		items := allItems(t, s, u, "Calendar")
		clinic, mdt := items[0], items[1]
		if clinic.UID != "clinic-1@example.nhs.uk" || clinic.Subject != "Chest pain clinic" ||
			!clinic.StartTime.Equal(time.Date(2024, 6, 3, 8, 0, 0, 0, time.UTC)) || !strings.Contains(clinic.Props, `"meetingStatus":1`) {
			t.Errorf("clinic = %+v", clinic)
		}
		if mdt.EndTime == nil || mdt.EndTime.Year() != 4501 || !strings.Contains(mdt.Props, `"meetingStatus":3`) {
			t.Errorf("recurring series = %+v", mdt)
		}

		// A mail folder path does not take events: they go to Calendar.
		report.Reset()
		if _, err := Import(ctx, s, userEmail, "Inbox", []string{path}, &report); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(report.String(), `Inbox: folder holds Email items; Calendar items go to "Calendar"`) || count(t, s, u, "Inbox") != 0 {
			t.Errorf("report:\n%s", report.String())
		}
		// A calendar folder path that does not exist is created as one.
		if sum, err := Import(ctx, s, userEmail, "Clinics", []string{path}, nil); err != nil || sum.Imported[store.ClassCalendar] != 2 {
			t.Fatalf("into Clinics: %v %v", sum, err)
		}
		if f := folder(t, s, u, "Clinics"); f.Class != store.ClassCalendar || f.Type != store.FolderUserCalendar {
			t.Errorf("Clinics = %+v", f)
		}
	})
}

const vcfFile = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:gp-1\r\nFN:Dr Helen Okafor\r\nN:Okafor;Helen;;Dr;\r\nORG:Riverside Medical Practice\r\nEMAIL;TYPE=INTERNET:helen.okafor@nhs.example\r\nTEL;TYPE=WORK:020 7946 0101\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:broken-1\r\nFN:Broken\r\nBDAY:next tuesday\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Echo Lab\r\nEMAIL:echo@example.nhs.uk\r\nEND:VCARD\r\n"

func TestImportVCF(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "contacts.dat")
	os.WriteFile(path, []byte(vcfFile), 0o644)
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := newUser(t, s)
		var report bytes.Buffer
		sum, err := Import(ctx, s, userEmail, "", []string{path}, &report)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Imported[store.ClassContacts] != 2 || sum.Failed[store.ClassContacts] != 1 {
			t.Errorf("summary %v", sum)
		}
		if want := path + ": entry 2 (UID broken-1): BDAY: bad date \"next tuesday\"\n"; report.String() != want {
			t.Errorf("report = %q, want %q", report.String(), want)
		}
		items := allItems(t, s, u, "Contacts")
		if len(items) != 2 || items[0].Subject != "Dr Helen Okafor" || items[0].UID != "gp-1" || items[1].Subject != "Echo Lab" || items[1].UID == "" {
			t.Errorf("contacts = %+v", items)
		}
	})
}

func TestImportRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		newUser(t, s)
		if _, err := Import(ctx, s, "nobody@example.nhs.uk", "", nil, nil); err == nil {
			t.Error("unknown user accepted")
		}
		dir := t.TempDir()
		writeMaildir(t, dir, 3)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Import(cctx, s, userEmail, "", []string{dir}, nil); err == nil {
			t.Error("cancelled context: no error")
		}
	})
}

func TestSniff(t *testing.T) {
	tests := []struct {
		head string
		want format
	}{
		{"From alice@x Mon Jan  1 00:00:00 2024\n", formatMbox},
		{"\xef\xbb\xbfBEGIN:VCALENDAR\r\n", formatICS},
		{"\r\n\r\nbegin:vcard\r\n", formatVCF},
		{"From: alice@x\r\n", formatMessage},
		{"Received: from x\r\n", formatMessage},
		{"garbage", formatMessage},
	}
	for _, tc := range tests {
		if got := sniff([]byte(tc.head)); got != tc.want {
			t.Errorf("sniff(%q) = %d, want %d", tc.head, got, tc.want)
		}
	}
}

func TestMaildirFlags(t *testing.T) {
	tests := []struct {
		name string
		want mailFlags
	}{
		{"1.2.host:2,S", mailFlags{read: true}},
		{"1.2.host:2,FS", mailFlags{read: true, flagged: true}},
		{"1.2.host:2,PRS", mailFlags{read: true, lastVerb: 1}},
		{"1.2.host:2,P", mailFlags{lastVerb: 3}},
		{"1.2.host;2,S", mailFlags{read: true}},
		{"1.2.host:2,", mailFlags{}},
		{"1.2.host", mailFlags{}},
		{"1.2.host:1,S", mailFlags{}},
	}
	for _, tc := range tests {
		if got := maildirFlags(tc.name); got != tc.want {
			t.Errorf("maildirFlags(%q) = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func BenchmarkImportMaildir(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "Maildir")
	writeMaildir(b, dir, 1000)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		s := storetest.OpenSQLite(b)
		newUser(b, s)
		b.StartTimer()
		sum, err := Import(ctx, s, userEmail, "", []string{dir}, nil)
		if err != nil || sum.Imported[store.ClassEmail] != 1000 {
			b.Fatalf("%v %v", sum, err)
		}
	}
}
