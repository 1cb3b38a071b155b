package activesync_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync/eastest"
	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

// Tests of Search, ResolveRecipients, Find and Settings Oof (the
// directory and diary). Helper names carry a "dy" prefix.

const dyPassword = "correct-horse-diary-6"

var (
	dyIPhone141 = eastest.Profile{Name: "iPhone141", DeviceType: "iPhone", UserAgent: "Apple-iPhone3C1/1002.329", Version: "14.1", Model: "iPhone3,1", OS: "iOS 6.1.3 10B329"}
	dyIPhone161 = eastest.Profile{Name: "iPhone161", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "16.1", Model: "iPhone14,7", OS: "iOS 17.4 21E219"}
	dyOld121    = eastest.Profile{Name: "Old121", DeviceType: "iPhone", UserAgent: "Apple-iPhone2C1/810.2", Version: "12.1", Model: "iPhone2,1", OS: "iOS 4.3.3 8J2"}
)

// dyEnv is a server with a few colleagues.
type dyEnv struct {
	t     testing.TB
	srv   *eastest.Server
	st    *store.Store
	users map[string]*store.User
}

func dySetup(t testing.TB, st *store.Store) *dyEnv {
	t.Helper()
	e := &dyEnv{t: t, srv: eastest.StartServer(t, st), st: st, users: map[string]*store.User{}}
	for _, s := range []struct{ email, display, first, last, dept, title, phone string }{
		{"ada.lovelace@example.nhs.uk", "Lovelace, Ada (Dr)", "Ada", "Lovelace", "Cardiology", "Consultant Cardiologist", "+44 113 000 0001"},
		{"charles.babbage@example.nhs.uk", "Babbage, Charles", "Charles", "Babbage", "Clinical Engineering", "Clinical Director", "+44 113 000 0010"},
		{"grace.hopper@example.nhs.uk", "Hopper, Grace", "Grace", "Hopper", "Cardiology", "Registrar", ""},
		{"alan.turing@example.nhs.uk", "Turing, Alan", "Alan", "Turing", "Cardiology", "Research Fellow", ""},
	} {
		u := e.srv.AddUser(t, s.email, dyPassword)
		u.DisplayName, u.FirstName, u.LastName, u.Department, u.JobTitle, u.Phone, u.Organisation =
			s.display, s.first, s.last, s.dept, s.title, s.phone, "Example NHS Trust"
		if err := st.UpdateDirectory(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		e.users[strings.Split(s.email, ".")[0]] = u
	}
	// Alan has left: not in the directory.
	if err := st.SetUserDisabled(context.Background(), e.users["alan"].ID, true); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *dyEnv) device(p eastest.Profile, who string) *eastest.Device {
	e.t.Helper()
	dev := eastest.NewDevice(e.t, e.srv.URL, p, e.users[who].Email, dyPassword)
	if res := dev.Provision(1); res.Text("Provision:Policies/Provision:Policy/Provision:Status") != "1" {
		e.t.Fatalf("provision: %s", res.XML())
	}
	return dev
}

// galResults returns the e-mail addresses of a Search or Find response.
func galResults(res *eastest.Result, storePath string) []string {
	st := res.Find(storePath)
	if st == nil {
		return nil
	}
	var out []string
	for _, r := range st.ChildElements() {
		if r.Tag != "Result" {
			continue
		}
		for _, p := range r.ChildElements() {
			if p.Tag == "Properties" {
				out = append(out, textOf(p, "EmailAddress"))
			}
		}
	}
	return out
}

func galSearch(q, rng, extra string) string {
	return `<Search:Search><Search:Store><Search:Name>GAL</Search:Name><Search:Query>` + q + `</Search:Query><Search:Options><Search:Range>` + rng + `</Search:Range>` + extra + `</Search:Options></Search:Store></Search:Search>`
}

func TestGALSearchByPartialNameAndDepartment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := dySetup(t, st)
		dev := e.device(dyIPhone141, "grace")
		res := dev.Do("Search", galSearch("bab", "0-9", "")).Expect(200, "Search:Status", "1")
		if got := galResults(res, "Search:Response/Search:Store"); len(got) != 1 || got[0] != "charles.babbage@example.nhs.uk" {
			t.Fatalf("partial name: %v\n%s", got, res.XML())
		}
		props := res.Find("Search:Response/Search:Store/Search:Result/Search:Properties")
		for tag, want := range map[string]string{"DisplayName": "Babbage, Charles", "Title": "Clinical Director", "Phone": "+44 113 000 0010",
			"Company": "Example NHS Trust", "Alias": "charles.babbage", "FirstName": "Charles", "LastName": "Babbage"} {
			if got := textOf(props, tag); got != want {
				t.Errorf("%s = %q, want %q", tag, got, want)
			}
		}
		if res.Text("Search:Response/Search:Store/Search:Range") != "0-0" || res.Text("Search:Response/Search:Store/Search:Total") != "1" {
			t.Errorf("range/total: %s", res.XML())
		}
		// By department; the disabled cardiologist is not listed.
		res = dev.Do("Search", galSearch("cardio", "0-9", ""))
		got := galResults(res, "Search:Response/Search:Store")
		if len(got) != 2 || got[0] != "grace.hopper@example.nhs.uk" || got[1] != "ada.lovelace@example.nhs.uk" {
			t.Fatalf("department: %v", got)
		}
		// A window of one, with Total of all.
		res = dev.Do("Search", galSearch("cardio", "1-1", ""))
		if got := galResults(res, "Search:Response/Search:Store"); len(got) != 1 || got[0] != "ada.lovelace@example.nhs.uk" ||
			res.Text("Search:Response/Search:Store/Search:Range") != "1-1" || res.Text("Search:Response/Search:Store/Search:Total") != "2" {
			t.Fatalf("window: %v\n%s", got, res.XML())
		}
		// Pictures (14.1): Ada has one, Grace has none (173), and a
		// picture over MaxSize is 174.
		if err := st.SetPhoto(scCtx, e.users["ada"].ID, "image/png", []byte("\x89PNG fake photo bytes")); err != nil {
			t.Fatal(err)
		}
		res = dev.Do("Search", galSearch("cardio", "0-9", `<Search:Picture><Search:MaxSize>1000</Search:MaxSize><Search:MaxPictures>5</Search:MaxPictures></Search:Picture>`))
		pics := map[string]string{}
		for _, r := range res.Find("Search:Response/Search:Store").ChildElements() {
			if r.Tag == "Result" {
				p := r.FindElement("Properties")
				pic := p.FindElement("Picture")
				pics[textOf(p, "EmailAddress")] = textOf(pic, "Status") + ":" + textOf(pic, "Data")
			}
		}
		if pics["grace.hopper@example.nhs.uk"] != "173:" || !strings.HasPrefix(pics["ada.lovelace@example.nhs.uk"], "1:iVBORyBmYWtl") {
			t.Fatalf("pictures: %v", pics)
		}
		res = dev.Do("Search", galSearch("lovelace", "0-9", `<Search:Picture><Search:MaxSize>4</Search:MaxSize></Search:Picture>`))
		if s := res.Text("Search:Response/Search:Store/Search:Result/Search:Properties/GAL:Picture/GAL:Status"); s != "174" {
			t.Fatalf("too large: %s", res.XML())
		}
		// A bad range is an invalid request for the store.
		dev.Do("Search", galSearch("cardio", "9-1", "")).Expect(200, "Search:Response/Search:Store/Search:Status", "2")
		// 12.1 devices search the GAL too, without pictures.
		old := e.device(dyOld121, "ada")
		res = old.Do("Search", galSearch("hop", "0-9", `<Search:Picture><Search:MaxSize>1000</Search:MaxSize></Search:Picture>`))
		if got := galResults(res, "Search:Response/Search:Store"); len(got) != 1 || strings.Contains(res.XML(), "Picture") {
			t.Fatalf("12.1: %s", res.XML())
		}
	})
}

