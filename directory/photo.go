package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // PNG uploads are accepted (and stored as JPEG)
)

// Staff photographs for the GAL (MS-ASCMD 2.2.3.135 Picture: Search, Find
// and ResolveRecipients serve them from 14.1).
//
// What an administrator gives (a JPEG or PNG, from `airlock user photo
// set` or the user's page in the dashboard) is decoded, which proves it is
// an image, scaled down to fit PhotoSide pixels, flattened on white and
// stored as a JPEG of at most MaxPhotoBytes. Re-encoding also drops what a
// camera writes into a file besides the picture (EXIF location, device
// serial numbers), which has no business in a directory every colleague's
// phone can read. Devices ask for at most MaxSize bytes per picture; a
// small thumbnail is what they show, so the stored one is small.

// Photo limits.
const (
	// MaxPhotoUpload is the largest file accepted, before scaling.
	MaxPhotoUpload = 8 << 20
	// maxPhotoPixels bounds the decoded image (width × height), checked
	// from the header before the pixels are decoded, so a small file that
	// claims a huge image (a decompression bomb) is refused cheaply.
	maxPhotoPixels = 30_000_000
	// PhotoSide is the longest side of a stored photo, in pixels.
	PhotoSide = 256
	// MaxPhotoBytes bounds a stored photo.
	MaxPhotoBytes = 48 << 10
)

// ErrPhoto is wrapped by PreparePhoto's errors: the file is not a usable
// photo; the message says why, for the administrator.
var ErrPhoto = errors.New("not a usable photo")

// PreparePhoto checks and converts an uploaded photo: JPEG or PNG, at most
// MaxPhotoUpload bytes and maxPhotoPixels pixels. It returns the JPEG to
// store.
func PreparePhoto(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrPhoto)
	}
	if len(data) > MaxPhotoUpload {
		return nil, fmt.Errorf("%w: the file is %d KiB, over the limit of %d KiB", ErrPhoto, len(data)>>10, MaxPhotoUpload>>10)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not a JPEG or PNG image", ErrPhoto)
	}
	if format != "jpeg" && format != "png" {
		return nil, fmt.Errorf("%w: a %s image; use JPEG or PNG", ErrPhoto, format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxPhotoPixels {
		return nil, fmt.Errorf("%w: %d×%d pixels is too large (at most %d megapixels)", ErrPhoto, cfg.Width, cfg.Height, maxPhotoPixels/1_000_000)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: the %s image cannot be read: %v", ErrPhoto, format, err)
	}
	small := scaleToFit(img, PhotoSide)
	for _, q := range []int{85, 70, 50} {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, small, &jpeg.Options{Quality: q}); err != nil {
			return nil, err
		}
		if buf.Len() <= MaxPhotoBytes {
			return buf.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("%w: it does not compress to %d KiB", ErrPhoto, MaxPhotoBytes>>10)
}

// scaleToFit returns img flattened on white (a transparent PNG pixel
// becomes white, not black) and, when a side is longer than side, scaled
// down by averaging the source pixels each target pixel covers (a box
// filter: no aliasing when shrinking a lot). At most 16×16 source pixels
// are sampled per target pixel, and no full-size copy is made, so a
// camera-sized photo costs little time and memory.
func scaleToFit(img image.Image, side int) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	tw, th := w, h
	if w > side || h > side {
		if w >= h {
			tw, th = side, max(1, h*side/w)
		} else {
			tw, th = max(1, w*side/h), side
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := 0; y < th; y++ {
		y0, y1 := y*h/th, max((y+1)*h/th, y*h/th+1)
		ys := max(1, (y1-y0)/16)
		for x := 0; x < tw; x++ {
			x0, x1 := x*w/tw, max((x+1)*w/tw, x*w/tw+1)
			xs := max(1, (x1-x0)/16)
			var r, g, bl, a, n uint64
			for sy := y0; sy < y1; sy += ys {
				for sx := x0; sx < x1; sx += xs {
					pr, pg, pb, pa := img.At(b.Min.X+sx, b.Min.Y+sy).RGBA() // premultiplied, 16 bits
					r, g, bl, a, n = r+uint64(pr), g+uint64(pg), bl+uint64(pb), a+uint64(pa), n+1
				}
			}
			// Over white: colour + (1 − alpha) × white, premultiplied.
			white := n*0xffff - a
			o := out.Pix[y*out.Stride+x*4:]
			o[0], o[1], o[2], o[3] = uint8((r+white)/n>>8), uint8((g+white)/n>>8), uint8((bl+white)/n>>8), 255
		}
	}
	return out
}

// PhotoStore is what SetPhoto needs from the store.
type PhotoStore interface {
	SetPhoto(ctx context.Context, userID int64, contentType string, data []byte) error
}

// SetPhoto checks and converts data (PreparePhoto) and stores it as the
// user's photo; nothing is stored when it is refused. ClearPhoto removes it.
func SetPhoto(ctx context.Context, st PhotoStore, userID int64, data []byte) ([]byte, error) {
	photo, err := PreparePhoto(data)
	if err != nil {
		return nil, err
	}
	return photo, st.SetPhoto(ctx, userID, "image/jpeg", photo)
}

// ClearPhoto removes a user's photo.
func ClearPhoto(ctx context.Context, st PhotoStore, userID int64) error {
	return st.SetPhoto(ctx, userID, "", nil)
}
