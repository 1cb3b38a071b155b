package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"airlock/internal/password"
	"airlock/message"
	"airlock/pim"
	"airlock/store"
)

// ErrNotEmpty is returned by Seed on a store that already has users.
var ErrNotEmpty = errors.New("demo: the store already has users")

// Credential is one demo account and its generated password.
type Credential struct {
	Email    string
	Name     string
	Password string
	Admin    bool
}

// Credentials lists the demo accounts in creation order.
type Credentials []Credential

// Seed creates the demo organisation in an empty store and prints the
// accounts and their passwords to out (nil: not printed). The passwords
// exist nowhere else: only their hashes are stored.
func Seed(ctx context.Context, st *store.Store, domain string, out io.Writer) (Credentials, error) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" || strings.ContainsAny(domain, "@ /") || !strings.Contains(domain, ".") {
		return nil, fmt.Errorf("demo: %q is not a mail domain", domain)
	}
	n, err := st.CountUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if n > 0 {
		return nil, fmt.Errorf("%w (%d); seeding runs only on an empty store", ErrNotEmpty, n)
	}
	s := &seeder{ctx: ctx, st: st, domain: domain, now: time.Now().UTC(), users: map[string]*store.User{}}
	creds, err := s.createUsers()
	if err != nil {
		return nil, err
	}
	if err := s.mail(); err != nil {
		return creds, err
	}
	if err := s.calendar(); err != nil {
		return creds, err
	}
	if err := s.pim(); err != nil {
		return creds, err
	}
	if out != nil {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "Demo organisation %s seeded (%s). Accounts:\n", domain, Organisation)
		fmt.Fprintln(tw, "ADDRESS\tNAME\tPASSWORD\tROLE")
		for _, c := range creds {
			role := "user"
			if c.Admin {
				role = "admin"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Email, c.Name, c.Password, role)
		}
		if err := tw.Flush(); err != nil {
			return creds, fmt.Errorf("demo: print credentials: %w", err)
		}
	}
	return creds, nil
}

type seeder struct {
	ctx    context.Context
	st     *store.Store
	domain string
	now    time.Time
	users  map[string]*store.User
}

func (s *seeder) createUsers() (Credentials, error) {
	var creds Credentials
	for _, p := range staff {
		// rand.Text is 26 base32 characters (130 bits); 12 of them still
		// carry 60 bits, plenty for a demo password shown once.
		pw := rand.Text()[:12]
		hash, err := password.Hash(pw, password.Default)
		if err != nil {
			return nil, fmt.Errorf("demo: hash password: %w", err)
		}
		u := p.user(s.domain)
		u.PasswordHash = hash
		if err := s.st.CreateUser(s.ctx, u); err != nil {
			return nil, fmt.Errorf("demo: create %s: %w", u.Email, err)
		}
		s.users[p.key] = u
		creds = append(creds, Credential{Email: u.Email, Name: u.DisplayName, Password: pw, Admin: p.admin})
	}
	return creds, nil
}

func (s *seeder) folder(key string, t store.FolderType) (*store.Folder, error) {
	f, err := s.st.FolderByType(s.ctx, s.users[key].ID, t)
	if err != nil {
		return nil, fmt.Errorf("demo: folder %d of %s: %w", t, key, err)
	}
	return f, nil
}

