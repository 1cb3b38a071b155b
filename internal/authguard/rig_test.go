package authguard_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"airlock/activesync"
	"airlock/delivery"
	"airlock/delivery/deliverytest"
	"airlock/devices"
	"airlock/imapgw"
	"airlock/internal/authguard"
	"airlock/internal/password"
	"airlock/store"
	"airlock/store/storetest"
	"airlock/web"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

// rig is every entry point a password reaches, wired to one guard as
// internal/server wires them: ActiveSync, the web sign-in and the API
// token endpoint on one HTTP server, IMAP and SMTP submission beside it.
type rig struct {
	t        *testing.T
	st       *store.Store
	guard    *authguard.Guard
	http     string // base URL
	imap     string // implicit-TLS IMAP address
	smtp     string // SMTP address (STARTTLS, AUTH PLAIN)
	clientTC *tls.Config
}

func newRig(t *testing.T, st *store.Store, g *authguard.Guard) *rig {
	t.Helper()
	devs := devices.New(st, nil)
	if err := devs.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	auth := &activesync.BasicAuth{Store: st, Guard: g, Audit: devs}
	eas := activesync.New(activesync.Options{Store: st, Devices: devs, Authenticator: auth})
	w := web.NewServer(web.Deps{Store: st, Devices: devs, EAS: eas, EASAuth: auth, Guard: g, Hostname: "mail.example.nhs.uk"})
	hs := httptest.NewServer(w)
	t.Cleanup(hs.Close)

	cert, pool := deliverytest.SelfSigned(t)
	r := &rig{t: t, st: st, guard: g, http: hs.URL, clientTC: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	mailAuth := func(action string) func(ctx context.Context, login, pw, ip string) (*store.User, error) {
		return func(ctx context.Context, login, pw, ip string) (*store.User, error) {
			return g.Check(ctx, action, login, pw, ip)
		}
	}
	im := imapgw.New(imapgw.Config{Store: st, Authenticate: mailAuth("auth.imap")})
	iln := listen(t)
	go im.Serve(tls.NewListener(iln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	t.Cleanup(func() { im.Close() })
	r.imap = iln.Addr().String()

	svc := &delivery.Service{Store: st, Hostname: "mail.example.nhs.uk"}
	sl := delivery.NewListeners(svc, delivery.ListenerConfig{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, Authenticate: mailAuth("auth.submission")}, nil)
	sln := listen(t)
	go sl.ServeSMTP(sln)
	t.Cleanup(func() { sl.Shutdown(context.Background()) })
	r.smtp = sln.Addr().String()
	return r
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// addUser creates an account with the production hash parameters.
func addUser(t *testing.T, st *store.Store, email, pw string) *store.User {
	t.Helper()
	h, err := password.Hash(pw, password.Default)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: email, DisplayName: email, PasswordHash: h}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// outcome is what an entry point answered.
type outcome int

const (
	accepted outcome = iota
	refused          // a wrong password, or locked
	tooLong          // refused for the login's length
	broken           // anything else (a test failure)
)

// entry is one way to try a password, from a local (loopback) address.
type entry struct {
	name string
	try  func(r *rig, from, login, pw string) (outcome, string)
}

var entries = []entry{
	{"eas", (*rig).tryEAS},
	{"web", (*rig).tryWeb},
	{"api", (*rig).tryAPI},
	{"imap", (*rig).tryIMAP},
	{"smtp", (*rig).trySMTP},
}

func dialer(from string) *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
}

func httpClient(from string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 60 * time.Second,
		Transport:     &http.Transport{DialContext: dialer(from).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func httpOutcome(code int, ok ...int) outcome {
	for _, c := range ok {
		if code == c {
			return accepted
		}
	}
	switch code {
	case http.StatusUnauthorized, http.StatusTooManyRequests:
		return refused
	case http.StatusBadRequest:
		return tooLong
	}
	return broken
}

func (r *rig) tryEAS(from, login, pw string) (outcome, string) {
	// One device per source address: a device whose password was
	// verified before keeps working through a lock (BasicAuth's cache).
	dev := "DEV" + strings.ReplaceAll(from, ".", "")
	req, _ := http.NewRequest("POST", r.http+"/Microsoft-Server-ActiveSync?Cmd=FolderSync&DeviceId="+dev+"&DeviceType=Android", nil)
	req.Header.Set("MS-ASProtocolVersion", "14.1")
	req.SetBasicAuth(login, pw)
	resp, err := httpClient(from).Do(req)
	if err != nil {
		return broken, err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	// Signed in, a new device is told to provision (449 or a status).
	return httpOutcome(resp.StatusCode, 200, 449, 403), resp.Status
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

func (r *rig) tryWeb(from, login, pw string) (outcome, string) {
	c := httpClient(from)
	resp, err := c.Get(r.http + "/login")
	if err != nil {
		return broken, err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		return broken, "no CSRF token"
	}
	resp, err = c.PostForm(r.http+"/login", url.Values{"_csrf": {string(m[1])}, "login": {login}, "password": {pw}})
	if err != nil {
		return broken, err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return httpOutcome(resp.StatusCode, http.StatusSeeOther), resp.Status
}

func (r *rig) tryAPI(from, login, pw string) (outcome, string) {
	js, _ := json.Marshal(map[string]string{"username": login, "password": pw})
	resp, err := httpClient(from).Post(r.http+"/api/v1/token", "application/json", strings.NewReader(string(js)))
	if err != nil {
		return broken, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// A staff member's token is issued (200); an admin's asks for TOTP (403).
	return httpOutcome(resp.StatusCode, 200, 403), resp.Status + " " + string(b)
}

func (r *rig) tryIMAP(from, login, pw string) (outcome, string) {
	conn, err := tls.DialWithDialer(dialer(from), "tcp", r.imap, r.clientTC)
	if err != nil {
		return broken, err.Error()
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		return broken, err.Error()
	}
	err = c.Login(login, pw).Wait()
	var ie *imap.Error
	switch {
	case err == nil:
		return accepted, "OK"
	case errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo && ie.Code != imap.ResponseCodeUnavailable:
		return refused, err.Error()
	}
	return broken, err.Error()
}

func (r *rig) trySMTP(from, login, pw string) (outcome, string) {
	conn, err := dialer(from).Dial("tcp", r.smtp)
	if err != nil {
		return broken, err.Error()
	}
	c, err := smtp.NewClientStartTLS(conn, r.clientTC)
	if err != nil {
		return broken, err.Error()
	}
	defer c.Close()
	err = c.Auth(sasl.NewPlainClient("", login, pw))
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return accepted, "235"
	case errors.As(err, &se) && se.Code == 535:
		return refused, se.Error()
	case errors.As(err, &se):
		return broken, fmt.Sprint(se.Code, " ", se.Message)
	}
	return broken, err.Error()
}
