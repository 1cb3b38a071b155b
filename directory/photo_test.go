package directory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

func encodeImage(t *testing.T, format string, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	case "png":
		err = png.Encode(&buf, img)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gradient is a w×h picture with a colour per quadrant, so scaling that
// mixed them up would show.
func gradient(w, h int, alpha uint8) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{R: 200, G: 30, B: 30, A: alpha}
			if x >= w/2 {
				c = color.NRGBA{R: 30, G: 30, B: 200, A: alpha}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// bombPNG is a valid 1×1 PNG whose header claims w×h pixels.
func bombPNG(t *testing.T, w, h uint32) []byte {
	data := encodeImage(t, "png", gradient(1, 1, 255))
	// Signature (8), IHDR length (4), "IHDR" (4), width, height...
	binary.BigEndian.PutUint32(data[16:], w)
	binary.BigEndian.PutUint32(data[20:], h)
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	return data
}

func TestPreparePhoto(t *testing.T) {
	for _, c := range []struct {
		name       string
		data       []byte
		wantErr    string // substring of the error; "" = accepted
		wantW      int
		wantH      int
		leftCorner color.RGBA // expected colour near the top-left (±24)
	}{
		{name: "large JPEG is scaled to fit", data: encodeImage(t, "jpeg", gradient(1200, 900, 255)), wantW: 256, wantH: 192, leftCorner: color.RGBA{200, 30, 30, 255}},
		{name: "portrait PNG", data: encodeImage(t, "png", gradient(300, 600, 255)), wantW: 128, wantH: 256, leftCorner: color.RGBA{200, 30, 30, 255}},
		{name: "small photo kept at its size", data: encodeImage(t, "png", gradient(96, 96, 255)), wantW: 96, wantH: 96, leftCorner: color.RGBA{200, 30, 30, 255}},
		{name: "transparent PNG on white", data: encodeImage(t, "png", gradient(64, 64, 0)), wantW: 64, wantH: 64, leftCorner: color.RGBA{255, 255, 255, 255}},
		{name: "not an image", data: []byte("%PDF-1.4 not a photo"), wantErr: "not a JPEG or PNG"},
		{name: "GIF", data: encodeImage(t, "gif", gradient(10, 10, 255)), wantErr: "use JPEG or PNG"},
		{name: "empty", data: nil, wantErr: "empty"},
		{name: "over the upload limit", data: make([]byte, MaxPhotoUpload+1), wantErr: "over the limit"},
		{name: "decompression bomb", data: bombPNG(t, 60000, 60000), wantErr: "too large"},
		{name: "truncated JPEG", data: encodeImage(t, "jpeg", gradient(400, 400, 255))[:600], wantErr: "cannot be read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := PreparePhoto(c.data)
			if c.wantErr != "" {
				if err == nil || !errors.Is(err, ErrPhoto) || !bytes.Contains([]byte(err.Error()), []byte(c.wantErr)) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out) > MaxPhotoBytes {
				t.Fatalf("%d bytes stored", len(out))
			}
			img, format, err := image.Decode(bytes.NewReader(out))
			if err != nil || format != "jpeg" {
				t.Fatalf("stored %s: %v", format, err)
			}
			if b := img.Bounds(); b.Dx() != c.wantW || b.Dy() != c.wantH {
				t.Fatalf("size %v, want %d×%d", b, c.wantW, c.wantH)
			}
			r, g, b, _ := img.At(4, 4).RGBA()
			near := func(got uint32, want uint8) bool { d := int(got>>8) - int(want); return d > -24 && d < 24 }
			if !near(r, c.leftCorner.R) || !near(g, c.leftCorner.G) || !near(b, c.leftCorner.B) {
				t.Fatalf("corner colour %d,%d,%d, want %v", r>>8, g>>8, b>>8, c.leftCorner)
			}
		})
	}
}
