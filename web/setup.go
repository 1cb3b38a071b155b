package web

import (
	"crypto/sha256"
	"fmt"
	"html/template"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/skip2/go-qrcode"
	"howett.net/plist"

	"airlock/policies"
	"airlock/store"
)

// reader is who a setup guide is for: the signed-in user, an address given
// in the link (the QR code carries it), or nobody (placeholders).
type reader struct {
	Email, User, Domain string
	Known               bool
}

func (s *Server) readerOf(c echo.Context) reader {
	addr := ""
	if id := ident(c); id != nil && (!id.needsMFA || id.Claims.MFA) {
		addr = id.User.Email
	} else if a, err := mail.ParseAddress(c.QueryParam("email")); err == nil && len(a.Address) < 200 {
		addr = store.NormalizeEmail(a.Address)
	}
	if local, dom, ok := strings.Cut(addr, "@"); ok && local != "" && dom != "" {
		return reader{Email: addr, User: local, Domain: dom, Known: true}
	}
	return reader{Email: "your.name@" + s.d.Domain, User: "your.name", Domain: s.d.Domain}
}

// fill replaces the placeholders of a guide step with escaped values, each
// in <code>.
func fill(step, host string, r reader) template.HTML {
	repl := map[string]string{"{host}": host, "{email}": r.Email, "{user}": r.User, "{domain}": r.Domain}
	var b strings.Builder
	for len(step) > 0 {
		i := strings.IndexByte(step, '{')
		if i < 0 {
			b.WriteString(template.HTMLEscapeString(step))
			break
		}
		b.WriteString(template.HTMLEscapeString(step[:i]))
		j := strings.IndexByte(step[i:], '}')
		if j < 0 {
			b.WriteString(template.HTMLEscapeString(step[i:]))
			break
		}
		tok := step[i : i+j+1]
		if v, ok := repl[tok]; ok {
			b.WriteString("<code>" + template.HTMLEscapeString(v) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(tok))
		}
		step = step[i+j+1:]
	}
	return template.HTML(b.String())
}

func (s *Server) setupIndex(c echo.Context) error {
	return s.render(c, http.StatusOK, "setup_index.html", "Set up a device", map[string]any{"Families": families, "Reader": s.readerOf(c), "Host": s.d.Hostname})
}

type verdict struct {
	Model    string
	Action   policies.Action
	Reason   string
	Evidence []string
}

type guideData struct {
	Family     *family
	Reader     reader
	Host       string
	Steps      []template.HTML
	Encryption []string
	Verdict    *verdict
	ModelKey   string
	QRURL      string
	ProfileURL string
	PageURL    string
}

func (s *Server) setupGuide(c echo.Context) error {
	f, ok := familyBySlug(c.Param("family"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "There is no guide for that kind of device.")
	}
	r := s.readerOf(c)
	d := &guideData{Family: f, Reader: r, Host: s.d.Hostname, Encryption: f.Encryption}
	for _, st := range f.Steps {
		d.Steps = append(d.Steps, fill(st, s.d.Hostname, r))
	}
	q := url.Values{"family": {f.Slug}}
	if r.Known {
		q.Set("email", r.Email)
	}
	d.QRURL = "/setup/qr.png?" + q.Encode()
	d.PageURL = s.guideURL(f.Slug, r)
	if f.Profile {
		d.ProfileURL = "/setup/ios.mobileconfig"
		if r.Known {
			d.ProfileURL += "?email=" + url.QueryEscape(r.Email)
		}
	}
	if key := c.QueryParam("model"); key != "" {
		for _, m := range f.Models {
			if m.Key == key {
				v, err := s.judgeModel(c, m)
				if err != nil {
					return err
				}
				d.Verdict, d.ModelKey = v, key
			}
		}
	}
	return s.render(c, http.StatusOK, "setup_guide.html", f.Name+" setup", d)
}

// judgeModel decides a model against the live rules, catalogue and policy,
// as if it had applied the whole policy.
func (s *Server) judgeModel(c echo.Context, m modelChoice) (*verdict, error) {
	in, err := s.decisionInputs(c.Request().Context())
	if err != nil {
		return nil, err
	}
	facts := m.Facts
	facts.PolicyAck = policies.AckApplied
	d := policies.Decide(policies.DecisionInput{Facts: facts, Rules: in.rules, Catalogue: in.catalogue, OrgDefault: in.orgDefault, Settings: in.settings})
	return &verdict{Model: m.Label, Action: d.Action, Reason: d.Reason, Evidence: d.Evidence}, nil
}

