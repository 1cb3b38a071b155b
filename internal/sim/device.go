package sim

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
)

// Folder types the simulator syncs (MS-ASCMD 2.2.3.186.3 Type (FolderSync)).
const (
	TypeInbox   = 2
	TypeDeleted = 4
	TypeSent    = 5
)

// syncedTypes are the folders every device keeps a replica of.
var syncedTypes = []int{TypeInbox, TypeSent, TypeDeleted}

// TypeName names a folder type in reports.
func TypeName(t int) string {
	switch t {
	case TypeInbox:
		return "Inbox"
	case TypeDeleted:
		return "Deleted Items"
	case TypeSent:
		return "Sent Items"
	}
	return "type " + strconv.Itoa(t)
}

// FP is what a device knows of one mail: the run token from its Subject
// and the two properties devices change.
type FP struct {
	Token string
	Read  bool
	Flag  int // MS-ASEMAIL 2.2.2.34.2 Status (Flag): 0 cleared, 1 complete, 2 active
}

func (f FP) String() string {
	return fmt.Sprintf("%s read=%v flag=%d", f.Token, f.Read, f.Flag)
}

// Collection is a device's replica of one folder.
type Collection struct {
	ID    string // CollectionId (the folder's ServerId)
	Type  int
	Name  string
	Key   string // SyncKey; "0" before the initial sync
	Items map[string]FP
}

// View is a copy of a device's replicas, keyed by folder type.
type View map[int]map[string]FP

// Device is one simulated phone. Its replicas are changed only by its own
// goroutine; Snapshot copies them under the lock for the checker.
type Device struct {
	Name  string
	User  *User
	Conn  *Conn
	Stats *Stats
	Rec   *Recorder
	// Window is the Sync WindowSize; Heartbeat the Ping interval.
	Window int
	// Truncation is the plain-text body's TruncationSize (default 256).
	Truncation int
	Heartbeat  time.Duration
	Users      []*User // colleagues to write to
	Ledger     *Ledger
	Run        string // run id, in tokens
	// Types are the folders the device keeps; nil: Inbox, Sent Items and
	// Deleted Items.
	Types []int

	mu      sync.Mutex
	hierKey string
	folders map[string]int // folder ServerId -> type
	colls   map[int]*Collection
	gone    map[string]bool // ServerIds removed locally (Delete, MoveItems) whose server Delete may still come
	rnd     *rand.Rand
	sendSeq int
	canMove bool
	canSend bool
	// maxCmds is the most server commands one collection of one Sync
	// response carried (never above the window).
	maxCmds int
}

// NewDevice returns a device for user u on conn.
func NewDevice(name string, u *User, conn *Conn, st *Stats, rec *Recorder, seed uint64) *Device {
	d := &Device{Name: name, User: u, Conn: conn, Stats: st, Rec: rec, Window: 100, Heartbeat: 60 * time.Second,
		hierKey: "0", folders: map[string]int{}, colls: map[int]*Collection{}, gone: map[string]bool{},
		rnd: rand.New(rand.NewPCG(seed, 0xde71ce)), canMove: true, canSend: true}
	conn.OnUnauthorized = func(cmd string) {
		rec.Anomaly(d, cmd+" answered HTTP 401 to the device's valid credentials")
	}
	return d
}

// Snapshot copies the device's replicas.
func (d *Device) Snapshot() View {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := View{}
	for t, c := range d.colls {
		m := make(map[string]FP, len(c.Items))
		for k, fp := range c.Items {
			m[k] = fp
		}
		v[t] = m
	}
	return v
}

// Start does what a phone does when the account is added: OPTIONS,
// Provision, FolderSync, and the initial Sync of the folders it keeps.
func (d *Device) Start(ctx context.Context) error {
	_, cmds, err := d.Conn.Options(ctx)
	if err != nil {
		return err
	}
	d.canMove = len(cmds) == 0 || slices.Contains(cmds, "MoveItems")
	d.canSend = len(cmds) == 0 || slices.Contains(cmds, "SendMail")
	return d.Enrol(ctx)
}

