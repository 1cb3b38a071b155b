package demo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"airlock/internal/password"
	"airlock/message"
	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const domain = "demo.nhs.example"

// expected counts the demo mail each staff member should have, from the
// table itself, so adding a message does not need the test changed.
func expected() (inbox, sent map[string]int) {
	inbox, sent = map[string]int{}, map[string]int{}
	for _, m := range mails {
		seen := map[string]bool{m.from: true}
		for _, k := range append(append([]string(nil), m.to...), m.cc...) {
			if !seen[k] {
				seen[k] = true
				inbox[k]++
			}
		}
		sent[m.from]++
	}
	return inbox, sent
}

func TestSeed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var out bytes.Buffer
		creds, err := Seed(ctx, s, domain, &out)
		if err != nil {
			t.Fatal(err)
		}
		if len(creds) != len(staff) {
			t.Fatalf("credentials = %d, want %d", len(creds), len(staff))
		}
		admins := 0
		for _, c := range creds {
			u, err := s.UserByAddress(ctx, c.Email)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Password) != 12 || password.Verify(c.Password, u.PasswordHash) != nil {
				t.Errorf("%s: password %q does not verify", c.Email, c.Password)
			}
			if !strings.Contains(out.String(), c.Email) || !strings.Contains(out.String(), c.Password) {
				t.Errorf("%s and its password not printed", c.Email)
			}
			if u.IsAdmin() != c.Admin {
				t.Errorf("%s: admin %v, credential says %v", c.Email, u.IsAdmin(), c.Admin)
			}
			if c.Admin {
				admins++
			}
			if u.JobTitle == "" || u.Department == "" || u.Office == "" || u.Phone == "" || u.Organisation != Organisation {
				t.Errorf("%s: thin directory entry %+v", c.Email, u)
			}
		}
		if admins != 1 {
			t.Errorf("admins = %d, want 1", admins)
		}
		amira, err := s.UserByAddress(ctx, "amira.patel@"+domain)
		if err != nil || amira.JobTitle != "Consultant Cardiologist" {
			t.Fatalf("amira: %+v %v", amira, err)
		}
		james, _ := s.UserByAddress(ctx, "james.oconnor@"+domain)
		if james == nil || james.JobTitle != "Ward Manager" {
			t.Fatalf("james: %+v", james)
		}

		count := func(u *store.User, ft store.FolderType) int {
			f, err := s.FolderByType(ctx, u.ID, ft)
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.CountItems(ctx, u.ID, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
		inbox, sent := expected()
		if inbox["amira"]+sent["amira"] < 35 {
			t.Errorf("Amira has only %d messages in the table", inbox["amira"]+sent["amira"])
		}
		for _, p := range staff {
			u, _ := s.UserByAddress(ctx, p.email(domain))
			if got := count(u, store.FolderInbox); got != inbox[p.key] {
				t.Errorf("%s Inbox = %d, want %d", p.key, got, inbox[p.key])
			}
			if got := count(u, store.FolderSentItems); got != sent[p.key] {
				t.Errorf("%s Sent Items = %d, want %d", p.key, got, sent[p.key])
			}
		}
		for ft, want := range map[store.FolderType]int{store.FolderCalendar: 8, store.FolderContacts: 8, store.FolderTasks: 3, store.FolderNotes: 2} {
			if got := count(amira, ft); got != want {
				t.Errorf("Amira folder type %d = %d items, want %d", ft, got, want)
			}
		}
		if got := count(james, store.FolderCalendar); got != 1 {
			t.Errorf("James's calendar = %d items, want the MDT", got)
		}

		// The mail looks like mail: classes, attachments, threads, and one
		// blob per message shared between mailboxes.
		inboxF, _ := s.FolderByType(ctx, amira.ID, store.FolderInbox)
		items, err := s.ListItems(ctx, amira.ID, inboxF.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		bySubject := map[string][]store.Item{}
		var pdfs, pngs, html int
		for _, it := range items {
			bySubject[it.ThreadTopic] = append(bySubject[it.ThreadTopic], it)
			for _, a := range it.Attachments {
				switch a.ContentType {
				case "application/pdf":
					pdfs++
				case "image/png":
					pngs++
				}
			}
			if _, h, err := message.Bodies(mustBlob(t, s, amira.ID, it.ID)); err == nil && h != "" {
				html++
			}
		}
		if pdfs < 4 || pngs != 1 || html < 3 {
			t.Errorf("attachments: %d PDF, %d PNG; %d HTML bodies", pdfs, pngs, html)
		}
		beds := bySubject["Bed pressures this weekend"]
		if len(beds) != 3 {
			t.Fatalf("bed pressures thread in Inbox = %d", len(beds))
		}
		for _, it := range beds[1:] {
			if !bytes.Equal(it.ConversationID, beds[0].ConversationID) || !strings.HasPrefix(it.Subject, "RE: ") {
				t.Errorf("thread message %q not in the conversation", it.Subject)
			}
		}
		jamesInbox, _ := s.FolderByType(ctx, james.ID, store.FolderInbox)
		jItems, _ := s.ListItems(ctx, james.ID, jamesInbox.ID, 0, 100)
		var invite *store.Item
		for i := range jItems {
			if jItems[i].MessageClass == message.ClassMeetingRequest {
				invite = &jItems[i]
			}
		}
		if invite == nil || invite.Subject != "Cardiology MDT" {
			t.Fatal("James has no meeting request")
		}
		sentF, _ := s.FolderByType(ctx, amira.ID, store.FolderSentItems)
		sentItems, _ := s.ListItems(ctx, amira.ID, sentF.ID, 0, 100)
		shared := false
		for _, it := range sentItems {
			if it.MessageID == invite.MessageID && *it.BlobID == *invite.BlobID {
				shared = true
			}
		}
		if !shared {
			t.Error("the invitation is not one blob shared by sender and recipient")
		}

		// Calendar: the MDT recurs weekly, Amira organises it, James got it.
		calF, _ := s.FolderByType(ctx, amira.ID, store.FolderCalendar)
		cal, _ := s.ListItems(ctx, amira.ID, calF.ID, 0, 100)
		var mdt pim.Event
		if err := mdt.FromItem(&cal[0]); err != nil {
			t.Fatal(err)
		}
		if mdt.RRule != "FREQ=WEEKLY;BYDAY=TU" || mdt.MeetingStatus != pim.MeetingOrganizer || !cal[0].EndTime.Equal(pim.SeriesForever) ||
			mdt.Start.In(london).Hour() != 13 || mdt.Start.In(london).Weekday() != 2 {
			t.Errorf("MDT = %+v", mdt)
		}
		jCalF, _ := s.FolderByType(ctx, james.ID, store.FolderCalendar)
		jCal, _ := s.ListItems(ctx, james.ID, jCalF.ID, 0, 10)
		var jmdt pim.Event
		if len(jCal) != 1 || jmdt.FromItem(&jCal[0]) != nil || jmdt.MeetingStatus != pim.MeetingReceived || jmdt.UID != mdt.UID {
			t.Errorf("James's MDT = %+v", jmdt)
		}

		// Seeding again is refused and changes nothing.
		before := count(amira, store.FolderInbox)
		if _, err := Seed(ctx, s, domain, nil); !errors.Is(err, ErrNotEmpty) {
			t.Errorf("second seed: %v, want ErrNotEmpty", err)
		}
		if n, _ := s.CountUsers(ctx); n != int64(len(staff)) || count(amira, store.FolderInbox) != before {
			t.Error("second seed changed the store")
		}
	})
}

