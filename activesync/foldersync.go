package activesync

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"airlock/store"
)

// FolderSync status values (MS-ASCMD 2.2.3.177.5 Status (FolderSync)); the
// FolderCreate, FolderUpdate and FolderDelete tables (2.2.3.177.3, .6, .4)
// share the numbers.
const (
	folderOK            = 1
	folderExists        = 2  // FolderCreate/FolderUpdate: name taken, or a special folder
	folderSystem        = 3  // special (system) folder
	folderNotFound      = 4  // FolderUpdate/FolderDelete: no such folder
	folderParentMissing = 5  // parent not found
	folderServerError   = 6  // transient; retry
	folderBadKey        = 9  // synchronization key mismatch or invalid
	folderMalformed     = 10 // incorrectly formatted request
	folderUnknownError  = 11
)

// hierarchyOp records the FolderCreate/Update/Delete that produced a
// hierarchy generation, so a resent request (lost response) gets the same
// answer instead of "already exists" or "not found".
type hierarchyOp struct {
	Cmd      string `json:"c"`
	Request  string `json:"r"` // canonical request text
	ServerID string `json:"s,omitempty"`
	Status   int    `json:"st"`
}

// hierarchyStateV is hierarchyState with the last op; kept apart so the
// plain FolderSync code reads simply.
type hierarchyStateV struct {
	hierarchyState
	Op *hierarchyOp `json:"op,omitempty"`
}

func hierToken(s *hierarchyStateV) string { return s.Token }

// visibleFolders is the hierarchy a device may see: everything, or the
// Inbox alone for a quarantined device (the quarantine view).
func (h *Handler) visibleFolders(ctx context.Context, r *Request) (map[int64]hierFolder, []store.Folder, error) {
	fs, err := h.store.Folders(ctx, r.User.ID)
	if err != nil {
		return nil, nil, err
	}
	out := map[int64]hierFolder{}
	var list []store.Folder
	for _, f := range fs {
		if quarantined(r) && f.Type != store.FolderInbox {
			continue
		}
		out[f.ID] = hierFolder{Parent: f.ParentID, Name: f.Name, Type: int(f.Type)}
		list = append(list, f)
	}
	return out, list, nil
}

func quarantined(r *Request) bool { return r.Access.State == store.DeviceQuarantined }

// folderStatusFor maps a store failure to a FolderSync-family status.
func folderStatusFor(err error) int {
	if errors.Is(err, store.ErrUnavailable) {
		return folderServerError
	}
	return folderUnknownError
}

// folderSync serves MS-ASCMD 2.2.1.5 FolderSync: the difference between the
// folders the device knows (recorded with its key) and the folders it may
// see now.
func (h *Handler) folderSync(ctx context.Context, r *Request) (*Response, error) {
	reqEl := root(r.Doc, "FolderHierarchy:FolderSync")
	doc, resp := newDoc("FolderHierarchy:FolderSync")
	if reqEl == nil || child(reqEl, "FolderHierarchy:SyncKey") == nil {
		add(resp, "FolderHierarchy:Status", itoa(folderMalformed))
		return &Response{Doc: doc}, nil
	}
	key, initial, ok := parseSyncKey(text(reqEl, "FolderHierarchy:SyncKey"))
	if !ok {
		add(resp, "FolderHierarchy:Status", itoa(folderBadKey))
		return &Response{Doc: doc}, nil
	}
	for attempt := 0; ; attempt++ {
		out, err := h.folderSyncOnce(ctx, r, key, initial)
		if errors.Is(err, store.ErrConflict) && attempt < 2 {
			continue // a concurrent FolderSync moved the state; recompute
		}
		if errors.Is(err, errBadKey) {
			r.Log.Info("FolderSync with a bad key", "key", key.String())
			add(resp, "FolderHierarchy:Status", itoa(folderBadKey))
			return &Response{Doc: doc}, nil
		}
		if err != nil {
			r.Log.Error("FolderSync", "err", err)
			add(resp, "FolderHierarchy:Status", itoa(folderStatusFor(err)))
			return &Response{Doc: doc}, nil
		}
		return out, nil
	}
}