// Enrol is Start without OPTIONS.
func (d *Device) Enrol(ctx context.Context) error {
	if err := d.Conn.Provision(ctx); err != nil {
		return err
	}
	if err := d.FolderSync(ctx); err != nil {
		return err
	}
	return d.SyncAll(ctx)
}

// FolderSync brings the folder list up to date (MS-ASCMD 2.2.1.5). A key
// the server no longer accepts (Status 9) starts over from 0.
func (d *Device) FolderSync(ctx context.Context) error {
	for attempt := 0; attempt < 5; attempt++ {
		doc, root := newDoc("FolderHierarchy:FolderSync")
		add(root, "FolderHierarchy:SyncKey", d.hierKey)
		rep, err := d.Conn.Do(ctx, "FolderSync", doc)
		if err != nil {
			return err
		}
		st := text(rep.Root(), "FolderHierarchy:Status")
		switch st {
		case "1":
		case "9":
			d.Stats.Error("FolderSync", "Status 9")
			d.hierKey = "0"
			d.folders = map[string]int{}
			continue
		case "6":
			d.Stats.Error("FolderSync", "Status 6")
			sleep(ctx, time.Second)
			continue
		default:
			return fmt.Errorf("FolderSync: HTTP %d status %q", rep.HTTP, st)
		}
		changes := child(rep.Root(), "FolderHierarchy:Changes")
		for _, a := range append(children(changes, "FolderHierarchy:Add"), children(changes, "FolderHierarchy:Update")...) {
			t, _ := strconv.Atoi(text(a, "FolderHierarchy:Type"))
			d.folders[text(a, "FolderHierarchy:ServerId")] = t
		}
		for _, x := range children(changes, "FolderHierarchy:Delete") {
			delete(d.folders, text(x, "FolderHierarchy:ServerId"))
		}
		d.hierKey = text(rep.Root(), "FolderHierarchy:SyncKey")
		d.mu.Lock()
		for id, t := range d.folders {
			if !slices.Contains(d.types(), t) {
				continue
			}
			if c := d.colls[t]; c == nil || c.ID != id {
				d.colls[t] = &Collection{ID: id, Type: t, Name: TypeName(t), Key: "0", Items: map[string]FP{}}
			}
		}
		for t, c := range d.colls {
			if d.folders[c.ID] != t {
				delete(d.colls, t)
			}
		}
		d.mu.Unlock()
		return nil
	}
	return errors.New("FolderSync: no valid key after 5 attempts")
}

func (d *Device) types() []int {
	if d.Types != nil {
		return d.Types
	}
	return syncedTypes
}

// SyncAll syncs every kept folder until the server has nothing more.
func (d *Device) SyncAll(ctx context.Context) error {
	return d.Sync(ctx, d.types()...)
}

// Sync syncs the given folders, in one request per round, until no
// collection has more to send.
func (d *Device) Sync(ctx context.Context, types ...int) error {
	want := map[int]bool{}
	for _, t := range types {
		want[t] = true
	}
	for round := 0; len(want) > 0; round++ {
		if round > 5000 {
			return errors.New("Sync: more than 5000 rounds without draining")
		}
		var ts []int
		for t := range want {
			ts = append(ts, t)
		}
		sort.Ints(ts)
		more, err := d.syncOnce(ctx, ts, nil)
		if err != nil {
			return err
		}
		want = more
	}
	return nil
}

// clientCmd is a command the device sends in a Sync.
type clientCmd struct {
	Kind     string // Change, Delete
	ServerID string
	Read     *bool
	Flag     *int
}

