package activesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"airlock/pim"
	"airlock/store"
)

// A 16.x device names each event it creates with Calendar:ClientUid
// (MS-ASCAL 2.2.2.12) and leaves the UID to the server. When it adds the
// same event again — it lost our answer and its sync key moved on, or it
// started its calendar over — the server must answer with the event it
// already has, not store a second copy.
//
// The server-made UID of such an event is derived from the ClientUid
// (clientUIDKey), so the earlier copy is found by the indexed UID column;
// its stored ClientUid must match too.

// clientUIDKey is the UID the server gives an event added with ClientUid
// cu and no UID.
func clientUIDKey(cu string) string {
	sum := sha256.Sum256([]byte(cu))
	return "cuid-" + hex.EncodeToString(sum[:16]) + "@airlock"
}

// duplicateAdd returns the event of folder a 16.x device's Add it repeats
// (same ClientUid), or nil.
func (h *Handler) duplicateAdd(ctx context.Context, r *Request, folder *store.Folder, it *store.Item) (*store.Item, error) {
	if r.Version < V160 || folder.Class != store.ClassCalendar || it == nil || it.UID == "" {
		return nil, nil
	}
	var e pim.Event
	if e.FromItem(it) != nil || e.ClientUID == "" {
		return nil, nil
	}
	old, err := h.store.ItemByUID(ctx, r.User.ID, store.ClassCalendar, it.UID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var had pim.Event
	if old.FolderID != folder.ID || had.FromItem(old) != nil || had.ClientUID != e.ClientUID {
		return nil, nil
	}
	return old, nil
}
