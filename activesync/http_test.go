package activesync_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

func post(t *testing.T, url, query string, hdr map[string]string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/Microsoft-Server-ActiveSync?"+query, bytes.NewReader(body))
	req.SetBasicAuth("h@example.nhs.uk", pw)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestOptionsAdvertisesVersionsAndCommands(t *testing.T) {
	st := storetest.OpenSQLite(t)
	srv := eastest.StartServer(t, st)
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/Microsoft-Server-ActiveSync", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("OPTIONS: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("MS-ASProtocolVersions"); got != "12.0,12.1,14.0,14.1,16.0,16.1" {
		t.Fatalf("versions %q", got)
	}
	cmds := strings.Split(resp.Header.Get("MS-ASProtocolCommands"), ",")
	if len(cmds) != len(srv.Handler.Commands()) {
		t.Fatalf("advertised %v, table has %d", cmds, len(srv.Handler.Commands()))
	}
	for i, c := range srv.Handler.Commands() {
		if cmds[i] != c.Name {
			t.Fatalf("advertised %q where the table has %q", cmds[i], c.Name)
		}
	}
	if resp.Header.Get("MS-Server-ActiveSync") == "" {
		t.Fatal("no MS-Server-ActiveSync header")
	}
}

func TestHTTPErrors(t *testing.T) {
	st := storetest.OpenSQLite(t)
	srv := eastest.StartServer(t, st)
	srv.AddUser(t, "h@example.nhs.uk", pw)
	v141 := map[string]string{"MS-ASProtocolVersion": "14.1"}
	cases := []struct {
		name  string
		query string
		hdr   map[string]string
		body  []byte
		code  int
	}{
		{"no query", "", v141, nil, 400},
		{"unknown command", "Cmd=Frobnicate&User=h&DeviceId=ABC123&DeviceType=iPhone", v141, nil, 501},
		{"missing DeviceId", "Cmd=Provision&User=h&DeviceType=iPhone", v141, nil, 400},
		{"DeviceId with SQL", "Cmd=Provision&User=h&DeviceId=a'%20OR%201=1--&DeviceType=iPhone", v141, nil, 400},
		{"missing DeviceType", "Cmd=Provision&User=h&DeviceId=ABC123", v141, nil, 400},
		{"unsupported version", "Cmd=Provision&User=h&DeviceId=ABC123&DeviceType=iPhone", map[string]string{"MS-ASProtocolVersion": "2.5"}, nil, 400},
		{"malformed WBXML", "Cmd=Provision&User=h&DeviceId=ABC123&DeviceType=iPhone", v141, []byte{0x03, 0x01, 0x6a, 0x00, 0x45, 0x99, 0x99}, 400},
		{"truncated base64 query", "kQMJBEFCQw", v141, nil, 400},
		{"GET", "", nil, nil, 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.name == "GET" {
				r, err := http.Get(srv.URL + "/Microsoft-Server-ActiveSync")
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				resp = r
			} else {
				resp = post(t, srv.URL, tc.query, tc.hdr, tc.body)
			}
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.code)
			}
		})
	}

	// Wrong and missing credentials: 401 with a Basic challenge, and the
	// same answer for an unknown user as for a wrong password.
	for _, creds := range [][2]string{{"h@example.nhs.uk", "wrong"}, {"nobody@example.nhs.uk", "wrong"}, {"", ""}} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/Microsoft-Server-ActiveSync?Cmd=Provision&User=h&DeviceId=ABC123&DeviceType=iPhone", nil)
		if creds[0] != "" {
			req.SetBasicAuth(creds[0], creds[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("credentials %q: HTTP %d, challenge %q", creds[0], resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Credentials of one user with User= naming another: refused.
	srv.AddUser(t, "other@example.nhs.uk", pw)
	if resp := post(t, srv.URL, "Cmd=Provision&User=other@example.nhs.uk&DeviceId=ABC123&DeviceType=iPhone", v141, nil); resp.StatusCode != 401 {
		t.Fatalf("User= another account: HTTP %d", resp.StatusCode)
	}
}

// Missing DeviceId for a 14.1 client carries Status 108 in the body.
func TestMissingDeviceIDStatus(t *testing.T) {
	st := storetest.OpenSQLite(t)
	srv := eastest.StartServer(t, st)
	srv.AddUser(t, "h@example.nhs.uk", pw)
	dev := eastest.NewDevice(t, srv.URL, eastest.Android4, "h@example.nhs.uk", pw)
	dev.DeviceID = ""
	dev.Do("Provision", `<Provision:Provision/>`).Expect(400, "Provision:Status", "108")
	dev.DeviceID = "ABC123"
	dev.Profile.DeviceType = ""
	dev.Do("Provision", `<Provision:Provision/>`).Expect(400, "Provision:Status", "109")
}

// The base64-encoded request line (Windows Mobile) reaches the same device
// record as the plain one, with the policy key inside the query.
func TestBase64QueryForm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		srv.AddUser(t, "wm@example.nhs.uk", pw)
		dev := eastest.NewDevice(t, srv.URL, eastest.WindowsMobile65, "wm@example.nhs.uk", pw)
		dev.Do("Settings", `<Settings:Settings/>`).Expect(449, "", "")
		dev.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
		dev.SendSettingsDeviceInformation().Expect(200, "Settings:Status", "1")
		u, _ := st.UserByAddress(ctx, "wm@example.nhs.uk")
		rec, err := st.DeviceByEASID(ctx, u.ID, dev.DeviceID)
		if err != nil || rec.Model != "HTC HD2" || rec.DeviceType != "PocketPC" || rec.PolicyKey == 0 {
			t.Fatalf("record: %+v %v", rec, err)
		}
	})
}