// mail delivers each demo message once: to the Inbox of every local
// recipient and the Sent Items of a local sender, sharing one blob.
func (s *seeder) mail() error {
	byKey := map[string]mailSpec{}
	refs := map[string][]string{}
	ics, err := meetingICS(s.mdt())
	if err != nil {
		return err
	}
	for _, m := range mails {
		byKey[m.key] = m
		root := m
		var chain []string
		if m.reply != "" {
			parent, ok := byKey[m.reply]
			if !ok {
				return fmt.Errorf("demo: %s replies to unknown %s", m.key, m.reply)
			}
			chain = append(append([]string(nil), refs[parent.key]...), messageID(parent.key, s.domain))
			for root.reply != "" {
				root = byKey[root.reply]
			}
		}
		refs[m.key] = chain
		raw, err := buildMail(m, root, chain, s.domain, s.now.Add(-m.ago).Truncate(time.Second), ics)
		if err != nil {
			return fmt.Errorf("demo: build %s: %w", m.key, err)
		}
		var items []*store.Item
		add := func(key string, t store.FolderType, read bool) error {
			if _, local := s.users[key]; !local {
				return nil
			}
			f, err := s.folder(key, t)
			if err != nil {
				return err
			}
			// Each copy is its own item: flags are per mailbox.
			it, err := message.Parse(raw)
			if err != nil {
				return fmt.Errorf("demo: parse %s: %w", m.key, err)
			}
			it.UserID, it.FolderID, it.Read = s.users[key].ID, f.ID, read
			if m.flagged && t == store.FolderInbox {
				it.FlagStatus = 2
			}
			items = append(items, it)
			return nil
		}
		seen := map[string]bool{m.from: true}
		for _, k := range append(append([]string(nil), m.to...), m.cc...) {
			if seen[k] {
				continue
			}
			seen[k] = true
			if err := add(k, store.FolderInbox, !m.unread); err != nil {
				return err
			}
		}
		if err := add(m.from, store.FolderSentItems, true); err != nil {
			return err
		}
		if len(items) == 0 {
			continue
		}
		if err := s.st.Deliver(s.ctx, store.Delivery{Raw: raw, Items: items}); err != nil {
			return fmt.Errorf("demo: deliver %s: %w", m.key, err)
		}
	}
	return nil
}

var london = mustLoad("Europe/London")

func mustLoad(name string) *time.Location {
	loc, err := pim.ResolveTimeZone(name)
	if err != nil {
		panic(err) // the zone database is embedded by package pim
	}
	return loc
}

// localDay is midnight in London n days from now.
func (s *seeder) localDay(n int) time.Time {
	t := s.now.In(london).AddDate(0, 0, n)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, london)
}

// mdtAttendees are invited to the MDT (Tom optionally).
var mdtAttendees = []string{"james", "sarah", "priya", "tom"}

// mdt is the weekly Cardiology MDT, which started eight weeks ago on a
// Tuesday at 13:00 London time, organised by Amira.
func (s *seeder) mdt() pim.Event {
	start := s.localDay(-56)
	for start.Weekday() != time.Tuesday {
		start = start.AddDate(0, 0, 1)
	}
	start = start.Add(13 * time.Hour)
	fifteen := 15
	e := pim.Event{
		UID: "demo-mdt@" + s.domain, Summary: "Cardiology MDT", Location: "Seminar Room 2, Cardiac Centre",
		Description: "Weekly multidisciplinary team meeting: new referrals, echo results, complex cases.",
		Start:       start.UTC(), End: start.Add(time.Hour).UTC(), TimeZone: "Europe/London",
		Organizer:  pim.Person{Name: lookup("amira").name(), Email: lookup("amira").email(s.domain)},
		BusyStatus: pim.BusyBusy, Reminder: &fifteen, Categories: []string{"MDT"},
		RRule: "FREQ=WEEKLY;BYDAY=TU", DtStamp: s.now.Truncate(time.Second),
	}
	for _, k := range mdtAttendees {
		p := lookup(k)
		e.Attendees = append(e.Attendees, pim.Attendee{Name: p.name(), Email: p.email(s.domain), Type: pim.AttendeeRequired, Status: pim.StatusAccepted})
	}
	e.Attendees[3].Type = pim.AttendeeOptional
	return e
}

// meetingICS is the iTIP request (RFC 5546) carried by the MDT invitation.
func meetingICS(e pim.Event) ([]byte, error) {
	var b bytes.Buffer
	if err := pim.WriteICS(&b, []pim.Event{e}, nil); err != nil {
		return nil, fmt.Errorf("demo: meeting request: %w", err)
	}
	// METHOD is a calendar property of iTIP messages, which WriteICS (an
	// export) does not write.
	return bytes.Replace(b.Bytes(), []byte("BEGIN:VCALENDAR\r\n"), []byte("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\n"), 1), nil
}

