package web

// Texts from the staff web (/sms/compose): a text message to a mobile
// number goes out through the SMS gateway exactly as mail to
// +<number>@<SMS domain> from a phone does (delivery.Submit, the
// governance rules, the SMS outbox), and the sender's SMS item in Sent
// Items carries its status, which the page lists. The route exists only
// when the SMS gateway is configured (Deps.SMSDomain), so the directory's
// "Send a text" link appears only then.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/emersion/go-message/mail"
	"github.com/labstack/echo/v4"

	"airlock/delivery"
	numbers "airlock/internal/phone"
	"airlock/message"
	"airlock/store"
)

// smsMaxText bounds a text: four concatenated GSM-7 parts, what the SMS
// gateway sends whole (it cuts anything longer).
const smsMaxText = 612

// smsPath is the SMS compose page; the form posts back to it.
const smsPath = "/sms/compose"

// gatewayRoutes mounts the SMS and fax pages of the gateways that are
// configured.
func (s *Server) gatewayRoutes(e *echo.Echo, h *echo.Group) {
	if s.d.SMSDomain != "" {
		h.GET(smsPath, s.smsPage, s.requireUser)
		h.POST(smsPath, s.smsSend, s.requireUser)
	}
	if s.d.FaxDomain != "" {
		s.faxRoutes(e, h)
	}
}

// setGateways lets the mail pages' side bar link to the SMS and fax pages
// (renderTemplate calls it on any page data that embeds mailShell).
func (m *mailShell) setGateways(sms, fax bool) { m.SMS, m.Fax = sms, fax }

// sentRow is one text or fax in the list of recent ones.
type sentRow struct {
	To, Text, Status, Detail string
	When                     time.Time
}

type smsData struct {
	mailShell
	To, Text, ClientID string
	Errors             map[string]string
	Max                int
	Recent             []sentRow
}

func (s *Server) smsPage(c echo.Context) error {
	return s.renderSMS(c, http.StatusOK, smsData{To: strings.TrimSpace(c.QueryParam("to")), ClientID: newClientID()})
}

func (s *Server) renderSMS(c echo.Context, code int, d smsData) error {
	ctx := c.Request().Context()
	me := ident(c).User
	tree, err := s.mailTree(ctx, me.ID, 0)
	if err != nil {
		return err
	}
	d.mailShell, d.Max = mailShell{Tree: tree}, smsMaxText
	sent, err := s.store.FolderByType(ctx, me.ID, store.FolderSentItems)
	if err != nil {
		return err
	}
	its, err := s.store.NewestItems(ctx, me.ID, sent.ID, 200)
	if err != nil {
		return err
	}
	for _, it := range its {
		p := store.SMSPropsOf(&it)
		if it.Class != store.ClassSMS || p.Status == "" || len(d.Recent) == 10 {
			continue
		}
		row := sentRow{To: s.numberOf(it.ToAddrs, s.d.SMSDomain), Text: it.Preview, Status: p.Status, Detail: p.Detail}
		if it.DateReceived != nil {
			row.When = *it.DateReceived
		}
		d.Recent = append(d.Recent, row)
	}
	return s.render(c, code, "sms_compose.html", "Send a text", &d)
}

// numberOf shows the numbers of a list of gateway addresses.
func (s *Server) numberOf(list, domain string) string {
	addrs, err := gomail.ParseAddressList(list)
	if err != nil {
		return list
	}
	var out []string
	for _, a := range addrs {
		if n, ok := numbers.AtDomain(a.Address, domain); ok {
			out = append(out, n)
		} else {
			out = append(out, a.Address)
		}
	}
	return strings.Join(out, ", ")
}

// checkMobile reads a mobile number as typed (07700 900123, +44 7700
// 900123, an international number) or says what is wrong with it.
func checkMobile(s string) (string, string) {
	if strings.TrimSpace(s) == "" {
		return "", "Enter a mobile number, like 07700 900123."
	}
	n, ok := numbers.Normalize(s)
	if !ok {
		return "", "This is not a phone number. Enter a mobile number, like 07700 900123 or +44 7700 900123."
	}
	if strings.HasPrefix(n, "+44") && !numbers.IsUKMobile(n) {
		return "", "This is not a UK mobile number (they start 07). Texts can only go to mobiles."
	}
	return n, ""
}

func (s *Server) smsSend(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	d := smsData{To: c.FormValue("to"), Text: strings.TrimSpace(strings.ReplaceAll(c.FormValue("text"), "\r\n", "\n")), ClientID: c.FormValue("client_id")}
	if d.ClientID == "" {
		d.ClientID = newClientID()
	}
	errs := map[string]string{}
	num, msg := checkMobile(d.To)
	if msg != "" {
		errs["to"] = msg
	}
	switch n := utf8.RuneCountInString(d.Text); {
	case n == 0:
		errs["text"] = "Write the text to send."
	case n > smsMaxText:
		errs["text"] = "This text has " + strconv.Itoa(n) + " characters; a text may have at most " + strconv.Itoa(smsMaxText) + " (four messages). Shorten it, or send it as mail."
	}
	if len(errs) > 0 {
		d.Errors = errs
		return s.renderSMS(c, http.StatusUnprocessableEntity, d)
	}
	if s.d.Mail == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Sending is not available on this server.")
	}
	var h gomail.Header
	h.SetAddressList("From", []*gomail.Address{{Name: me.DisplayName, Address: me.Email}})
	h.SetAddressList("To", []*gomail.Address{{Address: num + "@" + s.d.SMSDomain}})
	h.SetSubject("Text message to " + num)
	h.SetDate(time.Now())
	raw, err := message.Compose(h, d.Text, "", nil)
	if err != nil {
		return err
	}
	// Not saved in Sent Items as mail: the gateway keeps the text there as
	// an SMS item, with its status.
	_, err = s.d.Mail.Submit(ctx, delivery.Submission{User: me, ClientID: d.ClientID, MIME: raw, Protocol: "HTTPS (web)", RemoteAddr: c.RealIP()})
	switch {
	case err == nil, errors.Is(err, delivery.ErrAlreadySent):
	case errors.Is(err, delivery.ErrSendQuotaExceeded):
		d.Errors = map[string]string{"text": "Your mailbox is over its quota, so sending is blocked. Delete some mail (and empty Deleted Items), then send again."}
		return s.renderSMS(c, http.StatusInsufficientStorage, d)
	default:
		return err
	}
	s.flash(c, "Text to "+num+" queued. Its status is shown below.")
	return c.Redirect(http.StatusSeeOther, smsPath) // no number in the URL
}

// Badge is the style of the status shown.
func (r sentRow) Badge() string {
	switch r.Status {
	case store.SMSSent:
		return "ok"
	case store.SMSFailed:
		return "bad"
	}
	return "warn"
}