// syncOnce sends one Sync for the folders ts (with cmds for the first) and
// applies the response. It returns the folders that need another round.
func (d *Device) syncOnce(ctx context.Context, ts []int, cmds []clientCmd) (map[int]bool, error) {
	d.mu.Lock()
	var colls []*Collection
	for _, t := range ts {
		if c := d.colls[t]; c != nil {
			colls = append(colls, c)
		}
	}
	d.mu.Unlock()
	again := map[int]bool{}
	if len(colls) == 0 {
		return again, nil
	}
	doc, root := newDoc("AirSync:Sync")
	cs := root.CreateElement("AirSync:Collections")
	for i, c := range colls {
		el := cs.CreateElement("AirSync:Collection")
		add(el, "AirSync:SyncKey", c.Key)
		add(el, "AirSync:CollectionId", c.ID)
		if c.Key != "0" {
			// MS-ASCMD 2.2.3.44 DeletesAsMoves: a deleted mail goes to
			// Deleted Items, so every mail the run creates stays in the
			// mailbox and can be counted.
			add(el, "AirSync:DeletesAsMoves", "1")
			add(el, "AirSync:GetChanges", "1")
			add(el, "AirSync:WindowSize", strconv.Itoa(d.Window))
		}
		opts := el.CreateElement("AirSync:Options")
		add(opts, "AirSync:FilterType", "0")
		bp := opts.CreateElement("AirSyncBase:BodyPreference")
		add(bp, "AirSyncBase:Type", "1")
		add(bp, "AirSyncBase:TruncationSize", strconv.Itoa(cmp.Or(d.Truncation, 256)))
		if i == 0 && len(cmds) > 0 && c.Key != "0" {
			ce := el.CreateElement("AirSync:Commands")
			for _, cmd := range cmds {
				x := ce.CreateElement("AirSync:" + cmd.Kind)
				add(x, "AirSync:ServerId", cmd.ServerID)
				if cmd.Kind == "Change" {
					app := x.CreateElement("AirSync:ApplicationData")
					if cmd.Read != nil {
						add(app, "Email:Read", boolText(*cmd.Read))
					}
					if cmd.Flag != nil {
						f := app.CreateElement("Email:Flag")
						if *cmd.Flag != 0 {
							add(f, "Email:Status", strconv.Itoa(*cmd.Flag))
							add(f, "Email:FlagType", "for Follow Up")
						}
					}
				}
			}
		}
	}
	// MS-ASCMD 2.2.3.177.17: a request-level Status 5 (server error) or
	// 16 (retry) asks for the same request again; what the server
	// committed before the failure is replayed.
	var rep *Reply
	for attempt := 0; ; attempt++ {
		var err error
		if rep, err = d.Conn.Do(ctx, "Sync", doc); err != nil {
			return nil, err
		}
		st := text(rep.Root(), "AirSync:Status")
		if (st != "5" && st != "16") || attempt >= 60 {
			break
		}
		d.Stats.Error("Sync", "Status "+st+" (request), resent")
		sleep(ctx, time.Second)
	}
	if rep.Dropped != nil {
		d.compareReplay(rep.Dropped, rep)
	}
	if rep.HTTP != 200 {
		return nil, fmt.Errorf("Sync: HTTP %d", rep.HTTP)
	}
	if rep.Doc == nil {
		// MS-ASCMD 2.2.1.21.2: an empty response means no changes. Our
		// own commands, if any, were applied.
		d.applyOwn(colls, cmds)
		return again, nil
	}
	if st := text(rep.Root(), "AirSync:Status"); st != "" && st != "1" {
		// A request-level failure (Status 4, 13, ...).
		d.Stats.Error("Sync", "Status "+st+" (request)")
		if st == "12" {
			return again, d.FolderSync(ctx)
		}
		return nil, fmt.Errorf("Sync: request status %s", st)
	}
	byID := map[string]*Collection{}
	for _, c := range colls {
		byID[c.ID] = c
	}
	ownApplied := false
	for _, x := range children(child(rep.Root(), "AirSync:Collections"), "AirSync:Collection") {
		c := byID[text(x, "AirSync:CollectionId")]
		if c == nil {
			d.Rec.Anomaly(d, "Sync response names a collection the device did not ask for: "+text(x, "AirSync:CollectionId"))
			continue
		}
		st := text(x, "AirSync:Status")
		switch st {
		case "1":
		case "3":
			// MS-ASCMD 2.2.3.177.17: invalid key; start the folder over.
			d.Stats.Error("Sync", "Status 3")
			d.Stats.Event("folder re-synced from key 0 after Status 3")
			d.mu.Lock()
			c.Key, c.Items = "0", map[string]FP{}
			d.mu.Unlock()
			again[c.Type] = true
			continue
		case "12":
			d.Stats.Error("Sync", "Status 12")
			if err := d.FolderSync(ctx); err != nil {
				return nil, err
			}
			again[c.Type] = true
			continue
		case "5", "16":
			d.Stats.Error("Sync", "Status "+st)
			sleep(ctx, time.Second)
			again[c.Type] = true
			continue
		default:
			d.Stats.Error("Sync", "Status "+st)
			return nil, fmt.Errorf("Sync of %s: status %s", c.Name, st)
		}
		if c == colls[0] && len(cmds) > 0 {
			d.applyOwn([]*Collection{c}, cmds)
			ownApplied = true
		}
		d.mu.Lock()
		initial := c.Key == "0"
		d.applyResponses(c, child(x, "AirSync:Responses"))
		n := d.applyCommands(c, child(x, "AirSync:Commands"))
		d.maxCmds = max(d.maxCmds, n)
		if c.Key != "0" && n > d.Window {
			d.Rec.Anomaly(d, fmt.Sprintf("Sync response carried %d commands for %s, above WindowSize %d", n, c.Name, d.Window))
		}
		if k := text(x, "AirSync:SyncKey"); k != "" {
			c.Key = k
		}
		d.mu.Unlock()
		if initial || n > 0 || child(x, "AirSync:MoreAvailable") != nil {
			again[c.Type] = true
		}
	}
	if !ownApplied && len(cmds) > 0 {
		d.applyOwn(colls[:1], cmds)
	}
	return again, nil
}

