package activesync

import (
	"context"
	"errors"

	"airlock/store"
)

// GetItemEstimate status values (MS-ASCMD 2.2.3.177.7).
const (
	estimateOK         = 1
	estimateBadFolder  = 2 // a collection that does not exist
	estimateNotPrimed  = 3 // sync key 0: the collection was never synced
	estimateBadSyncKey = 4
)

// getItemEstimate serves MS-ASCMD 2.2.1.9 GetItemEstimate: how many changes
// the device's next Syncs of each collection will bring, from its current
// key. The estimate counts the folder's changes above the state's
// high-water mark (an upper bound: tombstones of items the device never had
// are counted) plus pending soft deletes.
func (h *Handler) getItemEstimate(ctx context.Context, r *Request) (*Response, error) {
	req := root(r.Doc, "GetItemEstimate:GetItemEstimate")
	doc, resp := newDoc("GetItemEstimate:GetItemEstimate")
	colls := children(child(req, "GetItemEstimate:Collections"), "GetItemEstimate:Collection")
	if req == nil || len(colls) == 0 || len(colls) > maxCollections {
		return nil, &Error{HTTP: 400, Status: StatusInvalidContent, Legacy: 400, Reason: "GetItemEstimate request without collections"}
	}
	for _, c := range colls {
		id := text(c, "GetItemEstimate:CollectionId")
		key := text(c, "AirSync:SyncKey")
		out := resp.CreateElement("GetItemEstimate:Response")
		status, n, err := h.estimate(ctx, r, id, key)
		if err != nil {
			return nil, storeFailure(err)
		}
		add(out, "GetItemEstimate:Status", itoa(status))
		col := out.CreateElement("GetItemEstimate:Collection")
		add(col, "GetItemEstimate:CollectionId", id)
		if status == estimateOK {
			add(col, "GetItemEstimate:Estimate", itoa(int(n)))
		}
	}
	return &Response{Doc: doc}, nil
}

func (h *Handler) estimate(ctx context.Context, r *Request, id, keyText string) (int, int64, error) {
	folderID, ok := parseItemID(id)
	if !ok {
		return estimateBadFolder, 0, nil
	}
	folder, err := h.store.FolderByID(ctx, r.User.ID, folderID)
	if errors.Is(err, store.ErrNotFound) {
		return estimateBadFolder, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	key, initial, ok := parseSyncKey(keyText)
	switch {
	case !ok:
		return estimateBadSyncKey, 0, nil
	case initial:
		return estimateNotPrimed, 0, nil
	}
	lk, err := lookupKey(ctx, h.store, r.Device.ID, id, key, func(s *collectionState) string { return s.Token })
	if errors.Is(err, errBadKey) {
		return estimateBadSyncKey, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	base := lk.Base.Data
	if base.FolderID != folder.ID {
		return estimateBadSyncKey, 0, nil
	}
	n, err := h.store.CountChangesSince(ctx, r.User.ID, folder.ID, base.Since)
	if err != nil {
		return 0, 0, err
	}
	return estimateOK, n + int64(len(base.SoftPending)), nil
}
