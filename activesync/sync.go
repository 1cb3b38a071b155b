package activesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"airlock/store"
)

// The Sync engine (MS-ASCMD 2.2.1.21).
//
// Invariants, and how they hold:
//
//   - Never lose, never duplicate. Per collection, the device's commands
//     and the state of its next key are committed in one transaction
//     (store.CommitSync) before the response is built; the state records
//     the counter high-water mark reached (Since), the items the device
//     holds (Known) and the results of the commands it sent. The server's
//     changes are read by counter (store.ChangesSince), which hands each
//     item out once with its latest state and in commit order, so a change
//     committed during a multi-window drain is either below the mark (sent)
//     or above it (sent later); a sent item that changes again comes again
//     as a Change.
//   - Lost responses (MS-ASCMD 3.1.5.9: the client repeats its last
//     synchronization and the server answers it). The previous generation
//     stays valid, and a replay promises a response whose new key's state
//     covers exactly what the replay carried, not the lost response's
//     bytes. A resend of key N is computed from N's state as the lost
//     response was, but now: an identical resend applies none of its
//     commands again and answers with the recorded results (same ServerIds
//     for its Adds; a different one reuses the ServerIds of Adds already
//     done); the server's changes above N's mark come as they stand now, in
//     counter order up to the window. So the replay carries what the lost
//     response carried, in the same order, then, if the window has room,
//     what arrived since; an item that changed since comes as it is now, in
//     its new place (perhaps a later window), and one deleted since is not
//     sent. It answers with the same new key, N+1, whose state is
//     replaced in the same transaction by the one that covers this replay;
//     the lost state, which the device never saw, is gone, so the next Sync
//     neither repeats nor skips an item. Identical bytes would mean keeping
//     every response's mail a second time, and could hand out items since
//     deleted; the device cannot tell the two apart, as it never saw the
//     lost response. A response that sent nothing kept key N: sending N
//     again is an ordinary Sync, not a replay.
//     (TestSyncReplayAfterDroppedResponseUnderDelivery.)
//   - One writer per key. The commit is guarded by the newest generation
//     the request was computed from; a racing request with the same key
//     fails the guard, applies nothing and gets Status 3.
//   - No echo. Versions the device wrote itself (Own) are skipped when the
//     scan reaches them.
//   - Bounded cost. WindowSize caps the commands, scanBudget the rows one
//     request may skip over, maxCommands the device's commands; a device
//     that keeps resending a key after data was sent gets smaller windows
//     and then has the single item it refuses set aside (audited).

// Sync status values (MS-ASCMD 2.2.3.177.17 Status (Sync)).
const (
	syncOK               = 1
	syncBadKey           = 3  // invalid or mismatched synchronization key
	syncProtocolError    = 4  // request does not follow the protocol
	syncServerError      = 5  // server error (transient)
	syncConversionError  = 6  // error in client/server conversion
	syncConflict         = 7  // conflict matching the client and server object
	syncNotFound         = 8  // object not found
	syncCannotComplete   = 9  // the Sync command cannot be completed
	syncHierarchyChanged = 12 // the folder hierarchy has changed
	syncIncomplete       = 13 // empty or partial request without a cached one
	syncBadWait          = 14 // Wait or HeartbeatInterval out of range (with Limit)
	syncTooManyFolders   = 15 // invalid Sync request: too many collections
	syncRetry            = 16
)

// Limits of one Sync request.
const (
	defaultWindow = 100 // MS-ASCMD 2.2.3.199: WindowSize defaults to 100
	maxWindow     = 512 // WindowSize is at most 512; 0 means 512
	// maxCommands bounds Add+Change+Delete+Fetch of a request
	// (MS-ASCMD R5659): above it the
	// request is refused with Status 4 and nothing is applied.
	maxCommands    = 200
	maxCollections = 1000
	// scanBudget bounds the change rows one window may skip over (items
	// outside the filter, tombstones the device never had), so a request's
	// cost is bounded whatever the folder holds; the rest comes with
	// MoreAvailable.
	scanBudget = 5000
	// Wait is in minutes (MS-ASCMD 2.2.3.198), HeartbeatInterval in seconds
	// (2.2.3.88.2).
	minWait, maxWait           = 1, 59
	minHeartbeat, maxHeartbeat = 60, 3540
	// Loop detection: after this many resends of one key with data sent the
	// window shrinks to loopWindow, then to 1, then the single item is set
	// aside.
	loopShrink   = 2
	loopWindow   = 25
	loopSingle   = 3
	loopSetAside = 4
)

// syncColl is one AirSync:Collection of a request (MS-ASCMD 2.2.3.29.2).
type syncColl struct {
	SyncKey        string
	ID             string
	Class          string
	GetChanges     *bool
	WindowSize     int // -1: absent
	DeletesAsMoves *bool
	Options        *syncOptions
	Commands       *etree.Element
}

// syncReq is a Sync request (MS-ASCMD 2.2.1.21) after the empty and
// partial forms were completed from the cache.
type syncReq struct {
	Collections []*syncColl
	WindowSize  int // -1: absent
	Wait        int // minutes; -1: absent
	Heartbeat   int // seconds; -1: absent
	Partial     bool
}

// cachedColl and syncCache are what a device's last full request left for
// the empty and partial requests that follow.
type cachedColl struct {
	ID             string       `json:"i"`
	Class          string       `json:"c,omitempty"`
	GetChanges     *bool        `json:"g,omitempty"`
	WindowSize     int          `json:"w"`
	DeletesAsMoves *bool        `json:"d,omitempty"`
	Options        *syncOptions `json:"o,omitempty"`
}

type syncCache struct {
	Collections []cachedColl `json:"c"`
	WindowSize  int          `json:"w"`
	Wait        int          `json:"wa"`
	Heartbeat   int          `json:"hb"`
}

// syncError is a request-level failure (the Sync element's own Status).
type syncError struct {
	Status int
	Limit  int
	Reason string
}

func (e *syncError) Error() string { return fmt.Sprintf("sync status %d: %s", e.Status, e.Reason) }

func intText(el *etree.Element, name string, def int) (int, bool) {
	c := child(el, name)
	if c == nil {
		return def, true
	}
	n, err := strconv.Atoi(strings.TrimSpace(c.Text()))
	return n, err == nil
}

func boolChild(el *etree.Element, name string) *bool {
	c := child(el, name)
	if c == nil {
		return nil
	}
	v := strings.TrimSpace(c.Text())
	b := v == "" || v == "1" // an empty GetChanges tag means true
	return &b
}

