package web

import (
	"bytes"
	"image/png"
	"net/url"
	"strings"
	"testing"

	"howett.net/plist"

	"airlock/store"
	"airlock/store/storetest"
)

func TestMobileconfigIsAProfile(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("alice@example.nhs.uk", "alice-pass-1", store.RoleUser)
	b := e.browser()
	if p := b.get("/setup/ios.mobileconfig"); p.Code != 400 {
		t.Fatalf("anonymous profile without an address: HTTP %d, want 400", p.Code)
	}
	b.login("alice@example.nhs.uk", "alice-pass-1")
	p := b.get("/setup/ios.mobileconfig")
	if p.Code != 200 || p.Header.Get("Content-Type") != "application/x-apple-aspen-config" {
		t.Fatalf("profile: HTTP %d %q", p.Code, p.Header.Get("Content-Type"))
	}
	var prof map[string]any
	format, err := plist.Unmarshal([]byte(p.Body), &prof)
	if err != nil || format != plist.XMLFormat {
		t.Fatalf("not an XML property list: %v (format %d)", err, format)
	}
	for _, k := range []string{"PayloadContent", "PayloadDisplayName", "PayloadIdentifier", "PayloadUUID", "PayloadVersion", "PayloadType"} {
		if _, ok := prof[k]; !ok {
			t.Errorf("profile lacks %s", k)
		}
	}
	if prof["PayloadType"] != "Configuration" || prof["PayloadVersion"] != uint64(1) {
		t.Errorf("profile type/version: %v %v", prof["PayloadType"], prof["PayloadVersion"])
	}
	content := prof["PayloadContent"].([]any)
	if len(content) != 1 {
		t.Fatalf("%d payloads", len(content))
	}
	eas := content[0].(map[string]any)
	want := map[string]any{"PayloadType": "com.apple.eas.account", "EmailAddress": "alice@example.nhs.uk", "UserName": "alice@example.nhs.uk", "Host": "mail.example.nhs.uk", "SSL": true, "PayloadVersion": uint64(1)}
	for k, v := range want {
		if eas[k] != v {
			t.Errorf("EAS payload %s = %v, want %v", k, eas[k], v)
		}
	}
	for _, k := range []string{"PayloadIdentifier", "PayloadUUID", "PayloadDisplayName"} {
		if s, _ := eas[k].(string); s == "" {
			t.Errorf("EAS payload lacks %s", k)
		}
	}
	if eas["PayloadUUID"] == prof["PayloadUUID"] || len(eas["PayloadUUID"].(string)) != 36 {
		t.Errorf("UUIDs: %v %v", eas["PayloadUUID"], prof["PayloadUUID"])
	}
	// Stable: the same user gets the same identity (a reinstall replaces).
	if q := b.get("/setup/ios.mobileconfig"); q.Body != p.Body {
		t.Error("profile changes between downloads")
	}
	// From the QR link, with the address in it, no sign-in needed.
	anon := e.browser()
	if q := anon.get("/setup/ios.mobileconfig?email=" + url.QueryEscape("alice@example.nhs.uk")); q.Body != p.Body {
		t.Error("the linked profile differs from the signed-in one")
	}
}

func TestSetupGuides(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("alice@example.nhs.uk", "alice-pass-1", store.RoleUser)
	anon := e.browser()
	idx := anon.get("/setup")
	for _, f := range families {
		if !strings.Contains(idx.Body, `href="/setup/`+f.Slug+`"`) {
			t.Errorf("index lacks %s", f.Slug)
		}
		p := anon.get("/setup/" + f.Slug)
		if p.Code != 200 || !strings.Contains(p.Body, "<code>mail.example.nhs.uk</code>") || !strings.Contains(p.Body, "your.name@example.nhs.uk") {
			t.Errorf("%s (anonymous): HTTP %d, host or placeholder missing", f.Slug, p.Code)
		}
		if len(f.Models) == 0 || len(f.Encryption) == 0 {
			t.Errorf("%s has no model picker or encryption advice", f.Slug)
		}
	}
	if p := anon.get("/setup/no-such-phone"); p.Code != 404 {
		t.Errorf("unknown family: HTTP %d", p.Code)
	}
	b := e.browser()
	b.login("alice@example.nhs.uk", "alice-pass-1")
	p := b.get("/setup/android-gmail")
	if !strings.Contains(p.Body, "<code>alice@example.nhs.uk</code>") || !strings.Contains(p.Body, "<code>example.nhs.uk</code>\\<code>alice</code>") {
		t.Errorf("signed-in guide does not carry the address")
	}
	// The model picker runs the live decision.
	cases := map[string]string{
		"/setup/ios?model=iphone-modern":              "allowed",
		"/setup/ios?model=iphone-3g":                  "not allowed",
		"/setup/android-gmail?model=android-234":      "not allowed",
		"/setup/android-gmail?model=android-404":      "allowed",
		"/setup/nokia?model=nokia-e72":                "allowed",
		"/setup/windows-mobile?model=wm60":            "not allowed",
		"/setup/windows-mobile?model=wm-unknown":      "needs an administrator",
		"/setup/blackberry?model=bb10":                "needs an administrator",
		"/setup/android-outlook?model=outlook-mobile": "needs an administrator",
	}
	for path, want := range cases {
		p := b.get(path)
		if !strings.Contains(p.Body, ": "+want) {
			t.Errorf("%s: verdict %q not shown", path, want)
		}
	}
	// A new rule changes the verdict at once.
	if _, err := e.Devs.AddRule(t.Context(), eastestAdmin, ruleAllowOutlook); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/setup/android-outlook?model=outlook-mobile"); !strings.Contains(p.Body, ": allowed") {
		t.Error("verdict ignores a new rule")
	}
	qr := b.get("/setup/qr.png?family=ios")
	img, err := png.Decode(bytes.NewReader([]byte(qr.Body)))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("QR code: %v", err)
	}
}