// applyOwn records the device's own changes in its replica (a device
// applies what it sends; the server does not echo it back).
func (d *Device) applyOwn(colls []*Collection, cmds []clientCmd) {
	if len(cmds) == 0 || len(colls) == 0 {
		return
	}
	c := colls[0]
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, cmd := range cmds {
		fp, ok := c.Items[cmd.ServerID]
		if !ok {
			continue
		}
		switch cmd.Kind {
		case "Change":
			if cmd.Read != nil {
				fp.Read = *cmd.Read
			}
			if cmd.Flag != nil {
				fp.Flag = *cmd.Flag
			}
			c.Items[cmd.ServerID] = fp
		case "Delete":
			delete(c.Items, cmd.ServerID)
			d.gone[cmd.ServerID] = true
		}
	}
}

// applyResponses handles the server's answers to the device's commands
// (MS-ASCMD 2.2.3.145): a failed Change leaves the server's version to come
// in Commands; a failed Delete of an item the server no longer has is done.
func (d *Device) applyResponses(c *Collection, resp *etree.Element) {
	if resp == nil {
		return
	}
	for _, x := range resp.ChildElements() {
		sid, st := text(x, "AirSync:ServerId"), text(x, "AirSync:Status")
		if st != "" && st != "1" {
			d.Stats.Error("Sync", x.Tag+" response Status "+st)
		}
		if st == "8" {
			// Object not found: the item is gone (moved or deleted by
			// another device); the server's Delete may follow or not.
			delete(c.Items, sid)
			d.gone[sid] = true
		}
	}
}

