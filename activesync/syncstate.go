package activesync

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"airlock/store"
)

// Sync keys and the state behind them.
//
// A sync key as the device sees it is "{token}N": token is random per chain
// (a chain starts at sync key 0) and N counts the chain's generations. The
// store keeps generation N and N-1 of each (device, collection) (store
// doc.go), so a device that lost the response to its request with key N-1
// can send it again. The token makes a key of another device, of another
// collection or of an abandoned chain invalid even when its number matches.
//
// MS-ASCMD 2.2.3.166.4 SyncKey (Sync) and 2.2.3.166.2 SyncKey (FolderSync):
// opaque strings of at most 64 characters.

// hierarchyCollection names the folder hierarchy's state.
const hierarchyCollection = "hierarchy"

// syncCacheCollection names the cached last full Sync request of a device
// (MS-ASCMD 2.2.1.21.1 Empty Sync Request, 2.2.3.131 Partial).
const syncCacheCollection = "sync:request"

type syncKey struct {
	Token string
	N     int64
}

func (k syncKey) String() string { return "{" + k.Token + "}" + strconv.FormatInt(k.N, 10) }

func newToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// parseSyncKey reads "{token}N"; "0" is the initial key (zero syncKey and
// ok). Anything else is malformed.
func parseSyncKey(s string) (k syncKey, initial bool, ok bool) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return syncKey{}, true, true
	}
	if len(s) > 64 || !strings.HasPrefix(s, "{") {
		return syncKey{}, false, false
	}
	end := strings.IndexByte(s, '}')
	if end < 2 {
		return syncKey{}, false, false
	}
	n, err := strconv.ParseInt(s[end+1:], 10, 64)
	if err != nil || n < 1 {
		return syncKey{}, false, false
	}
	return syncKey{Token: s[1:end], N: n}, false, true
}

// idSet is a sorted set of item ids: the items a device holds. It is stored
// as varint deltas, about two bytes an item.
type idSet []int64

func (s idSet) has(id int64) bool {
	_, ok := slices.BinarySearch(s, id)
	return ok
}

func (s *idSet) add(id int64) {
	i, ok := slices.BinarySearch(*s, id)
	if !ok {
		*s = slices.Insert(*s, i, id)
	}
}

func (s *idSet) remove(id int64) {
	if i, ok := slices.BinarySearch(*s, id); ok {
		*s = slices.Delete(*s, i, i+1)
	}
}

func (s idSet) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 0, len(s)*2+8)
	prev := int64(0)
	for _, id := range s {
		buf = binary.AppendUvarint(buf, uint64(id-prev))
		prev = id
	}
	return json.Marshal(buf)
}

func (s *idSet) UnmarshalJSON(data []byte) error {
	var buf []byte
	if err := json.Unmarshal(data, &buf); err != nil {
		return err
	}
	out := make(idSet, 0, len(buf)/2)
	prev := int64(0)
	for len(buf) > 0 {
		d, n := binary.Uvarint(buf)
		if n <= 0 || d == 0 && len(out) > 0 {
			return errors.New("sync state: corrupt id set")
		}
		prev += int64(d)
		out = append(out, prev)
		buf = buf[n:]
	}
	*s = out
	return nil
}

// bodyPref is one AirSyncBase:BodyPreference (MS-ASAIRS 2.2.2.7).
type bodyPref struct {
	Type           int   `json:"t"`
	TruncationSize int64 `json:"s,omitempty"` // 0: not truncated
	AllOrNone      bool  `json:"a,omitempty"`
	Preview        int   `json:"p,omitempty"`
}

// syncOptions are a collection's AirSync:Options (MS-ASCMD 2.2.3.115.5).
// A request without Options keeps the ones stored in the state.
type syncOptions struct {
	FilterType     int        `json:"f,omitempty"` // 0: no filter
	BodyPrefs      []bodyPref `json:"b,omitempty"`
	MIMESupport    int        `json:"m,omitempty"`
	MIMETruncation int        `json:"mt,omitempty"` // -1 absent, kept as value+1
	Conflict       int        `json:"c,omitempty"`  // 0: absent (server wins); else value+1
	// SMS: the device asked for the SMS class too (sms.go).
	SMS bool `json:"sms,omitempty"`
}

// recordedResult is the outcome of one client command, kept so that a
// resent request gets the same answer (and its Adds the same ServerIds)
// without being applied twice.
type recordedResult struct {
	Kind     string `json:"k"` // Add, Change, Delete
	ClientID string `json:"c,omitempty"`
	ServerID string `json:"s,omitempty"`
	Status   int    `json:"st"`
	ItemID   int64  `json:"i,omitempty"`
	Modseq   int64  `json:"m,omitempty"`
	Removed  bool   `json:"r,omitempty"` // the device no longer holds ItemID
	// Files: the attachments a draft Add or Change added (drafts.go).
	Files []draftFile `json:"f,omitempty"`
}

// exchange records the request that produced a generation.
type exchange struct {
	Hash    string           `json:"h,omitempty"` // of the request's Commands
	Results []recordedResult `json:"r,omitempty"`
	Sent    int              `json:"n,omitempty"` // server commands in the response
	// SentIDs are the items of a small response (loop detection needs to
	// know which single item a device keeps refusing).
	SentIDs []int64 `json:"ids,omitempty"`
}

