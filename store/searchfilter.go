package store

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"math/bits"
)

// Keyed trigram filter for mailbox search.
//
// The search text of a message is sealed, so the database cannot look
// words up in it. Beside it each text keeps a Bloom filter of its byte
// trigrams (blob_texts.grams): a search opens only the texts whose filter
// holds every trigram of the word, and skips the rest (for a word of
// three bytes or more; shorter words open every candidate text).
//
// The filter's bit positions come from AES-256 under the Search key
// (a pseudorandom permutation of the trigram) mixed with the blob's id,
// so without the key the database reveals neither which trigrams a text
// has nor whether two texts are alike; it shows roughly how many distinct
// trigrams a text has (its size).

const (
	gramBitsPerEntry = 8 // about 2% false positives per trigram at k = 5
	gramProbes       = 5
)

// gramHasher turns trigrams into keyed hash pairs.
type gramHasher struct{ block cipher.Block }

func newGramHasher(key []byte) gramHasher {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // the Search key is always 32 bytes
	}
	return gramHasher{block: b}
}

// hash is the keyed pair (h1, h2) of one trigram.
func (g gramHasher) hash(tri uint32) (uint64, uint64) {
	var in, out [16]byte
	binary.LittleEndian.PutUint32(in[:], tri)
	in[4] = 3 // domain: trigrams
	g.block.Encrypt(out[:], in[:])
	return binary.LittleEndian.Uint64(out[:8]), binary.LittleEndian.Uint64(out[8:])
}

// trigrams returns the distinct byte trigrams of s.
func trigrams(s string) []uint32 {
	if len(s) < 3 {
		return nil
	}
	seen := make(map[uint32]struct{}, len(s)/2)
	out := make([]uint32, 0, len(s)/2)
	for i := 0; i+3 <= len(s); i++ {
		t := uint32(s[i])<<16 | uint32(s[i+1])<<8 | uint32(s[i+2])
		if _, ok := seen[t]; !ok {
			seen[t] = struct{}{}
			out = append(out, t)
		}
	}
	return out
}

// gramPair is one trigram's keyed hash pair.
type gramPair struct{ h1, h2 uint64 }

func (g gramHasher) pairs(s string) []gramPair {
	tris := trigrams(s)
	out := make([]gramPair, len(tris))
	for i, t := range tris {
		out[i].h1, out[i].h2 = g.hash(t)
	}
	return out
}

// mix64 is splitmix64's finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// probe returns the i-th bit position of p in a filter of mask+1 bits
// for blob (double hashing, Kirsch and Mitzenmacher).
func (p gramPair) probe(blob int64, i int, mask uint64) uint64 {
	salt := mix64(uint64(blob) + 0x9e3779b97f4a7c15)
	a, b := mix64(p.h1^salt), mix64(p.h2^salt)|1
	return (a + uint64(i)*b) & mask
}

// buildGramFilter makes the filter of a normalised text for a blob.
func (g gramHasher) build(blob int64, text string) []byte {
	ps := g.pairs(text)
	if len(ps) == 0 {
		return []byte{}
	}
	nbits := uint64(1) << bits.Len64(uint64(len(ps)*gramBitsPerEntry-1))
	nbits = max(nbits, 64)
	f := make([]byte, nbits/8)
	for _, p := range ps {
		for i := 0; i < gramProbes; i++ {
			pos := p.probe(blob, i, nbits-1)
			f[pos/8] |= 1 << (pos % 8)
		}
	}
	return f
}

// mayContain reports whether a text whose filter is f may hold every
// trigram in ps. A missing filter (text stored before filters) may.
func mayContain(f []byte, blob int64, ps []gramPair) bool {
	if f == nil {
		return true
	}
	nbits := uint64(len(f)) * 8
	if nbits == 0 || nbits&(nbits-1) != 0 {
		return len(ps) == 0
	}
	for _, p := range ps {
		for i := 0; i < gramProbes; i++ {
			pos := p.probe(blob, i, nbits-1)
			if f[pos/8]&(1<<(pos%8)) == 0 {
				return false
			}
		}
	}
	return true
}
