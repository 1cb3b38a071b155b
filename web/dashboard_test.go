package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"airlock/activesync/eastest"
	"airlock/internal/metrics"
	"airlock/store"
	"airlock/store/storetest"
)

func TestDashboardPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
		u := e.addUser("user@example.nhs.uk", "user-pass-1", store.RoleUser)
		now := time.Now().UTC()
		hourAgo := now.Add(-30 * time.Minute)
		palm := e.addDevice(u, store.Device{DeviceType: "Palm", UserAgent: "Palm/1.0.1", State: store.DeviceQuarantined, StateReason: "Quarantined: not on the list yet.", PolicyAckStatus: 1})
		e.addDevice(u, store.Device{DeviceType: "iPhone", Model: "iPhone1,2", OS: "iOS 4.2.1", State: store.DeviceBlocked, DecidedBy: "catalogue", PolicyAckStatus: 1, LastSync: &hourAgo})
		e.addDevice(u, store.Device{DeviceType: "iPhone", Model: "iPhone3,1", OS: "iOS 7.0.4", State: store.DeviceAllowed, PolicyAckStatus: 1, LastSync: &now})
		b := e.browser()
		if p := b.login("admin@example.nhs.uk", "admin-pass-1"); p.Location != "/admin" {
			t.Fatalf("admin lands on %q", p.Location)
		}
		ov := b.get("/admin")
		for _, want := range []string{"3 devices in total", `<div class="n">1</div><div class="l">Quarantined`, `<div class="n">1</div><div class="l">Not compliant`, "Palm", "in the last hour"} {
			if !strings.Contains(ov.Body, want) {
				t.Errorf("overview lacks %q", want)
			}
		}
		// Quarantine queue, allow with one click (no JavaScript).
		q := b.get("/admin/quarantine")
		if !strings.Contains(q.Body, "Quarantined: not on the list yet.") {
			t.Fatal("queue does not show the reason")
		}
		id := strconv.FormatInt(palm.ID, 10)
		p := b.post("/admin/devices/"+id+"/allow", url.Values{"_csrf": {q.csrf(t)}, "next": {"/admin/quarantine"}})
		if p.Code != http.StatusSeeOther || p.Location != "/admin/quarantine" {
			t.Fatalf("allow: HTTP %d %q", p.Code, p.Location)
		}
		if d, _ := st.DeviceByID(ctx, palm.ID); d.State != store.DeviceAllowed {
			t.Fatalf("after allow: %s", d.State)
		}
		// The htmx variant returns the row only.
		req, _ := http.NewRequest("POST", e.URL+"/admin/devices/"+id+"/block", strings.NewReader(url.Values{"_csrf": {q.csrf(t)}, "row": {"queue"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		if r := b.do(req); r.Code != 200 || !strings.HasPrefix(strings.TrimSpace(r.Body), "<tr id=\"q"+id+"\"") || !strings.Contains(r.Body, "Blocked") {
			t.Fatalf("htmx block: HTTP %d %s", r.Code, r.Body)
		}
		// Device list filters and paging.
		if l := b.get("/admin/devices?type=iPhone"); !strings.Contains(l.Body, "2 matching devices") {
			t.Error("type filter")
		}
		if l := b.get("/admin/devices?user=user@example.nhs.uk&state=allowed"); !strings.Contains(l.Body, "1 matching device,") {
			t.Error("user and state filter")
		}
		if l := b.get("/admin/devices?q=palm"); !strings.Contains(l.Body, "1 matching device,") {
			t.Error("search")
		}
		if l := b.get("/admin/devices?user=ghost@example.nhs.uk"); !strings.Contains(l.Body, "No user ghost@example.nhs.uk") || !strings.Contains(l.Body, "0 matching devices") {
			t.Error("unknown user filter")
		}
		// Device page: facts, history, audit of the view.
		dp := b.get("/admin/devices/" + id)
		for _, want := range []string{"Palm/1.0.1", "device.block", "Blocked", "Policy key"} {
			if !strings.Contains(dp.Body, want) {
				t.Errorf("device page lacks %q", want)
			}
		}
		if !e.audited("device.viewed", "") {
			t.Error("device view not audited")
		}
		// Wipe needs the box ticked.
		b.postForm("/admin/devices/"+id, "/admin/devices/"+id+"/wipe", url.Values{})
		if d, _ := st.DeviceByID(ctx, palm.ID); d.State == store.DeviceWipePending {
			t.Fatal("wiped without confirmation")
		}
		b.postForm("/admin/devices/"+id, "/admin/devices/"+id+"/wipe", url.Values{"confirm": {"yes"}})
		if d, _ := st.DeviceByID(ctx, palm.ID); d.State != store.DeviceWipePending {
			t.Fatalf("after wipe: %s", d.State)
		}
		// Account-only wipe of a 12.x/14.x device is refused with a message.
		b.postForm("/admin/devices/"+id, "/admin/devices/"+id+"/cancel-wipe", nil)
		r := b.postForm("/admin/devices/"+id, "/admin/devices/"+id+"/wipe-account", url.Values{"confirm": {"yes"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("account-only wipe: HTTP %d", r.Code)
		}
		if f := b.get("/admin/devices/" + id); !strings.Contains(f.Body, "needs EAS 16.1") {
			t.Error("account-only wipe refusal not explained")
		}

		// Rules: preview (no save), then add, with validation errors shown.
		rp := b.postForm("/admin/rules", "/admin/rules/preview", url.Values{"priority": {"1"}, "field": {"type"}, "match": {"exact"}, "pattern": {"iphone"}, "action": {"block"}})
		if !strings.Contains(rp.Body, "The rule matches <strong>2</strong> of 3") {
			t.Errorf("preview counts missing:\n%s", excerpt(rp.Body, "Preview"))
		}
		rs, _ := st.ListRules(ctx)
		n := len(rs)
		bad := b.postForm("/admin/rules", "/admin/rules", url.Values{"priority": {"x"}, "field": {"type"}, "match": {"pattern"}, "pattern": {"re:("}, "action": {"block"}})
		if bad.Code != http.StatusUnprocessableEntity || !strings.Contains(bad.Body, "Priority must be a whole number") || !strings.Contains(bad.Body, "invalid regular expression") {
			t.Errorf("invalid rule: HTTP %d", bad.Code)
		}
		b.postForm("/admin/rules", "/admin/rules", url.Values{"priority": {"1"}, "field": {"type"}, "match": {"exact"}, "pattern": {"Palm"}, "action": {"allow"}, "description": {"Palm pilot"}})
		if rs, _ := st.ListRules(ctx); len(rs) != n+1 {
			t.Fatalf("rule not added (%d rules)", len(rs))
		}

		// Policy: an invalid value is shown next to its field; a valid one
		// saves a new version.
		pol := b.get("/admin/policy")
		form := policyFormValues(pol.Body)
		form.Set("MinDevicePasswordLength", "40")
		form.Set("_csrf", pol.csrf(t))
		r = b.post("/admin/policy", form)
		if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Must be between 1 and 16.") {
			t.Fatalf("invalid policy: HTTP %d", r.Code)
		}
		form.Set("MinDevicePasswordLength", "8")
		if r = b.post("/admin/policy", form); r.Code != http.StatusSeeOther {
			t.Fatalf("valid policy: HTTP %d\n%s", r.Code, excerpt(r.Body, "errors"))
		}
		p2, set, _ := e.Devs.Policy(ctx)
		if *set.MinDevicePasswordLength != 8 || p2.Version != 2 || !set.RequireDeviceEncryption || set.DevicePasswordExpiration == nil {
			t.Fatalf("policy after save: version %d, %+v", p2.Version, set)
		}

		// Users, user page (audited), audit log, CSV.
		if up := b.get("/admin/users"); !strings.Contains(up.Body, "user@example.nhs.uk") || !strings.Contains(up.Body, ">3</a>") {
			t.Error("users page")
		}
		b.get("/admin/users/" + strconv.FormatInt(u.ID, 10))
		if !e.audited("user.viewed", "") {
			t.Error("user view not audited")
		}
		if a := b.get("/admin/audit?action=device.allow"); !strings.Contains(a.Body, "device.allow") {
			t.Error("audit filter")
		}
		if a := b.get("/admin/audit?verify=1"); !strings.Contains(a.Body, "hash chain is intact") {
			t.Error("chain verification")
		}
		c := b.get("/admin/audit.csv?action=device.allow")
		recs, err := csv.NewReader(strings.NewReader(c.Body)).ReadAll()
		if err != nil || len(recs) != 2 || recs[0][4] != "action" || recs[1][4] != "device.allow" {
			t.Fatalf("CSV: %v %v", err, recs)
		}
		if !e.audited("audit.exported", "") {
			t.Error("export not audited")
		}
		// Settings.
		s := b.postForm("/admin/settings", "/admin/settings", url.Values{"section": {"mdm"}})
		if !strings.Contains(s.Body, "shown only now") {
			t.Error("new MDM secret not shown")
		}
		if v, _ := st.Setting(ctx, settingMDMSecret, ""); len(v) != 64 || !strings.Contains(s.Body, v) {
			t.Error("MDM secret not stored")
		}
	})
}

// policyFormValues reads the policy form's current values back, as a
// browser would submit them.
func policyFormValues(body string) url.Values {
	v := url.Values{}
	for _, m := range regexpMust(`<input type="checkbox" name="(\w+)"( checked)?>`).FindAllStringSubmatch(body, -1) {
		if m[2] != "" {
			v.Set(m[1], "on")
		}
	}
	for _, m := range regexpMust(`name="(\w+)" type="text" inputmode="numeric" value="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		v.Set(m[1], m[2])
	}
	for _, m := range regexpMust(`(?s)<select id="f-\w+" name="(\w+)">.*?<option value="([^"]*)" selected>`).FindAllStringSubmatch(body, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

func excerpt(body, near string) string {
	i := strings.Index(body, near)
	if i < 0 {
		return body[:min(len(body), 400)]
	}
	return body[i:min(len(body), i+800)]
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("alice@example.nhs.uk", "alice-pass-1", store.RoleUser)
	dev := eastest.NewDevice(t, e.URL, eastest.Profile{Name: "Palm", DeviceType: "Palm", UserAgent: "Palm/1.0.1", Version: "14.1", Model: "Pre"}, "alice@example.nhs.uk", "alice-pass-1")
	dev.CheckWithLibwbxml = false
	dev.Provision(1)
	metricsSrv := httptest.NewServer(e.Web.MetricsHandler())
	defer metricsSrv.Close()
	resp, err := http.Get(metricsSrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	body := sb.String()
	for _, want := range []string{
		`airlock_devices{state="quarantined"} 1`,
		`airlock_devices{state="allowed"} 0`,
		`airlock_eas_requests_total{command="Provision",status="200"}`,
		`airlock_eas_request_duration_seconds_bucket{command="Provision"`,
		`airlock_eas_active_pings 0`,
		`airlock_sync_latency_seconds_bucket`,
		`airlock_devices_scrape_error 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, dev.DeviceID) || strings.Contains(body, "alice") {
		t.Error("metrics carry a device id or user name")
	}
}

// TestEASMetricsMiddleware: commands and statuses come from the request and
// the response; a Ping in flight holds the gauge up; Syncs are timed.
func TestEASMetricsMiddleware(t *testing.T) {
	st := storetest.OpenSQLite(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	eas := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("Cmd") == "Ping" {
			arrived <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(NewServer(Deps{Store: st, EAS: eas}))
	defer srv.Close()
	before := counterValue(metrics.EASRequests.WithLabelValues("Ping", "418"))
	syncs := histogramCount(t, metrics.SyncLatency)
	pings := counterValue(metrics.ActivePings)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Post(srv.URL+"/Microsoft-Server-ActiveSync?Cmd=Ping&User=a&DeviceId=D1&DeviceType=x", "", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-arrived
	if got := counterValue(metrics.ActivePings); got != pings+1 {
		t.Errorf("gauge %v while a Ping is held, want %v", got, pings+1)
	}
	close(release)
	<-done
	if got := counterValue(metrics.ActivePings); got != pings {
		t.Errorf("gauge %v after the Ping, want %v", got, pings)
	}
	if got := counterValue(metrics.EASRequests.WithLabelValues("Ping", "418")); got != before+1 {
		t.Errorf("Ping/418 counted %v times", got-before)
	}
	resp, _ := http.Post(srv.URL+"/Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceId=D1&DeviceType=x", "", nil)
	resp.Body.Close()
	resp, _ = http.Post(srv.URL+"/Microsoft-Server-ActiveSync?Cmd=Bogus<script>&User=a&DeviceId=D1&DeviceType=x", "", nil)
	resp.Body.Close()
	if got := histogramCount(t, metrics.SyncLatency); got != syncs+1 {
		t.Errorf("%d Syncs timed, want 1", got-syncs)
	}
	if counterValue(metrics.EASRequests.WithLabelValues("other", "418")) < 1 {
		t.Error("an unknown command is not folded into other")
	}
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
