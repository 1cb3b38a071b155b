package activesync

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"airlock/activesync/wbxml"
	"airlock/message"
	"airlock/store"
)

// ItemOperations status values (MS-ASCMD 2.2.3.177.8).
const (
	ioOK            = 1
	ioProtocolError = 2
	ioServerError   = 3
	ioNotFound      = 6  // object not found or access denied
	ioBadRange      = 8  // byte range invalid or too large
	ioStoreUnknown  = 9  // store unknown or not supported
	ioConversion    = 14 // item failed conversion
	ioBadAttachment = 15 // invalid attachment or attachment id
)

// maxItemOperations bounds one request.
const maxItemOperations = 100

// itemOperations serves MS-ASCMD 2.2.1.10 ItemOperations: Fetch of items
// (CollectionId+ServerId, or a Search result's LongId) and attachments
// (FileReference) of the user's
// mailbox, and EmptyFolderContents. Document libraries (LinkId, UNC or
// http(s) or file URLs, Store "DocumentLibrary") are never accessed: the
// Fetch gets Status 9 and the attempt is audited (the "PEAS" attack).
// With MS-ASAcceptMultiPart: T the fetched data
// goes in parts after the WBXML (MS-ASCMD 2.2.1.10.1).
func (h *Handler) itemOperations(ctx context.Context, r *Request) (*Response, error) {
	req := root(r.Doc, "ItemOperations:ItemOperations")
	doc, resp := newDoc("ItemOperations:ItemOperations")
	if req == nil {
		add(resp, "ItemOperations:Status", itoa(ioProtocolError))
		return &Response{Doc: doc}, nil
	}
	ops := req.ChildElements()
	if len(ops) == 0 || len(ops) > maxItemOperations {
		add(resp, "ItemOperations:Status", itoa(ioProtocolError))
		return &Response{Doc: doc}, nil
	}
	add(resp, "ItemOperations:Status", itoa(ioOK))
	out := resp.CreateElement("ItemOperations:Response")
	var parts [][]byte
	for _, op := range ops {
		switch {
		case op.Space == "ItemOperations" && op.Tag == "Fetch":
			el, err := h.ioFetch(ctx, r, op, &parts)
			if err != nil {
				return nil, storeFailure(err)
			}
			out.AddChild(el)
		case op.Space == "ItemOperations" && op.Tag == "EmptyFolderContents":
			el, err := h.ioEmptyFolder(ctx, r, op)
			if err != nil {
				return nil, storeFailure(err)
			}
			out.AddChild(el)
		default:
			// Move (conversations) is not supported.
			el := etree.NewElement("ItemOperations:" + op.Tag)
			if op.Space != "ItemOperations" || op.Tag != "Move" {
				el = etree.NewElement("ItemOperations:Fetch")
			}
			add(el, "ItemOperations:Status", itoa(ioProtocolError))
			out.AddChild(el)
		}
	}
	if r.Query.AcceptMultiPart {
		return multipartResponse(doc, parts)
	}
	return &Response{Doc: doc}, nil
}

// documentLibraryTarget reports a Fetch of a document library: a LinkId,
// or a Store other than the mailbox.
func documentLibraryTarget(op *etree.Element) (string, bool) {
	if l := text(op, "DocumentLibrary:LinkId"); l != "" {
		return l, true
	}
	if s := text(op, "ItemOperations:Store"); s != "" && !strings.EqualFold(s, "Mailbox") {
		return "Store=" + s, true
	}
	return "", false
}

