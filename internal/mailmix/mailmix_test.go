package mailmix_test

import (
	"bytes"
	"testing"
	"time"

	"airlock/internal/mailmix"
	"airlock/message"
)

var when = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// TestMixIsDeterministicAndParses: the same i gives the same bytes, every
// message is mail that Parse reads, and the shapes come in the stated mix.
func TestMixIsDeterministicAndParses(t *testing.T) {
	kinds := map[mailmix.Kind]int{}
	withAtt := 0
	for i := range 1000 {
		raw := mailmix.Message(i, "alice@example.nhs.uk", when)
		if !bytes.Equal(raw, mailmix.Message(i, "alice@example.nhs.uk", when)) {
			t.Fatalf("message %d differs between calls", i)
		}
		it, err := message.Parse(raw)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if it.Preview == "" {
			t.Errorf("message %d has no preview", i)
		}
		kinds[mailmix.KindOf(i)]++
		if len(it.Attachments) > 0 {
			withAtt++
		}
	}
	if kinds[mailmix.Plain] != 800 || kinds[mailmix.Alternative] != 150 || kinds[mailmix.Attachment] != 50 || withAtt != 50 {
		t.Errorf("mix %v, %d with attachments; want 800/150/50", kinds, withAtt)
	}
}
