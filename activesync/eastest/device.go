// Package eastest plays a real EAS device against a server, for protocol
// tests that read like a device transcript:
//
//	dev := eastest.NewDevice(t, baseURL, eastest.IPhone3GS, "alice@example.nhs.uk", pw)
//	dev.Provision()
//	res := dev.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
//	res.ExpectStatus("FolderHierarchy:Status", "1")
//
// Requests are written as XML with page-prefixed names and encoded with the
// project's codec. Every WBXML response is also decoded by libwbxml's
// wbxml2xml, an independent codec, when it is installed (it must be in CI).
package eastest

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync/wbxml"
)

// Profile is what a device family sends about itself.
type Profile struct {
	Name       string
	DeviceType string
	UserAgent  string
	Version    string // MS-ASProtocolVersion
	// DeviceInformation, sent in Provision (14.1+) or Settings (12.x, 14.0).
	Model, OS, OSLanguage, FriendlyName, IMEI, MobileOperator string
	// Base64Query sends the request line in MS-ASHTTP's encoded form, as
	// Windows Mobile and some Nokia clients do.
	Base64Query bool
}

// Device is one simulated device with its own identity and policy key.
type Device struct {
	T         testing.TB
	BaseURL   string
	Client    *http.Client
	Profile   Profile
	User      string
	Password  string
	DeviceID  string
	PolicyKey string
	// CheckWithLibwbxml runs wbxml2xml on every WBXML response.
	CheckWithLibwbxml bool
}

// NewDevice returns a device with a DeviceId unique to the test.
func NewDevice(t testing.TB, baseURL string, p Profile, user, password string) *Device {
	id := fmt.Sprintf("%s%d", strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, p.Name), time.Now().UnixNano()%1_000_000_000)
	return &Device{
		T: t, BaseURL: strings.TrimRight(baseURL, "/"), Profile: p, User: user, Password: password, DeviceID: id,
		Client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // tests use a self-signed certificate
		}},
		CheckWithLibwbxml: true,
	}
}

// Result is one response as the device saw it.
type Result struct {
	T      testing.TB
	HTTP   int
	Header http.Header
	Raw    []byte
	Doc    *etree.Document // nil unless the body was WBXML
}

// Do sends a command with an XML body ("" for none) and returns the result.
func (d *Device) Do(cmd, xml string) *Result {
	d.T.Helper()
	var body []byte
	if xml != "" {
		doc, err := wbxml.ParseXML(strings.NewReader(xml))
		if err != nil {
			d.T.Fatalf("%s: test XML: %v", cmd, err)
		}
		if body, err = wbxml.Marshal(doc); err != nil {
			d.T.Fatalf("%s: encode: %v", cmd, err)
		}
	}
	return d.DoRaw(cmd, body, "application/vnd.ms-sync.wbxml", nil)
}