func (h *Handler) ioFetch(ctx context.Context, r *Request, op *etree.Element, parts *[][]byte) (*etree.Element, error) {
	el := etree.NewElement("ItemOperations:Fetch")
	status := func(s int) *etree.Element {
		add(el, "ItemOperations:Status", itoa(s))
		return el
	}
	if target, ok := documentLibraryTarget(op); ok {
		if len(target) > 256 {
			target = target[:256]
		}
		err := h.store.Audit(ctx, &store.AuditEvent{Actor: r.User.Email, ActorIP: clientIP(r.HTTP), Action: "eas.document_library_refused",
			TargetType: "document_library", Target: target, UserID: &r.User.ID, DevicePK: &r.Device.ID, Outcome: "refused",
			Detail: "ItemOperations Fetch of a document library (UNC/URL); Airlock gives no document library access"})
		if err != nil {
			r.Log.Error("audit document library refusal", "err", err)
		}
		r.Log.Warn("ItemOperations document library fetch refused")
		return status(ioStoreUnknown), nil
	}
	opts, ok := ioOptions(child(op, "ItemOperations:Options"))
	if !ok {
		return status(ioProtocolError), nil
	}
	if ref := text(op, "AirSyncBase:FileReference"); ref != "" {
		return h.ioFetchAttachment(ctx, r, el, ref, op, parts)
	}
	coll, sid := text(op, "AirSync:CollectionId"), text(op, "AirSync:ServerId")
	longID := text(op, "Search:LongId")
	if sid == "" && longID == "" {
		return status(ioProtocolError), nil
	}
	add(el, "ItemOperations:Status", itoa(ioOK))
	ref := sid
	if sid != "" {
		add(el, "AirSync:CollectionId", coll)
		add(el, "AirSync:ServerId", sid)
	} else {
		// MS-ASCMD 2.2.3.98.1: a Search result, named by its LongId, which
		// is our item id (search.go); the answer names it the same way
		// (2.2.3.67.1). The item may be in any of the user's folders.
		add(el, "Search:LongId", longID)
		ref, coll = longID, ""
	}
	var it *store.Item
	var raw []byte
	if id, ok := parseItemID(ref); ok {
		got, err := h.store.ItemByID(ctx, r.User.ID, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if got != nil && (coll == "" || coll == strconv.FormatInt(got.FolderID, 10)) {
			it = got
		}
	}
	if it == nil {
		el.RemoveChildAt(0)
		el.InsertChildAt(0, newText("ItemOperations:Status", itoa(ioNotFound)))
		return el, nil
	}
	if it.BlobID != nil {
		c, err := h.store.Content(ctx, r.User.ID, it.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		raw, it.Rendered = c.Raw, c.Rendered
	}
	codec := codecFor(it.Class)
	if codec == nil {
		el.RemoveChildAt(0)
		el.InsertChildAt(0, newText("ItemOperations:Status", itoa(ioConversion)))
		return el, nil
	}
	add(el, "AirSync:Class", string(it.Class))
	props := el.CreateElement("ItemOperations:Properties")
	codec.write(props, it, raw, true, renderOpts{Options: opts, Version: r.Version, User: r.User})
	if r.Query.AcceptMultiPart {
		// The body's data goes in a part of its own.
		if body := child(props, "AirSyncBase:Body"); body != nil {
			if d := child(body, "AirSyncBase:Data"); d != nil {
				data, err := wbxml.Bytes(d)
				if err == nil {
					body.RemoveChild(d)
					*parts = append(*parts, data)
					add(body, "ItemOperations:Part", itoa(len(*parts)))
				}
			}
		}
	}
	return el, nil
}

func newText(name, value string) *etree.Element {
	el := etree.NewElement(name)
	el.SetText(value)
	return el
}

// ioOptions reads ItemOperations:Options (MS-ASCMD 2.2.3.115.2): body
// preferences and MIMESupport, as in Sync.
func ioOptions(el *etree.Element) (*syncOptions, bool) {
	o := &syncOptions{}
	if el == nil {
		return o, true
	}
	var ok bool
	if o.MIMESupport, ok = intText(el, "AirSync:MIMESupport", 0); !ok {
		return nil, false
	}
	for _, bp := range children(el, "AirSyncBase:BodyPreference") {
		p := bodyPref{}
		if p.Type, ok = intText(bp, "AirSyncBase:Type", 0); !ok || p.Type < 1 || p.Type > 4 {
			return nil, false
		}
		ts, ok := intText(bp, "AirSyncBase:TruncationSize", 0)
		if !ok || ts < 0 {
			return nil, false
		}
		p.TruncationSize = int64(ts)
		p.AllOrNone = text(bp, "AirSyncBase:AllOrNone") == "1"
		o.BodyPrefs = append(o.BodyPrefs, p)
	}
	return o, true
}

// attachmentData loads one attachment of the user by its FileReference.
func (h *Handler) attachmentData(ctx context.Context, r *Request, ref string) (contentType, name string, data []byte, status int, err error) {
	id, ok := parseItemID(ref)
	if !ok {
		return "", "", nil, ioBadAttachment, nil
	}
	att, it, err := h.store.AttachmentByID(ctx, r.User.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", nil, ioBadAttachment, nil
	}
	if err != nil {
		return "", "", nil, 0, err
	}
	raw, err := h.store.Blob(ctx, r.User.ID, it.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", nil, ioBadAttachment, nil
	}
	if err != nil {
		return "", "", nil, 0, err
	}
	ct, fn, data, err := message.Part(raw, att.PartIndex)
	if err != nil {
		r.Log.Warn("attachment part unreadable", "attachment", att.ID, "err", err)
		return "", "", nil, ioBadAttachment, nil
	}
	return ct, fn, data, ioOK, nil
}

func (h *Handler) ioFetchAttachment(ctx context.Context, r *Request, el *etree.Element, ref string, op *etree.Element, parts *[][]byte) (*etree.Element, error) {
	ct, _, data, status, err := h.attachmentData(ctx, r, ref)
	if err != nil {
		return nil, err
	}
	add(el, "ItemOperations:Status", itoa(status))
	add(el, "AirSyncBase:FileReference", ref)
	if status != ioOK {
		return el, nil
	}
	total := len(data)
	if rng := text(child(op, "ItemOperations:Options"), "ItemOperations:Range"); rng != "" {
		from, to, ok := parseByteRange(rng)
		if !ok || from >= total {
			el.RemoveChildAt(0)
			el.InsertChildAt(0, newText("ItemOperations:Status", itoa(ioBadRange)))
			return el, nil
		}
		to = min(to, total-1)
		data = data[from : to+1]
		props := el.CreateElement("ItemOperations:Properties")
		add(props, "ItemOperations:Range", fmt.Sprintf("%d-%d", from, to))
		add(props, "ItemOperations:Total", itoa(total))
		return el, fillData(props, ct, data, r, parts)
	}
	props := el.CreateElement("ItemOperations:Properties")
	return el, fillData(props, ct, data, r, parts)
}

func fillData(props *etree.Element, ct string, data []byte, r *Request, parts *[][]byte) error {
	add(props, "AirSyncBase:ContentType", ct)
	if r.Query.AcceptMultiPart {
		*parts = append(*parts, data)
		add(props, "ItemOperations:Part", itoa(len(*parts)))
		return nil
	}
	add(props, "ItemOperations:Data", base64.StdEncoding.EncodeToString(data))
	return nil
}

// parseByteRange reads "from-to" (MS-ASCMD 2.2.3.141 Range), both inclusive.
func parseByteRange(s string) (int, int, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	from, err1 := strconv.Atoi(a)
	to, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || from < 0 || to < from {
		return 0, 0, false
	}
	return from, to, true
}

// ioEmptyFolder serves EmptyFolderContents (MS-ASCMD 2.2.3.57): delete the
// folder's items and, with DeleteSubFolders, its subfolders.
func (h *Handler) ioEmptyFolder(ctx context.Context, r *Request, op *etree.Element) (*etree.Element, error) {
	el := etree.NewElement("ItemOperations:EmptyFolderContents")
	coll := text(op, "AirSync:CollectionId")
	id, ok := parseItemID(coll)
	var f *store.Folder
	var err error
	if ok {
		f, err = h.store.FolderByID(ctx, r.User.ID, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if f == nil {
		add(el, "ItemOperations:Status", itoa(ioNotFound))
		add(el, "AirSync:CollectionId", coll)
		return el, nil
	}
	if _, err := h.store.EmptyFolder(ctx, r.User.ID, f.ID); err != nil {
		return nil, err
	}
	if child(child(op, "ItemOperations:Options"), "ItemOperations:DeleteSubFolders") != nil {
		all, err := h.store.Folders(ctx, r.User.ID)
		if err != nil {
			return nil, err
		}
		for _, sub := range all {
			if sub.ParentID == f.ID {
				if err := h.store.DeleteFolder(ctx, r.User.ID, sub.ID); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
					return nil, err
				}
			}
		}
	}
	add(el, "ItemOperations:Status", itoa(ioOK))
	add(el, "AirSync:CollectionId", coll)
	return el, nil
}

// multipartResponse builds application/vnd.ms-sync.multipart (MS-ASCMD
// 2.2.1.10.1): the number of parts, then each part's offset and length
// (32-bit little endian), then the parts; part 0 is the WBXML response.
func multipartResponse(doc *etree.Document, parts [][]byte) (*Response, error) {
	w, err := wbxml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	all := append([][]byte{w}, parts...)
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, int32(len(all)))
	off := 4 + 8*len(all)
	for _, p := range all {
		binary.Write(&buf, binary.LittleEndian, int32(off))
		binary.Write(&buf, binary.LittleEndian, int32(len(p)))
		off += len(p)
	}
	for _, p := range all {
		buf.Write(p)
	}
	return &Response{Body: &buf, ContentType: "application/vnd.ms-sync.multipart"}, nil
}

// getAttachment serves MS-ASCMD 2.2.1.8 GetAttachment (12.x and 14.x):
// AttachmentName in the query is the FileReference; the answer is the raw
// attachment with its content type.
func (h *Handler) getAttachment(ctx context.Context, r *Request) (*Response, error) {
	ref := r.Query.AttachmentName
	ct, _, data, status, err := h.attachmentData(ctx, r, ref)
	if err != nil {
		return nil, storeFailure(err)
	}
	if status != ioOK {
		return nil, httpError(http.StatusNotFound, "attachment not found", fmt.Errorf("attachment %q", ref))
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	return &Response{Body: bytes.NewReader(data), ContentType: ct}, nil
}