// applyCommands applies the server's changes (MS-ASCMD 2.2.3.29.2 Commands)
// and reports protocol anomalies: an Add of a ServerId the device already
// holds, a Change or Delete of one it never had.
func (d *Device) applyCommands(c *Collection, cmds *etree.Element) int {
	if cmds == nil {
		return 0
	}
	n := 0
	for _, x := range cmds.ChildElements() {
		n++
		sid := text(x, "AirSync:ServerId")
		app := child(x, "AirSync:ApplicationData")
		switch x.Tag {
		case "Add":
			fp := FP{Token: TokenOf(text(app, "Email:Subject")), Read: text(app, "Email:Read") == "1", Flag: flagOf(app)}
			if old, dup := c.Items[sid]; dup {
				d.Rec.Duplicate(d, fmt.Sprintf("Add of ServerId %s already held in %s (held %s, sent %s)", sid, c.Name, old, fp))
			}
			c.Items[sid] = fp
			delete(d.gone, sid)
		case "Change":
			fp, ok := c.Items[sid]
			if !ok {
				if !d.gone[sid] {
					d.Rec.Anomaly(d, fmt.Sprintf("Change of ServerId %s the device does not hold in %s", sid, c.Name))
				}
				continue
			}
			if el := child(app, "Email:Read"); el != nil {
				fp.Read = strings.TrimSpace(el.Text()) == "1"
			}
			if child(app, "Email:Flag") != nil {
				fp.Flag = flagOf(app)
			}
			c.Items[sid] = fp
		case "Delete", "SoftDelete":
			if _, ok := c.Items[sid]; !ok && !d.gone[sid] {
				d.Rec.Anomaly(d, fmt.Sprintf("%s of ServerId %s the device does not hold in %s", x.Tag, sid, c.Name))
			}
			delete(c.Items, sid)
			delete(d.gone, sid)
		default:
			d.Rec.Anomaly(d, "unknown Sync command "+x.Tag)
		}
	}
	return n
}

