package web

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// postPhoto posts the photo form of a user's page as a browser does
// (multipart, with the page's CSRF token unless token is "-").
func (b *browser) postPhoto(userID int64, token, filename string, data []byte) *resp {
	b.t.Helper()
	path := "/admin/users/" + strconv.FormatInt(userID, 10)
	if token == "" {
		token = b.get(path).csrf(b.t)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if token != "-" {
		mw.WriteField("_csrf", token)
	}
	fw, _ := mw.CreateFormFile("photo", filename)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.base+path+"/photo", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

func testPNG(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), 90, uint8(y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUserPhotoUpload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.addUser("admin@example.nhs.uk", "admin-pass-1", store.RoleAdmin)
		u := e.addUser("nurse@example.nhs.uk", "nurse-pass-1", store.RoleUser)
		ctx := context.Background()
		admin := e.browser()
		if p := admin.login("admin@example.nhs.uk", "admin-pass-1"); p.Location != "/admin" {
			t.Fatalf("admin login: %+v", p)
		}
		page := "/admin/users/" + strconv.FormatInt(u.ID, 10)

		// Refused: not an image, no CSRF token, a plain user.
		if r := admin.postPhoto(u.ID, "", "cv.pdf", []byte("%PDF-1.4 not a photo")); r.Code != http.StatusSeeOther || r.Location != page {
			t.Fatalf("not an image: %d %s", r.Code, r.Location)
		}
		if p := admin.get(page); !strings.Contains(p.Body, "Photo not changed: not a usable photo: not a JPEG or PNG image") {
			t.Fatalf("no clear message:\n%s", p.Body)
		}
		if !e.audited("user.photo_set", "refused") {
			t.Fatal("refusal not audited")
		}
		if r := admin.postPhoto(u.ID, "-", "ann.png", testPNG(t, 300, 300)); r.Code != http.StatusForbidden {
			t.Fatalf("without CSRF token: %d", r.Code)
		}
		nurse := e.browser()
		nurse.login("nurse@example.nhs.uk", "nurse-pass-1")
		my := nurse.get("/account")
		if r := nurse.postPhoto(u.ID, my.csrf(t), "ann.png", testPNG(t, 300, 300)); r.Code != http.StatusForbidden && r.Code != http.StatusNotFound {
			t.Fatalf("plain user uploads: %d", r.Code)
		}
		if strings.Contains(my.Body, "data:image/jpeg;base64,") {
			t.Fatal("photo shown before one was set")
		}
		if _, err := st.Photo(ctx, u.ID); err == nil {
			t.Fatal("a refused upload was stored")
		}

		// Accepted: a 600×300 PNG is stored as a 256×128 JPEG, audited,
		// and shown on the admin's page and on the user's own.
		if r := admin.postPhoto(u.ID, "", "ann.png", testPNG(t, 600, 300)); r.Code != http.StatusSeeOther {
			t.Fatalf("upload: %d %s", r.Code, r.Body)
		}
		ph, err := st.Photo(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(ph.Data))
		if err != nil || ph.ContentType != "image/jpeg" || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 128 {
			t.Fatalf("stored photo: %s %v %v", ph.ContentType, err, img)
		}
		if !e.audited("user.photo_set", "success") {
			t.Fatal("upload not audited")
		}
		if p := admin.get(page); !strings.Contains(p.Body, `src="data:image/jpeg;base64,`) || !strings.Contains(p.Body, "Remove photo") {
			t.Fatal("admin page does not show the photo")
		}
		if p := nurse.get("/account"); !strings.Contains(p.Body, `src="data:image/jpeg;base64,`) {
			t.Fatal("/account does not show the photo")
		}

		// Removed.
		if r := admin.postForm(page, page+"/photo", map[string][]string{"clear": {"1"}}); r.Code != http.StatusSeeOther {
			t.Fatalf("clear: %d", r.Code)
		}
		if _, err := st.Photo(ctx, u.ID); err == nil || !e.audited("user.photo_cleared", "success") {
			t.Fatalf("clear: photo still there (%v) or not audited", err)
		}
	})
}
