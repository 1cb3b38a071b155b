package scheduling

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"airlock/message"
	"airlock/store"
)

// Meeting files (16.x calendar attachments, MS-ASCAL 2.2.2.7). The files
// an organizer attaches to a meeting travel with it, as Exchange sends
// them: the meeting request mail carries them as attachments (to local and
// remote attendees alike, so remote ones get them in the iMIP mail), and
// a colleague's calendar copy holds them. The copy's blob is the request
// itself, its attachments the request's file parts, so the attendee's
// 16.x devices see them on the event and fetch them by FileReference as
// any attachment of their own (ItemOperations and GetAttachment check the
// item is the caller's: the organizer's FileReferences are not theirs, nor
// theirs anyone else's). Each update replaces the copy's files with the
// current set; a cancellation removes the copy with them. A remote
// organizer's request with files is kept the same way.

// File is one file of a meeting.
type File struct {
	Name, ContentType, ContentID string
	Inline                       bool
	Data                         []byte
}

// organizerFiles returns the files of org's meeting with the UID, none
// when it has none (or is not in org's calendar).
func (s *Service) organizerFiles(ctx context.Context, org *store.User, uid string) ([]File, error) {
	it, err := s.Store.ItemByUID(ctx, org.ID, store.ClassCalendar, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}

	if !it.HasAttachments || it.BlobID == nil {
		return nil, nil
	}
	raw, err := s.Store.Blob(ctx, org.ID, it.ID)
	if err != nil {
		return nil, err
	}
	parsed, err := message.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("meeting %d: %w", it.ID, err)
	}
	var out []File
	for _, a := range parsed.Attachments {
		ct, name, data, err := message.Part(raw, a.PartIndex)
		if err != nil {
			return nil, fmt.Errorf("meeting %d part %d: %w", it.ID, a.PartIndex, err)
		}
		out = append(out, File{Name: name, ContentType: ct, ContentID: a.ContentID, Inline: a.Inline, Data: data})
	}
	return out, nil
}

// withFiles gives the attendee's copy it the files of the meeting message
// raw, and returns raw to store as its blob; nil (it unchanged) when the
// message has none.
func withFiles(it *store.Item, raw []byte) []byte {
	if raw == nil {
		return nil
	}
	parsed, err := message.Parse(raw)
	if err != nil || len(parsed.Attachments) == 0 {
		return nil
	}
	it.Attachments, it.HasAttachments = parsed.Attachments, true
	return raw
}

// writeFiles adds the files to a multipart/mixed message.
func writeFiles(w *gomessage.Writer, files []File) error {
	for _, f := range files {
		var h mail.AttachmentHeader
		ct, params, err := mime.ParseMediaType(f.ContentType)
		if err != nil {
			ct, params = "application/octet-stream", nil
		}
		h.SetContentType(ct, params)
		h.SetFilename(f.Name)
		if f.Inline {
			h.SetContentDisposition("inline", map[string]string{"filename": f.Name})
		}
		if f.ContentID != "" {
			h.Set("Content-Id", "<"+strings.Trim(f.ContentID, "<>")+">")
		}
		h.Set("Content-Transfer-Encoding", "base64")
		pw, err := w.CreatePart(h.Header)
		if err != nil {
			return err
		}
		if _, err := pw.Write(f.Data); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	return nil
}
