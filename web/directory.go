package web

// The staff directory (/directory): colleagues found by name, department,
// job title or site through directory.Search (the same search as EAS
// Search and Find: no query under three characters, enabled staff only),
// and a person's card with their photo, phones and department, from which
// a mail, an SMS (when that page exists) or a meeting is started. Mobile
// numbers are shown only when the organisation turns them on
// (directory.ShowMobile), as for phones.

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"airlock/directory"
	"airlock/store"
)

func (s *Server) directoryRoutes(h *echo.Group) {
	d := h.Group("/directory", s.requireUser)
	d.GET("", s.directoryPage)
	d.GET("/:id", s.directoryCard)
	d.GET("/:id/photo", s.directoryPhoto)
}

// directoryPageSize is the number of people on one page of results.
const directoryPageSize = 50

type personRow struct {
	ID                                        int64
	Name, Email, JobTitle, Department, Office string
	Phone, Mobile, Initials, URL, Photo       string
	MailURL, SMSURL, MeetURL                  string
	PhoneURL, MobileURL                       template.URL
}

// telURL is a tel: link (RFC 3966) to a number with only digits, "+" and
// the usual separators; anything else gets no link.
func telURL(n string) template.URL {
	var b strings.Builder
	for _, r := range n {
		switch {
		case r >= '0' && r <= '9', r == '+' && b.Len() == 0:
			b.WriteRune(r)
		case r == ' ', r == '-', r == '(', r == ')', r == '.':
		default:
			return ""
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return template.URL("tel:" + b.String())
}

type directoryData struct {
	Query    string
	TooShort bool
	People   []personRow
	Total    int64
	Next     string
	Min      int
}

func initials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		r, _ := utf8.DecodeRuneInString(w)
		out = append(out, r)
		if len(out) == 2 {
			break
		}
	}
	return strings.ToUpper(string(out))
}

// personOf is what the directory shows of u.
func (s *Server) personOf(c echo.Context, u *store.User, showMobile bool) personRow {
	name := directory.DisplayName(u)
	p := personRow{ID: u.ID, Name: name, Email: u.Email, JobTitle: u.JobTitle, Department: u.Department, Office: u.Office,
		Phone: u.Phone, Initials: initials(name), URL: "/directory/" + strconv.FormatInt(u.ID, 10)}
	if showMobile {
		p.Mobile = u.Mobile
	}
	p.PhoneURL, p.MobileURL = telURL(p.Phone), telURL(p.Mobile)
	if _, err := s.store.Photo(c.Request().Context(), u.ID); err == nil {
		p.Photo = p.URL + "/photo"
	}
	p.MailURL = "/mail/compose?" + url.Values{"to": {u.Email}}.Encode()
	p.MeetURL = "/diary/new?" + url.Values{"attendee": {u.Email}}.Encode()
	if p.Mobile != "" && s.hasRoute(http.MethodGet, "/sms/compose") {
		p.SMSURL = "/sms/compose?" + url.Values{"to": {p.Mobile}}.Encode()
	}
	return p
}

// hasRoute reports whether the server serves method path (pages other
// parts of the staff web may add).
func (s *Server) hasRoute(method, path string) bool {
	for _, r := range s.e.Routes() {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// directoryPage searches the directory.
func (s *Server) directoryPage(c echo.Context) error {
	ctx := c.Request().Context()
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > 100 {
		q = q[:100]
	}
	offset, _ := strconv.Atoi(c.QueryParam("from"))
	offset = max(0, min(offset, 10000))
	d := &directoryData{Query: q, Min: directory.MinQueryLen}
	if q != "" {
		if utf8.RuneCountInString(q) < directory.MinQueryLen {
			d.TooShort = true
		} else {
			users, total, err := directory.Search(ctx, s.store, q, offset, directoryPageSize)
			if err != nil {
				return err
			}
			show, err := directory.ShowMobile(ctx, s.store)
			if err != nil {
				return err
			}
			d.Total = total
			for i := range users {
				d.People = append(d.People, s.personOf(c, &users[i], show))
			}
			if int64(offset+len(users)) < total {
				d.Next = "/directory?" + url.Values{"q": {q}, "from": {strconv.Itoa(offset + len(users))}}.Encode()
			}
		}
	}
	return s.render(c, http.StatusOK, "directory.html", "Directory", d)
}

// directoryUser is the enabled colleague named by :id.
func (s *Server) directoryUser(c echo.Context) (*store.User, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	notFound := echo.NewHTTPError(http.StatusNotFound, "No such person in the directory.")
	if err != nil || id <= 0 {
		return nil, notFound
	}
	users, err := s.store.UsersByIDs(c.Request().Context(), []int64{id})
	if err != nil {
		return nil, err
	}
	u := users[id]
	if u == nil || u.Disabled {
		return nil, notFound
	}
	return u, nil
}

// directoryCard shows one person.
func (s *Server) directoryCard(c echo.Context) error {
	u, err := s.directoryUser(c)
	if err != nil {
		return err
	}
	show, err := directory.ShowMobile(c.Request().Context(), s.store)
	if err != nil {
		return err
	}
	p := s.personOf(c, u, show)
	return s.render(c, http.StatusOK, "directory_card.html", p.Name, p)
}

// directoryPhoto serves a colleague's photo (the store's JPEG).
func (s *Server) directoryPhoto(c echo.Context) error {
	u, err := s.directoryUser(c)
	if err != nil {
		return err
	}
	ph, err := s.store.Photo(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	ct := ph.ContentType
	if ct != "image/jpeg" && ct != "image/png" {
		ct = "image/jpeg"
	}
	return c.Blob(http.StatusOK, ct, ph.Data)
}
