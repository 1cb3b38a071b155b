package activesync

import (
	"context"
	"errors"
	"log/slog"
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
	// KeepInHandler keeps held Pings inside net/http's handler instead of
	// taking their connections over (ping_detach.go): each then costs
	// several times the memory. For tests of that path.
	KeepInHandler bool
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
// when the device sends a newer Ping or Sync (Command.Push: it supersedes
// the held one) or when the server shuts down. The device's other commands
// (SendMail, ItemOperations...) leave it waiting, so a phone that sends a
// mail keeps its push.
//
// Across nodes, a newer request on another node ends the Ping too
// (ping_crossnode.go).
type pushState struct {
	opts PingOptions
	bus  arrivalBus // nil: one node

	mu     sync.Mutex
	seq    uint64
	latest map[int64]uint64    // device -> sequence of its newest request in flight
	held   map[int64]*heldPing // device -> its held Ping
	// Across nodes, for devices with a request in flight only:
	echoed      map[int64]uint64 // device -> newest own request whose announcement came back
	superseded  map[int64]uint64 // device -> newest own request a newer one on another node ended
	stop        chan struct{}    // closed by EndHeldRequests
	once        sync.Once
	count       atomic.Int64 // Pings held now
	unsubscribe func()
	// RemoteSuperseded counts Pings ended by a newer request on another
	// node.
	remoteSuperseded atomic.Int64
	// detached counts the Pings waiting outside net/http (ping_detach.go).
	detached sync.WaitGroup
}

type heldPing struct {
	seq  uint64
	done chan struct{} // closed when superseded
}

// newPushState returns the Ping bookkeeping; when n also carries request
// arrivals between nodes (push.Broker on PostgreSQL), a newer request of a
// device on another node ends its Ping here.
func newPushState(o PingOptions, n Notifier) *pushState {
	o.defaults()
	p := &pushState{opts: o, latest: map[int64]uint64{}, held: map[int64]*heldPing{}, stop: make(chan struct{}),
		echoed: map[int64]uint64{}, superseded: map[int64]uint64{}}
	if bus, ok := n.(arrivalBus); ok && bus.CrossNode() {
		p.bus = bus
		p.unsubscribe = bus.OnArrival(p.heard)
	}
	return p
}

// arrive notes a new admitted Ping or Sync of a device (Command.Push) and
// ends the Ping or Sync the device holds, if any. It returns the request's
// sequence number. Across nodes it announces the request before returning.
func (p *pushState) arrive(devicePK int64) uint64 {
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.latest[devicePK] = seq
	if hp := p.held[devicePK]; hp != nil {
		close(hp.done)
		delete(p.held, devicePK)
	}
	p.mu.Unlock()
	if p.bus != nil {
		p.bus.Announce(devicePK, seq)
	}
	return seq
}

// leave forgets a finished request.
func (p *pushState) leave(devicePK int64, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.latest[devicePK] == seq {
		delete(p.latest, devicePK)
		delete(p.echoed, devicePK)
		delete(p.superseded, devicePK)
	}
}

// hold registers a Ping about to wait. It returns nil when a newer request
// of the device already arrived, here or on another node: the Ping must end
// at once.
func (p *pushState) hold(devicePK int64, seq uint64) *heldPing {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.latest[devicePK] != seq || p.superseded[devicePK] >= seq {
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
	h.push.once.Do(func() {
		close(h.push.stop)
		if h.push.unsubscribe != nil {
			h.push.unsubscribe()
		}
	})
}

// HeldPings returns how many Pings this handler holds now, waiting for a
// change.
func (h *Handler) HeldPings() int64 { return h.push.count.Load() }

// PingsSupersededRemotely returns how many held Pings a newer request of the
// same device on another node has ended.
func (h *Handler) PingsSupersededRemotely() int64 { return h.push.remoteSuperseded.Load() }

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
// Once the checks pass it returns a Response carrying a pingWait, and
// ServeHTTP runs the wait: on the connection taken over from net/http
// when it can (ping_detach.go), so a held Ping costs a few KB, not the
// request with net/http's buffers and goroutines.
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
	w := &pingWait{h: h, log: r.Log, userID: r.User.ID, devicePK: r.Device.ID, folders: folders,
		heartbeat: time.Duration(heartbeat) * time.Second, hp: hp}
	if h.notifier != nil {
		w.changes, w.cancel = h.notifier.Subscribe(r.User.ID, folders)
	}
	if resp, err := w.begin(ctx, r); resp != nil || err != nil {
		w.end()
		if err != nil {
			return fail(err)
		}
		return resp, nil
	}
	// Not needed while waiting: keep idle Pings small. ServeHTTP runs
	// the wait, on the connection it takes over from net/http when it
	// can (ping_detach.go).
	r.Doc, r.Raw = nil, nil
	h.push.count.Add(1) // waiting from here on; end undoes it
	return &Response{wait: w}, nil
}

// pingWait is a Ping that passed its checks and waits for a change. It
// keeps only what the wait needs, not the request: a node holds tens of
// thousands of these.
type pingWait struct {
	h                *Handler
	log              *slog.Logger
	userID, devicePK int64
	folders          []int64
	heartbeat        time.Duration
	hp               *heldPing
	changes          <-chan int64 // nil without a Notifier
	cancel           func()       // ends the subscription
	base             map[int64]int64
	baseHier         int64
}

// begin reads the counters the wait compares against (after subscribing,
// so a change committed in between is seen either here or as a wake-up).
// It returns the answer when there is one already.
func (w *pingWait) begin(ctx context.Context, r *Request) (*Response, error) {
	var err error
	if w.base, err = w.h.store.FolderCounters(ctx, w.userID, w.folders); err != nil {
		return nil, err
	}
	if w.baseHier, err = w.h.store.HierarchyCounter(ctx, w.userID); err != nil {
		return nil, err
	}
	// Anything the device has not synced yet is a change now (MS-ASCMD
	// 3.1.5.8: against the last SyncKey the device was given).
	changed, err := w.h.unsyncedFolders(ctx, r, w.folders, w.base)
	if err != nil {
		return nil, err
	}
	if len(changed) > 0 {
		return changedResponse(changed), nil
	}
	return nil, nil
}

// end releases what the Ping holds: the device's slot, the subscription.
func (w *pingWait) end() {
	w.h.push.release(w.devicePK, w.hp)
	if w.cancel != nil {
		w.cancel()
	}
}

// run waits until a watched folder changes (Status 2), the hierarchy
// changes (7), the heartbeat ends, a newer request of the device or the
// server's shutdown ends the Ping, or gone is closed because the device
// went away (all 1). ctx serves the queries of a wake-up.
func (w *pingWait) run(ctx context.Context, gone <-chan struct{}) *Response {
	defer w.h.push.count.Add(-1)
	defer w.end()
	fail := func(err error) *Response {
		w.log.Error("Ping", "err", err)
		resp, _ := pingResponse(pingServerError)
		return resp
	}
	timer := time.NewTimer(w.heartbeat)
	defer timer.Stop()
	for {
		select {
		case <-w.changes:
		case <-timer.C:
			resp, _ := pingResponse(pingExpired)
			return resp
		case <-w.hp.done:
			w.log.Debug("Ping superseded by a newer request of the device")
			resp, _ := pingResponse(pingExpired)
			return resp
		case <-w.h.push.stop:
			resp, _ := pingResponse(pingExpired)
			return resp
		case <-gone:
			resp, _ := pingResponse(pingExpired) // the device went away; nobody reads this
			return resp
		}
		hier, err := w.h.store.HierarchyCounter(ctx, w.userID)
		if err != nil {
			return fail(err)
		}
		if hier != w.baseHier {
			resp, _ := pingResponse(pingHierarchy)
			return resp
		}
		now, err := w.h.store.FolderCounters(ctx, w.userID, w.folders)
		if err != nil {
			return fail(err)
		}
		var changed []int64
		for _, id := range w.folders {
			if now[id] != w.base[id] {
				changed = append(changed, id)
			}
		}
		if len(changed) > 0 {
			return changedResponse(changed)
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
