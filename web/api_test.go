package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"airlock/store"
	"airlock/store/storetest"
)

// TestOpenAPIDescribesEveryRoute: every /api/v1 route is in openapi.json,
// and everything openapi.json promises is routed.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	param := regexp.MustCompile(`:(\w+)`)
	routed := map[string]bool{}
	n := 0
	for _, r := range e.Web.e.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1") || r.Method == "echo_route_not_found" {
			continue
		}
		n++
		path := param.ReplaceAllString(r.Path, "{$1}")
		method := strings.ToLower(r.Method)
		routed[method+" "+path] = true
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("route %s %s is not in openapi.json", r.Method, path)
		}
	}
	if n < 15 {
		t.Fatalf("only %d /api/v1 routes found; the route walk is broken", n)
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			if !routed[method+" "+path] {
				t.Errorf("openapi.json describes %s %s, which is not routed", method, path)
			}
		}
	}
	// The served document is the embedded one.
	code, out := e.api("GET", "/api/v1/openapi.json", "", nil)
	if code != 200 || out["openapi"] == nil {
		t.Fatalf("GET openapi.json: %d", code)
	}
}

func TestAPIDeviceLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
		u := e.addUser("user@example.nhs.uk", "user-pass-1", store.RoleUser)
		dev := e.addDevice(u, store.Device{DeviceType: "Palm", UserAgent: "Palm/1.0.1", State: store.DeviceQuarantined, PolicyAckStatus: 1, ProtocolVersion: "14.1"})
		tok := e.token("admin@example.nhs.uk", "admin-pass-1")
		id := strconv.FormatInt(dev.ID, 10)

		code, out := e.api("GET", "/api/v1/devices?state=quarantined", tok, nil)
		if code != 200 || out["total"].(float64) != 1 {
			t.Fatalf("list quarantined: %d %v", code, out)
		}
		code, out = e.api("POST", "/api/v1/devices/"+id+"/allow", tok, nil)
		if code != 200 || out["device"].(map[string]any)["state"] != "allowed" {
			t.Fatalf("allow: %d %v", code, out)
		}
		code, out = e.api("GET", "/api/v1/devices/"+id, tok, nil)
		if code != 200 || !strings.HasPrefix(out["decidedBy"].(string), "admin:") || len(toStrings(out["evidence"])) == 0 {
			t.Fatalf("get: %d %v", code, out)
		}
		code, out = e.api("POST", "/api/v1/devices/"+id+"/wipe", tok, map[string]any{"accountOnly": true})
		if code != 409 {
			t.Fatalf("account-only wipe of a 14.1 device: %d %v, want 409", code, out)
		}
		code, out = e.api("POST", "/api/v1/devices/"+id+"/wipe", tok, nil)
		if code != 200 || out["device"].(map[string]any)["state"] != "wipe_pending" {
			t.Fatalf("wipe: %d %v", code, out)
		}
		code, _ = e.api("POST", "/api/v1/devices/"+id+"/release", tok, nil)
		if code != 409 {
			t.Fatalf("release of a device not wiped: %d, want 409", code)
		}
		code, _ = e.api("POST", "/api/v1/devices/"+id+"/cancel-wipe", tok, nil)
		if code != 200 {
			t.Fatalf("cancel wipe: %d", code)
		}
		code, _ = e.api("DELETE", "/api/v1/devices/"+id, tok, nil)
		if code != 200 {
			t.Fatalf("remove: %d", code)
		}
		if _, err := st.DeviceByID(ctx, dev.ID); err == nil {
			t.Fatal("device still there after remove")
		}
		for _, a := range []string{"device.allow", "device.wipe_requested", "device.wipe_cancelled", "device.removed"} {
			if !e.audited(a, "") {
				t.Errorf("%s not audited", a)
			}
		}
		code, out = e.api("GET", "/api/v1/audit?action=device.allow", tok, nil)
		if code != 200 || len(out["events"].([]any)) != 1 {
			t.Fatalf("audit filter: %d %v", code, out)
		}
		code, out = e.api("GET", "/api/v1/users", tok, nil)
		if code != 200 || len(out["users"].([]any)) != 2 {
			t.Fatalf("users: %d %v", code, out)
		}
	})
}