// setAside is an item loop detection took out of a device's sync.
type setAside struct {
	ItemID int64 `json:"i"`
	Modseq int64 `json:"m"` // retried when the item changes
}

// collectionState is one generation of a collection's sync state.
type collectionState struct {
	Token    string `json:"t"`
	FolderID int64  `json:"f"`
	// Since: every change with a counter up to Since is reflected in what
	// the device holds (or was decided not to concern it).
	Since int64 `json:"s"`
	// Known: the items the device holds.
	Known idSet `json:"k"`
	// Own: items whose current version the device wrote itself (item id →
	// counter), not to be echoed back; pruned once Since passes them.
	Own map[int64]int64 `json:"o,omitempty"`
	// Rescan: after a FilterType change the scan restarts at 0; items the
	// device knows with a counter up to Rescan are already current.
	Rescan  int64       `json:"rs,omitempty"`
	Options syncOptions `json:"op"`
	// Cutoff is the FilterType window's start (Unix seconds) last applied.
	Cutoff int64 `json:"cu,omitempty"`
	// SoftPending: items that left the filter window, to soft-delete.
	SoftPending []int64 `json:"sp,omitempty"`
	// Notice: the device holds the quarantine notice; Quarantine: this
	// generation was computed for the quarantine view.
	Notice     bool `json:"qn,omitempty"`
	Quarantine bool `json:"q,omitempty"`
	// NoticeGone: the device deleted the notice; it is not sent again.
	NoticeGone bool `json:"qg,omitempty"`

	Exchange exchange `json:"x"`
	// Resends counts how often in a row the key before this generation
	// was sent again after data had been sent (loop detection).
	Resends  int        `json:"rr,omitempty"`
	Problems []setAside `json:"p,omitempty"`
}

func (c *collectionState) setAside(id int64) (modseq int64, ok bool) {
	for _, p := range c.Problems {
		if p.ItemID == id {
			return p.Modseq, true
		}
	}
	return 0, false
}

// clone returns a deep copy to derive the next generation from.
func (c *collectionState) clone() *collectionState {
	n := *c
	n.Known = slices.Clone(c.Known)
	n.Own = make(map[int64]int64, len(c.Own))
	for k, v := range c.Own {
		n.Own[k] = v
	}
	n.SoftPending = slices.Clone(c.SoftPending)
	n.Problems = slices.Clone(c.Problems)
	n.Options.BodyPrefs = slices.Clone(c.Options.BodyPrefs)
	n.Exchange = exchange{}
	n.Resends = 0
	return &n
}

// hierFolder is a folder as a device knows it.
type hierFolder struct {
	Parent int64  `json:"p"`
	Name   string `json:"n"`
	Type   int    `json:"y"`
}

// hierarchyState is one generation of a device's folder hierarchy state:
// the folders it knows, so that FolderSync answers with a true difference.
type hierarchyState struct {
	Token   string               `json:"t"`
	Folders map[int64]hierFolder `json:"f"`
	// Quarantine: the device was shown the quarantine view (Inbox only).
	Quarantine bool `json:"q,omitempty"`
}

// loadedState is a stored generation with its decoded data.
type loadedState[T any] struct {
	Row  *store.SyncState
	Data *T
}

func decodeState[T any](row *store.SyncState) (*loadedState[T], error) {
	var d T
	if err := json.Unmarshal(row.Data, &d); err != nil {
		return nil, fmt.Errorf("sync state %s key %d: %w", row.Collection, row.SyncKey, err)
	}
	return &loadedState[T]{Row: row, Data: &d}, nil
}

func encodeState(v any) ([]byte, error) { return json.Marshal(v) }

// keyLookup is where a device's key stands against the stored chain.
type keyLookup[T any] struct {
	Latest *loadedState[T] // newest generation, nil if none
	Base   *loadedState[T] // the generation the key names
	// Replay: the key is the one before the newest (the device lost the
	// newest response and sent its request again).
	Replay bool
}

var errBadKey = errors.New("sync key unknown, stale or of another chain")

// lookupKey finds the generation key names. A key of another chain (token),
// older than the previous generation, or newer than the newest is errBadKey.
func lookupKey[T any](ctx context.Context, st *store.Store, devicePK int64, collection string, key syncKey, token func(*T) string) (*keyLookup[T], error) {
	latestRow, err := st.LatestSyncState(ctx, devicePK, collection)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadKey
	}
	if err != nil {
		return nil, err
	}
	latest, err := decodeState[T](latestRow)
	if err != nil {
		return nil, err
	}
	if token(latest.Data) != key.Token {
		return nil, errBadKey
	}
	out := &keyLookup[T]{Latest: latest}
	switch key.N {
	case latestRow.SyncKey:
		out.Base = latest
	case latestRow.SyncKey - 1:
		row, err := st.SyncStateAt(ctx, devicePK, collection, key.N)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errBadKey
		}
		if err != nil {
			return nil, err
		}
		if out.Base, err = decodeState[T](row); err != nil {
			return nil, err
		}
		if token(out.Base.Data) != key.Token {
			return nil, errBadKey
		}
		out.Replay = true
	default:
		return nil, errBadKey
	}
	return out, nil
}
