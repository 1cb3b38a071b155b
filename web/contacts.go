package web

// Personal contacts (/contacts): the contacts the user's phones sync,
// listed, searched, shown, added, changed and deleted through the store
// calls the diary uses for events (AddItemWithinQuota, ReplaceItem,
// DeleteItem), which move the folder's change counter inside the write,
// so phones get the change at their next Sync and held Pings wake.
//
// A contact's fields live in its Props, which are sealed at rest; so the
// search and the order by name are done here, in Go, over the user's
// contacts, never in SQL.

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"airlock/pim"
	"airlock/store"
)

// contactsPageSize is the number of contacts on one page of the list.
const contactsPageSize = 50

func (s *Server) contactRoutes(h *echo.Group) {
	g := h.Group("/contacts", s.requireUser)
	g.GET("", s.contactList)
	g.POST("", s.contactSave)
	g.GET("/new", s.contactNew)
	g.GET("/:id", s.contactView)
	g.GET("/:id/edit", s.contactEdit)
	g.POST("/:id/delete", s.contactDelete)
}

// contactRow is one line of the list.
type contactRow struct {
	ID                          int64
	Name, Company, Email, Phone string
	search                      string // lower-cased fields the search looks in
	sortKey                     string
}

// Initials stand in for a photo in the list.
func (r contactRow) Initials() string { return initials(r.Name) }

// URL is the contact's page.
func (r contactRow) URL() string { return "/contacts/" + strconv.FormatInt(r.ID, 10) }

// isContactsFolder: the folders whose items are the user's contacts (the
// default one and any made on a phone), not the recipients cache.
func isContactsFolder(f *store.Folder) bool {
	return f.Class == store.ClassContacts && f.Type != store.FolderRecipientsCache
}

