package directory_test

import (
	"context"
	"testing"
	"time"

	"airlock/directory"
	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func user(t *testing.T, s *store.Store, email, display, dept string) *store.User {
	t.Helper()
	u := &store.User{Email: email, DisplayName: display}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	u.Department = dept
	if err := s.UpdateDirectory(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func addEvent(t *testing.T, s *store.Store, u *store.User, e pim.Event) {
	t.Helper()
	ctx := context.Background()
	f, err := s.FolderByType(ctx, u.ID, store.FolderCalendar)
	if err != nil {
		t.Fatal(err)
	}
	it, err := e.ToItem(u.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddItem(ctx, it, nil); err != nil {
		t.Fatal(err)
	}
}

// TestFreeBusyThreeMeetings: a colleague's day with three meetings (one of
// them an occurrence of a weekly series in London time across the change
// to BST), a tentative one, an out-of-office afternoon, a declined meeting
// and a cancelled one that must not show.
func TestFreeBusyThreeMeetings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		bob := user(t, s, "bob@example.nhs.uk", "Bob", "Cardiology")
		london, _ := time.LoadLocation("Europe/London")
		day := time.Date(2026, 4, 2, 0, 0, 0, 0, london) // a Thursday, BST
		at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
		// Weekly since 12 March (GMT) at 09:00 London: 09:00-10:00 BST today.
		first := time.Date(2026, 3, 12, 9, 0, 0, 0, london)
		addEvent(t, s, bob, pim.Event{Summary: "Ward round", Start: first, End: first.Add(time.Hour), TimeZone: "Europe/London",
			RRule: "FREQ=WEEKLY;BYDAY=TH", BusyStatus: pim.BusyBusy})
		addEvent(t, s, bob, pim.Event{Summary: "MDT", Start: at(11, 0), End: at(12, 15), BusyStatus: pim.BusyTentative})
		addEvent(t, s, bob, pim.Event{Summary: "Leave", Start: at(14, 0), End: at(15, 0), BusyStatus: pim.BusyOutOfOffice})
		addEvent(t, s, bob, pim.Event{Summary: "Declined", Start: at(16, 0), End: at(17, 0), BusyStatus: pim.BusyBusy,
			ResponseType: pim.ResponseDeclined, Organizer: pim.Person{Email: "x@example.org"}, MeetingStatus: pim.MeetingReceived})
		addEvent(t, s, bob, pim.Event{Summary: "Cancelled", Start: at(17, 0), End: at(18, 0), BusyStatus: pim.BusyBusy,
			MeetingStatus: pim.MeetingCanceledReceived, Organizer: pim.Person{Email: "x@example.org"}})
		addEvent(t, s, bob, pim.Event{Summary: "Free", Start: at(10, 0), End: at(11, 0), BusyStatus: pim.BusyFree})

		got, err := directory.FreeBusy(ctx, s, bob.ID, at(8, 0), at(18, 0))
		if err != nil {
			t.Fatal(err)
		}
		//       08  09  10  11  12  13  14  15  16  17
		want := "00" + "22" + "00" + "11" + "10" + "00" + "33" + "00" + "00" + "00"
		if got != want {
			t.Fatalf("free/busy\n got %s\nwant %s", got, want)
		}
		// The series a week later and the day before it started.
		if got, _ := directory.FreeBusy(ctx, s, bob.ID, at(9, 0).AddDate(0, 0, 7), at(10, 0).AddDate(0, 0, 7)); got != "22" {
			t.Errorf("next week: %s", got)
		}
		if got, _ := directory.FreeBusy(ctx, s, bob.ID, first.AddDate(0, 0, -7), first.AddDate(0, 0, -7).Add(time.Hour)); got != "00" {
			t.Errorf("before the series: %s", got)
		}
		if got := directory.NoFreeBusy(at(8, 0), at(9, 15)); got != "555" {
			t.Errorf("no data: %s", got)
		}
	})
}

func TestResolve(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ada := user(t, s, "ada.lovelace@example.nhs.uk", "Lovelace, Ada", "Cardiology")
		user(t, s, "adam.smith@example.nhs.uk", "Smith, Adam", "Estates")
		if err := s.AddAlias(ctx, ada.ID, "ada@example.nhs.uk"); err != nil {
			t.Fatal(err)
		}
		me := user(t, s, "me@example.nhs.uk", "Me", "")
		cf, _ := s.FolderByType(ctx, me.ID, store.FolderContacts)
		c := pim.Contact{FirstName: "Ada", LastName: "Wong", Email1: "Ada Wong <ada.wong@example.org>"}
		it, _ := c.ToItem(me.ID, cf.ID)
		if err := s.AddItem(ctx, it, nil); err != nil {
			t.Fatal(err)
		}
		got, n, err := directory.Resolve(ctx, s, me, "ADA@example.nhs.uk", 10)
		if err != nil || n != 1 || got[0].Email != "ada.lovelace@example.nhs.uk" || !got[0].FromGAL() {
			t.Fatalf("alias: %+v %d %v", got, n, err)
		}
		got, n, _ = directory.Resolve(ctx, s, me, "ada.wong@example.org", 10)
		if n != 1 || got[0].FromGAL() || got[0].DisplayName != "Ada Wong" {
			t.Fatalf("contact by address: %+v", got)
		}
		got, n, _ = directory.Resolve(ctx, s, me, "ada", 10)
		if n != 3 || len(got) != 3 || !got[0].FromGAL() || got[2].FromGAL() {
			t.Fatalf("ambiguous: %+v %d", got, n)
		}
		got, n, _ = directory.Resolve(ctx, s, me, "ada", 2)
		if n != 3 || len(got) != 2 {
			t.Fatalf("limited: %+v %d", got, n)
		}
		if got, n, _ = directory.Resolve(ctx, s, me, "nobody@example.org", 10); n != 0 || len(got) != 0 {
			t.Fatalf("unknown: %+v", got)
		}
	})
}