func (h *Handler) folderSyncOnce(ctx context.Context, r *Request, key syncKey, initial bool) (*Response, error) {
	visible, list, err := h.visibleFolders(ctx, r)
	if err != nil {
		return nil, err
	}
	var (
		known  map[int64]hierFolder
		next   = &hierarchyStateV{hierarchyState: hierarchyState{Folders: visible, Quarantine: quarantined(r)}}
		guard  store.SyncStateGuard
		newKey syncKey
	)
	if initial {
		known = map[int64]hierFolder{}
		next.Token = newToken()
		newKey = syncKey{Token: next.Token, N: 1}
		guard.Restart = true
	} else {
		lk, err := lookupKey(ctx, h.store, r.Device.ID, hierarchyCollection, key, hierToken)
		if err != nil {
			return nil, err
		}
		known = lk.Base.Data.Folders
		next.Token = key.Token
		newKey = syncKey{Token: key.Token, N: key.N + 1}
		guard = store.SyncStateGuard{LatestKey: lk.Latest.Row.SyncKey, LatestID: lk.Latest.Row.ID}
		if !lk.Replay && sameFolders(known, visible) {
			// Nothing changed: the device keeps its key (no write).
			return folderSyncResponse(key, nil, nil, nil), nil
		}
	}
	var adds, updates []store.Folder
	for _, f := range list {
		k, had := known[f.ID]
		switch {
		case !had:
			adds = append(adds, f)
		case k != visible[f.ID]:
			updates = append(updates, f)
		}
	}
	var deletes []int64
	for id := range known {
		if _, ok := visible[id]; !ok {
			deletes = append(deletes, id)
		}
	}
	sort.Slice(deletes, func(i, j int) bool { return deletes[i] < deletes[j] })
	orderParentsFirst(adds)
	data, err := encodeState(next)
	if err != nil {
		return nil, err
	}
	st := &store.SyncState{DevicePK: r.Device.ID, Collection: hierarchyCollection, SyncKey: newKey.N, Data: data}
	if err := h.store.SaveSyncStateIf(ctx, st, guard); err != nil {
		return nil, err
	}
	return folderSyncResponse(newKey, adds, updates, deletes), nil
}

func sameFolders(a, b map[int64]hierFolder) bool {
	if len(a) != len(b) {
		return false
	}
	for id, f := range a {
		if g, ok := b[id]; !ok || g != f {
			return false
		}
	}
	return true
}

// orderParentsFirst sorts folders so that a parent comes before its
// children (devices build the tree as they read it).
func orderParentsFirst(fs []store.Folder) {
	byID := map[int64]*store.Folder{}
	for i := range fs {
		byID[fs[i].ID] = &fs[i]
	}
	depth := func(f *store.Folder) int {
		d := 0
		for p := f.ParentID; p != 0 && d < 64; d++ {
			q, ok := byID[p]
			if !ok {
				break
			}
			p = q.ParentID
		}
		return d
	}
	sort.SliceStable(fs, func(i, j int) bool {
		di, dj := depth(&fs[i]), depth(&fs[j])
		if di != dj {
			return di < dj
		}
		return fs[i].ID < fs[j].ID
	})
}

func folderSyncResponse(key syncKey, adds, updates []store.Folder, deletes []int64) *Response {
	doc, resp := newDoc("FolderHierarchy:FolderSync")
	add(resp, "FolderHierarchy:Status", itoa(folderOK))
	add(resp, "FolderHierarchy:SyncKey", key.String())
	ch := resp.CreateElement("FolderHierarchy:Changes")
	add(ch, "FolderHierarchy:Count", itoa(len(adds)+len(updates)+len(deletes)))
	for _, d := range deletes {
		add(ch.CreateElement("FolderHierarchy:Delete"), "FolderHierarchy:ServerId", strconv.FormatInt(d, 10))
	}
	folder := func(el *etree.Element, f store.Folder) {
		add(el, "FolderHierarchy:ServerId", strconv.FormatInt(f.ID, 10))
		add(el, "FolderHierarchy:ParentId", strconv.FormatInt(f.ParentID, 10))
		add(el, "FolderHierarchy:DisplayName", f.Name)
		add(el, "FolderHierarchy:Type", itoa(int(f.Type)))
	}
	for _, f := range updates {
		folder(ch.CreateElement("FolderHierarchy:Update"), f)
	}
	for _, f := range adds {
		folder(ch.CreateElement("FolderHierarchy:Add"), f)
	}
	return &Response{Doc: doc}
}

