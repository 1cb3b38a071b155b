package pim

import (
	"bytes"
	"strings"
	"testing"
)

// The parsers read users' files: whatever the bytes, they return entries
// and errors, never panic.
func FuzzParseICS(f *testing.F) {
	f.Add([]byte(icsSample))
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:2024\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, tasks, _ := ParseICS(bytes.NewReader(data))
		for i := range events {
			if _, err := events[i].ToItem(1, 1); err != nil && !strings.Contains(err.Error(), "pim: invalid") {
				t.Fatalf("ToItem: %v", err)
			}
		}
		var buf bytes.Buffer
		_ = WriteICS(&buf, events, tasks)
	})
}

func FuzzParseVCF(f *testing.F) {
	f.Add([]byte(vcfSample))
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:3.0\r\nN:;;;;\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		contacts, _ := ParseVCF(bytes.NewReader(data))
		var buf bytes.Buffer
		_ = WriteVCF(&buf, contacts)
	})
}
