package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"airlock/internal/keyring"
)

// mailWord is one normalised FreeText word and the keyed trigrams that a
// text must hold to contain it (none for words under three bytes).
type mailWord struct {
	text  string
	grams []gramPair
}

// mailHit is a matching item, for ordering.
type mailHit struct {
	id   int64
	date *time.Time
}

// searchMailWords returns the window [offset, offset+limit) of the items
// db selects in which every word occurs (in the subject, the addresses,
// the preview or the body text), newest first, and how many there are.
func (s *Store) searchMailWords(ctx context.Context, db *gorm.DB, words []string, offset, limit int) ([]Item, int64, error) {
	h := newGramHasher(s.keys.Key(keyring.Search))
	ws := make([]mailWord, len(words))
	for i, w := range words {
		ws[i] = mailWord{text: w, grams: h.pairs(w)}
	}
	var hits []mailHit
	var batch []Item
	err := db.Session(&gorm.Session{}).
		Select("id", "blob_id", "subject", "from_addr", "to_addrs", "cc_addrs", "preview", "date_received").
		FindInBatches(&batch, 500, func(*gorm.DB, int) error {
			found, err := s.matchMail(ctx, batch, ws)
			hits = append(hits, found...)
			return err
		}).Error
	if err != nil {
		return nil, 0, wrap(err, "search mail")
	}
	slices.SortFunc(hits, newestFirst)
	window := hits[min(offset, len(hits)):min(offset+limit, len(hits))]
	ids := make([]int64, len(window))
	for i, hit := range window {
		ids[i] = hit.id
	}
	var items []Item
	if len(ids) > 0 {
		if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&items).Error; err != nil {
			return nil, 0, wrap(err, "search mail")
		}
	}
	pos := make(map[int64]int, len(ids))
	for i, id := range ids {
		pos[id] = i
	}
	slices.SortFunc(items, func(a, b Item) int { return pos[a.ID] - pos[b.ID] })
	return items, int64(len(hits)), s.loadAttachments(s.db.WithContext(ctx), items)
}

// newestFirst orders by date received, newest first (undated last), then
// by id, highest first.
func newestFirst(a, b mailHit) int {
	switch {
	case a.date == nil && b.date != nil:
		return 1
	case a.date != nil && b.date == nil:
		return -1
	case a.date != nil && !a.date.Equal(*b.date):
		return b.date.Compare(*a.date)
	}
	return cmp.Compare(b.id, a.id)
}

// bodyCheck is an item whose remaining words must be in its body text.
type bodyCheck struct {
	hit     mailHit
	missing []mailWord
}

// matchMail returns the items among batch that hold every word: first in
// their opened summary fields, then, for the words still missing, in
// their body text.
func (s *Store) matchMail(ctx context.Context, batch []Item, words []mailWord) ([]mailHit, error) {
	var hits []mailHit
	checks := map[int64][]bodyCheck{} // by blob id
	for i := range batch {
		it := &batch[i]
		fields := strings.ToLower(strings.Join([]string{it.Subject, it.FromAddr, it.ToAddrs, it.CcAddrs, it.Preview}, "\x00"))
		var missing []mailWord
		for _, w := range words {
			if !strings.Contains(fields, w.text) {
				missing = append(missing, w)
			}
		}
		hit := mailHit{id: it.ID, date: it.DateReceived}
		switch {
		case len(missing) == 0:
			hits = append(hits, hit)
		case it.BlobID != nil:
			checks[*it.BlobID] = append(checks[*it.BlobID], bodyCheck{hit, missing})
		}
	}
	if len(checks) == 0 {
		return hits, nil
	}
	texts, err := s.searchTexts(ctx, checks)
	if err != nil {
		return nil, err
	}
	for blob, text := range texts {
		for _, c := range checks[blob] {
			if holdsAll(text, c.missing) {
				hits = append(hits, c.hit)
			}
		}
	}
	return hits, nil
}

// searchTexts opens the search texts of the blobs in checks that may
// hold the words one of their items still misses. The trigram filter
// rules most texts out unopened.
func (s *Store) searchTexts(ctx context.Context, checks map[int64][]bodyCheck) (map[int64]string, error) {
	ids := make([]int64, 0, len(checks))
	for id := range checks {
		ids = append(ids, id)
	}
	var filters []blobText
	if err := s.db.WithContext(ctx).Select("blob_id", "grams").Where("blob_id IN ?", ids).Find(&filters).Error; err != nil {
		return nil, wrap(err, "search mail")
	}
	ids = ids[:0]
	for _, f := range filters {
		if slices.ContainsFunc(checks[f.BlobID], func(c bodyCheck) bool { return mayHoldAll(f.Grams, f.BlobID, c.missing) }) {
			ids = append(ids, f.BlobID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []struct {
		BlobID int64
		Body   string
		Sealed []byte
		DEK    []byte
	}
	err := s.db.WithContext(ctx).Table("blob_texts t").Select("t.blob_id, t.body, t.sealed, b.dek").
		Joins("JOIN blobs b ON b.id = t.blob_id").Where("t.blob_id IN ?", ids).Scan(&rows).Error
	if err != nil {
		return nil, wrap(err, "search mail")
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		if out[r.BlobID], err = s.openSearchText(r.DEK, r.Sealed, r.Body); err != nil {
			return nil, fmt.Errorf("search text of blob %d: %w", r.BlobID, err)
		}
	}
	return out, nil
}

func mayHoldAll(filter []byte, blob int64, words []mailWord) bool {
	for _, w := range words {
		if len(w.grams) > 0 && !mayContain(filter, blob, w.grams) {
			return false
		}
	}
	return true
}

func holdsAll(text string, words []mailWord) bool {
	for _, w := range words {
		if !strings.Contains(text, w.text) {
			return false
		}
	}
	return true
}

// openSearchText opens a sealed search text; a text without one was
// stored in clear by an older release.
func (s *Store) openSearchText(wrapped, sealed []byte, clear string) (string, error) {
	if sealed == nil {
		return clear, nil
	}
	dek, err := s.keys.DataKey(wrapped)
	if err != nil {
		return "", err
	}
	b, err := dek.Open(sealed, searchTextAAD)
	return string(b), err
}
