package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

// TestExportRoundTripsThroughImport: a user's calendar (a weekly series
// with a moved and a deleted occurrence, in London time) and contacts are
// exported with the real binary, read back by pim, and imported into a
// second user, on both databases.
func TestExportRoundTripsThroughImport(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := storetest.DSN(t, dialect)
			for _, u := range []string{"ann@example.nhs.uk", "bea@example.nhs.uk"} {
				if _, errOut, code := run(t, "s3cret-password\n", "user", "add", "--db", db, "--email", u, "--name", u); code != 0 {
					t.Fatal(errOut)
				}
			}
			st, err := store.Open(ctx, db, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ann, _ := st.UserByAddress(ctx, "ann@example.nhs.uk")
			cal, _ := st.FolderByType(ctx, ann.ID, store.FolderCalendar)
			con, _ := st.FolderByType(ctx, ann.ID, store.FolderContacts)
			london, _ := time.LoadLocation("Europe/London")
			start := time.Date(2026, 3, 12, 9, 0, 0, 0, london)
			week := func(n int) time.Time { return start.AddDate(0, 0, 7*n).UTC() }
			ev := pim.Event{UID: "ward-round@example", Summary: "Ward round", Location: "Ward 7", Start: start, End: start.Add(time.Hour),
				TimeZone: "Europe/London", RRule: "FREQ=WEEKLY;COUNT=6;BYDAY=TH", BusyStatus: pim.BusyBusy,
				Exceptions: []pim.Exception{{RecurrenceID: week(1), Start: week(1).Add(time.Hour), End: week(1).Add(2 * time.Hour), Summary: "Late round"},
					{RecurrenceID: week(4), Deleted: true}}}
			it, err := ev.ToItem(ann.ID, cal.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.AddItem(ctx, it, nil); err != nil {
				t.Fatal(err)
			}
			c := pim.Contact{FirstName: "Florence", LastName: "Nightingale", Email1: "florence@example.org", MobilePhone: "+44 7700 900123"}
			ci, _ := c.ToItem(ann.ID, con.ID)
			if err := st.AddItem(ctx, ci, nil); err != nil {
				t.Fatal(err)
			}

			ics, errOut, code := run(t, "", "export", "--db", db, "--user", "ann@example.nhs.uk", "--calendar")
			if code != 0 || !strings.Contains(errOut, "exported 1") {
				t.Fatalf("export calendar: %d %s", code, errOut)
			}
			events, _, errs := pim.ParseICS(strings.NewReader(ics))
			if len(errs) != 0 || len(events) != 1 {
				t.Fatalf("exported calendar: %v %d\n%s", errs, len(events), ics)
			}
			got := events[0]
			if got.UID != ev.UID || got.RRule != ev.RRule || got.TimeZone != "Europe/London" || !got.Start.Equal(ev.Start) || len(got.Exceptions)+len(got.ExDates) != 2 {
				t.Fatalf("exported event: %+v", got)
			}
			occ, err := got.Occurrences(week(0), week(6))
			if err != nil || len(occ) != 5 || occ[1].Summary != "Late round" || !occ[3].Start.Equal(week(3)) {
				t.Fatalf("exported series expands to %+v (%v)", occ, err)
			}
			vcf, errOut, code := run(t, "", "export", "--db", db, "--user", "ann@example.nhs.uk", "--contacts")
			if code != 0 {
				t.Fatalf("export contacts: %s", errOut)
			}
			cs, errs := pim.ParseVCF(strings.NewReader(vcf))
			if len(errs) != 0 || len(cs) != 1 || cs[0].Email1 != "florence@example.org" || cs[0].MobilePhone != "+44 7700 900123" {
				t.Fatalf("exported contacts: %+v %v", cs, errs)
			}
			// The files import into another mailbox.
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "ann.ics"), []byte(ics), 0o644)
			os.WriteFile(filepath.Join(dir, "ann.vcf"), []byte(vcf), 0o644)
			if out, errOut, code := run(t, "", "import", "--db", db, "--user", "bea@example.nhs.uk", filepath.Join(dir, "ann.ics"), filepath.Join(dir, "ann.vcf")); code != 0 {
				t.Fatalf("import: %s %s", out, errOut)
			}
			bea, _ := st.UserByAddress(ctx, "bea@example.nhs.uk")
			bcal, _ := st.FolderByType(ctx, bea.ID, store.FolderCalendar)
			bcon, _ := st.FolderByType(ctx, bea.ID, store.FolderContacts)
			if n, _ := st.CountItems(ctx, bea.ID, bcal.ID); n != 1 {
				t.Fatalf("%d events imported", n)
			}
			if n, _ := st.CountItems(ctx, bea.ID, bcon.ID); n != 1 {
				t.Fatalf("%d contacts imported", n)
			}
			// Wrong invocations.
			if _, errOut, code := run(t, "", "export", "--db", db, "--user", "ann@example.nhs.uk"); code == 0 || !strings.Contains(errOut, "exactly one") {
				t.Fatalf("no kind: %d %s", code, errOut)
			}
			if _, _, code := run(t, "", "export", "--db", db, "--user", "bea@example.nhs.uk", "--tasks"); code == 0 {
				t.Fatal("exporting nothing succeeded")
			}
		})
	}
}