// guideURL is the public address of a guide, for the QR code.
func (s *Server) guideURL(slug string, r reader) string {
	scheme := "https"
	if !s.d.Secure {
		scheme = "http"
	}
	u := scheme + "://" + s.d.Hostname + "/setup/" + slug
	if r.Known {
		u += "?email=" + url.QueryEscape(r.Email)
	}
	return u
}

// setupQR draws a QR code that opens the guide on the phone.
func (s *Server) setupQR(c echo.Context) error {
	f, ok := familyBySlug(c.QueryParam("family"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "Unknown device family.")
	}
	png, err := qrcode.Encode(s.guideURL(f.Slug, s.readerOf(c)), qrcode.Medium, 256)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=300")
	return c.Blob(http.StatusOK, "image/png", png)
}

// easPayload is an Exchange ActiveSync account payload
// (com.apple.eas.account, Apple Device Management "ExchangeActiveSync").
type easPayload struct {
	EmailAddress               string `plist:"EmailAddress"`
	Host                       string `plist:"Host"`
	SSL                        bool   `plist:"SSL"`
	UserName                   string `plist:"UserName"`
	MailNumberOfPastDaysToSync int    `plist:"MailNumberOfPastDaysToSync"`
	PayloadType                string `plist:"PayloadType"`
	PayloadVersion             int    `plist:"PayloadVersion"`
	PayloadIdentifier          string `plist:"PayloadIdentifier"`
	PayloadUUID                string `plist:"PayloadUUID"`
	PayloadDisplayName         string `plist:"PayloadDisplayName"`
	PayloadDescription         string `plist:"PayloadDescription"`
	PayloadOrganization        string `plist:"PayloadOrganization"`
}

// profile is the top-level configuration profile.
type profile struct {
	PayloadContent           []easPayload `plist:"PayloadContent"`
	PayloadDisplayName       string       `plist:"PayloadDisplayName"`
	PayloadDescription       string       `plist:"PayloadDescription"`
	PayloadIdentifier        string       `plist:"PayloadIdentifier"`
	PayloadOrganization      string       `plist:"PayloadOrganization"`
	PayloadRemovalDisallowed bool         `plist:"PayloadRemovalDisallowed"`
	PayloadType              string       `plist:"PayloadType"`
	PayloadUUID              string       `plist:"PayloadUUID"`
	PayloadVersion           int          `plist:"PayloadVersion"`
}

// stableUUID derives a UUID (version 5 style, from SHA-256) from parts, so
// that the same user's profile keeps its identity and a reinstall replaces
// it rather than adding a second account.
func stableUUID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]))
}

// buildMobileconfig returns the profile for one address. It carries no
// password: iOS asks for it on install.
func buildMobileconfig(host, email string) ([]byte, error) {
	id := reverseHost(host) + ".airlock"
	p := profile{
		PayloadContent: []easPayload{{
			EmailAddress: email, Host: host, SSL: true, UserName: email,
			PayloadType: "com.apple.eas.account", PayloadVersion: 1,
			PayloadIdentifier:  id + ".eas",
			PayloadUUID:        stableUUID("eas", host, email),
			PayloadDisplayName: "Work mail (" + host + ")",
			PayloadDescription: "Mail, calendar and contacts from " + host,
			// 0 = no limit; the server's policy can narrow it.
			MailNumberOfPastDaysToSync: 0,
			PayloadOrganization:        host,
		}},
		PayloadDisplayName:  "Work mail (" + host + ")",
		PayloadDescription:  "Adds your work mail, calendar and contacts. You will be asked for your password.",
		PayloadIdentifier:   id,
		PayloadOrganization: host,
		PayloadType:         "Configuration",
		PayloadUUID:         stableUUID("profile", host, email),
		PayloadVersion:      1,
	}
	return plist.MarshalIndent(p, plist.XMLFormat, "\t")
}

func reverseHost(h string) string {
	parts := strings.Split(strings.ToLower(h), ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}

// mobileconfig serves the iOS configuration profile for the signed-in user
// or the address in the link. It is not signed (iOS shows it as
// "Unsigned"); signing needs a certificate the server does not have yet.
func (s *Server) mobileconfig(c echo.Context) error {
	r := s.readerOf(c)
	if !r.Known {
		return echo.NewHTTPError(http.StatusBadRequest, "Sign in first, or open this from the link in your setup guide, so the profile can carry your address.")
	}
	data, err := buildMobileconfig(s.d.Hostname, r.Email)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Disposition", `attachment; filename="airlock.mobileconfig"`)
	return c.Blob(http.StatusOK, "application/x-apple-aspen-config", data)
}
