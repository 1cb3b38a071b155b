package oof_test

import (
	"context"
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"airlock/oof"
	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func msg(from, to, subject string, extra ...string) []byte {
	h := "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <m1@example.org>\r\nDate: Mon, 1 Jun 2026 09:00:00 +0000\r\n"
	for _, e := range extra {
		h += e + "\r\n"
	}
	return []byte(h + "\r\nHello\r\n")
}

func TestReply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mk := func(email, name string) *store.User {
			u := &store.User{Email: email, DisplayName: name}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			return u
		}
		ada := mk("ada@example.nhs.uk", "Ada Lovelace")
		bob := mk("bob@example.nhs.uk", "Bob")
		cf, _ := s.FolderByType(ctx, ada.ID, store.FolderContacts)
		c := pim.Contact{FileAs: "Known Person", Email1: "known@example.org"}
		it, _ := c.ToItem(ada.ID, cf.ID)
		if err := s.AddItem(ctx, it, nil); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

		// Off: nothing.
		if out, err := oof.Reply(ctx, s, ada, bob.Email, msg(bob.Email, ada.Email, "Hi"), now); out != nil || err != nil {
			t.Fatalf("disabled: %v %v", out, err)
		}
		set := oof.Settings{State: oof.StateTimeBased, Start: now.Add(-time.Hour), End: now.Add(24 * time.Hour),
			Internal:        oof.Message{Enabled: true, Body: "On leave. Urgent: bleep 4412."},
			ExternalKnown:   oof.Message{Enabled: true, Body: "<p>On leave</p>", HTML: true},
			ExternalUnknown: oof.Message{Enabled: false, Body: "not sent"}}
		if err := oof.Save(ctx, s, ada.ID, set); err != nil {
			t.Fatal(err)
		}
		out, err := oof.Reply(ctx, s, ada, "Bob@Example.nhs.uk", msg(bob.Email, "Ada <ADA@example.nhs.uk>", "=?utf-8?q?Rota_=C3=A9t=C3=A9?="), now)
		if err != nil || out == nil {
			t.Fatalf("internal: %v %v", out, err)
		}
		raw := string(out.Raw)
		for _, want := range []string{"Auto-Submitted: auto-replied", "In-Reply-To: <m1@example.org>", "bleep 4412", "To: <bob@example.nhs.uk>"} {
			if !strings.Contains(raw, want) {
				t.Errorf("reply lacks %q:\n%s", want, raw)
			}
		}
		m, err := mail.ReadMessage(strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); subj != "Automatic reply: Rota été" {
			t.Errorf("subject %q", subj)
		}
		// Once per sender per OOF period.
		if out, _ := oof.Reply(ctx, s, ada, bob.Email, msg(bob.Email, ada.Email, "Again"), now); out != nil {
			t.Fatal("second reply to the same sender")
		}
		// Contacts get the external-known message; strangers nothing
		// (disabled), lists and automatic mail nothing.
		out, _ = oof.Reply(ctx, s, ada, "known@example.org", msg("known@example.org", ada.Email, "Hello"), now)
		if out == nil || !strings.Contains(string(out.Raw), "text/html") || !strings.Contains(string(out.Raw), "On leave") {
			t.Fatalf("external known: %v", out)
		}
		for name, c := range map[string]struct {
			from string
			raw  []byte
			at   time.Time
		}{
			"stranger (disabled)":    {"x@example.com", msg("x@example.com", ada.Email, "Hi"), now},
			"list":                   {"y@example.com", msg("y@example.com", ada.Email, "Hi", "List-Id: <ward.example.org>"), now},
			"bulk":                   {"y2@example.com", msg("y2@example.com", ada.Email, "Hi", "Precedence: bulk"), now},
			"auto-submitted":         {"y3@example.com", msg("y3@example.com", ada.Email, "Hi", "Auto-Submitted: auto-generated"), now},
			"suppress":               {"y4@example.com", msg("y4@example.com", ada.Email, "Hi", "X-Auto-Response-Suppress: DR, OOF"), now},
			"mailer-daemon":          {"MAILER-DAEMON@example.com", msg("MAILER-DAEMON@example.com", ada.Email, "Hi"), now},
			"null sender":            {"<>", msg("z@example.com", ada.Email, "Hi"), now},
			"not addressed (a list)": {"w@example.com", msg("w@example.com", "staff@example.nhs.uk", "Hi"), now},
			"own message":            {ada.Email, msg(ada.Email, ada.Email, "Hi"), now},
			"after the period":       {"v@example.nhs.uk", msg("v@example.nhs.uk", ada.Email, "Hi"), now.Add(48 * time.Hour)},
		} {
			if out, err := oof.Reply(ctx, s, ada, c.from, c.raw, c.at); out != nil || err != nil {
				t.Errorf("%s: replied (%v)", name, err)
			}
		}
		// A new OOF period answers Bob again.
		if err := oof.Save(ctx, s, ada.ID, oof.Settings{State: oof.StateGlobal, Internal: oof.Message{Enabled: true, Body: "Back Monday"}}); err != nil {
			t.Fatal(err)
		}
		if out, _ := oof.Reply(ctx, s, ada, bob.Email, msg(bob.Email, ada.Email, "Hi"), now.Add(72*time.Hour)); out == nil || !strings.Contains(string(out.Raw), "Back Monday") {
			t.Fatalf("new period: %v", out)
		}
		// Invalid settings.
		for _, bad := range []oof.Settings{{State: 3}, {State: oof.StateTimeBased}, {State: oof.StateTimeBased, Start: now, End: now.Add(-time.Hour)}} {
			if err := oof.Save(ctx, s, ada.ID, bad); !errors.Is(err, oof.ErrInvalid) {
				t.Errorf("%+v: %v", bad, err)
			}
		}
		if got := (oof.Message{Body: "<p>On <b>leave</b></p>", HTML: true}).AsText(); got != "On leave" {
			t.Errorf("AsText: %q", got)
		}
	})
}
