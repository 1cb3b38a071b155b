package activesync_test

import (
	"context"
	"strings"
	"testing"

	"airlock/directory"
	"airlock/store"
	"airlock/store/storetest"
)

// A device cannot list the staff directory with one- and two-letter
// searches (Search and Find), and colleagues' mobile numbers are not
// shown unless the organisation turns them on.
func TestGALShortQueriesAndMobileNumbers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := dySetup(t, st)
		ada := e.users["ada"]
		ada.Mobile = "+44 7700 900001"
		if err := st.UpdateDirectory(context.Background(), ada); err != nil {
			t.Fatal(err)
		}
		dev := e.device(dyIPhone161, "grace")
		find := func(q string) string {
			return `<Find:Find><Find:SearchId>1</Find:SearchId><Find:ExecuteSearch><Find:GalSearchCriterion><Find:Query><Find:FreeText>` + q +
				`</Find:FreeText></Find:Query><Find:Options><Find:Range>0-99</Find:Range></Find:Options></Find:GalSearchCriterion></Find:ExecuteSearch></Find:Find>`
		}
		for _, q := range []string{"a", "b", "c", "h", "l", "ad", "ca", " a ", "é"} {
			res := dev.Do("Search", galSearch(q, "0-99", ""))
			if got := galResults(res, "Search:Response/Search:Store"); len(got) != 0 {
				t.Errorf("Search %q listed %v", q, got)
			}
			res = dev.Do("Find", find(q))
			if got := galResults(res, "Find:Response"); len(got) != 0 || strings.Contains(res.XML(), "example.nhs.uk") {
				t.Errorf("Find %q listed %v", q, got)
			}
		}
		// Control: three letters find her, without her mobile number.
		res := dev.Do("Search", galSearch("ada", "0-9", ""))
		if got := galResults(res, "Search:Response/Search:Store"); len(got) != 1 {
			t.Fatalf("Search ada: %v", got)
		}
		for _, r := range []string{res.XML(), dev.Do("Find", find("lovelace")).XML()} {
			if strings.Contains(r, "7700") || strings.Contains(r, "MobilePhone") {
				t.Errorf("mobile number shown by default:\n%s", r)
			}
		}
		// Turned on by the organisation, it is shown.
		if err := st.SetSetting(context.Background(), directory.SettingShowMobile, "true"); err != nil {
			t.Fatal(err)
		}
		props := dev.Do("Search", galSearch("ada", "0-9", "")).Find("Search:Response/Search:Store/Search:Result/Search:Properties")
		if got := textOf(props, "MobilePhone"); got != "+44 7700 900001" {
			t.Errorf("mobile with the setting on: %q", got)
		}
	})
}

// MS-ASCMD 2.2.3.142.1: the Query of a GALSearchCriterion is a string,
// not a container with FreeText as in MailBoxSearchCriterion. A Find
// that sends the name as Query's own text gets the matching staff, with
// the same three-letter minimum and mobile-number setting as any
// directory search.
func TestFindGALPlainQuery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := dySetup(t, st)
		ada := e.users["ada"]
		ada.Mobile = "+44 7700 900001"
		if err := st.UpdateDirectory(context.Background(), ada); err != nil {
			t.Fatal(err)
		}
		dev := e.device(dyIPhone161, "grace")
		find := func(q string) string {
			return `<Find:Find><Find:SearchId>4b1f2c9e-0d7a-4e43-8c1b-5a6f7e8d9c0b</Find:SearchId><Find:ExecuteSearch><Find:GalSearchCriterion><Find:Query>` + q +
				`</Find:Query><Find:Options><Find:Range>0-99</Find:Range></Find:Options></Find:GalSearchCriterion></Find:ExecuteSearch></Find:Find>`
		}
		res := dev.Do("Find", find("lovelace")).Expect(200, "Find:Status", "1")
		if got := galResults(res, "Find:Response"); len(got) != 1 || got[0] != "ada.lovelace@example.nhs.uk" || res.Text("Find:Response/Find:Total") != "1" {
			t.Fatalf("plain Query: %v\n%s", got, res.XML())
		}
		if strings.Contains(res.XML(), "7700") {
			t.Errorf("mobile number shown by default:\n%s", res.XML())
		}
		res = dev.Do("Find", find("cardio")).Expect(200, "Find:Status", "1")
		if got := galResults(res, "Find:Response"); len(got) != 2 {
			t.Errorf("department: %v", got)
		}
		res = dev.Do("Find", find("ad")).Expect(200, "Find:Status", "1")
		if got := galResults(res, "Find:Response"); len(got) != 0 {
			t.Errorf("two letters listed %v", got)
		}
	})
}