// parseOptions reads AirSync:Options (MS-ASCMD 2.2.3.115.5); with several
// (14.0+: one per Class) the one for the collection's class, or without a
// Class, wins.
func parseOptions(coll *etree.Element) (*syncOptions, bool) {
	all := children(coll, "AirSync:Options")
	if len(all) == 0 {
		return nil, true
	}
	el := all[0]
	for _, o := range all {
		if c := text(o, "AirSync:Class"); c == "" || c == "Email" {
			el = o
			break
		}
	}
	o := &syncOptions{SMS: hasSMSOptions(all)} // SMS class (sms.go)
	var ok bool
	if o.FilterType, ok = intText(el, "AirSync:FilterType", 0); !ok || o.FilterType < 0 || o.FilterType > 8 {
		return nil, false
	}
	if o.MIMESupport, ok = intText(el, "AirSync:MIMESupport", 0); !ok || o.MIMESupport < 0 || o.MIMESupport > 2 {
		return nil, false
	}
	mt, ok := intText(el, "AirSync:MIMETruncation", -1)
	if !ok || mt < -1 || mt > 8 {
		return nil, false
	}
	o.MIMETruncation = mt + 1
	if c := child(el, "AirSync:Conflict"); c != nil {
		v, ok := intText(el, "AirSync:Conflict", 1)
		if !ok || v < 0 || v > 1 {
			return nil, false
		}
		o.Conflict = v + 1
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
		if p.Preview, ok = intText(bp, "AirSyncBase:Preview", 0); !ok || p.Preview < 0 || p.Preview > 255 {
			return nil, false
		}
		o.BodyPrefs = append(o.BodyPrefs, p)
	}
	return o, true
}

// parseSyncRequest reads the XML of a Sync request.
func parseSyncRequest(doc *etree.Document) (*syncReq, error) {
	el := root(doc, "AirSync:Sync")
	if el == nil {
		return nil, &syncError{Status: syncProtocolError, Reason: "no Sync element"}
	}
	req := &syncReq{Partial: child(el, "AirSync:Partial") != nil}
	var ok bool
	if req.WindowSize, ok = intText(el, "AirSync:WindowSize", -1); !ok {
		return nil, &syncError{Status: syncProtocolError, Reason: "bad WindowSize"}
	}
	if req.Wait, ok = intText(el, "AirSync:Wait", -1); !ok {
		return nil, &syncError{Status: syncProtocolError, Reason: "bad Wait"}
	}
	if req.Heartbeat, ok = intText(el, "AirSync:HeartbeatInterval", -1); !ok {
		return nil, &syncError{Status: syncProtocolError, Reason: "bad HeartbeatInterval"}
	}
	cols := children(child(el, "AirSync:Collections"), "AirSync:Collection")
	if len(cols) > maxCollections {
		return nil, &syncError{Status: syncTooManyFolders, Reason: "too many collections"}
	}
	seen := map[string]bool{}
	for _, c := range cols {
		sc := &syncColl{SyncKey: text(c, "AirSync:SyncKey"), ID: text(c, "AirSync:CollectionId"), Class: text(c, "AirSync:Class"),
			GetChanges: boolChild(c, "AirSync:GetChanges"), DeletesAsMoves: boolChild(c, "AirSync:DeletesAsMoves"),
			Commands: child(c, "AirSync:Commands")}
		if sc.ID == "" || seen[sc.ID] || (sc.SyncKey == "" && !req.Partial) {
			return nil, &syncError{Status: syncProtocolError, Reason: "collection without id or key, or twice"}
		}
		seen[sc.ID] = true
		if sc.WindowSize, ok = intText(c, "AirSync:WindowSize", -1); !ok {
			return nil, &syncError{Status: syncProtocolError, Reason: "bad WindowSize"}
		}
		if sc.Options, ok = parseOptions(c); !ok {
			return nil, &syncError{Status: syncProtocolError, Reason: "bad Options"}
		}
		req.Collections = append(req.Collections, sc)
	}
	if len(req.Collections) == 0 && !req.Partial {
		return nil, &syncError{Status: syncProtocolError, Reason: "no collections"}
	}
	return req, nil
}

// checkWait enforces MS-ASCMD 2.2.3.198 Wait and 2.2.3.88.2
// HeartbeatInterval: not both, and within their limits (Status 14 with the
// nearest allowed value in Limit).
func checkWait(req *syncReq) error {
	switch {
	case req.Wait >= 0 && req.Heartbeat >= 0:
		return &syncError{Status: syncProtocolError, Reason: "both Wait and HeartbeatInterval"}
	case req.Wait >= 0 && req.Wait < minWait:
		return &syncError{Status: syncBadWait, Limit: minWait, Reason: "Wait too short"}
	case req.Wait > maxWait:
		return &syncError{Status: syncBadWait, Limit: maxWait, Reason: "Wait too long"}
	case req.Heartbeat >= 0 && req.Heartbeat < minHeartbeat:
		return &syncError{Status: syncBadWait, Limit: minHeartbeat, Reason: "HeartbeatInterval too short"}
	case req.Heartbeat > maxHeartbeat:
		return &syncError{Status: syncBadWait, Limit: maxHeartbeat, Reason: "HeartbeatInterval too long"}
	}
	return nil
}

func (req *syncReq) waitFor() time.Duration {
	switch {
	case req.Wait > 0:
		return time.Duration(req.Wait) * time.Minute
	case req.Heartbeat > 0:
		return time.Duration(req.Heartbeat) * time.Second
	}
	return 0
}

// countCommands counts Add, Change, Delete and Fetch over the request.
func (req *syncReq) countCommands() int {
	n := 0
	for _, c := range req.Collections {
		if c.Commands != nil {
			n += len(c.Commands.ChildElements())
		}
	}
	return n
}

// completeRequest applies the empty request (MS-ASCMD 2.2.1.21.1) and
// Partial (2.2.3.131) rules with the device's cached request, and caches a
// request that carries content. A collection taken from the cache uses the
// newest key the server issued for it.
func (h *Handler) completeRequest(ctx context.Context, r *Request) (*syncReq, error) {
	var req *syncReq
	if r.Doc == nil {
		req = &syncReq{WindowSize: -1, Wait: -1, Heartbeat: -1, Partial: true}
	} else {
		var err error
		if req, err = parseSyncRequest(r.Doc); err != nil {
			return nil, err
		}
	}
	cacheRow, err := h.store.LatestSyncState(ctx, r.Device.ID, syncCacheCollection)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var cache *syncCache
	if cacheRow != nil {
		cache = &syncCache{}
		if json.Unmarshal(cacheRow.Data, cache) != nil {
			cache = nil
		}
	}
	if req.Partial {
		if cache == nil {
			return nil, &syncError{Status: syncIncomplete, Reason: "no cached Sync request"}
		}
		inReq := map[string]*syncColl{}
		for _, c := range req.Collections {
			inReq[c.ID] = c
		}
		for _, cc := range cache.Collections {
			c, ok := inReq[cc.ID]
			if !ok || c.SyncKey == "" {
				latest, err := h.store.LatestSyncState(ctx, r.Device.ID, cc.ID)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return nil, err
				}
				st, err := decodeState[collectionState](latest)
				if err != nil {
					return nil, err
				}
				key := syncKey{Token: st.Data.Token, N: latest.SyncKey}.String()
				if ok {
					c.SyncKey = key
				} else {
					c = &syncColl{ID: cc.ID, WindowSize: -1, SyncKey: key}
					req.Collections = append(req.Collections, c)
				}
			}
			if c.Class == "" {
				c.Class = cc.Class
			}
			if c.GetChanges == nil {
				c.GetChanges = cc.GetChanges
			}
			if c.WindowSize < 0 {
				c.WindowSize = cc.WindowSize
			}
			if c.DeletesAsMoves == nil {
				c.DeletesAsMoves = cc.DeletesAsMoves
			}
			if c.Options == nil {
				c.Options = cc.Options
			}
		}
		if req.WindowSize < 0 {
			req.WindowSize = cache.WindowSize
		}
		if req.Wait < 0 && req.Heartbeat < 0 {
			req.Wait, req.Heartbeat = cache.Wait, cache.Heartbeat
		}
		for _, c := range req.Collections {
			if c.SyncKey == "" {
				return nil, &syncError{Status: syncIncomplete, Reason: "collection without key in a partial request"}
			}
		}
	}
	if r.Doc != nil {
		nc := &syncCache{WindowSize: req.WindowSize, Wait: req.Wait, Heartbeat: req.Heartbeat}
		for _, c := range req.Collections {
			nc.Collections = append(nc.Collections, cachedColl{ID: c.ID, Class: c.Class, GetChanges: c.GetChanges, WindowSize: c.WindowSize, DeletesAsMoves: c.DeletesAsMoves, Options: c.Options})
		}
		data, _ := json.Marshal(nc)
		if cacheRow == nil || string(cacheRow.Data) != string(data) {
			g := store.SyncStateGuard{Restart: true}
			if err := h.store.SaveSyncStateIf(ctx, &store.SyncState{DevicePK: r.Device.ID, Collection: syncCacheCollection, SyncKey: 1, Data: data}, g); err != nil {
				r.Log.Warn("cache Sync request", "err", err)
			}
		}
	}
	return req, nil
}