// folderChange is the shared frame of FolderCreate, FolderUpdate and
// FolderDelete (MS-ASCMD 2.2.1.3, 2.2.1.6, 2.2.1.4): check the hierarchy
// key, run op, and record the device's new hierarchy (what it knew plus its
// own change) under the next key. A request resent after a lost response
// gets the recorded answer.
func (h *Handler) folderChange(ctx context.Context, r *Request, cmd string, op func(known map[int64]hierFolder) (serverID string, status int, err error)) (*Response, error) {
	name := "FolderHierarchy:" + cmd
	reqEl := root(r.Doc, name)
	doc, resp := newDoc(name)
	fail := func(status int) (*Response, error) {
		add(resp, "FolderHierarchy:Status", itoa(status))
		return &Response{Doc: doc}, nil
	}
	if reqEl == nil {
		return fail(folderMalformed)
	}
	key, initial, ok := parseSyncKey(text(reqEl, "FolderHierarchy:SyncKey"))
	if !ok || initial {
		return fail(folderBadKey)
	}
	var canon strings.Builder
	for _, c := range reqEl.ChildElements() {
		if c.Tag != "SyncKey" {
			canon.WriteString(c.Tag + "=" + strings.TrimSpace(c.Text()) + ";")
		}
	}
	lk, err := lookupKey(ctx, h.store, r.Device.ID, hierarchyCollection, key, hierToken)
	if errors.Is(err, errBadKey) {
		return fail(folderBadKey)
	}
	if err != nil {
		r.Log.Error(cmd, "err", err)
		return fail(folderStatusFor(err))
	}
	answer := func(k syncKey, serverID string, status int) (*Response, error) {
		add(resp, "FolderHierarchy:Status", itoa(status))
		if status == folderOK {
			add(resp, "FolderHierarchy:SyncKey", k.String())
			if serverID != "" {
				add(resp, "FolderHierarchy:ServerId", serverID)
			}
		}
		return &Response{Doc: doc}, nil
	}
	newKey := syncKey{Token: key.Token, N: key.N + 1}
	if lk.Replay {
		if o := lk.Latest.Data.Op; o != nil && o.Cmd == cmd && o.Request == canon.String() {
			return answer(newKey, o.ServerID, o.Status)
		}
	}
	known := map[int64]hierFolder{}
	for id, f := range lk.Base.Data.Folders {
		known[id] = f
	}
	serverID, status, err := op(known)
	if err != nil {
		r.Log.Error(cmd, "err", err)
		return fail(folderStatusFor(err))
	}
	if status != folderOK {
		return fail(status)
	}
	next := &hierarchyStateV{hierarchyState: hierarchyState{Token: key.Token, Folders: known, Quarantine: lk.Base.Data.Quarantine},
		Op: &hierarchyOp{Cmd: cmd, Request: canon.String(), ServerID: serverID, Status: status}}
	data, err := encodeState(next)
	if err != nil {
		return nil, err
	}
	st := &store.SyncState{DevicePK: r.Device.ID, Collection: hierarchyCollection, SyncKey: newKey.N, Data: data}
	if err := h.store.SaveSyncStateIf(ctx, st, store.SyncStateGuard{LatestKey: lk.Latest.Row.SyncKey, LatestID: lk.Latest.Row.ID}); err != nil {
		// The folder change itself is done; the device resyncs the
		// hierarchy and sees it there.
		r.Log.Error(cmd+": save hierarchy state", "err", err)
		return fail(folderBadKey)
	}
	return answer(newKey, serverID, status)
}

// parseFolderID reads a ServerId/ParentId; "0" is the root.
func parseFolderID(s string) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return id, err == nil && id >= 0
}

