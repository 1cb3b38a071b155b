package imapgw

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"airlock/store"
)

func envelope(raw []byte) *imap.Envelope {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return &imap.Envelope{}
	}
	return imapserver.ExtractEnvelope(h)
}

// Search matches the selected mailbox's messages against criteria. Flags,
// dates, sizes and the address and subject fields use the stored summary;
// other header fields and body text read the message.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (data *imap.SearchData, err error) {
	defer s.guard(&err)
	if s.sel == nil {
		return nil, errNotSelected
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.stillAllowed(ctx); err != nil {
		return nil, err
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	pairs := s.sel.resolveSet(all)
	items, err := s.items(ctx, pairs)
	if err != nil {
		return nil, err
	}
	data = &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for _, p := range pairs {
		it := items[p.uid]
		if it == nil {
			continue
		}
		m := &matcher{s: s, ctx: ctx, it: it, p: p}
		if !m.match(criteria) {
			continue
		}
		num := p.seq
		if kind == imapserver.NumKindUID {
			num = uint32(p.uid)
			uids.AddNum(p.uid)
		} else {
			seqs.AddNum(p.seq)
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	return data, nil
}

type matcher struct {
	s   *session
	ctx context.Context
	it  *store.Item
	p   numPair
	raw []byte
}

func (m *matcher) blob() []byte {
	if m.raw == nil {
		b, err := m.s.srv.cfg.Store.Blob(m.ctx, m.s.sel.mb.owner.ID, m.it.ID)
		if err != nil {
			b = []byte{}
		}
		m.raw = b
	}
	return m.raw
}

func (m *matcher) match(c *imap.SearchCriteria) bool {
	sel := m.s.sel
	for _, set := range c.SeqNum {
		if !set.Contains(m.p.seq) && !containsStatic(sel, set, m.p) {
			return false
		}
	}
	for _, set := range c.UID {
		if !containsStaticUID(sel, set, m.p.uid) {
			return false
		}
	}
	date := m.it.CreatedAt
	if m.it.DateReceived != nil {
		date = *m.it.DateReceived
	}
	if !inDates(date, c.Since, c.Before) || !inDates(date, c.SentSince, c.SentBefore) {
		return false
	}
	flags := sel.flags(m.it)
	has := func(f imap.Flag) bool {
		for _, x := range flags {
			if canonical(x) == canonical(f) {
				return true
			}
		}
		return false
	}
	for _, f := range c.Flag {
		if !has(f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if has(f) {
			return false
		}
	}
	if c.Larger != 0 && m.it.Size <= c.Larger {
		return false
	}
	if c.Smaller != 0 && m.it.Size >= c.Smaller {
		return false
	}
	for _, h := range c.Header {
		if !m.header(h.Key, h.Value) {
			return false
		}
	}
	for _, t := range c.Body {
		if !m.text(t, false) {
			return false
		}
	}
	for _, t := range c.Text {
		if !m.text(t, true) {
			return false
		}
	}
	for i := range c.Not {
		if m.match(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !m.match(&c.Or[i][0]) && !m.match(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

func containsStatic(sel *selection, set imap.SeqSet, p numPair) bool {
	n := uint32(len(sel.uids))
	for _, r := range set {
		a, b := staticRange(r.Start, r.Stop, n)
		if p.seq >= a && p.seq <= b {
			return true
		}
	}
	return false
}

func containsStaticUID(sel *selection, set imap.UIDSet, uid imap.UID) bool {
	var maxUID uint32
	if len(sel.uids) > 0 {
		maxUID = uint32(sel.uids[len(sel.uids)-1])
	}
	for _, r := range set {
		a, b := staticRange(uint32(r.Start), uint32(r.Stop), maxUID)
		if uint32(uid) >= a && uint32(uid) <= b {
			return true
		}
	}
	return false
}

// inDates compares days only, as RFC 3501 6.4.4 says.
func inDates(t, since, before time.Time) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(since) {
		return false
	}
	return before.IsZero() || d.Before(before)
}

func (m *matcher) header(key, value string) bool {
	v := strings.ToLower(value)
	switch strings.ToLower(key) {
	case "subject":
		return strings.Contains(strings.ToLower(m.it.Subject), v)
	case "from":
		return strings.Contains(strings.ToLower(m.it.FromAddr), v)
	case "to":
		return strings.Contains(strings.ToLower(m.it.ToAddrs), v)
	case "cc":
		return strings.Contains(strings.ToLower(m.it.CcAddrs), v)
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(m.blob())))
	if err != nil {
		return false
	}
	fields := h.FieldsByKey(key)
	if v == "" {
		return fields.Len() > 0
	}
	for fields.Next() {
		if strings.Contains(strings.ToLower(fields.Value()), v) {
			return true
		}
	}
	return false
}

// text looks for s in the text parts (and the header, for TEXT).
func (m *matcher) text(s string, header bool) bool {
	if s == "" {
		return true
	}
	e, err := gomessage.Read(bytes.NewReader(m.blob()))
	if e == nil {
		return false
	}
	_ = err // unknown charsets still give a readable entity
	return matchEntity(e, strings.ToLower(s), header)
}

func matchEntity(e *gomessage.Entity, s string, header bool) bool {
	if header {
		f := e.Header.Fields()
		for f.Next() {
			if v, err := f.Text(); err == nil && strings.Contains(strings.ToLower(v), s) {
				return true
			}
		}
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				return false
			}
			if matchEntity(p, s, header) {
				return true
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if t != "" && !strings.HasPrefix(t, "text/") {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(e.Body, 4<<20))
	return err == nil && bytes.Contains(bytes.ToLower(b), []byte(s))
}