// userContacts reads every contact of the user, decoded, in name order.
func (s *Server) userContacts(ctx context.Context, userID int64) ([]contactRow, error) {
	folders, err := s.store.Folders(ctx, userID)
	if err != nil {
		return nil, err
	}
	var rows []contactRow
	for i := range folders {
		if !isContactsFolder(&folders[i]) {
			continue
		}
		for after := int64(0); ; {
			items, err := s.store.ListItems(ctx, userID, folders[i].ID, after, 1000)
			if err != nil {
				return nil, err
			}
			for j := range items {
				var ct pim.Contact
				if ct.FromItem(&items[j]) != nil {
					continue // unreadable props: nothing to show
				}
				rows = append(rows, rowOfContact(items[j].ID, &ct))
			}
			if len(items) < 1000 {
				break
			}
			after = items[len(items)-1].ID
		}
	}
	slices.SortFunc(rows, func(a, b contactRow) int {
		if c := strings.Compare(a.sortKey, b.sortKey); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return rows, nil
}

func rowOfContact(id int64, ct *pim.Contact) contactRow {
	r := contactRow{ID: id, Name: ct.DisplayName(), Company: ct.CompanyName,
		Email: firstOf(ct.Email1, ct.Email2, ct.Email3), Phone: firstOf(ct.MobilePhone, ct.BusinessPhone, ct.HomePhone)}
	r.sortKey = strings.ToLower(r.Name)
	r.search = strings.ToLower(strings.Join([]string{r.Name, ct.FirstName, ct.LastName, ct.NickName, ct.CompanyName,
		ct.Email1, ct.Email2, ct.Email3}, "\x00"))
	return r
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

type contactListData struct {
	Query    string
	Rows     []contactRow
	Total    int64
	Matches  int64
	NextURL  string
	PrevURL  string
	FirstURL string
	From, To int
	Shown    int64
}

// contactList lists the contacts by name, filtered by the search box
// (every word must appear in the name, company or an address), 50 a page.
// The cursor is a contact id, so no contact details are in the address.
func (s *Server) contactList(c echo.Context) error {
	ctx := c.Request().Context()
	all, err := s.userContacts(ctx, ident(c).User.ID)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	if utf8.RuneCountInString(q) > 100 {
		q = string([]rune(q)[:100])
	}
	d := &contactListData{Query: q, Total: int64(len(all))}
	rows := all
	if q != "" {
		words := strings.Fields(strings.ToLower(q))
		rows = slices.DeleteFunc(slices.Clone(all), func(r contactRow) bool {
			for _, w := range words {
				if !strings.Contains(r.search, w) {
					return true
				}
			}
			return false
		})
	}
	d.Matches = int64(len(rows))
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	start, end := pageBounds(rows, func(r contactRow) int64 { return r.ID }, after, before, contactsPageSize)
	d.Rows = rows[start:end]
	d.From, d.To, d.Shown = start+1, end, int64(end-start)
	link := func(k string, id int64) string {
		v := url.Values{}
		if q != "" {
			v.Set("q", q)
		}
		if k != "" {
			v.Set(k, strconv.FormatInt(id, 10))
		}
		if len(v) == 0 {
			return "/contacts"
		}
		return "/contacts?" + v.Encode()
	}
	if end < len(rows) && end > start {
		d.NextURL = link("after", rows[end-1].ID)
	}
	if start > 0 && end > start {
		d.PrevURL = link("before", rows[start].ID)
	}
	if start > 0 {
		d.FirstURL = link("", 0)
	}
	return s.render(c, http.StatusOK, "contacts.html", "Contacts", d)
}

// pageBounds is the page of rows after or before the row with the given
// id (the first page when neither is set or the row has gone).
func pageBounds[T any](rows []T, id func(T) int64, after, before int64, size int) (int, int) {
	idx := func(want int64) int { return slices.IndexFunc(rows, func(r T) bool { return id(r) == want }) }
	switch {
	case before != 0:
		end := idx(before)
		if end < 0 {
			end = min(len(rows), size)
		}
		return max(0, end-size), end
	case after != 0:
		start := idx(after) + 1
		return start, min(len(rows), start+size)
	}
	return 0, min(len(rows), size)
}

// contactForm is the add/change form: the fields most contacts have.
// Fields a phone set that the form does not show are kept on change.
type contactForm struct {
	ID                                     int64
	FirstName, LastName, Company, JobTitle string
	Department, Email1, Email2, Email3     string
	Mobile, Business, Home                 string
	Street, City, PostalCode, Country      string
	Birthday                               string // a date
	Notes                                  string
	Errors                                 map[string]string
}

// Error is one field's error, for the template.
func (f *contactForm) Error(field string) string { return f.Errors[field] }

func (f *contactForm) fail(field, msg string) {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = msg
	}
}

func contactFormOf(id int64, ct *pim.Contact) *contactForm {
	f := &contactForm{ID: id, FirstName: ct.FirstName, LastName: ct.LastName, Company: ct.CompanyName, JobTitle: ct.JobTitle,
		Department: ct.Department, Email1: ct.Email1, Email2: ct.Email2, Email3: ct.Email3,
		Mobile: ct.MobilePhone, Business: ct.BusinessPhone, Home: ct.HomePhone,
		Street: ct.BusinessAddress.Street, City: ct.BusinessAddress.City, PostalCode: ct.BusinessAddress.PostalCode, Country: ct.BusinessAddress.Country,
		Notes: ct.Notes}
	if ct.Birthday != nil {
		f.Birthday = ct.Birthday.UTC().Format(time.DateOnly)
	}
	return f
}

func contactFormFrom(c echo.Context) *contactForm {
	v := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f := &contactForm{FirstName: v("first"), LastName: v("last"), Company: v("company"), JobTitle: v("jobtitle"),
		Department: v("department"), Email1: v("email1"), Email2: v("email2"), Email3: v("email3"),
		Mobile: v("mobile"), Business: v("business"), Home: v("home"),
		Street: v("street"), City: v("city"), PostalCode: v("postcode"), Country: v("country"),
		Birthday: v("birthday"), Notes: strings.TrimSpace(strings.ReplaceAll(c.FormValue("notes"), "\r\n", "\n"))}
	f.ID, _ = strconv.ParseInt(c.FormValue("id"), 10, 64)
	return f
}

// apply checks the form and writes it over ct, keeping what the form does
// not show. Every error is recorded at once, next to its field.
func (f *contactForm) apply(ct *pim.Contact) {
	short := map[string]*string{"first": &f.FirstName, "last": &f.LastName, "company": &f.Company, "jobtitle": &f.JobTitle,
		"department": &f.Department, "mobile": &f.Mobile, "business": &f.Business, "home": &f.Home,
		"street": &f.Street, "city": &f.City, "postcode": &f.PostalCode, "country": &f.Country}
	for k, p := range short {
		if utf8.RuneCountInString(*p) > 255 {
			f.fail(k, "At most 255 characters.")
		}
	}
	for k, p := range map[string]*string{"email1": &f.Email1, "email2": &f.Email2, "email3": &f.Email3} {
		if *p == "" {
			continue
		}
		a, err := mail.ParseAddress(*p)
		if err != nil || len(*p) > 255 {
			f.fail(k, "Give an address such as name@example.nhs.uk.")
			continue
		}
		*p = a.Address
	}
	if len(f.Notes) > 32000 {
		f.fail("notes", "Notes are limited to 32,000 characters.")
	}
	var birthday *time.Time
	if f.Birthday != "" {
		d, err := time.Parse(time.DateOnly, f.Birthday)
		if err != nil || d.Year() < 1850 || d.After(time.Now()) {
			f.fail("birthday", "Give a date in the past.")
		} else {
			birthday = &d
		}
	}
	if f.FirstName == "" && f.LastName == "" && f.Company == "" && f.Email1 == "" && f.Email2 == "" && f.Email3 == "" {
		f.fail("first", "Give a name, a company or an email address.")
	}
	if ct.FirstName != f.FirstName || ct.LastName != f.LastName || ct.CompanyName != f.Company {
		ct.FileAs = "" // a phone's filing name no longer matches: shown from the names
	}
	ct.FirstName, ct.LastName, ct.CompanyName, ct.JobTitle, ct.Department = f.FirstName, f.LastName, f.Company, f.JobTitle, f.Department
	ct.Email1, ct.Email2, ct.Email3 = f.Email1, f.Email2, f.Email3
	ct.MobilePhone, ct.BusinessPhone, ct.HomePhone = f.Mobile, f.Business, f.Home
	ct.BusinessAddress.Street, ct.BusinessAddress.City, ct.BusinessAddress.PostalCode, ct.BusinessAddress.Country = f.Street, f.City, f.PostalCode, f.Country
	ct.Birthday, ct.Notes = birthday, f.Notes
}

// userContact returns the user's contact named by :id, or 404.
func (s *Server) userContact(c echo.Context) (*store.Item, *pim.Contact, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "No such contact.")
	}
	it, err := s.store.ItemByID(c.Request().Context(), ident(c).User.ID, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && it.Class != store.ClassContacts {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "This contact is no longer here: it may have been deleted on another device.")
	}
	if err != nil {
		return nil, nil, err
	}
	var ct pim.Contact
	if err := ct.FromItem(it); err != nil {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "This contact cannot be read.")
	}
	return it, &ct, nil
}