// folderCreate serves MS-ASCMD 2.2.1.3 FolderCreate.
func (h *Handler) folderCreate(ctx context.Context, r *Request) (*Response, error) {
	reqEl := root(r.Doc, "FolderHierarchy:FolderCreate")
	return h.folderChange(ctx, r, "FolderCreate", func(known map[int64]hierFolder) (string, int, error) {
		parent, ok := parseFolderID(text(reqEl, "FolderHierarchy:ParentId"))
		name := strings.TrimSpace(text(reqEl, "FolderHierarchy:DisplayName"))
		t, err := strconv.Atoi(text(reqEl, "FolderHierarchy:Type"))
		if !ok || name == "" || len(name) > 256 || err != nil {
			return "", folderMalformed, nil
		}
		switch store.FolderType(t) {
		case store.FolderUserGeneric, store.FolderUserMail, store.FolderUserCalendar, store.FolderUserContacts, store.FolderUserTasks, store.FolderUserNotes:
		default:
			return "", folderMalformed, nil
		}
		if parent != 0 {
			p, err := h.store.FolderByID(ctx, r.User.ID, parent)
			if errors.Is(err, store.ErrNotFound) {
				return "", folderParentMissing, nil
			}
			if err != nil {
				return "", 0, err
			}
			if p.Type == store.FolderRecipientsCache {
				return "", folderSystem, nil
			}
		}
		f, err := h.store.CreateFolder(ctx, r.User.ID, parent, name, store.FolderType(t))
		switch {
		case errors.Is(err, store.ErrConflict):
			return "", folderExists, nil
		case errors.Is(err, store.ErrNotFound):
			return "", folderParentMissing, nil
		case err != nil:
			return "", 0, err
		}
		known[f.ID] = hierFolder{Parent: f.ParentID, Name: f.Name, Type: int(f.Type)}
		return strconv.FormatInt(f.ID, 10), folderOK, nil
	})
}

// folderUpdate serves MS-ASCMD 2.2.1.6 FolderUpdate (rename and/or move).
func (h *Handler) folderUpdate(ctx context.Context, r *Request) (*Response, error) {
	reqEl := root(r.Doc, "FolderHierarchy:FolderUpdate")
	return h.folderChange(ctx, r, "FolderUpdate", func(known map[int64]hierFolder) (string, int, error) {
		id, ok1 := parseFolderID(text(reqEl, "FolderHierarchy:ServerId"))
		parent, ok2 := parseFolderID(text(reqEl, "FolderHierarchy:ParentId"))
		name := strings.TrimSpace(text(reqEl, "FolderHierarchy:DisplayName"))
		if !ok1 || !ok2 || name == "" || len(name) > 256 {
			return "", folderMalformed, nil
		}
		f, err := h.store.FolderByID(ctx, r.User.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return "", folderNotFound, nil
		}
		if err != nil {
			return "", 0, err
		}
		if f.Type == store.FolderRecipientsCache {
			return "", folderSystem, nil
		}
		if parent != 0 {
			if _, err := h.store.FolderByID(ctx, r.User.ID, parent); errors.Is(err, store.ErrNotFound) {
				return "", folderParentMissing, nil
			} else if err != nil {
				return "", 0, err
			}
		}
		f, err = h.store.UpdateFolder(ctx, r.User.ID, id, parent, name)
		switch {
		case errors.Is(err, store.ErrConflict):
			return "", folderExists, nil // a special folder, or the name is taken
		case errors.Is(err, store.ErrNotFound):
			return "", folderNotFound, nil
		case err != nil:
			return "", 0, err
		}
		known[f.ID] = hierFolder{Parent: f.ParentID, Name: f.Name, Type: int(f.Type)}
		return "", folderOK, nil
	})
}

// folderDelete serves MS-ASCMD 2.2.1.4 FolderDelete.
func (h *Handler) folderDelete(ctx context.Context, r *Request) (*Response, error) {
	reqEl := root(r.Doc, "FolderHierarchy:FolderDelete")
	return h.folderChange(ctx, r, "FolderDelete", func(known map[int64]hierFolder) (string, int, error) {
		id, ok := parseFolderID(text(reqEl, "FolderHierarchy:ServerId"))
		if !ok || id == 0 {
			return "", folderMalformed, nil
		}
		f, err := h.store.FolderByID(ctx, r.User.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return "", folderNotFound, nil
		}
		if err != nil {
			return "", 0, err
		}
		err = h.store.DeleteFolder(ctx, r.User.ID, f.ID)
		switch {
		case errors.Is(err, store.ErrConflict):
			return "", folderSystem, nil
		case errors.Is(err, store.ErrNotFound):
			return "", folderNotFound, nil
		case err != nil:
			return "", 0, err
		}
		// The device drops the folder and everything below it.
		gone := map[int64]bool{f.ID: true}
		for changed := true; changed; {
			changed = false
			for fid, kf := range known {
				if !gone[fid] && gone[kf.Parent] {
					gone[fid], changed = true, true
				}
			}
		}
		for fid := range gone {
			delete(known, fid)
		}
		return "", folderOK, nil
	})
}