func TestAPIRulesAndPolicy(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
	u := e.addUser("user@example.nhs.uk", "user-pass-1", store.RoleUser)
	palm := e.addDevice(u, store.Device{DeviceType: "Palm", UserAgent: "Palm/1.0.1", State: store.DeviceQuarantined, PolicyAckStatus: 1})
	e.addDevice(u, store.Device{DeviceType: "iPhone", Model: "iPhone3,1", OS: "iOS 7.0.4", UserAgent: "Apple-iPhone3C1/1102.55400001", State: store.DeviceAllowed, PolicyAckStatus: 1})
	tok := e.token("admin@example.nhs.uk", "admin-pass-1")

	rule := map[string]any{"priority": 5, "field": "type", "match": "exact", "pattern": "palm", "action": "allow", "description": "Palm trial"}
	code, out := e.api("POST", "/api/v1/rules/preview", tok, rule)
	if code != 200 {
		t.Fatalf("preview: %d %v", code, out)
	}
	if out["matched"].(float64) != 1 || out["changes"].(float64) != 1 || out["scanned"].(float64) != 2 {
		t.Fatalf("preview counts: %v", out)
	}
	row := out["devices"].([]any)[0].(map[string]any)
	if row["id"].(float64) != float64(palm.ID) || row["state"] != "quarantined" || row["stateWithRule"] != "allowed" || row["ruleDecides"] != true {
		t.Fatalf("preview row: %v", row)
	}
	// Preview saved nothing.
	if rs, _ := e.Store.ListRules(context.Background()); len(rs) != 18 {
		t.Fatalf("%d rules after preview, want the 18 defaults", len(rs))
	}
	code, out = e.api("POST", "/api/v1/rules", tok, map[string]any{"priority": 5, "field": "colour", "match": "exact", "pattern": "", "action": "maybe"})
	if code != 422 || len(out["detail"].([]any)) < 3 {
		t.Fatalf("invalid rule: %d %v", code, out)
	}
	code, out = e.api("POST", "/api/v1/rules", tok, rule)
	if code != 201 {
		t.Fatalf("add rule: %d %v", code, out)
	}
	id := strconv.FormatFloat(out["id"].(float64), 'f', 0, 64)
	if code, _ = e.api("DELETE", "/api/v1/rules/"+id, tok, nil); code != 204 {
		t.Fatalf("delete rule: %d", code)
	}

	code, out = e.api("GET", "/api/v1/policy", tok, nil)
	if code != 200 {
		t.Fatalf("policy: %d", code)
	}
	set := out["settings"].(map[string]any)
	ver := out["version"].(float64)
	set["minDevicePasswordLength"] = 40
	code, out = e.api("PUT", "/api/v1/policy", tok, set)
	if code != 422 || !strings.Contains(strings.Join(toStrings(out["detail"]), " "), "Min Device Password Length") {
		t.Fatalf("invalid policy: %d %v", code, out)
	}
	set["minDevicePasswordLength"] = 8
	code, out = e.api("PUT", "/api/v1/policy", tok, set)
	if code != 200 || out["version"].(float64) != ver+1 {
		t.Fatalf("set policy: %d %v", code, out)
	}
	if !e.audited("policy.changed", "") || !e.audited("rule.added", "") || !e.audited("rule.removed", "") {
		t.Error("rule and policy changes not audited")
	}
}

func toStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			out = append(out, x.(string))
		}
	}
	return out
}

func TestMDMWebhook(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	ctx := context.Background()
	u := e.addUser("user@example.nhs.uk", "user-pass-1", store.RoleUser)
	dev := e.addDevice(u, store.Device{DeviceID: "MDMDEV1", DeviceType: "iPhone", Model: "iPhone3,1", OS: "iOS 7.0.4", State: store.DeviceAllowed, PolicyAckStatus: 1})
	body := []byte(`{"deviceId":"MDMDEV1","user":"user@example.nhs.uk","compliant":false,"timestamp":` + strconv.FormatInt(time.Now().Unix(), 10) + `}`)
	post := func(sig string) int {
		req, _ := http.NewRequest("POST", e.URL+"/api/v1/mdm/verdict", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set("X-Airlock-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// No secret configured: everything is refused.
	if code := post("sha256=00"); code != 401 {
		t.Fatalf("no secret: %d", code)
	}
	if err := e.Store.SetSetting(ctx, settingMDMSecret, "s3cret-s3cret"); err != nil {
		t.Fatal(err)
	}
	before := e.countAudit("mdm.verdict_rejected")
	wrong := hmac.New(sha256.New, []byte("not-the-secret"))
	wrong.Write(body)
	if code := post("sha256=" + hex.EncodeToString(wrong.Sum(nil))); code != 401 {
		t.Fatalf("wrong signature: %d", code)
	}
	if code := post(""); code != 401 {
		t.Fatalf("no signature: %d", code)
	}
	if e.countAudit("mdm.verdict_rejected") != before+2 {
		t.Error("bad signatures not audited")
	}
	if d, _ := e.Store.DeviceByID(ctx, dev.ID); d.MDMCompliant != nil {
		t.Fatal("verdict recorded from a bad signature")
	}
	m := hmac.New(sha256.New, []byte("s3cret-s3cret"))
	m.Write(body)
	if code := post("sha256=" + hex.EncodeToString(m.Sum(nil))); code != 200 {
		t.Fatalf("good signature: %d", code)
	}
	d, _ := e.Store.DeviceByID(ctx, dev.ID)
	if d.MDMCompliant == nil || *d.MDMCompliant || d.State != store.DeviceBlocked {
		t.Fatalf("after a non-compliant verdict: compliant=%v state=%s", d.MDMCompliant, d.State)
	}
}
