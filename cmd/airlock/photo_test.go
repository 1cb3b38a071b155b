package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

// photoFile writes a w×h PNG and returns its path.
func photoFile(t *testing.T, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 120, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ann.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// galPicture searches the GAL for "ann" with a picture and returns the
// picture's Status and decoded Data.
func galPicture(t *testing.T, dev *eastest.Device, maxSize string) (string, []byte) {
	t.Helper()
	res := dev.Do("Search", `<Search:Search><Search:Store><Search:Name>GAL</Search:Name><Search:Query>ann</Search:Query><Search:Options><Search:Range>0-9</Search:Range>`+
		`<Search:Picture><Search:MaxSize>`+maxSize+`</Search:MaxSize><Search:MaxPictures>1</Search:MaxPictures></Search:Picture></Search:Options></Search:Store></Search:Search>`)
	res.Expect(200, "Search:Response/Search:Store/Search:Status", "1")
	pic := "Search:Response/Search:Store/Search:Result/Search:Properties/GAL:Picture/"
	data, err := base64.StdEncoding.DecodeString(res.Text(pic + "GAL:Data"))
	if err != nil {
		t.Fatalf("picture data: %v", err)
	}
	return res.Text(pic + "GAL:Status"), data
}

// `airlock user photo set|clear` on both databases: a bad file is refused
// with one line and nothing stored; a good one is scaled, stored, audited
// and served by GAL Search (14.1+ Picture), within MaxSize; clear removes it.
func TestUserPhotoCommand(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			db := storetest.DSN(t, dialect)
			if _, errOut, code := run(t, "s3cret-password\n", "user", "add", "--db", db, "--email", "ann@example.nhs.uk", "--name", "Ann Lee"); code != 0 {
				t.Fatal(errOut)
			}
			notImage := filepath.Join(t.TempDir(), "cv.pdf")
			os.WriteFile(notImage, []byte("%PDF-1.4 curriculum vitae"), 0o644)
			big := filepath.Join(t.TempDir(), "huge.jpg")
			os.WriteFile(big, make([]byte, 9<<20), 0o644)
			good := photoFile(t, 640, 480)
			for _, c := range []struct {
				args    []string
				wantErr string
			}{
				{[]string{"set", "ann@example.nhs.uk", notImage}, "not a JPEG or PNG image"},
				{[]string{"set", "ann@example.nhs.uk", big}, "over the limit"},
				{[]string{"set", "ann@example.nhs.uk", filepath.Join(t.TempDir(), "missing.png")}, "no such file"},
				{[]string{"set", "nobody@example.nhs.uk", good}, "no user nobody@example.nhs.uk"},
			} {
				_, errOut, code := run(t, "", append([]string{"user", "photo", "--db", db}, c.args...)...)
				if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, c.wantErr) {
					t.Errorf("%v: code %d, %q (want %q)", c.args, code, errOut, c.wantErr)
				}
			}
			if _, errOut, code := run(t, "", "user", "photo", "--db", db, "rotate", "ann@example.nhs.uk"); code != 2 || !strings.Contains(errOut, "Usage: airlock user photo") {
				t.Errorf("bad subcommand: %d %q", code, errOut)
			}
			st, err := store.Open(context.Background(), db, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			u, _ := st.UserByAddress(context.Background(), "ann@example.nhs.uk")
			if _, err := st.Photo(context.Background(), u.ID); err == nil {
				t.Fatal("a refused file was stored")
			}

			// Flags after the arguments work too.
			out, errOut, code := run(t, "", "user", "photo", "set", "ann@example.nhs.uk", good, "--db", db)
			if code != 0 || !strings.Contains(out, "photo set for ann@example.nhs.uk") {
				t.Fatalf("set: %d %q %q", code, out, errOut)
			}
			evs, _ := st.ListAudit(context.Background(), store.AuditFilter{Action: "user.photo_set"})
			if len(evs) != 1 || evs[0].Target != "ann@example.nhs.uk" {
				t.Fatalf("audit: %+v", evs)
			}

			base := startServer(t, "--plain-http", "--db", db)
			dev := eastest.NewDevice(t, base, eastest.Android4, "ann@example.nhs.uk", "s3cret-password")
			dev.Provision(1).Expect(200, "Provision:Policies/Provision:Policy/Provision:Status", "1")
			status, data := galPicture(t, dev, "100000")
			if status != "1" {
				t.Fatalf("picture status %s", status)
			}
			img, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("served picture is not a JPEG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 192 {
				t.Fatalf("served picture is %v, want 256×192", b)
			}
			if status, data := galPicture(t, dev, "100"); status != "174" || len(data) != 0 {
				t.Fatalf("over MaxSize: %s, %d bytes", status, len(data))
			}

			if out, errOut, code := run(t, "", "user", "photo", "clear", "--db", db, "ann@example.nhs.uk"); code != 0 || !strings.Contains(out, "photo cleared") {
				t.Fatalf("clear: %d %q %q", code, out, errOut)
			}
			if status, _ := galPicture(t, dev, "100000"); status != "173" {
				t.Fatalf("after clear: status %s", status)
			}
		})
	}
}