// outCmd is one server change in a response.
type outCmd struct {
	Kind     string // Add, Change, Delete, SoftDelete
	ServerID string
	ItemID   int64
	Item     *store.Item
	Notice   bool // the quarantine notice
}

// collOutcome is what one collection contributes to the response.
type collOutcome struct {
	Coll      *syncColl
	Key       string
	Status    int
	Responses []*etree.Element
	Commands  []outCmd
	Fetches   []fetchReq
	More      bool
	Folder    *store.Folder
	Opts      renderOpts
	// Changed: the collection has something to say (an empty response is
	// allowed only when none has).
	Changed bool
	Sent    int
}

type fetchReq struct {
	ServerID string
}

// sync serves MS-ASCMD 2.2.1.21 Sync.
func (h *Handler) sync(ctx context.Context, r *Request) (*Response, error) {
	req, err := h.completeRequest(ctx, r)
	if err == nil {
		err = checkWait(req)
	}
	if err == nil && req.countCommands() > maxCommands {
		err = &syncError{Status: syncProtocolError, Reason: fmt.Sprintf("more than %d commands", maxCommands)}
	}
	var se *syncError
	if errors.As(err, &se) {
		r.Log.Info("Sync refused", "status", se.Status, "reason", se.Reason)
		doc, resp := newDoc("AirSync:Sync")
		add(resp, "AirSync:Status", itoa(se.Status))
		if se.Limit > 0 {
			add(resp, "AirSync:Limit", itoa(se.Limit))
		}
		return &Response{Doc: doc}, nil
	}
	if err != nil {
		return syncFailure(r, err), nil
	}

	wait := req.waitFor()
	var changes <-chan int64
	if wait > 0 && h.notifier != nil {
		var ids []int64
		for _, c := range req.Collections {
			if id, err := strconv.ParseInt(c.ID, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
		ch, cancel := h.notifier.Subscribe(r.User.ID, ids)
		defer cancel()
		changes = ch
	}
	deadline := time.Now().Add(wait)
	var hold *syncHold // the device's slot while it waits (syncwait_supersede.go)
	defer func() { hold.release() }()
	for {
		outs, err := h.syncCollections(ctx, r, req)
		if err != nil {
			// Each collection commits on its own, so what committed before
			// the failure is replayed when the device retries its keys.
			return syncFailure(r, err), nil
		}
		changed := false
		for _, o := range outs {
			changed = changed || o.Changed
		}
		remaining := time.Until(deadline)
		if changed || wait == 0 || remaining <= 0 || ctx.Err() != nil {
			if !changed && r.Version >= V121 {
				// MS-ASCMD 2.2.1.21.2 Empty Sync Response.
				return &Response{}, nil
			}
			return h.renderSync(ctx, r, outs)
		}
		// Sync as push: hold the request until a folder changes or the
		// interval ends (MS-ASCMD 3.1.5.4 with Wait/HeartbeatInterval).
		if hold == nil {
			hold = h.holdSync(r)
		}
		changed, ended := waitSync(ctx, changes, remaining, hold)
		if ended {
			// A newer request of the device (or shutdown): answer with
			// this pass, which found nothing and committed nothing.
			r.Log.Debug("Sync wait superseded by a newer request of the device")
			if r.Version >= V121 {
				return &Response{}, nil
			}
			return h.renderSync(ctx, r, outs)
		}
		if !changed {
			// The interval ended (or the client went away): answer with
			// what there is, which is nothing.
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			deadline = time.Now()
		}
	}
}

// syncFailure answers a Sync that failed on the store with Sync's own
// status, which every version understands (MS-ASCMD 2.2.3.177.16): 16 when
// the database is unreachable (retry), 5 otherwise. Nothing was committed
// for the collection that failed, so its key stays valid.
func syncFailure(r *Request, err error) *Response {
	status := syncServerError
	if errors.Is(err, store.ErrUnavailable) {
		status = syncRetry
	}
	r.Log.Error("Sync", "status", status, "err", err)
	doc, resp := newDoc("AirSync:Sync")
	add(resp, "AirSync:Status", itoa(status))
	return &Response{Doc: doc}
}

// storeFailure turns a store error into the request's error response:
// Status 16-like "retry later" when the database is unreachable.
func storeFailure(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return errRetryLater(err)
	}
	return errServer(err)
}

func (h *Handler) syncCollections(ctx context.Context, r *Request, req *syncReq) ([]*collOutcome, error) {
	budget := maxWindow * len(req.Collections)
	if req.WindowSize > 0 {
		budget = min(req.WindowSize, maxWindow*len(req.Collections))
	} else if req.WindowSize == 0 {
		budget = maxWindow
	}
	outs := make([]*collOutcome, 0, len(req.Collections))
	for _, c := range req.Collections {
		window := defaultWindow
		switch {
		case c.WindowSize == 0:
			window = maxWindow
		case c.WindowSize > 0:
			window = min(c.WindowSize, maxWindow)
		case req.WindowSize >= 0:
			window = min(max(req.WindowSize, 1), maxWindow)
			if req.WindowSize == 0 {
				window = maxWindow
			}
		}
		window = min(window, budget)
		o, err := h.syncCollection(ctx, r, c, window)
		if err != nil {
			return nil, err
		}
		budget -= o.Sent
		outs = append(outs, o)
	}
	return outs, nil
}

// filterCutoff is the start of a FilterType window (MS-ASCMD 2.2.3.68.2):
// items dated before it are not on the device. Zero: no filter.
func filterCutoff(ft int, now time.Time) time.Time {
	days := map[int]int{1: 1, 2: 3, 3: 7, 4: 14, 5: 30, 6: 90, 7: 180}[ft]
	if days == 0 {
		return time.Time{}
	}
	return now.AddDate(0, 0, -days).Truncate(time.Hour)
}

// inWindow reports whether an item lies within the filter: mail by
// DateReceived, calendar items by their end.
func inWindow(it *store.Item, cutoff time.Time) bool {
	if cutoff.IsZero() {
		return true
	}
	switch it.Class {
	case store.ClassEmail, store.ClassSMS:
		return it.DateReceived == nil || !it.DateReceived.Before(cutoff)
	case store.ClassCalendar:
		return it.EndTime == nil || !it.EndTime.Before(cutoff)
	}
	return true
}

func commandsHash(el *etree.Element) string {
	if el == nil || len(el.ChildElements()) == 0 {
		return ""
	}
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	s, _ := doc.WriteToString()
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// pendingCmd is a client command on its way through the commit.
type pendingCmd struct {
	Kind     string
	ClientID string
	ServerID string
	Op       int // index into ops, -1: none
	Status   int
	ItemID   int64
	Recorded *recordedResult
	// Removed: the device no longer holds the item afterwards.
	Removed bool
	// Instance: a Delete of one occurrence, applied as a change.
	Instance bool
	// Before is the item as it was before a Change or Delete, when it was
	// read (for a syncObserver).
	Before *store.Item
	// Draft is a 16.x device's draft Add or Change (drafts.go).
	Draft *draftCmd
}

// replayEffect restores, before the scan, what a command applied by the
// lost exchange did to what the device holds: its Adds and Changes are its
// own versions (not to be sent back), its Deletes are gone from it.
func replayEffect(next *collectionState, p *pendingCmd) {
	if p.Status != syncOK || p.ItemID == 0 {
		if p.Removed && p.ItemID != 0 {
			next.Known.remove(p.ItemID)
			delete(next.Own, p.ItemID)
		}
		return
	}
	switch {
	case p.Removed:
		next.Known.remove(p.ItemID)
		delete(next.Own, p.ItemID)
	case p.Kind == "Add":
		next.Known.add(p.ItemID)
		if p.Recorded != nil && p.Recorded.Modseq != 0 {
			next.Own[p.ItemID] = p.Recorded.Modseq
		}
	case p.Recorded != nil && p.Recorded.Modseq != 0:
		next.Own[p.ItemID] = p.Recorded.Modseq
	}
}

func parseItemID(s string) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return id, err == nil && id > 0
}

// syncCollection runs one collection: check the key, apply the device's
// commands, collect the server's changes within the window, and commit the
// next state with the applied commands in one transaction.
func (h *Handler) syncCollection(ctx context.Context, r *Request, c *syncColl, window int) (*collOutcome, error) {
	out := &collOutcome{Coll: c, Key: c.SyncKey, Status: syncOK, Changed: true}
	fail := func(status int) (*collOutcome, error) {
		out.Status = status
		if status == syncBadKey {
			out.Key = "0"
		}
		return out, nil
	}
	folderID, ok := parseItemID(c.ID)
	if !ok {
		return fail(syncHierarchyChanged)
	}
	folder, err := h.store.FolderByID(ctx, r.User.ID, folderID)
	if errors.Is(err, store.ErrNotFound) {
		// MS-ASCMD 2.2.3.177.17: 12, the device must FolderSync.
		r.Log.Info("Sync of an unknown collection", "collection", c.ID)
		return fail(syncHierarchyChanged)
	}
	if err != nil {
		return nil, err
	}
	out.Folder = folder
	c.Options = smsOptionsFor(c.Options, r.Version, folder) // SMS class (sms.go)
	key, initial, ok := parseSyncKey(c.SyncKey)
	if !ok {
		r.Log.Info("Sync with a malformed key", "collection", c.ID)
		return fail(syncBadKey)
	}
	if initial {
		return h.syncInitial(ctx, r, c, folder, out)
	}
	lk, err := lookupKey(ctx, h.store, r.Device.ID, c.ID, key, func(s *collectionState) string { return s.Token })
	if errors.Is(err, errBadKey) {
		r.Log.Info("Sync with an invalid key", "collection", c.ID, "key", c.SyncKey)
		return fail(syncBadKey)
	}
	if err != nil {
		return nil, err
	}
	base := lk.Base.Data
	if base.FolderID != folder.ID {
		return fail(syncBadKey)
	}
	next := base.clone()
	if lk.Replay {
		next.Problems = lk.Latest.Data.Problems
	}
	if c.Options != nil && !sameOptions(c.Options, &base.Options) {
		// A new filter, or the SMS class asked for (sms.go), brings back
		// what the device does not hold yet.
		if c.Options.FilterType != base.Options.FilterType || (c.Options.SMS && !base.Options.SMS) {
			next.Rescan = max(base.Since, base.Rescan)
			next.Since = 0
			next.Cutoff = 0
		}
		next.Options = *c.Options
	}
	out.Opts = renderOpts{Options: &next.Options, Version: r.Version, User: r.User, SMS: h.sms}
	codec := codecFor(folder.Class)
	quarantineView := quarantined(r)
	nothing := codec == nil || (quarantineView && folder.Type != store.FolderInbox)

	// Loop detection: the device keeps
	// sending this key although a response with data was produced for it.
	var setAsideNow *setAside
	if lk.Replay && lk.Latest.Data.Exchange.Sent > 0 {
		next.Resends = lk.Latest.Data.Resends + 1
		switch {
		case next.Resends >= loopSetAside && len(lk.Latest.Data.Exchange.SentIDs) == 1:
			id := lk.Latest.Data.Exchange.SentIDs[0]
			if items, err := h.store.ItemsByIDs(ctx, r.User.ID, []int64{id}); err == nil && len(items) == 1 {
				setAsideNow = &setAside{ItemID: id, Modseq: items[0].Modseq}
				next.Problems = append(next.Problems, *setAsideNow)
			}
			window = 1
		case next.Resends >= loopSingle:
			window = 1
		case next.Resends >= loopShrink:
			window = min(window, loopWindow)
		}
	}

	// The device's commands.
	var (
		ops      []store.SyncOp
		pendings []*pendingCmd
	)
	hash := commandsHash(c.Commands)
	var prior *exchange
	if lk.Replay {
		prior = &lk.Latest.Data.Exchange
	}
	conflictClientWins := next.Options.Conflict == 1 // 0: client wins (stored +1)
	deletesAsMoves := c.DeletesAsMoves == nil || *c.DeletesAsMoves
	var trash *store.Folder
	if deletesAsMoves && folder.Class == store.ClassEmail && folder.Type != store.FolderDeletedItems && len(children(c.Commands, "AirSync:Delete")) > 0 {
		if f, err := h.store.FolderByType(ctx, r.User.ID, store.FolderDeletedItems); err == nil {
			trash = f
		}
	}
	if prior != nil && hash != "" && prior.Hash == hash {
		// The same request again: answer as before, apply nothing twice.
		for i := range prior.Results {
			rr := prior.Results[i]
			p := &pendingCmd{Kind: rr.Kind, ClientID: rr.ClientID, ServerID: rr.ServerID, Op: -1, Status: rr.Status, ItemID: rr.ItemID, Recorded: &rr, Removed: rr.Removed}
			replayEffect(next, p)
			pendings = append(pendings, p)
		}
		for _, el := range children(c.Commands, "AirSync:Fetch") {
			out.Fetches = append(out.Fetches, fetchReq{ServerID: text(el, "AirSync:ServerId")})
		}
	} else if c.Commands != nil {
		// Changes need the current items (their class and content).
		var changeIDs []int64
		for _, el := range c.Commands.ChildElements() {
			// A class that watches its commits (calendar: meeting mail)
			// needs the items a Delete removes as well.
			_, observed := codec.(syncObserver)
			if el.Tag != "Change" && (el.Tag != "Delete" || (text(el, "AirSyncBase:InstanceId") == "" && !observed)) {
				continue
			}
			if id, ok := parseItemID(text(el, "AirSync:ServerId")); ok {
				changeIDs = append(changeIDs, id)
			}
		}
		current := map[int64]*store.Item{}
		if len(changeIDs) > 0 && !nothing {
			items, err := h.store.ItemsByIDs(ctx, r.User.ID, changeIDs)
			if err != nil {
				return nil, err
			}
			for i := range items {
				if items[i].FolderID == folder.ID {
					current[items[i].ID] = &items[i]
				}
			}
		}
		// Several commands on one item in one request (16.x: one per
		// occurrence, by InstanceId) build on each other: each reads the
		// item as the ones before it left it, and they are applied as one
		// replacement, so none is lost and none conflicts with another.
		replaced := map[int64]int{}         // item id → index of its Replace op
		original := map[int64]*store.Item{} // item id → the item before the request
		chain := func(id int64, repl *store.Item, p *pendingCmd) bool {
			if _, ok := original[id]; !ok {
				original[id] = current[id]
			}
			p.Before = original[id]
			if repl == nil {
				return false
			}
			current[id] = repl
			if idx, ok := replaced[id]; ok {
				ops[idx].Item = repl
				p.ItemID, p.Op = id, idx
				return true
			}
			replaced[id] = len(ops)
			return false
		}
		priorAdds := map[string]recordedResult{}
		if prior != nil {
			for _, rr := range prior.Results {
				if rr.Kind == "Add" && rr.ClientID != "" {
					priorAdds[rr.ClientID] = rr
				}
			}
		}
		for _, el := range c.Commands.ChildElements() {
			serverID := text(el, "AirSync:ServerId")
			p := &pendingCmd{Kind: el.Tag, ServerID: serverID, Op: -1, Status: syncOK}
			app := child(el, "AirSync:ApplicationData")
			switch {
			case el.Space != "AirSync":
				p.Status = syncProtocolError
			case el.Tag == "Fetch":
				out.Fetches = append(out.Fetches, fetchReq{ServerID: serverID})
				continue
			case serverID == noticeID && (el.Tag == "Delete" || el.Tag == "Change"):
				if el.Tag == "Delete" {
					next.Notice, next.NoticeGone = false, true
				}
				p.Removed = el.Tag == "Delete"
			case nothing:
				// Quarantine view of another folder (or a class without a
				// codec): nothing of the device's is applied.
				p.Status = syncNotFound
				if el.Tag == "Add" {
					p.Status = syncCannotComplete
				}
			case el.Tag == "Add":
				p.ClientID = text(el, "AirSync:ClientId")
				if p.ClientID == "" || app == nil {
					p.Status = syncProtocolError
					break
				}
				if rr, ok := priorAdds[p.ClientID]; ok {
					p.Recorded, p.Status, p.ItemID, p.ServerID = &rr, rr.Status, rr.ItemID, rr.ServerID
					replayEffect(next, p)
					break
				}
				if draftsFolder(r, folder) {
					if p.Status, err = h.draftOp(ctx, r, p, el, app, nil, &ops, store.SyncOp{Kind: store.SyncOpAdd, InFolder: folder.ID}); err != nil {
						return nil, err
					}
					break
				}
				addCodec := addCodecFor(codec, el, folder, r.Version) // <Class>SMS</Class> (sms.go)
				if addCodec == nil {
					p.Status = syncConversionError
					break
				}
				it, raw, err := addCodec.parseAdd(app, out.Opts)
				if err != nil {
					p.Status = syncConversionError
					break
				}
				if dup, err := h.duplicateAdd(ctx, r, folder, it); err != nil {
					return nil, err
				} else if dup != nil {
					// The device adds an event it added before (16.x
					// ClientUid): it gets that one's ServerId.
					p.ItemID, p.ServerID = dup.ID, strconv.FormatInt(dup.ID, 10)
					next.Known.add(dup.ID)
					next.Own[dup.ID] = dup.Modseq
					break
				}
				if edits := calendarAttachmentEdits(r, folder, app); edits != nil {
					// 16.x files on a new event (calendar_attachments.go).
					d, err := h.calendarAttachments(ctx, r, it, nil, edits)
					if errors.Is(err, errConversion) {
						p.Status = syncConversionError
						break
					}
					if err != nil {
						return nil, err
					}
					p.Draft, raw = d, d.Raw
				}
				p.Op = len(ops)
				ops = append(ops, store.SyncOp{Kind: store.SyncOpAdd, Item: it, Raw: raw, InFolder: folder.ID})
			case el.Tag == "Change":
				id, ok := parseItemID(serverID)
				cur := current[id]
				if !ok || cur == nil {
					p.Status = syncNotFound
					break
				}
				if app == nil {
					p.Status = syncProtocolError
					break
				}
				if draftsFolder(r, folder) && draftEdit(el, app) {
					p.ItemID = id
					op := store.SyncOp{Kind: store.SyncOpReplace, ItemID: id, InFolder: folder.ID,
						NotAfter: max(base.Since, base.Rescan), Own: base.Own[id], ClientWins: conflictClientWins}
					if p.Status, err = h.draftOp(ctx, r, p, el, app, cur, &ops, op); err != nil {
						return nil, err
					}
					break
				}
				flags, repl, err := codec.parseChange(app, cur, out.Opts)
				if err != nil {
					p.Status = syncConversionError
					break
				}
				var raw []byte // new content: 16.x event attachments (calendar_attachments.go)
				if edits := calendarAttachmentEdits(r, folder, app); edits != nil && repl != nil {
					if instanceIDOf(el) != "" {
						p.Status = syncConversionError // files on one occurrence: not supported
						break
					}
					var earlier []byte
					if idx, ok := replaced[id]; ok {
						earlier = ops[idx].Raw
					}
					d, err := h.calendarAttachments(ctx, r, repl, earlier, edits)
					if errors.Is(err, errConversion) {
						p.Status = syncConversionError
						break
					}
					if err != nil {
						return nil, err
					}
					p.Draft, raw = d, d.Raw
				}
				if chain(id, repl, p) {
					if raw != nil {
						ops[p.Op].Raw = raw
					}
					break // merged into this item's earlier replacement
				}
				op := store.SyncOp{Kind: store.SyncOpChange, ItemID: id, Change: flags, InFolder: folder.ID,
					NotAfter: max(base.Since, base.Rescan), Own: base.Own[id], ClientWins: conflictClientWins}
				if repl != nil {
					op.Kind, op.Item, op.Raw = store.SyncOpReplace, repl, raw
				}
				p.ItemID, p.Op = id, len(ops)
				ops = append(ops, op)
			case el.Tag == "Delete":
				id, ok := parseItemID(serverID)
				if !ok {
					p.Status = syncNotFound
					break
				}
				p.Before = current[id]
				if o, ok := original[id]; ok {
					p.Before = o
				}
				if del, ok := codec.(instanceDeleter); ok && current[id] != nil {
					repl, handled, err := del.deleteInstance(el, current[id], out.Opts)
					if handled {
						// One occurrence goes; the series stays, changed.
						if err != nil {
							p.Status = syncConversionError
							break
						}
						p.Instance = true
						if chain(id, repl, p) {
							break
						}
						p.ItemID, p.Op = id, len(ops)
						ops = append(ops, store.SyncOp{Kind: store.SyncOpReplace, ItemID: id, Item: repl, InFolder: folder.ID})
						break
					}
				}
				op := store.SyncOp{Kind: store.SyncOpDelete, ItemID: id, InFolder: folder.ID}
				if trash != nil {
					op.Kind, op.DstFolderID = store.SyncOpMove, trash.ID
				}
				p.ItemID, p.Op = id, len(ops)
				ops = append(ops, op)
			default:
				p.Status = syncProtocolError
			}
			pendings = append(pendings, p)
		}
	}

	// The server's changes.
	getChanges := c.GetChanges == nil || *c.GetChanges
	var l cmdList
	high := next.Since
	now := time.Now().UTC()
	if getChanges && !nothing {
		if quarantineView {
			next.Quarantine = true
			if !base.Notice && !base.NoticeGone && window > 0 {
				l.emit(outCmd{Kind: "Add", ServerID: noticeID, Notice: true})
				next.Notice = true
			}
		} else {
			if base.Notice && window > 0 {
				l.emit(outCmd{Kind: "Delete", ServerID: noticeID, Notice: true})
				next.Notice = false
			}
			next.Quarantine, next.NoticeGone = false, false
			cutoff := filterCutoff(next.Options.FilterType, now)
			if !cutoff.IsZero() && next.Cutoff != 0 && cutoff.Unix() > next.Cutoff {
				left, err := h.store.ItemsDatedBetween(ctx, r.User.ID, folder.ID, time.Unix(next.Cutoff, 0).UTC(), cutoff)
				if err != nil {
					return nil, err
				}
				for _, id := range left {
					if next.Known.has(id) {
						next.SoftPending = append(next.SoftPending, id)
					}
				}
			}
			next.Cutoff = 0
			if !cutoff.IsZero() {
				next.Cutoff = cutoff.Unix()
			}
			for len(l.cmds) < window && len(next.SoftPending) > 0 {
				id := next.SoftPending[0]
				next.SoftPending = next.SoftPending[1:]
				if next.Known.has(id) {
					l.emit(outCmd{Kind: "SoftDelete", ServerID: strconv.FormatInt(id, 10), ItemID: id})
				}
			}
			var more bool
			high, more, err = h.scanChanges(ctx, r, folder, next, window, cutoff, &l)
			if err != nil {
				return nil, err
			}
			out.More = more || len(next.SoftPending) > 0
		}
	} else if getChanges && nothing {
		next.Quarantine = quarantineView
	}
	cmds := l.cmds

	anything := lk.Replay || len(pendings) > 0 || len(cmds) > 0 || high != base.Since || setAsideNow != nil ||
		!sameOptions(&next.Options, &base.Options) || next.Cutoff != base.Cutoff || len(next.SoftPending) != len(base.SoftPending) ||
		next.Notice != base.Notice || next.NoticeGone != base.NoticeGone || next.Quarantine != base.Quarantine
	if !anything {
		// Nothing happened: the device keeps its key and nothing is
		// written.
		out.Changed = len(out.Fetches) > 0 || out.More
		return out, nil
	}

	newKey := syncKey{Token: key.Token, N: key.N + 1}
	guard := store.SyncStateGuard{LatestKey: lk.Latest.Row.SyncKey, LatestID: lk.Latest.Row.ID}
	_, err = h.store.CommitSync(ctx, &store.SyncCommit{
		UserID: r.User.ID, DevicePK: r.Device.ID, Collection: c.ID, Guard: guard, Ops: ops,
		State: func(results []store.SyncOpResult) (*store.SyncState, error) {
			st := next
			drop := map[int64]bool{}
			var recorded []recordedResult
			for _, p := range pendings {
				if p.Op >= 0 {
					res := results[p.Op]
					switch {
					case p.Kind == "Add" && res.Applied:
						p.ItemID, p.ServerID = res.ItemID, strconv.FormatInt(res.ItemID, 10)
						st.Known.add(res.ItemID)
						st.Own[res.ItemID] = res.Modseq
					case p.Kind == "Add":
						// Over the quota too (quota_writes.go): MS-ASCMD 2.2.3.177.17 has
						// no quota status for one item; 6 makes the device
						// keep it as not stored.
						p.Status = syncConversionError
						if errors.Is(res.Err, store.ErrQuotaExceeded) {
							r.Log.Info("Sync Add over the mailbox quota", "collection", c.ID, "client_id", p.ClientID)
						}
						if errors.Is(res.Err, store.ErrNotFound) {
							p.Status = syncHierarchyChanged
						}
					case res.Err != nil:
						p.Status = syncNotFound
						if p.Kind == "Delete" && !p.Instance {
							p.Removed = true
						}
					case p.Instance:
						st.Own[p.ItemID] = res.Modseq
					case p.Kind == "Change" && res.Conflict && !res.Applied:
						p.Status = syncConflict // the server's version wins and is sent
					case p.Kind == "Change":
						st.Own[p.ItemID] = res.Modseq
						if res.Conflict {
							drop[p.ItemID] = true // client won: do not send the old server version
						}
					case p.Kind == "Delete":
						p.Removed = true
					}
					if p.Kind == "Change" && res.Applied {
						// Under client-wins the device's version is current.
						drop[p.ItemID] = drop[p.ItemID] || res.Conflict
					}
					if p.Kind == "Change" || p.Kind == "Add" {
						p.Recorded = &recordedResult{Modseq: res.Modseq}
					}
				}
				if p.Removed && p.ItemID != 0 {
					st.Known.remove(p.ItemID)
					delete(st.Own, p.ItemID)
					drop[p.ItemID] = true
				}
				rr := recordedResult{Kind: p.Kind, ClientID: p.ClientID, ServerID: p.ServerID, Status: p.Status, ItemID: p.ItemID, Removed: p.Removed,
					Files: draftFiles(p.Draft)}
				if p.Recorded != nil {
					rr.Modseq = p.Recorded.Modseq
				}
				recorded = append(recorded, rr)
			}
			kept := cmds[:0]
			for _, cmd := range cmds {
				if cmd.ItemID != 0 && drop[cmd.ItemID] {
					continue
				}
				kept = append(kept, cmd)
				switch cmd.Kind {
				case "Add":
					if cmd.ItemID != 0 {
						st.Known.add(cmd.ItemID)
					}
				case "Delete", "SoftDelete":
					if cmd.ItemID != 0 {
						st.Known.remove(cmd.ItemID)
						delete(st.Own, cmd.ItemID)
					}
				}
			}
			cmds = kept
			st.Since = high
			for id, m := range st.Own {
				if m <= st.Since {
					delete(st.Own, id)
				}
			}
			if st.Rescan != 0 && st.Since >= st.Rescan {
				st.Rescan = 0
			}
			st.Exchange = exchange{Hash: hash, Results: recorded, Sent: len(cmds)}
			if len(cmds) <= loopWindow {
				for _, cmd := range cmds {
					if cmd.ItemID != 0 {
						st.Exchange.SentIDs = append(st.Exchange.SentIDs, cmd.ItemID)
					}
				}
			}
			data, err := encodeState(st)
			if err != nil {
				return nil, err
			}
			return &store.SyncState{SyncKey: newKey.N, Data: data}, nil
		},
	})
	if errors.Is(err, store.ErrConflict) {
		// Another request with this key committed first (MS-ASCMD: one
		// wins; the other starts over).
		r.Log.Warn("concurrent Sync with one key", "collection", c.ID)
		return fail(syncBadKey)
	}
	if err != nil {
		return nil, err
	}
	if setAsideNow != nil {
		h.auditSetAside(ctx, r, folder, setAsideNow)
	}
	if obs, ok := codec.(syncObserver); ok {
		var done []syncApplied
		for _, p := range pendings {
			if p.Op >= 0 && p.Status == syncOK {
				done = append(done, syncApplied{Kind: p.Kind, ItemID: p.ItemID, Before: p.Before, Instance: p.Instance})
			}
		}
		if len(done) > 0 {
			obs.committed(ctx, h, r, folder, done)
		}
	}
	for _, p := range pendings {
		if p.Draft != nil && p.Draft.Send && p.Status == syncOK && p.Recorded != nil &&
			!h.sendDraft(ctx, r, p.Draft, p.ItemID, p.Recorded.Modseq) && p.Kind == "Change" {
			p.Status = syncConversionError // not sent; the draft stays, saved (drafts.go)
		}
	}
	out.Key = newKey.String()
	out.Commands = cmds
	out.Sent = len(cmds)
	for _, p := range pendings {
		if el := responseFor(p); el != nil {
			out.Responses = append(out.Responses, el)
		}
	}
	return out, nil
}

// responseFor renders a client command's result (MS-ASCMD 2.2.3.145
// Responses): Adds always, Changes and Deletes only when they failed.
func responseFor(p *pendingCmd) *etree.Element {
	switch p.Kind {
	case "Add":
		el := etree.NewElement("AirSync:Add")
		add(el, "AirSync:ClientId", p.ClientID)
		if p.Status == syncOK {
			add(el, "AirSync:ServerId", p.ServerID)
		}
		add(el, "AirSync:Status", itoa(p.Status))
		if p.Status == syncOK {
			writeDraftResponse(el, p.answeredFiles())
		}
		return el
	case "Change", "Delete":
		if p.Status == syncOK && len(p.answeredFiles()) == 0 {
			return nil
		}
		el := etree.NewElement("AirSync:" + p.Kind)
		add(el, "AirSync:ServerId", p.ServerID)
		add(el, "AirSync:Status", itoa(p.Status))
		if p.Status == syncOK {
			writeDraftResponse(el, p.answeredFiles())
		}
		return el
	}
	if p.Status != syncOK {
		el := etree.NewElement("AirSync:Change")
		add(el, "AirSync:ServerId", p.ServerID)
		add(el, "AirSync:Status", itoa(p.Status))
		return el
	}
	return nil
}

func sameOptions(a, b *syncOptions) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// cmdList collects a response's server commands, each ServerId once.
type cmdList struct {
	cmds []outCmd
	seen map[string]bool
}

func (l *cmdList) emit(c outCmd) {
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if !l.seen[c.ServerID] {
		l.seen[c.ServerID] = true
		l.cmds = append(l.cmds, c)
	}
}

// scanChanges pages through the folder's changes above next.Since in
// counter order and turns them into commands until the window is full. An
// item appears once with its latest state however often it changed; one
// that changes again after it was sent comes again as a Change; a tombstone
// of an item the device never had is skipped. It returns the counter of
// the last change it consumed and whether more remain.
func (h *Handler) scanChanges(ctx context.Context, r *Request, folder *store.Folder, next *collectionState, window int, cutoff time.Time, l *cmdList) (int64, bool, error) {
	cursor := next.Since
	budget := scanBudget
	for {
		if len(l.cmds) >= window {
			// Is anything left? One cheap look at the folder's counter.
			m, err := h.store.FolderModseq(ctx, r.User.ID, folder.ID)
			if err != nil {
				return 0, false, err
			}
			return cursor, m > cursor, nil
		}
		limit := window - len(l.cmds) + 1
		page, err := h.store.ChangesSince(ctx, r.User.ID, folder.ID, cursor, limit)
		if err != nil {
			return 0, false, err
		}
		for i := range page {
			it := &page[i]
			if len(l.cmds) >= window || budget == 0 {
				return cursor, true, nil
			}
			budget--
			cursor = it.Modseq
			id := it.ID
			sid := strconv.FormatInt(id, 10)
			if m, ok := next.setAside(id); ok && m == it.Modseq {
				continue
			}
			if own, ok := next.Own[id]; ok && own == it.Modseq {
				continue
			}
			known := next.Known.has(id)
			if skipSMS(it, &next.Options) { // only for devices that ask (sms.go)
				if known && !it.Deleted {
					l.emit(outCmd{Kind: "Delete", ServerID: sid, ItemID: id})
				}
				continue
			}
			switch {
			case it.Deleted:
				if known {
					l.emit(outCmd{Kind: "Delete", ServerID: sid, ItemID: id})
				}
			case !inWindow(it, cutoff):
				if known {
					l.emit(outCmd{Kind: "SoftDelete", ServerID: sid, ItemID: id})
				}
			case known:
				if it.Modseq > next.Rescan {
					l.emit(outCmd{Kind: "Change", ServerID: sid, ItemID: id, Item: it})
				}
			default:
				l.emit(outCmd{Kind: "Add", ServerID: sid, ItemID: id, Item: it})
			}
		}
		if len(page) < limit {
			return cursor, false, nil
		}
	}
}

// syncInitial answers sync key 0 (MS-ASCMD 3.1.5.3 initial
// synchronization): a new chain, no items. A repeated key-0 request whose
// chain is still untouched gets that chain's key again, so a device that
// sends two initial requests (iOS does) or lost the first answer does not
// end up holding a key the server has already replaced.
func (h *Handler) syncInitial(ctx context.Context, r *Request, c *syncColl, folder *store.Folder, out *collOutcome) (*collOutcome, error) {
	opts := syncOptions{}
	if c.Options != nil {
		opts = *c.Options
	}
	latest, err := h.store.LatestSyncState(ctx, r.Device.ID, c.ID)
	switch {
	case err == nil && latest.SyncKey == 1:
		if st, err := decodeState[collectionState](latest); err == nil && st.Data.FolderID == folder.ID && untouched(st.Data) && sameOptions(&st.Data.Options, &opts) {
			out.Key = syncKey{Token: st.Data.Token, N: 1}.String()
			return out, nil
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	st := &collectionState{Token: newToken(), FolderID: folder.ID, Options: opts, Known: idSet{}, Own: map[int64]int64{}}
	data, err := encodeState(st)
	if err != nil {
		return nil, err
	}
	if err := h.store.SaveSyncStateIf(ctx, &store.SyncState{DevicePK: r.Device.ID, Collection: c.ID, SyncKey: 1, Data: data}, store.SyncStateGuard{Restart: true}); err != nil {
		return nil, err
	}
	out.Key = syncKey{Token: st.Token, N: 1}.String()
	return out, nil
}

func untouched(s *collectionState) bool {
	return s.Since == 0 && len(s.Known) == 0 && !s.Notice && s.Exchange.Sent == 0 && len(s.Exchange.Results) == 0 && s.Rescan == 0 && len(s.SoftPending) == 0
}

// auditSetAside records that loop detection withheld an item, for the
// admin dashboard (one broken item must not stop a
// folder).
func (h *Handler) auditSetAside(ctx context.Context, r *Request, folder *store.Folder, p *setAside) {
	err := h.store.Audit(ctx, &store.AuditEvent{
		Actor: "airlock", ActorIP: clientIP(r.HTTP), Action: "eas.sync_item_set_aside", TargetType: "item",
		Target: strconv.FormatInt(p.ItemID, 10), UserID: &r.User.ID, DevicePK: &r.Device.ID, Outcome: "set_aside",
		Detail: fmt.Sprintf("device %s kept resending its sync key for folder %d (%s); the item is withheld from this device until it changes", r.Device.DeviceID, folder.ID, folder.Name),
	})
	if err != nil {
		r.Log.Error("audit set-aside item", "err", err)
	}
	r.Log.Warn("sync loop: item set aside", "collection", folder.ID, "item", p.ItemID)
}

// renderSync writes the Sync response (MS-ASCMD 2.2.1.21): per collection
// SyncKey, CollectionId, Status, then Responses, MoreAvailable and
// Commands, in the order Exchange and Z-Push use and clients expect.
func (h *Handler) renderSync(ctx context.Context, r *Request, outs []*collOutcome) (*Response, error) {
	// Item contents, and their bodies as rendered when stored, in one
	// query for the whole response.
	var blobIDs []int64
	fetchIDs := map[*collOutcome][]int64{}
	for _, o := range outs {
		for _, c := range o.Commands {
			if (c.Kind == "Add" || c.Kind == "Change" && c.Item != nil && c.Item.IsDraft) && c.Item != nil && c.Item.Class == store.ClassEmail {
				blobIDs = append(blobIDs, c.ItemID)
			} else if (c.Kind == "Add" || c.Kind == "Change") && c.Item != nil && c.Item.Class == store.ClassSMS {
				blobIDs = append(blobIDs, c.ItemID) // an SMS is written whole (sms.go)
			}
		}
		for _, f := range o.Fetches {
			if id, ok := parseItemID(f.ServerID); ok {
				fetchIDs[o] = append(fetchIDs[o], id)
				blobIDs = append(blobIDs, id)
			}
		}
	}
	contents, err := h.store.ContentsOf(ctx, r.User.ID, blobIDs)
	if err != nil {
		return nil, err
	}
	doc, rootEl := newDoc("AirSync:Sync")
	cols := rootEl.CreateElement("AirSync:Collections")
	for _, o := range outs {
		el := cols.CreateElement("AirSync:Collection")
		if o.Coll.Class != "" {
			add(el, "AirSync:Class", o.Coll.Class)
		}
		add(el, "AirSync:SyncKey", o.Key)
		add(el, "AirSync:CollectionId", o.Coll.ID)
		add(el, "AirSync:Status", itoa(o.Status))
		if o.Status != syncOK {
			continue
		}
		codec := codecFor(o.Folder.Class)
		var fetched map[int64]*store.Item
		if ids := fetchIDs[o]; len(ids) > 0 {
			items, err := h.store.ItemsByIDs(ctx, r.User.ID, ids)
			if err != nil {
				return nil, err
			}
			fetched = map[int64]*store.Item{}
			for i := range items {
				if items[i].FolderID == o.Folder.ID {
					fetched[items[i].ID] = &items[i]
				}
			}
		}
		if len(o.Responses) > 0 || len(o.Fetches) > 0 {
			resp := el.CreateElement("AirSync:Responses")
			for _, x := range o.Responses {
				resp.AddChild(x)
			}
			for _, f := range o.Fetches {
				fe := resp.CreateElement("AirSync:Fetch")
				add(fe, "AirSync:ServerId", f.ServerID)
				var it *store.Item
				var raw []byte
				if f.ServerID == noticeID && quarantined(r) && o.Folder.Type == store.FolderInbox {
					it, raw = quarantineNotice(r)
				} else if id, ok := parseItemID(f.ServerID); ok && fetched[id] != nil && codec != nil && !skipSMS(fetched[id], o.Opts.Options) {
					it, raw = fetched[id], contents[id].Raw
					it.Rendered = contents[id].Rendered
				}
				if it == nil {
					add(fe, "AirSync:Status", itoa(syncNotFound))
					continue
				}
				add(fe, "AirSync:Status", itoa(syncOK))
				codecFor(it.Class).write(fe.CreateElement("AirSync:ApplicationData"), it, raw, true, o.Opts)
			}
		}
		if o.More {
			el.CreateElement("AirSync:MoreAvailable")
		}
		if len(o.Commands) == 0 {
			continue
		}
		cmds := el.CreateElement("AirSync:Commands")
		for _, c := range o.Commands {
			ce := cmds.CreateElement("AirSync:" + c.Kind)
			if c.Item != nil && c.Item.Class == store.ClassSMS && !c.Notice { // MS-ASMS 2.2.2.2.1.2
				add(ce, "AirSync:Class", string(store.ClassSMS))
			}
			add(ce, "AirSync:ServerId", c.ServerID)
			switch c.Kind {
			case "Add", "Change":
				it, raw := c.Item, contents[c.ItemID].Raw
				if c.Notice {
					it, raw = quarantineNotice(r)
				} else {
					it.Rendered = contents[c.ItemID].Rendered
				}
				codec := codecFor(it.Class)
				codec.write(ce.CreateElement("AirSync:ApplicationData"), it, raw, c.Kind == "Add" || it.Class != store.ClassEmail || it.IsDraft, o.Opts)
			}
		}
	}
	return &Response{Doc: doc}, nil
}
