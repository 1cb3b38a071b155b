package web

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// Request bodies as the clients send them.
const (
	// iOS Mail (and Windows Mobile, Nokia MfE): the mobilesync schema.
	iosAutodiscover = `<?xml version="1.0" encoding="UTF-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006">
<Request>
<EMailAddress>%s</EMailAddress>
<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema>
</Request>
</Autodiscover>`
	// Outlook for Windows: the Outlook schema (MS-OXDSCLI), "2006a".
	outlookAutodiscover = `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>%s</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
)

// adResult is the response as a client reads it, namespaces checked.
type adResult struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"Response"`
		Culture string   `xml:"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006 Culture"`
		User    struct {
			DisplayName  string `xml:"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006 DisplayName"`
			EMailAddress string `xml:"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006 EMailAddress"`
		} `xml:"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006 User"`
		Action struct {
			Settings struct {
				Server []struct {
					Type string `xml:"Type"`
					URL  string `xml:"Url"`
					Name string `xml:"Name"`
				} `xml:"Server"`
			} `xml:"Settings"`
			Error struct {
				Status  int    `xml:"Status"`
				Message string `xml:"Message"`
			} `xml:"Error"`
		} `xml:"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006 Action"`
		Error struct {
			ErrorCode int    `xml:"ErrorCode"`
			Message   string `xml:"Message"`
		} `xml:"Error"`
	} `xml:"Response"`
}

func (e *testEnv) autodiscover(t *testing.T, method, path, body, user, pw string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "iOS/16.1 (20B82) dataaccessd/1.0")
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

func parseAD(t *testing.T, body string) adResult {
	t.Helper()
	var r adResult
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("response is not an autodiscover document: %v\n%s", err, body)
	}
	return r
}

func sprintf(format, arg string) string { return strings.Replace(format, "%s", arg, 1) }

