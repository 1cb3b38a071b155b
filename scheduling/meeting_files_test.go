package scheduling_test

import (
	"context"
	"testing"
	"time"

	"airlock/message"
	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
	"airlock/store/storetest"
)

// TestIncomingRequestFiles: a remote organizer's request with a file puts
// the meeting into Ada's calendar with that file (readable from the copy's
// own content); an update with another file replaces it, one without files
// leaves none, and her answer in between keeps what the copy has.
func TestIncomingRequestFiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ada := mkUser(t, st, "ada@example.nhs.uk", "Ada")
		s := &scheduling.Service{Store: st}
		start := time.Date(2026, 6, 11, 10, 0, 0, 0, time.UTC)
		remote := &pim.Event{UID: "ext-files@partner", Summary: "Joint review", Start: start, End: start.Add(time.Hour), BusyStatus: pim.BusyBusy,
			Organizer: pim.Person{Email: "lead@partner.example.org"}, Attendees: []pim.Attendee{{Email: ada.Email, Type: 1}}}
		steps := []struct {
			name   string
			files  []scheduling.File
			answer bool // Ada accepts after this request
			want   map[string]string
		}{
			{"invited with the agenda", []scheduling.File{{Name: "agenda.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("1. Pathway")}}, true,
				map[string]string{"agenda.txt": "1. Pathway"}},
			{"update: slides instead", []scheduling.File{{Name: "slides.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 x")}}, false,
				map[string]string{"slides.pdf": "%PDF-1.4 x"}},
			{"update: no files", nil, false, map[string]string{}},
		}
		for _, c := range steps {
			raw, err := scheduling.ComposeWithFiles("Lead", "lead@partner.example.org", []string{ada.Email}, pim.MethodRequest, remote, "", c.files)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Incoming(ctx, ada, "lead@partner.example.org", raw); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			e := entry(t, st, ada, remote.UID)
			if e == nil {
				t.Fatalf("%s: no entry", c.name)
			}
			if c.answer {
				if _, err := s.Respond(ctx, ada, e, scheduling.Answer{Response: scheduling.Accept}); err != nil {
					t.Fatal(err)
				}
			}
			u, _ := st.ItemByUID(ctx, ada.ID, store.ClassCalendar, remote.UID)
			it, err := st.ItemByID(ctx, ada.ID, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(it.Attachments) != len(c.want) || it.HasAttachments != (len(c.want) > 0) {
				t.Fatalf("%s: %d files (has %v), want %v", c.name, len(it.Attachments), it.HasAttachments, c.want)
			}
			if len(c.want) == 0 {
				continue
			}
			blob, err := st.Blob(ctx, ada.ID, it.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range it.Attachments {
				_, name, data, err := message.Part(blob, a.PartIndex)
				if err != nil || c.want[name] != string(data) || a.FileName != name {
					t.Fatalf("%s: file %q: %q %v", c.name, name, data, err)
				}
			}
		}
	})
}
