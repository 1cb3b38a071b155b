package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"airlock/directory"
	"airlock/store"
	"airlock/store/storetest"
)

// TestDirectoryPages: search by name, department, job title and site;
// fewer than three letters find nobody; a disabled colleague is not
// found; the card shows the phones (the mobile only when the organisation
// shows mobiles), the photo, and links to mail and a meeting.
func TestDirectoryPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newDiaryWebEnv(t, st)
		ctx := context.Background()
		priya := e.addUser("priya.shah@example.nhs.uk", diaryWebPW, store.RoleUser)
		priya.DisplayName, priya.JobTitle, priya.Department, priya.Office = "Dr Priya Shah", "Consultant Cardiologist", "Cardiology", "St Mary's Hospital"
		priya.Phone, priya.Mobile = "+44 20 7946 0001", "+44 7700 900123"
		if err := st.UpdateDirectory(ctx, priya); err != nil {
			t.Fatal(err)
		}
		gone := e.addUser("gone@example.nhs.uk", diaryWebPW, store.RoleUser)
		gone.DisplayName, gone.Department = "Gone Away", "Cardiology"
		if err := st.UpdateDirectory(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if err := st.SetUserDisabled(ctx, gone.ID, true); err != nil {
			t.Fatal(err)
		}
		b := e.signIn(t, e.alice)
		for _, tc := range []struct{ q, want, not string }{
			{"pri", "Dr Priya Shah", "Gone Away"},
			{"cardio", "Dr Priya Shah", "Gone Away"},
			{"consultant", "Dr Priya Shah", ""},
			{"mary", "Dr Priya Shah", ""},
			{"pr", "at least 3 letters", "Dr Priya Shah"},
			{"zzz", "Nobody found", "Dr Priya Shah"},
		} {
			r := b.get("/directory?q=" + tc.q)
			body := mainOf(r.Body)
			if r.Code != 200 || !strings.Contains(body, tc.want) || (tc.not != "" && strings.Contains(body, tc.not)) {
				t.Errorf("q=%s: HTTP %d, want %q, not %q:\n%s", tc.q, r.Code, tc.want, tc.not, body)
			}
		}
		card := "/directory/" + strconv.FormatInt(priya.ID, 10)
		r := b.get(card)
		body := mainOf(r.Body)
		for _, want := range []string{"Consultant Cardiologist", "St Mary&#39;s Hospital", "20 7946 0001", `href="tel:&#43;442079460001"`,
			`/mail/compose?to=priya.shah%40example.nhs.uk`, `/diary/new?attendee=priya.shah%40example.nhs.uk`} {
			if !strings.Contains(body, want) {
				t.Errorf("card lacks %q", want)
			}
		}
		if strings.Contains(body, "7700 900123") || strings.Contains(body, "/sms/compose") {
			t.Error("the mobile is shown though the organisation hides mobiles")
		}
		if r := b.get("/directory/" + strconv.FormatInt(gone.ID, 10)); r.Code != http.StatusNotFound {
			t.Errorf("disabled colleague's card: HTTP %d", r.Code)
		}
		if err := st.SetSetting(ctx, directory.SettingShowMobile, "true"); err != nil {
			t.Fatal(err)
		}
		if body := mainOf(b.get(card).Body); !strings.Contains(body, "7700 900123") {
			t.Error("the mobile is hidden though the organisation shows mobiles")
		}
		if r := b.get(card + "/photo"); r.Code != http.StatusNotFound {
			t.Errorf("photo before one is set: HTTP %d", r.Code)
		}
		jpeg := []byte("\xff\xd8\xff\xe0fake")
		if err := st.SetPhoto(ctx, priya.ID, "image/jpeg", jpeg); err != nil {
			t.Fatal(err)
		}
		if r := b.get(card + "/photo"); r.Code != 200 || r.Body != string(jpeg) || r.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("photo: HTTP %d %s", r.Code, r.Header.Get("Content-Type"))
		}
		if body := mainOf(b.get(card).Body); !strings.Contains(body, card+"/photo") {
			t.Error("the card shows no photo")
		}
	})
}