// calendar fills Amira's calendar and puts the MDT in every attendee's.
func (s *seeder) calendar() error {
	mdt := s.mdt()
	at := func(day, hour, min int) time.Time {
		return s.localDay(day).Add(time.Duration(hour)*time.Hour + time.Duration(min)*time.Minute).UTC()
	}
	thirty := 30
	events := []pim.Event{
		mdt,
		{UID: "demo-clinic-1@" + s.domain, Summary: "Rapid access chest pain clinic", Location: "Outpatients B, Room 4",
			Start: at(1, 9, 0), End: at(1, 12, 30), TimeZone: "Europe/London", BusyStatus: pim.BusyBusy, Reminder: &thirty},
		{UID: "demo-clinic-2@" + s.domain, Summary: "Heart failure clinic", Location: "Cardiac Centre, Level 2",
			Start: at(3, 14, 0), End: at(3, 17, 0), TimeZone: "Europe/London", BusyStatus: pim.BusyBusy},
		{UID: "demo-governance@" + s.domain, Summary: "Echo lab governance meeting", Location: "Microsoft Teams",
			Start: at(2, 16, 0), End: at(2, 17, 0), TimeZone: "Europe/London", BusyStatus: pim.BusyBusy, Categories: []string{"Governance"}},
		{UID: "demo-bls@" + s.domain, Summary: "Mandatory training: Basic Life Support", Location: "Education Centre, Skills Lab",
			Start: at(9, 9, 30), End: at(9, 12, 30), TimeZone: "Europe/London", BusyStatus: pim.BusyOutOfOffice},
		{UID: "demo-11@" + s.domain, Summary: "1:1 with Sarah Whitfield", Location: "Room 3.14",
			Start: at(-2, 8, 0), End: at(-2, 8, 30), TimeZone: "Europe/London", BusyStatus: pim.BusyBusy, Sensitivity: pim.SensitivityPrivate},
		{UID: "demo-leave@" + s.domain, Summary: "Annual leave", AllDay: true,
			Start: s.utcDate(21), End: s.utcDate(26), BusyStatus: pim.BusyOutOfOffice},
		{UID: "demo-journal@" + s.domain, Summary: "Journal club", Location: "Seminar Room 2",
			Start: at(4, 8, 0), End: at(4, 9, 0), TimeZone: "Europe/London", BusyStatus: pim.BusyTentative},
	}
	amira := lookup("amira").email(s.domain)
	for i := range events {
		events[i].SetOwner(amira)
		if err := s.addPIM("amira", store.FolderCalendar, &events[i]); err != nil {
			return err
		}
	}
	for _, key := range mdtAttendees {
		e := mdt
		e.SetOwner(lookup(key).email(s.domain))
		if err := s.addPIM(key, store.FolderCalendar, &e); err != nil {
			return err
		}
	}
	return nil
}

// utcDate is the date n days from now at midnight UTC, as all-day events
// store it.
func (s *seeder) utcDate(n int) time.Time {
	d := s.localDay(n)
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}

type toItem interface {
	ToItem(userID, folderID int64) (*store.Item, error)
}

func (s *seeder) addPIM(key string, t store.FolderType, v toItem) error {
	f, err := s.folder(key, t)
	if err != nil {
		return err
	}
	it, err := v.ToItem(s.users[key].ID, f.ID)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := s.st.AddItem(s.ctx, it, nil); err != nil {
		return fmt.Errorf("demo: add %s for %s: %w", it.Subject, key, err)
	}
	return nil
}

