package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"airlock/directory"
	"airlock/store"
	"airlock/store/storetest"
)

// Mobile numbers are hidden from the directory until an administrator
// turns them on, and the change is audited.
func TestGALMobileNumbersSettingAudited(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
	ctx := context.Background()
	if on, err := directory.ShowMobile(ctx, e.Store); err != nil || on {
		t.Fatalf("default: %v %v, want off", on, err)
	}
	b := e.browser()
	b.login("admin@example.nhs.uk", "admin-pass-1")
	if p := b.postForm("/admin/settings", "/admin/settings", url.Values{"section": {"directory"}, "show_mobile": {"on"}}); p.Code != http.StatusSeeOther {
		t.Fatalf("save: HTTP %d", p.Code)
	}
	if on, _ := directory.ShowMobile(ctx, e.Store); !on {
		t.Fatal("setting not saved")
	}
	if !e.audited("settings.changed", "") {
		t.Fatal("change not audited")
	}
}
