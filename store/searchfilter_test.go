package store

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"airlock/internal/keyring"
)

// The trigram filter never rules out a word the text holds, rules out
// most words it does not, and without the key says nothing: the same text
// gives unrelated filters under another key or for another blob.
func TestSearchFilterIsKeyedAndHasNoFalseNegatives(t *testing.T) {
	key := keyring.GenerateKey().Bytes()
	h := newGramHasher(key)
	text := NormalizeSearchText(strings.Repeat("Observations unchanged overnight, plan as before. ", 10) +
		"Patient reports bradycardia; échocardiogramme demain. Bed 4.")
	f := h.build(7, text)
	for _, w := range strings.Fields(text) {
		if !mayContain(f, 7, h.pairs(w)) {
			t.Errorf("%q ruled out though the text holds it", w)
		}
	}
	fp := 0
	for i := 0; i < 1000; i++ {
		if mayContain(f, 7, h.pairs(fmt.Sprintf("zq%dxw", i))) {
			fp++
		}
	}
	if fp > 20 {
		t.Errorf("%d of 1000 absent words pass the filter", fp)
	}
	if other := newGramHasher(keyring.GenerateKey().Bytes()).build(7, text); bytes.Equal(other, f) {
		t.Error("another key gives the same filter")
	}
	if again := h.build(8, text); bytes.Equal(again, f) {
		t.Error("another blob with the same text has the same filter")
	}
	if mayContain([]byte{}, 7, h.pairs("bed")) {
		t.Error("an empty text may hold a word")
	}
}