func flagOf(app *etree.Element) int {
	n, _ := strconv.Atoi(text(child(app, "Email:Flag"), "Email:Status"))
	return n
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// compareReplay checks a resent Sync's answer against the one the device
// threw away (MS-ASCMD 3.1.5.9: the server resends the response). The
// second answer may add changes that arrived in between, but it must carry
// every item of the first that still exists, so the checker's final
// comparison is the proof; here the difference is only counted.
func (d *Device) compareReplay(first, second *Reply) {
	a, b := replyShape(first), replyShape(second)
	if a == b {
		d.Stats.Event("replay: identical response")
		return
	}
	d.Stats.Event("replay: response differs")
	d.Rec.Note(d, "replayed Sync differs from the dropped one:\n  first:  "+a+"\n  second: "+b)
}

func replyShape(r *Reply) string {
	if r.Doc == nil {
		return fmt.Sprintf("HTTP %d empty", r.HTTP)
	}
	var parts []string
	for _, x := range children(child(r.Root(), "AirSync:Collections"), "AirSync:Collection") {
		s := text(x, "AirSync:CollectionId") + " key=" + text(x, "AirSync:SyncKey") + " st=" + text(x, "AirSync:Status")
		for _, sec := range []string{"AirSync:Responses", "AirSync:Commands"} {
			el := child(x, sec)
			if el == nil {
				continue
			}
			for _, c := range el.ChildElements() {
				s += " " + c.Tag + ":" + text(c, "AirSync:ServerId") + text(c, "AirSync:Status")
			}
		}
		if child(x, "AirSync:MoreAvailable") != nil {
			s += " more"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// Ping waits for changes in the kept folders (MS-ASCMD 2.2.1.13). It
// returns the folder types that changed, or needHierarchy when the server
// wants a FolderSync first.
func (d *Device) Ping(ctx context.Context) (changed []int, needHierarchy bool, err error) {
	d.mu.Lock()
	var ids []string
	byID := map[string]int{}
	for _, t := range d.types() {
		if c := d.colls[t]; c != nil {
			ids = append(ids, c.ID)
			byID[c.ID] = t
		}
	}
	d.mu.Unlock()
	doc, root := newDoc("Ping:Ping")
	add(root, "Ping:HeartbeatInterval", strconv.Itoa(int(d.Heartbeat/time.Second)))
	fs := root.CreateElement("Ping:Folders")
	for _, id := range ids {
		f := fs.CreateElement("Ping:Folder")
		add(f, "Ping:Id", id)
		add(f, "Ping:Class", "Email")
	}
	rep, err := d.Conn.Do(ctx, "Ping", doc)
	if err != nil {
		return nil, false, err
	}
	st := text(rep.Root(), "Ping:Status")
	switch st {
	case "1":
		return nil, false, nil
	case "2":
		for _, f := range children(child(rep.Root(), "Ping:Folders"), "Ping:Folder") {
			if t, ok := byID[strings.TrimSpace(f.Text())]; ok {
				changed = append(changed, t)
			} else {
				d.Rec.Anomaly(d, "Ping names a folder the device did not watch: "+f.Text())
			}
		}
		return changed, false, nil
	case "5":
		// Heartbeat outside the server's limits: take the one it gives.
		if n, err := strconv.Atoi(text(rep.Root(), "Ping:HeartbeatInterval")); err == nil && n > 0 {
			d.Heartbeat = time.Duration(n) * time.Second
		}
		return nil, false, nil
	case "7":
		return nil, true, nil
	case "8":
		// Server error (MS-ASCMD 2.2.3.177.11): try again shortly.
		d.Stats.Error("Ping", "Status 8")
		sleep(ctx, time.Second)
		return nil, false, nil
	}
	d.Stats.Error("Ping", "Status "+st)
	return nil, false, fmt.Errorf("Ping: HTTP %d status %q", rep.HTTP, st)
}

// pickItem returns a random item of a folder, or "".
func (d *Device) pickItem(t int) (string, FP) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.colls[t]
	if c == nil || len(c.Items) == 0 {
		return "", FP{}
	}
	keys := make([]string, 0, len(c.Items))
	for k := range c.Items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	k := keys[d.rnd.IntN(len(keys))]
	return k, c.Items[k]
}

// Action is a user's action on the phone.
type Action int

const (
	ActChange Action = iota // mark read/unread or flag: Sync Change
	ActMove                 // MoveItems between Inbox and Deleted Items
	ActDelete               // Sync Delete (a move to Deleted Items)
	ActSend                 // SendMail to colleagues
)

func (a Action) String() string {
	return [...]string{"change", "move", "delete", "send"}[a]
}

// Do performs one action and syncs what it touched. It reports whether it
// sent anything: an action with nothing to act on (a move out of an empty
// folder) sends no request.
func (d *Device) Do(ctx context.Context, a Action) (sent bool, err error) {
	switch a {
	case ActChange:
		t := TypeInbox
		if d.rnd.IntN(5) == 0 {
			t = TypeDeleted
		}
		sid, fp := d.pickItem(t)
		if sid == "" {
			return false, nil
		}
		cmd := clientCmd{Kind: "Change", ServerID: sid}
		if d.rnd.IntN(2) == 0 {
			r := !fp.Read
			cmd.Read = &r
		} else {
			f := map[int]int{0: 2, 2: 1, 1: 0}[fp.Flag]
			cmd.Flag = &f
		}
		if _, err := d.syncOnce(ctx, []int{t}, []clientCmd{cmd}); err != nil {
			return true, err
		}
		return true, d.Sync(ctx, t)
	case ActDelete:
		sid, _ := d.pickItem(TypeInbox)
		if sid == "" {
			return false, nil
		}
		if _, err := d.syncOnce(ctx, []int{TypeInbox}, []clientCmd{{Kind: "Delete", ServerID: sid}}); err != nil {
			return true, err
		}
		return true, d.Sync(ctx, TypeInbox, TypeDeleted)
	case ActMove:
		if !d.canMove {
			return false, nil
		}
		src, dst := TypeInbox, TypeDeleted
		if d.rnd.IntN(3) == 0 {
			src, dst = TypeDeleted, TypeInbox
		}
		return d.move(ctx, src, dst)
	case ActSend:
		if !d.canSend {
			return false, nil
		}
		return d.send(ctx)
	}
	return false, nil
}

// move sends MoveItems for one item (MS-ASCMD 2.2.1.12). Status 3 is
// success; the item leaves the source replica, and the destination's Add
// comes with the next Sync.
func (d *Device) move(ctx context.Context, src, dst int) (bool, error) {
	sid, _ := d.pickItem(src)
	d.mu.Lock()
	s, t := d.colls[src], d.colls[dst]
	d.mu.Unlock()
	if sid == "" || s == nil || t == nil {
		return false, nil
	}
	doc, root := newDoc("Move:MoveItems")
	m := root.CreateElement("Move:Move")
	add(m, "Move:SrcMsgId", sid)
	add(m, "Move:SrcFldId", s.ID)
	add(m, "Move:DstFldId", t.ID)
	rep, err := d.Conn.Do(ctx, "MoveItems", doc)
	if err != nil {
		return true, err
	}
	r := child(rep.Root(), "Move:Response")
	switch st := text(r, "Move:Status"); st {
	case "3":
		d.mu.Lock()
		delete(s.Items, sid)
		d.gone[sid] = true
		d.mu.Unlock()
	case "1":
		// Invalid source: another device moved or deleted it first (or our
		// first attempt did, and its answer was lost). The next Sync says.
		d.Stats.Event("MoveItems Status 1 (item already gone)")
	default:
		d.Stats.Error("MoveItems", "Status "+st)
	}
	if rep.Dropped != nil {
		if a, b := text(child(rep.Dropped.Root(), "Move:Response"), "Move:Status"), text(r, "Move:Status"); a == "3" && b != "3" {
			d.Stats.Event("MoveItems resend answered " + b + " after a lost success")
		}
	}
	return true, d.Sync(ctx, src, dst)
}

// send sends a mail to one or two colleagues with SendMail (MS-ASCMD
// 2.2.1.17, 14.0+ form): the ClientId identifies the message, so a resend
// after a lost response must not deliver it twice (Status 118).
func (d *Device) send(ctx context.Context) (bool, error) {
	var to []*User
	for _, u := range d.Users {
		if u != d.User {
			to = append(to, u)
		}
	}
	if len(to) == 0 {
		return false, nil
	}
	d.rnd.Shuffle(len(to), func(i, j int) { to[i], to[j] = to[j], to[i] })
	to = to[:min(len(to), 1+d.rnd.IntN(2))]
	d.sendSeq++
	tok := NewToken(d.Run, "m", d.Name, d.sendSeq)
	raw := Message(tok, d.User.Email, emails(to), "sent from "+d.Name)
	entry := d.Ledger.Expect(tok, "SendMail", d.User, to, true)
	doc, root := newDoc("ComposeMail:SendMail")
	add(root, "ComposeMail:ClientId", tok)
	root.CreateElement("ComposeMail:SaveInSentItems")
	add(root, "ComposeMail:Mime", base64.StdEncoding.EncodeToString(raw))
	rep, err := d.Conn.Do(ctx, "SendMail", doc)
	if err != nil {
		d.Ledger.Settle(entry, Unknown)
		return true, err
	}
	st := text(rep.Root(), "ComposeMail:Status")
	switch {
	case rep.HTTP == 200 && (st == "" || st == "1"):
		d.Ledger.Settle(entry, Accepted)
	case st == "118":
		// Previously sent: the first attempt went through.
		d.Stats.Event("SendMail resend answered 118 (already sent)")
		if rep.Resent == 0 {
			d.Rec.Anomaly(d, "SendMail answered 118 for a ClientId sent once: "+tok)
		}
		d.Ledger.Settle(entry, Accepted)
	default:
		d.Stats.Error("SendMail", fmt.Sprintf("refused: HTTP %d, Status %q", rep.HTTP, st))
		d.Ledger.Settle(entry, Refused)
	}
	if rep.Dropped != nil {
		if ds := text(rep.Dropped.Root(), "ComposeMail:Status"); rep.Dropped.HTTP == 200 && (ds == "" || ds == "1") && st != "118" {
			d.Rec.Anomaly(d, fmt.Sprintf("SendMail resent with the same ClientId after a success was answered HTTP %d status %q, not 118: %s", rep.HTTP, st, tok))
		}
	}
	return true, d.Sync(ctx, TypeSent)
}

func emails(us []*User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Email
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
