package activesync

import (
	"container/list"
	"crypto/sha256"
	"strings"
	"sync"

	"airlock/message"
)

// Most mail has its bodies rendered once, when it is stored
// (store.Rendered, served through Item.Rendered): this cache serves only
// the rest, mail stored before that until the background pass reaches it,
// and mail that could not be rendered. Rendering such a mail's Body for a
// BodyPreference of plain text or HTML parses the whole MIME message (enmime: headers, every part, charset
// detection), which is most of what a Sync window allocates. The same
// message is rendered again and again: for each of the user's devices,
// for every recipient of a message delivered to many (one shared blob),
// for a Sync replayed or retried, for ItemOperations after a truncated
// Sync. bodyCache keeps the bodies of recently rendered messages, bounded
// in bytes, keyed by the SHA-256 of the raw message: a key is its content,
// so a stale or foreign entry cannot be served (blob ids may be reused
// after a delete on SQLite; contents cannot collide).
type bodyCache struct {
	mu    sync.Mutex
	max   int64 // bytes of bodies held at most
	size  int64
	order *list.List // front: most recently used *bodyEntry
	byKey map[[sha256.Size]byte]*list.Element
}

type bodyEntry struct {
	key        [sha256.Size]byte
	text, html string
	err        error
}

func (e *bodyEntry) cost() int64 { return int64(len(e.text)+len(e.html)) + 128 }

func newBodyCache(max int64) *bodyCache {
	return &bodyCache{max: max, order: list.New(), byKey: map[[sha256.Size]byte]*list.Element{}}
}

// renderedBodies is shared by every Handler of the process: entries are
// keyed by content, so sharing them is safe, and one bound holds for all.
// 16 MiB keeps tens of thousands of ordinary mails.
var renderedBodies = newBodyCache(16 << 20)

// bodies is message.Bodies, remembered.
func (c *bodyCache) bodies(raw []byte) (text, html string, err error) {
	key := sha256.Sum256(raw)
	c.mu.Lock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*bodyEntry)
		c.mu.Unlock()
		return e.text, e.html, e.err
	}
	c.mu.Unlock()
	// Parsed outside the lock: two goroutines may parse the same message
	// at once, and the second simply replaces the first's entry.
	text, html, err = message.Bodies(raw)
	e := &bodyEntry{key: key, text: text, html: html, err: err}
	if e.cost() > c.max/64 {
		return text, html, err // a huge message would evict everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.size -= el.Value.(*bodyEntry).cost()
		c.order.Remove(el)
	}
	c.byKey[key] = c.order.PushFront(e)
	c.size += e.cost()
	for c.size > c.max {
		last := c.order.Back()
		old := last.Value.(*bodyEntry)
		c.order.Remove(last)
		delete(c.byKey, old.key)
		c.size -= old.cost()
	}
	return text, html, err
}

// len returns the number of entries and the bytes they hold (tests).
func (c *bodyCache) len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey), c.size
}

// htmlEscaper is built once: strings.NewReplacer builds its lookup table
// on first use, which per call was the largest single allocation of a
// Sync window whose plain-text mails go out as HTML.
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// reset empties the cache (tests and benchmarks).
func (c *bodyCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.byKey)
	c.size = 0
}
