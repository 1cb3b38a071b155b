package activesync

import (
	"context"
	"fmt"
	"time"

	"github.com/beevik/etree"

	"airlock/message"
	"airlock/store"
)

// Calendar attachments (MS-ASCAL 2.2.2.7 with MS-ASAIRS 2.2.2.8, EAS 16.0
// and 16.1). A 16.x device adds files to an event with
// AirSyncBase:Attachments/Add (its ClientId, DisplayName, Content...) in a
// Sync Add or Change, answered with our FileReference for each
// (MS-ASAIRS 2.2.2.14), and removes them with Delete by FileReference.
// The user's devices get them as AirSyncBase:Attachments on the event
// (16.0+) and fetch them with ItemOperations by FileReference.
//
// The files are kept as mail attachments are: the event's blob is a small
// MIME message holding them, and each store.Attachment names its part
// (PartIndex), so FileReference, ItemOperations and GetAttachment need
// nothing new. The container is built the way a draft is (drafts.go: the
// same attachment edits and MIME writer), and a changed one replaces the
// event's blob in the Sync commit, attachments keeping their ids.
// A meeting's files reach its attendees through package scheduling
// (meeting_files.go): the requests carry them, and a colleague's copy
// holds them as its own attachments.

// calendarAttachmentEdits returns the Attachments element of a 16.x
// calendar Add or Change, or nil.
func calendarAttachmentEdits(r *Request, folder *store.Folder, app *etree.Element) *etree.Element {
	if r.Version < V160 || folder.Class != store.ClassCalendar || app == nil {
		return nil
	}
	return child(app, "AirSyncBase:Attachments")
}

// calendarAttachments applies a device's attachment edits to the event it
// (from parseAdd or parseChange: its Attachments are the event's current
// ones) and returns the new content to store with it, with the ClientId of
// each attachment the device added. base is the event's current content
// when this request already changed it, else nil (it is read from the
// store). An edit that cannot be applied is errConversion.
func (h *Handler) calendarAttachments(ctx context.Context, r *Request, it *store.Item, base []byte, edits *etree.Element) (*draftCmd, error) {
	d := &draft{Subject: it.Subject, Importance: message.ImportanceNormal}
	if len(it.Attachments) > 0 {
		if base == nil && it.ID != 0 {
			raw, err := h.store.Blob(ctx, r.User.ID, it.ID)
			if err != nil {
				return nil, err
			}
			base = raw
		}
		for _, a := range it.Attachments {
			ct, name, data, err := message.Part(base, a.PartIndex)
			if err != nil {
				return nil, fmt.Errorf("event %d attachment %d: %v: %w", it.ID, a.ID, err, errConversion)
			}
			d.Atts = append(d.Atts, draftAtt{ID: a.ID, Name: name, ContentType: ct, ContentID: a.ContentID, Inline: a.Inline, Data: data})
		}
	}
	if err := d.editAttachments(edits); err != nil {
		return nil, err
	}
	raw, err := d.compose(r.User, time.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("event attachments: %v: %w", err, errConversion)
	}
	parsed, err := message.Parse(raw)
	if err != nil || len(parsed.Attachments) != len(d.Atts) {
		return nil, fmt.Errorf("event attachments do not read back: %v: %w", err, errConversion)
	}
	out := &draftCmd{Item: it, Raw: raw}
	for i, a := range d.Atts {
		parsed.Attachments[i].ID = a.ID
		out.ClientIDs = append(out.ClientIDs, a.ClientID)
	}
	it.Attachments, it.HasAttachments = parsed.Attachments, len(parsed.Attachments) > 0
	return out, nil
}
