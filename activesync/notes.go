package activesync

import (
	"time"

	"github.com/beevik/etree"

	"airlock/pim"
	"airlock/store"
)

// notesCodec is the Notes class of Sync (MS-ASNOTE 2.2.2, 14.0+) on top
// of pim.Note: Subject, Body, MessageClass, Categories and
// LastModifiedDate (set by the server on every change).
type notesCodec struct{}

func (notesCodec) write(app *etree.Element, it *store.Item, _ []byte, _ bool, o renderOpts) {
	var n pim.Note
	if err := n.FromItem(it); err != nil {
		n = pim.Note{Subject: it.Subject}
	}
	add(app, "Notes:Subject", n.Subject)
	pimBody(app, n.Body, o)
	add(app, "Notes:MessageClass", firstNonEmpty(n.MessageClass, "IPM.StickyNote"))
	lm := n.LastModified
	if lm.IsZero() {
		lm = it.UpdatedAt
	}
	add(app, "Notes:LastModifiedDate", formatTime(lm))
	cats := app.CreateElement("Notes:Categories")
	for _, c := range n.Categories {
		add(cats, "Notes:Category", c)
	}
}

// parse reads a device's note; cur (for a Change) lends the Body when the
// device left it out.
func (notesCodec) parse(app *etree.Element, cur *pim.Note) *pim.Note {
	n := &pim.Note{Subject: text(app, "Notes:Subject"), MessageClass: text(app, "Notes:MessageClass"),
		Categories: catList(child(app, "Notes:Categories"), "Notes"), LastModified: time.Now().UTC()}
	switch {
	case has(app, "AirSyncBase:Body"):
		n.Body = readBody(app)
	case cur != nil:
		n.Body = cur.Body
	}
	return n
}

func (c notesCodec) parseAdd(app *etree.Element, o renderOpts) (*store.Item, []byte, error) {
	it, err := c.parse(app, nil).ToItem(0, 0)
	return it, nil, convErr(err)
}

func (c notesCodec) parseChange(app *etree.Element, cur *store.Item, o renderOpts) (store.FlagChange, *store.Item, error) {
	var old pim.Note
	_ = old.FromItem(cur)
	n := c.parse(app, &old)
	n.UID = cur.UID
	it, err := n.ToItem(cur.UserID, cur.FolderID)
	return store.FlagChange{}, it, convErr(err)
}