// Every command in the dispatch table passes the gate: none serves an
// unprovisioned, a blocked or a quarantined device (except the commands
// marked for the quarantine view), whatever its body.
func TestEveryCommandPassesTheGate(t *testing.T) {
	st := storetest.OpenSQLite(t)
	srv := eastest.StartServer(t, st)
	srv.AddUser(t, "g@example.nhs.uk", pw)
	unprovisioned := eastest.NewDevice(t, srv.URL, eastest.Android4, "g@example.nhs.uk", pw)
	unprovisioned161 := eastest.NewDevice(t, srv.URL, eastest.IPhone14, "g@example.nhs.uk", pw)
	legacy := eastest.NewDevice(t, srv.URL, eastest.IPhone3GS, "g@example.nhs.uk", pw)
	blocked := eastest.NewDevice(t, srv.URL, eastest.WindowsPhone7, "g@example.nhs.uk", pw)
	quarantined := eastest.NewDevice(t, srv.URL, eastest.Unknown, "g@example.nhs.uk", pw)
	quarantined.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
	u, _ := st.UserByAddress(ctx, "g@example.nhs.uk")
	qrec, _ := st.DeviceByEASID(ctx, u.ID, quarantined.DeviceID)
	if qrec.State != store.DeviceQuarantined {
		t.Fatalf("unknown device is %s", qrec.State)
	}
	for _, c := range srv.Handler.Commands() {
		if c.Name == "Provision" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			body := []byte(nil)
			if !c.NeedsPolicy {
				t.Fatalf("%s does not need a policy key: only Provision may go without", c.Name)
			}
			probe := unprovisioned
			if c.MinVersion > activesync.V141 {
				probe = unprovisioned161
			}
			res := probe.DoRaw(c.Name, body, "application/vnd.ms-sync.wbxml", nil)
			if res.HTTP != 200 || statusOf(res) != "142" {
				t.Fatalf("unprovisioned 14.1 device: %s", res.XML())
			}
			if res := legacy.DoRaw(c.Name, body, "application/vnd.ms-sync.wbxml", nil); res.HTTP != 449 && !(c.MinVersion > activesync.V121 && res.HTTP == 501) {
				t.Fatalf("unprovisioned 12.1 device: HTTP %d", res.HTTP)
			}
			// A command newer than the device's version is refused as such
			// (137) before anything else; otherwise the decision refuses.
			want := func(v string) string {
				if c.MinVersion > activesync.ParseVersion(v) {
					return "137"
				}
				return "129"
			}
			if res := blocked.DoRaw(c.Name, body, "application/vnd.ms-sync.wbxml", nil); statusOf(res) != want(blocked.Profile.Version) {
				t.Fatalf("blocked device: %s", res.XML())
			}
			res = quarantined.DoRaw(c.Name, body, "application/vnd.ms-sync.wbxml", nil)
			if !c.Quarantine && statusOf(res) != want(quarantined.Profile.Version) {
				t.Fatalf("quarantined device reached %s: %s", c.Name, res.XML())
			}
		})
	}
}

// statusOf reads the Status child of the response's root, whatever page.
func statusOf(res *eastest.Result) string {
	if res.Doc == nil || res.Doc.Root() == nil {
		return ""
	}
	for _, c := range res.Doc.Root().ChildElements() {
		if c.Tag == "Status" {
			return strings.TrimSpace(c.Text())
		}
	}
	return ""
}

// The MS-Server-ActiveSync header (MS-ASHTTP 2.2.4.1.2) names an Exchange
// release that offers every version in MS-ASProtocolVersions: clients may
// read it as the server's build. 16.0 and 16.1 came with Exchange 2016
// (15.1; MS-ASHTTP Appendix A: Exchange 2010 SP1 and 2013 do not use
// them), 14.x with Exchange 2010 (14.0), 12.x with Exchange 2007 (8.0).
// OPTIONS and a command's answer say the same.
func TestServerVersionHeaderMatchesProtocolVersions(t *testing.T) {
	st := storetest.OpenSQLite(t)
	srv := eastest.StartServer(t, st)
	srv.AddUser(t, "h@example.nhs.uk", pw)
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/Microsoft-Server-ActiveSync", nil)
	opts, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	opts.Body.Close()
	firstRelease := map[string][2]int{"16.1": {15, 1}, "16.0": {15, 1}, "14.1": {14, 0}, "14.0": {14, 0}, "12.1": {8, 0}, "12.0": {8, 0}}
	var need [2]int
	for _, v := range strings.Split(opts.Header.Get("MS-ASProtocolVersions"), ",") {
		r, ok := firstRelease[v]
		if !ok {
			t.Fatalf("unknown protocol version %q", v)
		}
		if r[0] > need[0] || (r[0] == need[0] && r[1] > need[1]) {
			need = r
		}
	}
	cmd := post(t, srv.URL, "Cmd=FolderSync&User=h&DeviceId=SRVVER1&DeviceType=iPhone", map[string]string{"MS-ASProtocolVersion": "16.1"}, nil)
	for name, hdr := range map[string]http.Header{"OPTIONS": opts.Header, "FolderSync": cmd.Header} {
		got := hdr.Get("MS-Server-ActiveSync")
		major, minor, ok := strings.Cut(got, ".")
		ma, err1 := strconv.Atoi(major)
		mi, err2 := strconv.Atoi(strings.SplitN(minor, ".", 2)[0])
		if !ok || err1 != nil || err2 != nil || ma < need[0] || (ma == need[0] && mi < need[1]) {
			t.Errorf("%s: MS-Server-ActiveSync %q with MS-ASProtocolVersions %q, want %d.%d or later",
				name, got, opts.Header.Get("MS-ASProtocolVersions"), need[0], need[1])
		}
	}
}
