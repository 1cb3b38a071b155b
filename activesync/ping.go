package activesync

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"airlock/store"
)

// Ping status values (MS-ASCMD 2.2.3.177.11 Status (Ping)).
const (
	pingExpired     = 1 // heartbeat interval expired, no changes
	pingChanges     = 2 // changes in the listed folders
	pingMissing     = 3 // parameters missing and nothing cached
	pingProtocol    = 4 // syntax error in the request
	pingBadInterval = 5 // heartbeat outside the limits; HeartbeatInterval says which
	pingTooMany     = 6 // too many folders; MaxFolders says how many
	pingHierarchy   = 7 // folder hierarchy sync required
	pingServerError = 8
)

// PingOptions bound Ping requests. Zero fields take the defaults.
type PingOptions struct {
	// MinHeartbeat and MaxHeartbeat bound HeartbeatInterval; defaults
	// 60 s and 3540 s (MS-ASCMD 2.2.3.88.1: implementation-specific; these
	// are Exchange's). A proxy in front must allow longer idle requests
	// than MaxHeartbeat.
	MinHeartbeat, MaxHeartbeat time.Duration
	// MaxFolders is the most folders one Ping may watch; default 300.
	MaxFolders int
}

func (o *PingOptions) defaults() {
	if o.MinHeartbeat <= 0 {
		o.MinHeartbeat = 60 * time.Second
	}
	if o.MaxHeartbeat <= 0 {
		o.MaxHeartbeat = 3540 * time.Second
	}
	if o.MaxHeartbeat < o.MinHeartbeat {
		o.MaxHeartbeat = o.MinHeartbeat
	}
	if o.MaxFolders <= 0 {
		o.MaxFolders = 300
	}
}

// pushState tracks the Pings this node holds: at most one per device, ended
// when the device sends anything else (a newer request supersedes it) or
// when the server shuts down.
type pushState struct {
	opts PingOptions

	mu     sync.Mutex
	seq    uint64
	latest map[int64]uint64    // device -> sequence of its newest request in flight
	held   map[int64]*heldPing // device -> its held Ping
	stop   chan struct{}       // closed by EndHeldRequests
	once   sync.Once
	count  atomic.Int64 // Pings held now
}

type heldPing struct {
	seq  uint64
	done chan struct{} // closed when superseded
}

func newPushState(o PingOptions) *pushState {
	o.defaults()
	return &pushState{opts: o, latest: map[int64]uint64{}, held: map[int64]*heldPing{}, stop: make(chan struct{})}
}

// arrive notes a new admitted request of a device and ends the Ping the
// device holds, if any. It returns the request's sequence number.
func (p *pushState) arrive(devicePK int64) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.latest[devicePK] = p.seq
	if hp := p.held[devicePK]; hp != nil {
		close(hp.done)
		delete(p.held, devicePK)
	}
	return p.seq
}

// leave forgets a finished request.
func (p *pushState) leave(devicePK int64, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.latest[devicePK] == seq {
		delete(p.latest, devicePK)
	}
}

// hold registers a Ping about to wait. It returns nil when a newer request
// of the device already arrived: the Ping must end at once.
func (p *pushState) hold(devicePK int64, seq uint64) *heldPing {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.latest[devicePK] != seq {
		return nil
	}
	hp := &heldPing{seq: seq, done: make(chan struct{})}
	p.held[devicePK] = hp
	return hp
}

func (p *pushState) release(devicePK int64, hp *heldPing) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[devicePK] == hp {
		delete(p.held, devicePK)
	}
}

// EndHeldRequests ends every held Ping (with Status 1, so devices simply
// Ping again, elsewhere or after the restart) and makes new ones return at
// once. Call it when the server shuts down, before waiting for requests to
// finish.
func (h *Handler) EndHeldRequests() {
	h.push.once.Do(func() { close(h.push.stop) })
}

// HeldPings returns how many Pings this handler holds now, waiting for a
// change.
func (h *Handler) HeldPings() int64 { return h.push.count.Load() }

// pingRequest is a parsed Ping body: zero fields were absent.
type pingRequest struct {
	Heartbeat  int
	Folders    []int64
	hasFolders bool
}