// pim gives Amira contacts, tasks and notes.
func (s *seeder) pim() error {
	bday := time.Date(1978, 4, 23, 0, 0, 0, 0, time.UTC)
	contacts := []pim.Contact{
		{FileAs: "Okafor, Helen", Title: "Dr", FirstName: "Helen", LastName: "Okafor", CompanyName: "Riverside Medical Practice", JobTitle: "GP Partner",
			Email1: "helen.okafor@riverside-mp.example", BusinessPhone: "020 7946 0101", BusinessFax: "020 7946 0199",
			BusinessAddress: pim.Address{Street: "1 River Lane", City: "London", PostalCode: "SE1 7PB", Country: "United Kingdom"}, Categories: []string{"GP"}},
		{FileAs: "Cath Lab Coordinator", CompanyName: "Regional Heart Centre", Department: "Cardiac Catheter Laboratories",
			Email1: "cathlab.coordinator@heartcentre.example", BusinessPhone: "020 7946 0500", CompanyMainPhone: "020 7946 0000"},
		{FileAs: "Echocardiography Department", CompanyName: Organisation, Department: "Cardiac Physiology", BusinessPhone: "020 7946 0340", OfficeLocation: "Cardiac Centre, Level 1"},
		{FileAs: "Bed Bureau", CompanyName: Organisation, Department: "Site Management", BusinessPhone: "020 7946 0600", Pager: "07700 900600", Notes: "24/7. Bleep 600 out of hours."},
		{FileAs: "Pharmacy on call", CompanyName: Organisation, Department: "Pharmacy", Pager: "07700 900411", BusinessPhone: "020 7946 0411"},
		{FileAs: "Shah, Rajesh", Title: "Dr", FirstName: "Rajesh", LastName: "Shah", JobTitle: "Clinical Director, Medicine", CompanyName: Organisation,
			Email1: "rajesh.shah@medicaldirectorate.example", BusinessPhone: "020 7946 0200", AssistantName: "Jo Clarke", AssistantPhone: "020 7946 0201"},
		{FileAs: "Fielding, Mark", FirstName: "Mark", LastName: "Fielding", CompanyName: "Example Locums Ltd", JobTitle: "Account Manager",
			Email1: "mark.fielding@locums.example", MobilePhone: "07700 900777"},
		{FileAs: "Patel, Dev", FirstName: "Dev", LastName: "Patel", Email1: "dev.patel@home.example", MobilePhone: "07700 900123",
			HomeAddress: pim.Address{Street: "12 Orchard Close", City: "Bromley", State: "Kent", PostalCode: "BR1 1AA", Country: "United Kingdom"},
			Birthday:    &bday, NickName: "Dev", Categories: []string{"Family"}},
	}
	for i := range contacts {
		contacts[i].UID = fmt.Sprintf("demo-contact-%d@%s", i+1, s.domain)
		if err := s.addPIM("amira", store.FolderContacts, &contacts[i]); err != nil {
			return err
		}
	}
	due := func(days int) *time.Time { t := s.localDay(days).Add(17 * time.Hour).UTC(); return &t }
	done := s.now.Add(-2 * day).Truncate(time.Second)
	tasks := []pim.Task{
		{Subject: "Sign clinic letters", Body: "Twelve letters from Monday's clinic.", Due: due(1), Importance: pim.ImportanceHigh},
		{Subject: "Review HF readmissions audit by NYHA class", Due: due(7), Importance: pim.ImportanceNormal, Categories: []string{"Audit"}},
		{Subject: "Book Basic Life Support update", Due: due(-3), Complete: true, DateCompleted: &done, Importance: pim.ImportanceNormal},
	}
	for i := range tasks {
		tasks[i].UID = fmt.Sprintf("demo-task-%d@%s", i+1, s.domain)
		if err := s.addPIM("amira", store.FolderTasks, &tasks[i]); err != nil {
			return err
		}
	}
	notes := []pim.Note{
		{Subject: "MDT agenda ideas", Body: "Discharge template: add follow-up echo date.\nVirtual ward criteria review.", LastModified: s.now.Truncate(time.Second)},
		{Subject: "Useful extensions", Body: "Bed bureau 0600\nEcho 0340\nCath lab 0500", LastModified: s.now.Truncate(time.Second)},
	}
	for i := range notes {
		notes[i].UID = fmt.Sprintf("demo-note-%d@%s", i+1, s.domain)
		if err := s.addPIM("amira", store.FolderNotes, &notes[i]); err != nil {
			return err
		}
	}
	return nil
}
