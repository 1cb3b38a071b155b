package web

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/mail"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"airlock/activesync"
	"airlock/store"
)

// Autodiscover, MS-ASCMD 2.2.1.1 (the "POX" XML form) and the JSON form
// Outlook mobile asks for first.
//
// Only the mobilesync schema is served; a request in the Outlook schema
// (Outlook desktop, MS-OXDSCLI) gets error 601, "provider not available",
// so Outlook moves on to its manual setup.
//
// User enumeration: the mobilesync answer names the user, so it needs HTTP
// Basic credentials, checked exactly as ActiveSync checks them (lockout
// included). Without them every address gets the same 401 challenge, which
// is also how Exchange answers and what iOS and Windows Mobile expect:
// they retry with the credentials the person typed. With valid credentials
// an address that is not the signed-in user's gets Error Status 2, whether
// or not it exists. The JSON endpoint returns only the server's URL, the
// same for every address, so it needs no credentials.

// Namespaces of MS-ASCMD 2.2.1.1 and MS-OXDSCLI.
const (
	nsMobileSyncRequest  = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	nsMobileSyncResponse = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
	nsOutlookRequest     = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsAutodiscoverResp   = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsOutlookResponse    = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// adRequest is MS-ASCMD 2.2.3.15 Autodiscover (request) with 2.2.3.137.1
// Request, 2.2.3.56 EMailAddress and 2.2.3.1 AcceptableResponseSchema. The
// names match in any namespace; the namespace is checked separately.
type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

// adResponse is the response document of MS-ASCMD 2.2.1.1 (example 4.2.1).
type adResponse struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	Xmlns    string   `xml:"xmlns,attr"`
	Response any      `xml:"Response"`
}

// adMobileSync is 2.2.3.153.1 Response in the mobilesync schema.
type adMobileSync struct {
	Xmlns   string    `xml:"xmlns,attr"`
	Culture string    `xml:"Culture"`
	User    adUser    `xml:"User"`
	Action  *adAction `xml:"Action,omitempty"`
}

// adUser is 2.2.3.189 User.
type adUser struct {
	DisplayName  string `xml:"DisplayName,omitempty"`
	EMailAddress string `xml:"EMailAddress"`
}

// adAction is 2.2.3.6 Action: Settings or Error.
type adAction struct {
	Settings *adSettings    `xml:"Settings,omitempty"`
	Error    *adActionError `xml:"Error,omitempty"`
}

// adSettings is 2.2.3.168.1 Settings with 2.2.3.164 Server entries.
type adSettings struct {
	Server []adServerEntry `xml:"Server"`
}

// adServerEntry is 2.2.3.164 Server: 2.2.3.186.1 Type, 2.2.3.188 Url,
// 2.2.3.120.1 Name.
type adServerEntry struct {
	Type string `xml:"Type"`
	URL  string `xml:"Url"`
	Name string `xml:"Name"`
}

// adActionError is 2.2.3.63 Error inside Action, with 2.2.3.177.1 Status.
type adActionError struct {
	Status    int    `xml:"Status"`
	Message   string `xml:"Message"`
	DebugData string `xml:"DebugData"`
}

// adProviderError is the Error a response carries when no provider can
// answer (2.2.3.63 with 2.2.3.64 ErrorCode; example 4.2.3): 600 invalid
// request, 601 schema not available.
type adProviderError struct {
	Xmlns string `xml:"xmlns,attr,omitempty"`
	Error struct {
		Time      string `xml:"Time,attr"`
		ID        string `xml:"Id,attr"`
		ErrorCode int    `xml:"ErrorCode"`
		Message   string `xml:"Message"`
		DebugData string `xml:"DebugData"`
	} `xml:"Error"`
}

func (s *Server) easURL() string { return "https://" + s.d.Hostname + "/Microsoft-Server-ActiveSync" }

func (s *Server) writeAutodiscover(c echo.Context, code int, resp any) error {
	out, err := xml.MarshalIndent(adResponse{Xmlns: nsAutodiscoverResp, Response: resp}, "", "  ")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(code, "text/xml; charset=utf-8", append([]byte(xml.Header), out...))
}

func (s *Server) providerError(c echo.Context, ns string, code int, msg string) error {
	e := adProviderError{Xmlns: ns}
	e.Error.Time = s.d.Now().UTC().Format("15:04:05.0000000")
	e.Error.ID = strconv.FormatUint(uint64(hashString(s.d.Hostname)), 10)
	e.Error.ErrorCode = code
	e.Error.Message = msg
	return s.writeAutodiscover(c, http.StatusOK, e)
}