// TestSearchDocumentLibraryRefusedAndAudited: the PEAS attack asks the
// server to list a UNC share; Airlock refuses (Store Status 5) and audits,
// without writing the credentials anywhere.
func TestSearchDocumentLibraryRefusedAndAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := dySetup(t, st)
		dev := e.device(dyIPhone141, "ada")
		res := dev.Do("Search", `<Search:Search><Search:Store><Search:Name>DocumentLibrary</Search:Name><Search:Query><Search:EqualTo><DocumentLibrary:LinkId/><Search:Value>\\fileserver\policies</Search:Value></Search:EqualTo></Search:Query>`+
			`<Search:Options><Search:Range>0-4</Search:Range><Search:UserName>EXAMPLE\ada</Search:UserName><Search:Password>hunter2-secret</Search:Password></Search:Options></Search:Store></Search:Search>`)
		res.Expect(200, "Search:Status", "1")
		res.Expect(200, "Search:Response/Search:Store/Search:Status", "5")
		if strings.Contains(res.XML(), "Result") {
			t.Fatal("results returned")
		}
		ev, err := st.ListAudit(scCtx, store.AuditFilter{Action: "eas.document_library_refused"})
		if err != nil || len(ev) != 1 {
			t.Fatalf("audit: %v %v", ev, err)
		}
		if ev[0].Target != `\\fileserver\policies` || ev[0].Actor != e.users["ada"].Email || ev[0].Outcome != "refused" ||
			strings.Contains(ev[0].Detail, "hunter2") || !strings.Contains(ev[0].Detail, "credentials sent: true") {
			t.Fatalf("audit event: %+v", ev[0])
		}
	})
}

func TestSearchMailbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := dySetup(t, st)
		ada := e.users["ada"]
		env := &scEnv{t: t, srv: e.srv, st: st, user: ada, email: ada.Email}
		inbox := env.folder(store.FolderInbox)
		env.deliver(inbox, 3, "Discharge summary")
		env.deliver(inbox, 2, "Rota")
		dev := e.device(dyIPhone141, "ada")
		q := func(query, opts string) *eastest.Result {
			return dev.Do("Search", `<Search:Search><Search:Store><Search:Name>Mailbox</Search:Name><Search:Query>`+query+`</Search:Query><Search:Options>`+opts+`</Search:Options></Search:Store></Search:Search>`)
		}
		coll := itoaT(inbox.ID)
		res := q(`<Search:And><AirSync:Class>Email</AirSync:Class><AirSync:CollectionId>`+coll+`</AirSync:CollectionId><Search:FreeText>discharge</Search:FreeText></Search:And>`,
			`<Search:Range>0-1</Search:Range><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:TruncationSize>20</AirSyncBase:TruncationSize></AirSyncBase:BodyPreference>`)
		res.Expect(200, "Search:Response/Search:Store/Search:Status", "1")
		if res.Text("Search:Response/Search:Store/Search:Total") != "3" || res.Text("Search:Response/Search:Store/Search:Range") != "0-1" {
			t.Fatalf("total/range: %s", res.XML())
		}
		r := res.Find("Search:Response/Search:Store/Search:Result")
		props := r.FindElement("Properties")
		if textOf(r, "Class") != "Email" || textOf(r, "LongId") == "" || textOf(r, "CollectionId") != coll ||
			!strings.HasPrefix(textOf(props, "Subject"), "Discharge summary") || props.FindElement("Body/Truncated") == nil {
			t.Fatalf("result: %s", res.XML())
		}
		// After a date; Or is too complex; an unknown collection needs a
		// FolderSync.
		future := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04:05.000Z")
		res = q(`<Search:And><AirSync:Class>Email</AirSync:Class><Search:FreeText>discharge</Search:FreeText><Search:GreaterThan><Email:DateReceived/><Search:Value>`+future+`</Search:Value></Search:GreaterThan></Search:And>`, `<Search:Range>0-9</Search:Range>`)
		if res.Text("Search:Response/Search:Store/Search:Total") != "0" {
			t.Fatalf("after: %s", res.XML())
		}
		q(`<Search:Or><Search:FreeText>a</Search:FreeText><Search:FreeText>b</Search:FreeText></Search:Or>`, ``).Expect(200, "Search:Response/Search:Store/Search:Status", "8")
		q(`<Search:And><AirSync:CollectionId>999999</AirSync:CollectionId><Search:FreeText>x</Search:FreeText></Search:And>`, ``).Expect(200, "Search:Response/Search:Store/Search:Status", "11")
		// Another user's mail is never found.
		dev2 := e.device(dyIPhone141, "grace")
		res = dev2.Do("Search", `<Search:Search><Search:Store><Search:Name>Mailbox</Search:Name><Search:Query><Search:And><Search:FreeText>discharge</Search:FreeText></Search:And></Search:Query></Search:Store></Search:Search>`)
		if res.Text("Search:Response/Search:Store/Search:Total") != "0" {
			t.Fatalf("other user: %s", res.XML())
		}
	})
}