func mustBlob(t *testing.T, s *store.Store, userID, itemID int64) []byte {
	t.Helper()
	raw, err := s.Blob(context.Background(), userID, itemID)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSeedRefusesBadDomain(t *testing.T) {
	s := storetest.OpenSQLite(t)
	for _, d := range []string{"", "localhost", "a@b.c", "two words.org"} {
		if _, err := Seed(context.Background(), s, d, nil); err == nil {
			t.Errorf("domain %q accepted", d)
		}
	}
}

// Every demo message parses as what it claims to be.
func TestDemoMessagesParse(t *testing.T) {
	byKey := map[string]mailSpec{}
	for _, m := range mails {
		byKey[m.key] = m
		root := m
		for root.reply != "" {
			root = byKey[root.reply]
		}
		raw, err := buildMail(m, root, []string{"x@y"}, domain, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC), []byte("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"))
		if err != nil {
			t.Fatalf("%s: %v", m.key, err)
		}
		it, err := message.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", m.key, err)
		}
		if len(it.Attachments) != len(m.files) || it.ThreadTopic != root.subject || (m.meeting != (it.MessageClass == message.ClassMeetingRequest)) {
			t.Errorf("%s: parsed %+v", m.key, it)
		}
		if !strings.Contains(strings.ToLower(string(raw)), "mime-version: 1.0") {
			t.Errorf("%s: no MIME-Version", m.key)
		}
		for i, f := range m.files {
			_, name, data, err := message.Part(raw, it.Attachments[i].PartIndex)
			if err != nil || name != f.name || !bytes.Equal(data, f.data) {
				t.Errorf("%s: attachment %q came back as %q (%v)", m.key, f.name, name, err)
			}
		}
	}
}