func TestAutodiscoverMobileSync(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("alice@example.nhs.uk", "alice-pass-1", store.RoleUser)
	e.addUser("bob@example.nhs.uk", "bob-pass-1", store.RoleUser)

	// Every spelling of the path reaches the handler.
	for _, path := range []string{"/Autodiscover/Autodiscover.xml", "/autodiscover/autodiscover.xml", "/AutoDiscover/AutoDiscover.XML"} {
		code, _, body := e.autodiscover(t, "POST", path, sprintf(iosAutodiscover, "alice@example.nhs.uk"), "alice@example.nhs.uk", "alice-pass-1")
		if code != 200 {
			t.Fatalf("%s: HTTP %d %s", path, code, body)
		}
		r := parseAD(t, body)
		if r.Response.User.EMailAddress != "alice@example.nhs.uk" || r.Response.User.DisplayName != "alice" || r.Response.Culture == "" {
			t.Fatalf("%s: user %+v", path, r.Response.User)
		}
		srv := r.Response.Action.Settings.Server
		if len(srv) != 1 || srv[0].Type != "MobileSync" || srv[0].URL != "https://mail.example.nhs.uk/Microsoft-Server-ActiveSync" || srv[0].Name != srv[0].URL {
			t.Fatalf("%s: servers %+v", path, srv)
		}
	}

	// Without credentials: the same 401 challenge for a user that exists and
	// one that does not, so addresses cannot be probed.
	c1, h1, b1 := e.autodiscover(t, "POST", "/Autodiscover/Autodiscover.xml", sprintf(iosAutodiscover, "alice@example.nhs.uk"), "", "")
	c2, h2, b2 := e.autodiscover(t, "POST", "/Autodiscover/Autodiscover.xml", sprintf(iosAutodiscover, "nobody@example.nhs.uk"), "", "")
	if c1 != 401 || c2 != 401 || b1 != b2 || h1.Get("WWW-Authenticate") == "" || h1.Get("WWW-Authenticate") != h2.Get("WWW-Authenticate") {
		t.Fatalf("anonymous: %d/%d %q/%q", c1, c2, b1, b2)
	}
	// A wrong password is the same challenge.
	if code, _, _ := e.autodiscover(t, "POST", "/autodiscover/autodiscover.xml", sprintf(iosAutodiscover, "alice@example.nhs.uk"), "alice@example.nhs.uk", "wrong"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	// Signed in, asking about someone else's address or one that does not
	// exist: the same error either way.
	_, _, other := e.autodiscover(t, "POST", "/autodiscover/autodiscover.xml", sprintf(iosAutodiscover, "bob@example.nhs.uk"), "alice@example.nhs.uk", "alice-pass-1")
	_, _, none := e.autodiscover(t, "POST", "/autodiscover/autodiscover.xml", sprintf(iosAutodiscover, "nobody@example.nhs.uk"), "alice@example.nhs.uk", "alice-pass-1")
	ro, rn := parseAD(t, other), parseAD(t, none)
	if ro.Response.Action.Error.Status != 2 || rn.Response.Action.Error.Status != 2 || len(ro.Response.Action.Settings.Server) != 0 || ro.Response.User.DisplayName != "" {
		t.Fatalf("other address: %+v / %+v", ro.Response, rn.Response)
	}
	if strings.Replace(other, "bob@", "X@", 1) != strings.Replace(none, "nobody@", "X@", 1) {
		t.Fatalf("an existing and a missing address get different answers:\n%s\n%s", other, none)
	}
}

func TestAutodiscoverOtherSchemasAndErrors(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("alice@example.nhs.uk", "alice-pass-1", store.RoleUser)
	code, _, body := e.autodiscover(t, "POST", "/Autodiscover/Autodiscover.xml", sprintf(outlookAutodiscover, "alice@example.nhs.uk"), "", "")
	if code != 200 {
		t.Fatalf("outlook schema: HTTP %d", code)
	}
	if r := parseAD(t, body); r.Response.Error.ErrorCode != 601 || !strings.Contains(r.Response.Error.Message, "not available") {
		t.Fatalf("outlook schema: %+v\n%s", r.Response.Error, body)
	}
	for name, b := range map[string]string{"not XML": "hello", "no address": sprintf(iosAutodiscover, "")} {
		code, _, body := e.autodiscover(t, "POST", "/autodiscover/autodiscover.xml", b, "alice@example.nhs.uk", "alice-pass-1")
		if r := parseAD(t, body); code != 200 || r.Response.Error.ErrorCode != 600 {
			t.Fatalf("%s: HTTP %d error %d", name, code, r.Response.Error.ErrorCode)
		}
	}
	if code, _, body := e.autodiscover(t, "GET", "/autodiscover/autodiscover.xml", "", "", ""); code != 200 || parseAD(t, body).Response.Error.ErrorCode != 600 {
		t.Fatalf("GET: %d %s", code, body)
	}
}

func TestAutodiscoverJSON(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	get := func(path string) (int, map[string]string) {
		resp, err := http.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	want := map[string]string{"Protocol": "ActiveSync", "Url": "https://mail.example.nhs.uk/Microsoft-Server-ActiveSync"}
	for _, path := range []string{
		"/autodiscover/autodiscover.json?Email=alice@example.nhs.uk&Protocol=ActiveSync",
		"/Autodiscover/Autodiscover.json?Email=nobody%40example.nhs.uk&Protocol=activesync",
		"/autodiscover/autodiscover.json/v1.0/alice@example.nhs.uk?Protocol=ActiveSync",
		"/AutoDiscover/AutoDiscover.json/v1.0/alice@example.nhs.uk?protocol=ActiveSync&RedirectCount=1",
	} {
		code, out := get(path)
		if code != 200 || out["Protocol"] != want["Protocol"] || out["Url"] != want["Url"] {
			t.Errorf("%s: %d %v", path, code, out)
		}
	}
	if code, out := get("/autodiscover/autodiscover.json?Email=alice@example.nhs.uk&Protocol=Ews"); code != 400 || out["ErrorCode"] != "InvalidProtocol" {
		t.Errorf("Ews: %d %v", code, out)
	}
	if code, out := get("/autodiscover/autodiscover.json/v1.0/alice@example.nhs.uk?Protocol=AutodiscoverV1"); code != 200 || !strings.HasSuffix(out["Url"], "/autodiscover/autodiscover.xml") {
		t.Errorf("AutodiscoverV1: %d %v", code, out)
	}
}