type contactViewData struct {
	ID       int64
	Name     string
	Contact  *pim.Contact
	Emails   []string
	Phones   []contactPhone
	Address  string
	Birthday string
	MailURL  string
	Initials string
}

type contactPhone struct {
	Label, Number string
	URL           any
}

func (s *Server) contactView(c echo.Context) error {
	it, ct, err := s.userContact(c)
	if err != nil {
		return err
	}
	d := &contactViewData{ID: it.ID, Name: ct.DisplayName(), Contact: ct, Initials: initials(ct.DisplayName())}
	for _, e := range []string{ct.Email1, ct.Email2, ct.Email3} {
		if e != "" {
			d.Emails = append(d.Emails, e)
		}
	}
	if len(d.Emails) > 0 {
		d.MailURL = composePath + "?to=" + url.QueryEscape(d.Emails[0])
	}
	for _, p := range []contactPhone{{"Mobile", ct.MobilePhone, nil}, {"Work", ct.BusinessPhone, nil}, {"Home", ct.HomePhone, nil},
		{"Work 2", ct.Business2Phone, nil}, {"Home 2", ct.Home2Phone, nil}, {"Pager", ct.Pager, nil}} {
		if p.Number != "" {
			p.URL = telURL(p.Number)
			d.Phones = append(d.Phones, p)
		}
	}
	a := ct.BusinessAddress
	d.Address = strings.Join(nonEmptyStrings(a.Street, a.City, a.State, a.PostalCode, a.Country), ", ")
	if ct.Birthday != nil {
		d.Birthday = ct.Birthday.UTC().Format("2 January 2006")
	}
	return s.render(c, http.StatusOK, "contact.html", d.Name, d)
}

func nonEmptyStrings(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (s *Server) contactNew(c echo.Context) error {
	f := &contactForm{Email1: strings.TrimSpace(c.QueryParam("email"))}
	return s.render(c, http.StatusOK, "contact_form.html", "New contact", f)
}

func (s *Server) contactEdit(c echo.Context) error {
	it, ct, err := s.userContact(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "contact_form.html", "Change "+ct.DisplayName(), contactFormOf(it.ID, ct))
}

// contactSave adds a contact to the default Contacts folder, or changes
// one (id in the form).
func (s *Server) contactSave(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	f := contactFormFrom(c)
	ct := &pim.Contact{}
	var cur *store.Item
	if f.ID != 0 {
		c.SetParamNames("id")
		c.SetParamValues(strconv.FormatInt(f.ID, 10))
		it, old, err := s.userContact(c)
		if err != nil {
			return err
		}
		cur, ct = it, old
	}
	f.apply(ct)
	if len(f.Errors) > 0 {
		return s.render(c, http.StatusUnprocessableEntity, "contact_form.html", "Contact not saved", f)
	}
	folderID, err := s.personalFolder(ctx, me.ID, cur, store.FolderContacts)
	if err != nil {
		return err
	}
	it, err := ct.ToItem(me.ID, folderID)
	if err != nil {
		f.fail("first", "Give a name, a company or an email address.")
		return s.render(c, http.StatusUnprocessableEntity, "contact_form.html", "Contact not saved", f)
	}
	err = s.savePersonalItem(ctx, cur, it)
	if errors.Is(err, errMailboxFull) {
		f.fail("first", "Your mailbox is full: delete something before adding contacts.")
		return s.render(c, http.StatusUnprocessableEntity, "contact_form.html", "Contact not saved", f)
	}
	if err != nil {
		return err
	}
	s.flash(c, "Contact saved.")
	return c.Redirect(http.StatusSeeOther, "/contacts/"+strconv.FormatInt(it.ID, 10))
}

func (s *Server) contactDelete(c echo.Context) error {
	it, _, err := s.userContact(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteItem(c.Request().Context(), ident(c).User.ID, it.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.flash(c, "Contact deleted.")
	return c.Redirect(http.StatusSeeOther, "/contacts")
}
