package web

// Faxes from the staff web (/fax/compose): a fax number, a cover note and
// PDF or TIFF files become a message to +<number>@<fax domain>, sent
// through delivery.Submit exactly as from a phone, so the fax gateway
// takes it; the copy in Sent Items carries each number's status, which the
// page lists. The ordinary compose page accepts fax addresses too (the
// delivery rules route them); this page checks the number and the files
// before anything is sent, with the reason next to the field.

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"airlock/delivery"
	"airlock/fax"
	numbers "airlock/internal/phone"
	"airlock/message"
	"airlock/store"
)

const faxPath = "/fax/compose"

// faxRoutes mounts the fax page; its POST carries files, so it has the
// compose page's body limit, behind the same guards as the group.
func (s *Server) faxRoutes(e *echo.Echo, h *echo.Group) {
	h.GET(faxPath, s.faxPage, s.requireUser)
	limit := strconv.FormatInt(2*s.maxMessageSize()/1024+1024, 10) + "K"
	e.POST(faxPath, s.faxSend, countWeb("dashboard"), middleware.BodyLimit(limit),
		s.securityHeaders, s.loadSession, s.csrf(), s.requireUser)
}

type faxData struct {
	mailShell
	To, Subject, Text, ClientID string
	Domain                      string // the fax domain, for the hint
	Errors                      map[string]string
	MaxSize                     int64
	Recent                      []sentRow
}

func (s *Server) faxPage(c echo.Context) error {
	return s.renderFax(c, http.StatusOK, faxData{To: strings.TrimSpace(c.QueryParam("to")), ClientID: newClientID()})
}

func (s *Server) renderFax(c echo.Context, code int, d faxData) error {
	ctx := c.Request().Context()
	me := ident(c).User
	tree, err := s.mailTree(ctx, me.ID, 0)
	if err != nil {
		return err
	}
	d.mailShell, d.MaxSize, d.Domain = mailShell{Tree: tree}, s.maxMessageSize(), s.d.FaxDomain
	sent, err := s.store.FolderByType(ctx, me.ID, store.FolderSentItems)
	if err != nil {
		return err
	}
	its, err := s.store.NewestItems(ctx, me.ID, sent.ID, 200)
	if err != nil {
		return err
	}
	for _, it := range its {
		for _, f := range store.FaxPropsOf(&it).Fax {
			if len(d.Recent) == 10 {
				break
			}
			row := sentRow{To: f.To, Text: it.Subject, Status: f.Status, Detail: f.Detail}
			if it.DateReceived != nil {
				row.When = *it.DateReceived
			}
			d.Recent = append(d.Recent, row)
		}
	}
	return s.render(c, code, "fax_compose.html", "Send a fax", &d)
}

// faxFiles reads the uploaded files.
func faxFiles(c echo.Context) ([]message.File, error) {
	form, err := c.MultipartForm()
	if err != nil {
		return nil, err
	}
	var out []message.File
	for _, fh := range form.File["attach"] {
		if fh.Filename == "" && fh.Size == 0 {
			continue // the browser's empty file field
		}
		f, err := fh.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, message.File{Name: safeFileName(fh.Filename), ContentType: fh.Header.Get("Content-Type"), Data: data})
	}
	return out, nil
}

func (s *Server) faxSend(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	d := faxData{To: c.FormValue("to"), Subject: strings.TrimSpace(c.FormValue("subject")), Text: strings.TrimSpace(c.FormValue("text")), ClientID: c.FormValue("client_id")}
	if d.ClientID == "" {
		d.ClientID = newClientID()
	}
	files, err := faxFiles(c)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The files could not be read; choose them again.")
	}
	errs := map[string]string{}
	num, ok := numbers.Normalize(d.To)
	if !ok {
		errs["to"] = "Enter a fax number, like 020 7946 0018 or +44 20 7946 0018."
	}
	if d.Subject == "" {
		d.Subject = "Fax"
	}
	var raw []byte
	if ok {
		var h gomail.Header
		h.SetAddressList("From", []*gomail.Address{{Name: me.DisplayName, Address: me.Email}})
		h.SetAddressList("To", []*gomail.Address{{Address: num + "@" + s.d.FaxDomain}})
		h.SetSubject(d.Subject)
		h.SetDate(time.Now())
		if raw, err = message.Compose(h, strings.ReplaceAll(d.Text, "\n", "\r\n"), "", files); err != nil {
			return err
		}
		// The gateway's own rule, so the sender learns here, not later.
		if _, _, err := fax.Content(raw); err != nil {
			errs["attach"] = faxContentError(err)
		} else if msg := s.sizeError(ctx, me, int64(len(raw)), 0); msg != "" {
			errs["attach"] = msg
		}
	}
	if len(errs) > 0 {
		d.Errors = errs
		return s.renderFax(c, http.StatusUnprocessableEntity, d)
	}
	if s.d.Mail == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Sending is not available on this server.")
	}
	_, err = s.d.Mail.Submit(ctx, delivery.Submission{User: me, ClientID: d.ClientID, MIME: raw, SaveInSent: true, Protocol: "HTTPS (web)", RemoteAddr: c.RealIP()})
	switch {
	case err == nil, errors.Is(err, delivery.ErrAlreadySent):
	case errors.Is(err, delivery.ErrSendQuotaExceeded), errors.Is(err, delivery.ErrSentItemsFull):
		d.Errors = map[string]string{"attach": "Your mailbox is too full to keep a copy of this fax. Delete some mail (and empty Deleted Items), then send again."}
		return s.renderFax(c, http.StatusInsufficientStorage, d)
	case errors.Is(err, delivery.ErrTooLarge):
		d.Errors = map[string]string{"attach": "These files are too large: a fax may be at most " + humanBytes(s.maxMessageSize()) + "."}
		return s.renderFax(c, http.StatusRequestEntityTooLarge, d)
	default:
		return err
	}
	s.flash(c, "Fax to "+num+" queued. Its status is shown below.")
	return c.Redirect(http.StatusSeeOther, faxPath)
}

// faxContentError words fax.Content's refusal for the form.
func faxContentError(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "nothing to fax") {
		return "Add a PDF or TIFF file, or write a note to fax."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + ". Save other documents as PDF first."
}