// parsePing reads MS-ASCMD 2.2.1.13: an empty body, or Ping with
// HeartbeatInterval and/or Folders/Folder/{Id, Class}.
func parsePing(r *Request) (pingRequest, bool) {
	var pr pingRequest
	if r.Doc == nil {
		return pr, true
	}
	el := root(r.Doc, "Ping:Ping")
	if el == nil {
		return pr, false
	}
	for _, c := range el.ChildElements() {
		switch {
		case c.Space == "Ping" && c.Tag == "HeartbeatInterval":
			n, err := strconv.Atoi(strings.TrimSpace(c.Text()))
			if err != nil {
				return pr, false
			}
			if n <= 0 {
				n = -1 // present but out of range (below the minimum)
			}
			pr.Heartbeat = n
		case c.Space == "Ping" && c.Tag == "Folders":
			pr.hasFolders = true
			for _, f := range children(c, "Ping:Folder") {
				id, ok := parseItemID(text(f, "Ping:Id"))
				if !ok {
					return pr, false
				}
				if !slices.Contains(pr.Folders, id) {
					pr.Folders = append(pr.Folders, id)
				}
			}
			if len(pr.Folders) == 0 {
				return pr, false // Folders without a Folder
			}
		default:
			return pr, false
		}
	}
	if pr.Heartbeat == 0 && !pr.hasFolders {
		return pr, false // MS-ASCMD 2.2.1.13: one of the two MUST be present
	}
	return pr, true
}

func pingResponse(status int) (*Response, func(name, value string)) {
	doc, resp := newDoc("Ping:Ping")
	add(resp, "Ping:Status", itoa(status))
	return &Response{Doc: doc}, func(name, value string) { add(resp, name, value) }
}

// ping serves MS-ASCMD 2.2.1.13 Ping: hold the request until one of the
// folders changes (Status 2 naming them), the hierarchy changes (7), the
// heartbeat interval ends (1), or a newer request of the device or the
// server's shutdown ends it (1).
//
// Implementation notes. The request costs a few queries up front (the
// cached parameters, the folder list, the device's sync states, the
// counters) and none while it waits: it subscribes to the Notifier and
// re-reads the watched folders' counters only when woken. It subscribes
// before reading the counters it compares against, so a change that
// commits in between is seen either in the counters or as a wake-up.
func (h *Handler) ping(ctx context.Context, r *Request) (*Response, error) {
	opts := h.push.opts
	pr, ok := parsePing(r)
	if !ok {
		resp, _ := pingResponse(pingProtocol)
		return resp, nil
	}
	fail := func(err error) (*Response, error) {
		r.Log.Error("Ping", "err", err)
		resp, _ := pingResponse(pingServerError)
		return resp, nil
	}

	// MS-ASCMD 3.1.5.8: missing parameters come from the cache.
	cached, err := h.store.PingState(ctx, r.Device.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fail(err)
	}
	heartbeat, folders := pr.Heartbeat, pr.Folders
	if cached != nil {
		if heartbeat == 0 {
			heartbeat = cached.Heartbeat
		}
		if !pr.hasFolders {
			folders = parseFolderList(cached.Folders)
		}
	}
	if heartbeat == 0 || len(folders) == 0 {
		resp, _ := pingResponse(pingMissing)
		return resp, nil
	}
	// MS-ASCMD 2.2.3.88.1: Status 5 with the limit the request crossed.
	if hb := time.Duration(heartbeat) * time.Second; heartbeat < 0 || hb < opts.MinHeartbeat {
		resp, set := pingResponse(pingBadInterval)
		set("Ping:HeartbeatInterval", itoa(int(opts.MinHeartbeat/time.Second)))
		return resp, nil
	} else if hb > opts.MaxHeartbeat {
		resp, set := pingResponse(pingBadInterval)
		set("Ping:HeartbeatInterval", itoa(int(opts.MaxHeartbeat/time.Second)))
		return resp, nil
	}
	if len(folders) > opts.MaxFolders {
		resp, set := pingResponse(pingTooMany)
		set("Ping:MaxFolders", itoa(opts.MaxFolders))
		return resp, nil
	}
	if pr.Heartbeat != 0 || pr.hasFolders {
		list := formatFolderList(folders)
		if cached == nil || cached.Heartbeat != heartbeat || cached.Folders != list {
			if err := h.store.SavePingState(ctx, &store.PingState{DevicePK: r.Device.ID, Heartbeat: heartbeat, Folders: list}); err != nil {
				return fail(err)
			}
		}
	}

	// Every watched folder must be one the device knows from its last
	// FolderSync, and that hierarchy must still be current: otherwise the
	// device has to FolderSync first (Status 7).
	current, err := h.hierarchyCurrent(ctx, r, folders)
	if err != nil {
		return fail(err)
	}
	if !current {
		resp, _ := pingResponse(pingHierarchy)
		return resp, nil
	}

	hp := h.push.hold(r.Device.ID, r.arrival)
	if hp == nil {
		resp, _ := pingResponse(pingExpired) // superseded before it began
		return resp, nil
	}
	defer h.push.release(r.Device.ID, hp)
	var changes <-chan int64
	if h.notifier != nil {
		ch, cancel := h.notifier.Subscribe(r.User.ID, folders)
		defer cancel()
		changes = ch
	}
	base, err := h.store.FolderCounters(ctx, r.User.ID, folders)
	if err != nil {
		return fail(err)
	}
	baseHier, err := h.store.HierarchyCounter(ctx, r.User.ID)
	if err != nil {
		return fail(err)
	}
	// Anything the device has not synced yet is a change now (MS-ASCMD
	// 3.1.5.8: against the last SyncKey the device was given).
	changed, err := h.unsyncedFolders(ctx, r, folders, base)
	if err != nil {
		return fail(err)
	}
	if len(changed) > 0 {
		return changedResponse(changed), nil
	}

	timer := time.NewTimer(time.Duration(heartbeat) * time.Second)
	defer timer.Stop()
	r.Doc, r.Raw = nil, nil // not needed while waiting: keep idle Pings small
	h.push.count.Add(1)     // waiting from here on
	defer h.push.count.Add(-1)
	for {
		select {
		case <-changes:
		case <-timer.C:
			resp, _ := pingResponse(pingExpired)
			return resp, nil
		case <-hp.done:
			r.Log.Debug("Ping superseded by a newer request of the device")
			resp, _ := pingResponse(pingExpired)
			return resp, nil
		case <-h.push.stop:
			resp, _ := pingResponse(pingExpired)
			return resp, nil
		case <-ctx.Done():
			resp, _ := pingResponse(pingExpired) // the device went away; nobody reads this
			return resp, nil
		}
		hier, err := h.store.HierarchyCounter(ctx, r.User.ID)
		if err != nil {
			return fail(err)
		}
		if hier != baseHier {
			resp, _ := pingResponse(pingHierarchy)
			return resp, nil
		}
		now, err := h.store.FolderCounters(ctx, r.User.ID, folders)
		if err != nil {
			return fail(err)
		}
		changed = changed[:0]
		for _, id := range folders {
			if now[id] != base[id] {
				changed = append(changed, id)
			}
		}
		if len(changed) > 0 {
			return changedResponse(changed), nil
		}
	}
}

