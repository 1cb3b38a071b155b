package activesync

import (
	"context"
	"errors"
	"strconv"

	"airlock/store"
)

// MoveItems status values (MS-ASCMD 2.2.3.177.10 Status (MoveItems)). Note
// that success is 3, not 1.
const (
	moveBadSource = 1 // invalid source collection or item
	moveBadDest   = 2 // invalid destination collection
	moveOK        = 3
	moveSame      = 4 // source and destination are the same
	moveFailed    = 5 // the move failed (also: too many items in one request)
)

// maxMoveItems bounds one MoveItems request.
const maxMoveItems = 1000

// moveItems serves MS-ASCMD 2.2.1.12 MoveItems. A moved item gets a new
// ServerId in its new folder (DstMsgId); the devices see a Delete in the
// source and an Add in the destination on their next Sync. Every id is
// checked against the user: another user's item or folder is "invalid".
func (h *Handler) moveItems(ctx context.Context, r *Request) (*Response, error) {
	req := root(r.Doc, "Move:MoveItems")
	doc, resp := newDoc("Move:MoveItems")
	moves := children(req, "Move:Move")
	if req == nil || len(moves) == 0 {
		return nil, &Error{HTTP: 400, Status: StatusInvalidContent, Legacy: 400, Reason: "MoveItems request without Move"}
	}
	if len(moves) > maxMoveItems {
		add(resp, "Move:Status", itoa(moveFailed))
		return &Response{Doc: doc}, nil
	}
	for _, m := range moves {
		src := text(m, "Move:SrcMsgId")
		out := resp.CreateElement("Move:Response")
		add(out, "Move:SrcMsgId", src)
		status, dst, err := h.moveOne(ctx, r, src, text(m, "Move:SrcFldId"), text(m, "Move:DstFldId"))
		if err != nil {
			r.Log.Error("MoveItems", "err", err)
			status = moveFailed
		}
		add(out, "Move:Status", itoa(status))
		if status == moveOK {
			add(out, "Move:DstMsgId", dst)
		}
	}
	return &Response{Doc: doc}, nil
}

func (h *Handler) moveOne(ctx context.Context, r *Request, srcMsg, srcFld, dstFld string) (int, string, error) {
	itemID, ok1 := parseItemID(srcMsg)
	srcID, ok2 := parseItemID(srcFld)
	if !ok1 || !ok2 {
		return moveBadSource, "", nil
	}
	dstID, ok := parseItemID(dstFld)
	if !ok {
		return moveBadDest, "", nil
	}
	if srcID == dstID {
		return moveSame, "", nil
	}
	it, err := h.store.ItemByID(ctx, r.User.ID, itemID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && it.FolderID != srcID) {
		return moveBadSource, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	dst, err := h.store.FolderByID(ctx, r.User.ID, dstID)
	if errors.Is(err, store.ErrNotFound) {
		return moveBadDest, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	if dst.Class != it.Class {
		return moveBadDest, "", nil
	}
	moved, err := h.store.MoveItem(ctx, r.User.ID, itemID, dst.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return moveBadSource, "", nil
	case errors.Is(err, store.ErrConflict):
		return moveFailed, "", nil
	case err != nil:
		return 0, "", err
	}
	return moveOK, strconv.FormatInt(moved.ID, 10), nil
}
