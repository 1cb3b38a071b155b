package message

import (
	"bytes"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message/mail"
)

// File is an attachment of a message being composed.
type File struct {
	Name, ContentType   string
	ContentID, Location string // Content-Id without angle brackets, Content-Location
	Inline              bool
	Data                []byte
}

// Compose writes a message with header h: a text/plain body, a text/html
// alternative when html is not empty, and the files after them
// (multipart/mixed), or just the bodies when there are none. The callers
// (SmartReply/Forward, device drafts) differ only in how they fill h and
// the files, so the MIME structure is built in one place.
func Compose(h mail.Header, text, html string, files []File) ([]byte, error) {
	var out bytes.Buffer
	bodies := func(iw *mail.InlineWriter) error {
		if err := writeTextPart(iw, "text/plain", text); err != nil {
			return err
		}
		if html != "" {
			if err := writeTextPart(iw, "text/html", html); err != nil {
				return err
			}
		}
		return iw.Close()
	}
	if len(files) == 0 {
		iw, err := mail.CreateInlineWriter(&out, h)
		if err != nil {
			return nil, err
		}
		if err := bodies(iw); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	}
	w, err := mail.CreateWriter(&out, h)
	if err != nil {
		return nil, err
	}
	iw, err := w.CreateInline()
	if err != nil {
		return nil, err
	}
	if err := bodies(iw); err != nil {
		return nil, err
	}
	for _, f := range files {
		var ah mail.AttachmentHeader
		ah.SetContentType(mediaType(f.ContentType))
		ah.SetFilename(f.Name)
		if f.Inline {
			ah.SetContentDisposition("inline", map[string]string{"filename": f.Name})
		}
		if f.ContentID != "" {
			ah.Set("Content-Id", "<"+strings.Trim(f.ContentID, "<>")+">")
		}
		if f.Location != "" {
			ah.Set("Content-Location", f.Location)
		}
		aw, err := w.CreateAttachment(ah)
		if err != nil {
			return nil, err
		}
		if _, err := aw.Write(f.Data); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func writeTextPart(iw *mail.InlineWriter, contentType, body string) error {
	var h mail.InlineHeader
	h.SetContentType(contentType, map[string]string{"charset": "utf-8"})
	pw, err := iw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(pw, body); err != nil {
		return err
	}
	return pw.Close()
}

// mediaType splits a Content-Type value ("text/csv; charset=utf-8", as
// Part returns for text) into its type and parameters, which is what the
// header writer takes: given the whole value as the type, it would write
// an empty Content-Type.
func mediaType(ct string) (string, map[string]string) {
	t, params, err := mime.ParseMediaType(ct)
	if err != nil || t == "" {
		return "application/octet-stream", nil
	}
	return t, params
}