func hashString(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func (s *Server) autodiscoverXML(c echo.Context) error {
	r := c.Request()
	if r.Method != http.MethodPost {
		// Some clients probe with GET first; Exchange answers 600.
		return s.providerError(c, nsMobileSyncResponse, 600, "Invalid Request")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return s.providerError(c, nsMobileSyncResponse, 600, "Invalid Request")
	}
	var req adRequest
	if err := xml.Unmarshal(body, &req); err != nil || req.XMLName.Local != "Autodiscover" {
		return s.providerError(c, nsMobileSyncResponse, 600, "Invalid Request")
	}
	schema := strings.TrimSpace(req.Request.AcceptableResponseSchema)
	switch {
	case req.XMLName.Space == nsOutlookRequest || strings.Contains(schema, "/outlook/"):
		// Outlook desktop's schema (MS-OXDSCLI): not served here.
		return s.providerError(c, nsOutlookResponse, 601, "Provider is not available: this server offers Exchange ActiveSync (mobilesync) only")
	case req.XMLName.Space != nsMobileSyncRequest && req.XMLName.Space != "":
		return s.providerError(c, nsMobileSyncResponse, 600, "Invalid Request")
	case schema != "" && schema != nsMobileSyncResponse:
		return s.providerError(c, nsMobileSyncResponse, 601, "Provider is not available")
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(req.Request.EMailAddress))
	if err != nil {
		return s.providerError(c, nsMobileSyncResponse, 600, "Invalid Request")
	}
	email := store.NormalizeEmail(addr.Address)

	u, status := s.autodiscoverAuth(c)
	if u == nil {
		if status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="`+s.d.Hostname+`"`)
		}
		return c.String(status, http.StatusText(status)+"\n")
	}
	resp := adMobileSync{Xmlns: nsMobileSyncResponse, Culture: "en:gb", User: adUser{EMailAddress: email}}
	target, err := s.store.UserByAddress(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if target == nil || target.ID != u.ID {
		s.audit(c, &store.AuditEvent{Actor: u.Email, Action: "autodiscover", TargetType: "address", Target: email, UserID: &u.ID, Outcome: "not_own_address"})
		resp.Action = &adAction{Error: &adActionError{Status: 2, Message: "The e-mail address is not the signed-in user's", DebugData: "MailUser"}}
		return s.writeAutodiscover(c, http.StatusOK, resp)
	}
	resp.User.DisplayName = u.DisplayName
	resp.Action = &adAction{Settings: &adSettings{Server: []adServerEntry{{Type: "MobileSync", URL: s.easURL(), Name: s.easURL()}}}}
	return s.writeAutodiscover(c, http.StatusOK, resp)
}

// autodiscoverAuth checks the request's Basic credentials: with the EAS
// authenticator when there is one (shared lockout and cache), otherwise
// with the sign-in check. It returns the user, or the HTTP status to send.
func (s *Server) autodiscoverAuth(c echo.Context) (*store.User, int) {
	r := c.Request()
	if _, _, ok := r.BasicAuth(); !ok {
		return nil, http.StatusUnauthorized
	}
	if s.d.EASAuth != nil {
		u, err := s.d.EASAuth.Authenticate(r.Context(), r, activesync.Query{Cmd: "Autodiscover"})
		var pe *activesync.Error
		switch {
		case err == nil:
			return u, http.StatusOK
		case errors.Is(err, activesync.ErrAccountDisabled):
			return nil, http.StatusForbidden
		case errors.As(err, &pe) && (pe.HTTP == http.StatusUnauthorized || pe.HTTP == http.StatusBadRequest):
			return nil, pe.HTTP
		}
		s.log.Warn("autodiscover authentication", "err", err)
		return nil, http.StatusServiceUnavailable
	}
	login, pw, _ := r.BasicAuth()
	u, err := s.checkPassword(c, login, pw, "autodiscover")
	switch {
	case err == nil:
		return u, http.StatusOK
	case errors.Is(err, errTooManyAttempts):
		return nil, http.StatusTooManyRequests
	case errors.Is(err, errLoginFailed):
		return nil, http.StatusUnauthorized
	case errors.Is(err, errLoginTooLong):
		return nil, http.StatusBadRequest
	}
	s.log.Warn("autodiscover authentication", "err", err)
	return nil, http.StatusServiceUnavailable
}

// autodiscoverJSON serves Autodiscover v2 ("autodiscover.json"), which
// Outlook mobile asks first: {"Protocol": ..., "Url": ...}.
func (s *Server) autodiscoverJSON(c echo.Context) error {
	q := c.Request().URL.Query()
	get := func(name string) string {
		for k, v := range q {
			if strings.EqualFold(k, name) && len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	email := c.Param("email")
	if email == "" {
		email = get("Email")
	}
	if _, err := mail.ParseAddress(email); err != nil {
		return c.JSON(http.StatusBadRequest, map[string]string{"ErrorCode": "InvalidUser", "ErrorMessage": "A valid email address is required."})
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	switch proto := get("Protocol"); {
	case strings.EqualFold(proto, "ActiveSync"):
		return c.JSON(http.StatusOK, map[string]string{"Protocol": "ActiveSync", "Url": s.easURL()})
	case strings.EqualFold(proto, "AutodiscoverV1"):
		return c.JSON(http.StatusOK, map[string]string{"Protocol": "AutodiscoverV1", "Url": "https://" + s.d.Hostname + "/autodiscover/autodiscover.xml"})
	default:
		return c.JSON(http.StatusBadRequest, map[string]string{"ErrorCode": "InvalidProtocol", "ErrorMessage": "The given protocol value '" + proto + "' is invalid. Supported values are 'ActiveSync,AutodiscoverV1'."})
	}
}