func changedResponse(ids []int64) *Response {
	doc, resp := newDoc("Ping:Ping")
	add(resp, "Ping:Status", itoa(pingChanges))
	fs := resp.CreateElement("Ping:Folders")
	for _, id := range ids {
		add(fs, "Ping:Folder", strconv.FormatInt(id, 10))
	}
	return &Response{Doc: doc}
}

// hierarchyCurrent reports whether the device's last FolderSync state
// shows the hierarchy as it is now and contains every folder in ids.
func (h *Handler) hierarchyCurrent(ctx context.Context, r *Request, ids []int64) (bool, error) {
	row, err := h.store.LatestSyncState(ctx, r.Device.ID, hierarchyCollection)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // never synced its folders
	}
	if err != nil {
		return false, err
	}
	st, err := decodeState[hierarchyStateV](row)
	if err != nil {
		return false, err
	}
	if st.Data.Quarantine != quarantined(r) {
		return false, nil
	}
	visible, _, err := h.visibleFolders(ctx, r)
	if err != nil {
		return false, err
	}
	if !sameFolders(st.Data.Folders, visible) {
		return false, nil
	}
	for _, id := range ids {
		if _, ok := visible[id]; !ok {
			return false, nil
		}
	}
	return true, nil
}

// unsyncedFolders returns the folders whose counter is beyond what the
// device's newest Sync state for them covers. A folder the device never
// synced does not count: it has nothing to compare against, and reporting
// it would make a device that pings without syncing loop.
func (h *Handler) unsyncedFolders(ctx context.Context, r *Request, ids []int64, counters map[int64]int64) ([]int64, error) {
	var out []int64
	for _, id := range ids {
		row, err := h.store.LatestSyncState(ctx, r.Device.ID, strconv.FormatInt(id, 10))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st, err := decodeState[collectionState](row)
		if err != nil {
			return nil, err
		}
		if counters[id] > st.Data.Since {
			out = append(out, id)
		}
	}
	return out, nil
}

func parseFolderList(s string) []int64 {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if id, ok := parseItemID(f); ok {
			out = append(out, id)
		}
	}
	return out
}

func formatFolderList(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}