func itoaT(n int64) string { return strconv.FormatInt(n, 10) }

// TestResolveRecipientsFreeBusy: Grace resolves Ada by address (free/busy
// of a day with three meetings), "cardio" ambiguously, a contact, and an
// unknown address; certificates are asked for and there are none.
func TestResolveRecipientsFreeBusy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := dySetup(t, st)
		ada := e.users["ada"]
		cal, _ := st.FolderByType(scCtx, ada.ID, store.FolderCalendar)
		day := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
		for _, ev := range []pim.Event{
			{Summary: "Clinic", Start: day.Add(9 * time.Hour), End: day.Add(10*time.Hour + 30*time.Minute), BusyStatus: pim.BusyBusy},
			{Summary: "MDT", Start: day.Add(13 * time.Hour), End: day.Add(14 * time.Hour), BusyStatus: pim.BusyTentative},
			{Summary: "Teaching", Start: day.Add(15 * time.Hour), End: day.Add(16 * time.Hour), BusyStatus: pim.BusyOutOfOffice},
		} {
			it, err := ev.ToItem(ada.ID, cal.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.AddItem(scCtx, it, nil); err != nil {
				t.Fatal(err)
			}
		}
		grace := e.users["grace"]
		cf, _ := st.FolderByType(scCtx, grace.ID, store.FolderContacts)
		c := pim.Contact{FirstName: "Cardiff", LastName: "Locum", Email1: "locum@agency.example.org"}
		it, _ := c.ToItem(grace.ID, cf.ID)
		if err := st.AddItem(scCtx, it, nil); err != nil {
			t.Fatal(err)
		}
		dev := e.device(dyIPhone141, "grace")
		res := dev.Do("ResolveRecipients", `<ResolveRecipients:ResolveRecipients>
			<ResolveRecipients:To>ada.lovelace@example.nhs.uk</ResolveRecipients:To>
			<ResolveRecipients:To>cardi</ResolveRecipients:To>
			<ResolveRecipients:To>nobody@elsewhere.example</ResolveRecipients:To>
			<ResolveRecipients:Options>
			  <ResolveRecipients:CertificateRetrieval>2</ResolveRecipients:CertificateRetrieval>
			  <ResolveRecipients:MaxAmbiguousRecipients>5</ResolveRecipients:MaxAmbiguousRecipients>
			  <ResolveRecipients:Availability><ResolveRecipients:StartTime>2026-06-10T08:00:00.000Z</ResolveRecipients:StartTime><ResolveRecipients:EndTime>2026-06-10T17:00:00.000Z</ResolveRecipients:EndTime></ResolveRecipients:Availability>
			</ResolveRecipients:Options></ResolveRecipients:ResolveRecipients>`)
		res.Expect(200, "ResolveRecipients:Status", "1")
		var responses []*etree.Element
		for _, c := range res.Doc.Root().ChildElements() {
			if c.Tag == "Response" {
				responses = append(responses, c)
			}
		}
		if len(responses) != 3 {
			t.Fatalf("responses: %s", res.XML())
		}
		// Ada: resolved, free/busy 08:00-17:00 in 30-minute slots.
		r0 := responses[0]
		rc := r0.FindElement("Recipient")
		if textOf(r0, "Status") != "1" || textOf(rc, "Type") != "1" || textOf(rc, "EmailAddress") != ada.Email || textOf(rc, "DisplayName") != "Lovelace, Ada (Dr)" {
			t.Fatalf("ada: %s", res.XML())
		}
		//        08  09  10  11  12  13  14  15  16
		want := "00" + "22" + "20" + "00" + "00" + "11" + "00" + "33" + "00"
		if got := rc.FindElement("Availability/MergedFreeBusy").Text(); got != want || textOf(rc.FindElement("Availability"), "Status") != "1" {
			t.Fatalf("free/busy %s, want %s", got, want)
		}
		if textOf(rc.FindElement("Certificates"), "Status") != "7" || textOf(rc.FindElement("Certificates"), "CertificateCount") != "0" {
			t.Fatalf("certificates: %s", res.XML())
		}
		// "cardi": Ada and Grace (Cardiology) and the contact: ambiguous.
		r1 := responses[1]
		if textOf(r1, "Status") != "2" || textOf(r1, "RecipientCount") != "3" {
			t.Fatalf("ambiguous: %s", res.XML())
		}
		var types []string
		for _, c := range r1.ChildElements() {
			if c.Tag == "Recipient" {
				types = append(types, textOf(c, "Type"))
				if textOf(c, "Type") == "2" && c.FindElement("Availability/MergedFreeBusy").Text() != strings.Repeat("5", 18) {
					t.Errorf("contact availability: %s", c.FindElement("Availability/MergedFreeBusy").Text())
				}
			}
		}
		if strings.Join(types, "") != "112" {
			t.Fatalf("types %v", types)
		}
		if textOf(responses[2], "Status") != "4" || textOf(responses[2], "RecipientCount") != "0" {
			t.Fatalf("unknown: %s", res.XML())
		}
		// With MaxAmbiguousRecipients 1 the ambiguous name is partial (3).
		res = dev.Do("ResolveRecipients", `<ResolveRecipients:ResolveRecipients><ResolveRecipients:To>cardi</ResolveRecipients:To><ResolveRecipients:Options><ResolveRecipients:MaxAmbiguousRecipients>1</ResolveRecipients:MaxAmbiguousRecipients></ResolveRecipients:Options></ResolveRecipients:ResolveRecipients>`)
		if res.Text("ResolveRecipients:Response/ResolveRecipients:Status") != "3" || res.Text("ResolveRecipients:Response/ResolveRecipients:RecipientCount") != "1" {
			t.Fatalf("partial: %s", res.XML())
		}
		// Availability with the end before the start is a protocol error.
		dev.Do("ResolveRecipients", `<ResolveRecipients:ResolveRecipients><ResolveRecipients:To>ada</ResolveRecipients:To><ResolveRecipients:Options><ResolveRecipients:Availability><ResolveRecipients:StartTime>2026-06-10T17:00:00.000Z</ResolveRecipients:StartTime><ResolveRecipients:EndTime>2026-06-10T08:00:00.000Z</ResolveRecipients:EndTime></ResolveRecipients:Availability></ResolveRecipients:Options></ResolveRecipients:ResolveRecipients>`).
			Expect(200, "ResolveRecipients:Status", "5")
	})
}

func TestFindGALAndMailbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := dySetup(t, st)
		ada := e.users["ada"]
		env := &scEnv{t: t, srv: e.srv, st: st, user: ada, email: ada.Email}
		inbox := env.folder(store.FolderInbox)
		env.deliver(inbox, 2, "Discharge summary")
		dev := e.device(dyIPhone161, "ada")
		res := dev.Do("Find", `<Find:Find><Find:SearchId>0d8f1b5c-6e6b-4c43-9a9b-2d0b2e1f6a22</Find:SearchId><Find:ExecuteSearch><Find:GalSearchCriterion><Find:Query><Find:FreeText>babbage</Find:FreeText></Find:Query><Find:Options><Find:Range>0-9</Find:Range><Find:Picture><Find:MaxSize>36864</Find:MaxSize><Find:MaxPictures>3</Find:MaxPictures></Find:Picture></Find:Options></Find:GalSearchCriterion></Find:ExecuteSearch></Find:Find>`)
		res.Expect(200, "Find:Status", "1")
		if got := galResults(res, "Find:Response"); len(got) != 1 || got[0] != "charles.babbage@example.nhs.uk" ||
			res.Text("Find:Response/Find:Result/Find:Properties/Find:Picture/GAL:Status") != "173" || res.Text("Find:Response/Find:Total") != "1" {
			t.Fatalf("GAL: %s", res.XML())
		}
		res = dev.Do("Find", `<Find:Find><Find:SearchId>8f2a5d5e</Find:SearchId><Find:ExecuteSearch><Find:MailBoxSearchCriterion><Find:Query><AirSync:Class>Email</AirSync:Class><AirSync:CollectionId>`+itoaT(inbox.ID)+`</AirSync:CollectionId><Find:FreeText>discharge</Find:FreeText></Find:Query><Find:Options><Find:Range>0-24</Find:Range><Find:DeepTraversal/></Find:Options></Find:MailBoxSearchCriterion></Find:ExecuteSearch></Find:Find>`)
		res.Expect(200, "Find:Response/Find:Status", "1")
		if res.Text("Find:Response/Find:Total") != "2" || res.Text("Find:Response/Find:Result/AirSync:ServerId") == "" ||
			!strings.HasPrefix(res.Text("Find:Response/Find:Result/Find:Properties/Email:Subject"), "Discharge summary") {
			t.Fatalf("mailbox: %s", res.XML())
		}
		// A range that does not start at 0 (4), no FreeText (2).
		dev.Do("Find", `<Find:Find><Find:SearchId>x</Find:SearchId><Find:ExecuteSearch><Find:GalSearchCriterion><Find:Query><Find:FreeText>a</Find:FreeText></Find:Query><Find:Options><Find:Range>5-9</Find:Range></Find:Options></Find:GalSearchCriterion></Find:ExecuteSearch></Find:Find>`).
			Expect(200, "Find:Response/Find:Status", "4")
		dev.Do("Find", `<Find:Find><Find:SearchId>x</Find:SearchId><Find:ExecuteSearch><Find:GalSearchCriterion><Find:Query/></Find:GalSearchCriterion></Find:ExecuteSearch></Find:Find>`).
			Expect(200, "Find:Status", "2")
		// Find is 16.1 only.
		old := e.device(dyIPhone141, "ada")
		if r := old.Do("Find", `<Find:Find><Find:SearchId>x</Find:SearchId></Find:Find>`); r.Text("Find:Status") == "1" {
			t.Fatalf("14.1 Find: %s", r.XML())
		}
	})
}

func TestSettingsOofGetSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := dySetup(t, st)
		dev := e.device(dyIPhone141, "ada")
		get := func(bt string) *eastest.Result {
			return dev.Do("Settings", `<Settings:Settings><Settings:Oof><Settings:Get><Settings:BodyType>`+bt+`</Settings:BodyType></Settings:Get></Settings:Oof></Settings:Settings>`)
		}
		res := get("Text")
		res.Expect(200, "Settings:Oof/Settings:Status", "1")
		if res.Text("Settings:Oof/Settings:Get/Settings:OofState") != "0" {
			t.Fatalf("initial: %s", res.XML())
		}
		dev.Do("Settings", `<Settings:Settings><Settings:Oof><Settings:Set>
			<Settings:OofState>2</Settings:OofState>
			<Settings:StartTime>2026-07-01T00:00:00.000Z</Settings:StartTime><Settings:EndTime>2026-07-14T23:59:59.000Z</Settings:EndTime>
			<Settings:OofMessage><Settings:AppliesToInternal/><Settings:Enabled>1</Settings:Enabled><Settings:ReplyMessage>&lt;p&gt;On leave until 15 July. Urgent: bleep 4412.&lt;/p&gt;</Settings:ReplyMessage><Settings:BodyType>HTML</Settings:BodyType></Settings:OofMessage>
			<Settings:OofMessage><Settings:AppliesToExternalKnown/><Settings:Enabled>1</Settings:Enabled><Settings:ReplyMessage>On leave until 15 July.</Settings:ReplyMessage><Settings:BodyType>Text</Settings:BodyType></Settings:OofMessage>
			<Settings:OofMessage><Settings:AppliesToExternalUnknown/><Settings:Enabled>0</Settings:Enabled></Settings:OofMessage>
			</Settings:Set></Settings:Oof></Settings:Settings>`).Expect(200, "Settings:Oof/Settings:Status", "1")
		res = get("Text")
		g := res.Find("Settings:Oof/Settings:Get")
		if textOf(g, "OofState") != "2" || textOf(g, "StartTime") != "2026-07-01T00:00:00.000Z" || textOf(g, "EndTime") != "2026-07-14T23:59:59.000Z" {
			t.Fatalf("get: %s", res.XML())
		}
		msgs := map[string][2]string{}
		for _, m := range g.ChildElements() {
			if m.Tag != "OofMessage" {
				continue
			}
			kind := m.ChildElements()[0].Tag
			msgs[kind] = [2]string{textOf(m, "Enabled"), textOf(m, "ReplyMessage")}
		}
		if msgs["AppliesToInternal"] != [2]string{"1", "On leave until 15 July. Urgent: bleep 4412."} ||
			msgs["AppliesToExternalKnown"] != [2]string{"1", "On leave until 15 July."} || msgs["AppliesToExternalUnknown"][0] != "0" {
			t.Fatalf("messages as text: %v", msgs)
		}
		if r := get("HTML"); !strings.Contains(r.XML(), "&lt;p&gt;On leave until 15 July. Urgent") {
			t.Fatalf("html: %s", r.XML())
		}
		// Turning it off keeps the messages; bad arguments are refused.
		dev.Do("Settings", `<Settings:Settings><Settings:Oof><Settings:Set><Settings:OofState>0</Settings:OofState></Settings:Set></Settings:Oof></Settings:Settings>`).Expect(200, "Settings:Oof/Settings:Status", "1")
		if r := get("Text"); r.Text("Settings:Oof/Settings:Get/Settings:OofState") != "0" || !strings.Contains(r.XML(), "bleep 4412") {
			t.Fatalf("off: %s", r.XML())
		}
		dev.Do("Settings", `<Settings:Settings><Settings:Oof><Settings:Set><Settings:OofState>7</Settings:OofState></Settings:Set></Settings:Oof></Settings:Settings>`).Expect(200, "Settings:Oof/Settings:Status", "5")
		dev.Do("Settings", `<Settings:Settings><Settings:Oof><Settings:Set><Settings:OofState>2</Settings:OofState><Settings:StartTime>2026-07-14T00:00:00.000Z</Settings:StartTime><Settings:EndTime>2026-07-01T00:00:00.000Z</Settings:EndTime></Settings:Set></Settings:Oof></Settings:Settings>`).Expect(200, "Settings:Oof/Settings:Status", "6")
	})
}