// DoRaw sends a command with a raw body and extra query parameters.
func (d *Device) DoRaw(cmd string, body []byte, contentType string, params map[string]string) *Result {
	d.T.Helper()
	req, err := http.NewRequest(http.MethodPost, d.BaseURL+"/Microsoft-Server-ActiveSync?"+d.query(cmd, params), bytes.NewReader(body))
	if err != nil {
		d.T.Fatal(err)
	}
	req.SetBasicAuth(d.User, d.Password)
	req.Header.Set("User-Agent", d.Profile.UserAgent)
	if !d.Profile.Base64Query {
		req.Header.Set("MS-ASProtocolVersion", d.Profile.Version)
		if d.PolicyKey != "" {
			req.Header.Set("X-MS-PolicyKey", d.PolicyKey)
		}
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		d.T.Fatalf("%s: %v", cmd, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		d.T.Fatalf("%s: read response: %v", cmd, err)
	}
	res := &Result{T: d.T, HTTP: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.Contains(resp.Header.Get("Content-Type"), "vnd.ms-sync.wbxml") && len(raw) > 0 {
		if res.Doc, err = wbxml.Unmarshal(raw); err != nil {
			d.T.Fatalf("%s: our codec cannot decode the response: %v", cmd, err)
		}
		if d.CheckWithLibwbxml {
			CheckWithLibwbxml(d.T, raw)
		}
	}
	return res
}

// query builds the request line in the device's form.
func (d *Device) query(cmd string, params map[string]string) string {
	if !d.Profile.Base64Query {
		q := fmt.Sprintf("Cmd=%s&User=%s&DeviceId=%s&DeviceType=%s", cmd, urlEscape(d.User), d.DeviceID, urlEscape(d.Profile.DeviceType))
		for k, v := range params {
			q += "&" + k + "=" + urlEscape(v)
		}
		return q
	}
	codes := map[string]byte{"Sync": 0, "SendMail": 1, "SmartForward": 2, "SmartReply": 3, "GetAttachment": 4, "FolderSync": 9, "FolderCreate": 10,
		"FolderDelete": 11, "FolderUpdate": 12, "MoveItems": 13, "GetItemEstimate": 14, "MeetingResponse": 15, "Search": 16, "Settings": 17,
		"Ping": 18, "ItemOperations": 19, "Provision": 20, "ResolveRecipients": 21, "ValidateCert": 22, "Find": 23}
	var b bytes.Buffer
	var major, minor int
	fmt.Sscanf(d.Profile.Version, "%d.%d", &major, &minor)
	b.WriteByte(byte(major*10 + minor))
	code, ok := codes[cmd]
	if !ok {
		code = 99
	}
	b.WriteByte(code)
	binary.Write(&b, binary.LittleEndian, uint16(0x0809)) // en-GB
	b.WriteByte(byte(len(d.DeviceID)))
	b.WriteString(d.DeviceID)
	if d.PolicyKey != "" {
		var k uint32
		fmt.Sscan(d.PolicyKey, &k)
		b.WriteByte(4)
		binary.Write(&b, binary.LittleEndian, k)
	} else {
		b.WriteByte(0)
	}
	b.WriteByte(byte(len(d.Profile.DeviceType)))
	b.WriteString(d.Profile.DeviceType)
	tags := map[string]byte{"AttachmentName": 0, "CollectionId": 1, "ItemId": 3, "LongId": 4, "Occurrence": 6, "User": 8}
	params2 := map[string]string{"User": d.User}
	for k, v := range params {
		params2[k] = v
	}
	for k, v := range params2 {
		if tag, ok := tags[k]; ok {
			b.WriteByte(tag)
			b.WriteByte(byte(len(v)))
			b.WriteString(v)
		}
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func urlEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "%20", "#", "%23", "=", "%3D", "\\", "%5C").Replace(s)
}

// Provision runs both phases of MS-ASPROV with the device's information and
// acknowledgement ack (1 = applied). It returns the final policy status.
func (d *Device) Provision(ack int) *Result {
	d.T.Helper()
	info := ""
	if v := d.Profile.Version; v >= "14.1" {
		info = d.deviceInformation()
	}
	res := d.Do("Provision", `<Provision:Provision>`+info+`<Provision:Policies><Provision:Policy><Provision:PolicyType>MS-EAS-Provisioning-WBXML</Provision:PolicyType></Provision:Policy></Provision:Policies></Provision:Provision>`)
	if res.HTTP != 200 || res.Text("Provision:Status") != "1" {
		return res
	}
	temp := res.Text("Provision:Policies/Provision:Policy/Provision:PolicyKey")
	if temp == "" {
		return res
	}
	d.PolicyKey = temp
	res = d.Do("Provision", fmt.Sprintf(`<Provision:Provision><Provision:Policies><Provision:Policy><Provision:PolicyType>MS-EAS-Provisioning-WBXML</Provision:PolicyType><Provision:PolicyKey>%s</Provision:PolicyKey><Provision:Status>%d</Provision:Status></Provision:Policy></Provision:Policies></Provision:Provision>`, temp, ack))
	if k := res.Text("Provision:Policies/Provision:Policy/Provision:PolicyKey"); k != "" {
		d.PolicyKey = k
	}
	return res
}

// SendSettingsDeviceInformation sends DeviceInformation the 12.x/14.0 way.
func (d *Device) SendSettingsDeviceInformation() *Result {
	d.T.Helper()
	return d.Do("Settings", `<Settings:Settings>`+d.deviceInformation()+`</Settings:Settings>`)
}

func (d *Device) deviceInformation() string {
	p := d.Profile
	var b strings.Builder
	b.WriteString("<Settings:DeviceInformation><Settings:Set>")
	for _, kv := range [][2]string{{"Model", p.Model}, {"IMEI", p.IMEI}, {"FriendlyName", p.FriendlyName}, {"OS", p.OS}, {"OSLanguage", p.OSLanguage}, {"MobileOperator", p.MobileOperator}, {"UserAgent", p.UserAgent}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "<Settings:%s>%s</Settings:%s>", kv[0], xmlEscape(kv[1]), kv[0])
		}
	}
	b.WriteString("</Settings:Set></Settings:DeviceInformation>")
	return b.String()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Text returns the text at a slash-separated path of page-prefixed names
// below the root, e.g. "Provision:Policies/Provision:Policy/Provision:Status".
// It returns "" when the path is absent.
func (r *Result) Text(path string) string {
	el := r.Find(path)
	if el == nil {
		return ""
	}
	return strings.TrimSpace(el.Text())
}

// Find returns the element at path below the root, or nil.
func (r *Result) Find(path string) *etree.Element {
	if r.Doc == nil || r.Doc.Root() == nil {
		return nil
	}
	el := r.Doc.Root()
	for _, step := range strings.Split(path, "/") {
		space, local, _ := strings.Cut(step, ":")
		var next *etree.Element
		for _, c := range el.ChildElements() {
			if c.Space == space && c.Tag == local {
				next = c
				break
			}
		}
		if next == nil {
			return nil
		}
		el = next
	}
	return el
}

// XML renders the response for failure messages.
func (r *Result) XML() string {
	if r.Doc == nil {
		return fmt.Sprintf("HTTP %d, %d bytes: %q", r.HTTP, len(r.Raw), truncate(r.Raw, 200))
	}
	var b bytes.Buffer
	wbxml.WriteXML(&b, r.Doc)
	return fmt.Sprintf("HTTP %d\n%s", r.HTTP, b.String())
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// Expect fails the test unless the response has HTTP status code and, when
// status is not "", the EAS status at path.
func (r *Result) Expect(code int, path, status string) *Result {
	r.T.Helper()
	if r.HTTP != code {
		r.T.Fatalf("HTTP %d, want %d\n%s", r.HTTP, code, r.XML())
	}
	if path != "" {
		if got := r.Text(path); got != status {
			r.T.Fatalf("%s = %q, want %q\n%s", path, got, status, r.XML())
		}
	}
	return r
}

// CheckWithLibwbxml decodes raw with wbxml2xml and fails the test if it
// cannot. Outside CI a missing tool is tolerated; in CI it is an error.
func CheckWithLibwbxml(t testing.TB, raw []byte) {
	t.Helper()
	tool, err := exec.LookPath("wbxml2xml")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("wbxml2xml is not installed (libwbxml2-utils); the test command installs it")
		}
		return
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "resp.wbxml")
	out := filepath.Join(dir, "resp.xml")
	if err := os.WriteFile(in, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool, "-l", "ACTIVESYNC", "-o", out, in)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("libwbxml cannot decode our response: %v: %s", err, msg)
	}
	xml, err := os.ReadFile(out)
	if err != nil || len(xml) == 0 {
		t.Fatalf("libwbxml produced no XML: %v", err)
	}
}
