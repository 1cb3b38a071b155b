package activesync

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"airlock/message"
)

func TestBodyCacheGivesWhatParsingGives(t *testing.T) {
	mail := func(ct, body string) []byte {
		return []byte("From: a@example.nhs.uk\r\nTo: b@example.nhs.uk\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: " + ct + "\r\n\r\n" + body)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"plain", mail("text/plain; charset=utf-8", "Bay 4 stable.\r\n")},
		{"html only", mail("text/html; charset=utf-8", "<p>Bay <b>4</b> stable.</p>")},
		{"alternative", mail(`multipart/alternative; boundary="b"`, "--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b--\r\n")},
		{"not a message", []byte("\x00\x01 binary")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newBodyCache(1 << 20)
			wantText, wantHTML, wantErr := message.Bodies(tc.raw)
			for round := 0; round < 2; round++ { // a miss, then a hit
				text, html, err := c.bodies(tc.raw)
				if text != wantText || html != wantHTML || (err == nil) != (wantErr == nil) {
					t.Fatalf("round %d: %q %q %v, want %q %q %v", round, text, html, err, wantText, wantHTML, wantErr)
				}
			}
			if n, _ := c.len(); n != 1 {
				t.Fatalf("%d entries after two renders of one message", n)
			}
		})
	}
}

func TestBodyCacheStaysWithinItsBound(t *testing.T) {
	msg := func(i int) []byte {
		return []byte(fmt.Sprintf("From: a@example.nhs.uk\r\nSubject: %d\r\nContent-Type: text/plain\r\n\r\nnote %d %s\r\n", i, i, strings.Repeat("x", 100)))
	}
	c := newBodyCache(64 << 10)
	for i := 0; i < 2000; i++ {
		c.bodies(msg(i))
		c.bodies(msg(0)) // kept in use: never evicted
		if _, size := c.len(); size > c.max {
			t.Fatalf("after %d: %d bytes held, bound %d", i, size, c.max)
		}
	}
	n, _ := c.len()
	if n < 100 || n > 2000 {
		t.Fatalf("%d entries in 64 KiB", n)
	}
	key := func(i int) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.byKey[sha256.Sum256(msg(i))]
		return ok
	}
	if !key(0) || !key(1999) || key(1) {
		t.Fatalf("LRU order not kept: 0 %v, 1999 %v, 1 %v", key(0), key(1999), key(1))
	}
	// A message larger than a 64th of the bound is not kept.
	big := []byte("From: a@example.nhs.uk\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("y", 8<<10))
	before, _ := c.len()
	if text, _, err := c.bodies(big); err != nil || len(text) < 8<<10 {
		t.Fatalf("big: %d %v", len(text), err)
	}
	if after, _ := c.len(); after != before {
		t.Fatalf("a big message was cached: %d entries, was %d", after, before)
	}
}
