package message

import "testing"

func TestDomainOf(t *testing.T) {
	for _, c := range []struct{ host, want string }{
		{"mail.example.nhs.uk", "example.nhs.uk"},
		{"mail.example.org", "example.org"},
		{"example.org", "example.org"},
		{"localhost", "localhost"},
		{"airlock.test", "airlock.test"},
		{"host.", "host."},
		{"", ""},
	} {
		if got := DomainOf(c.host); got != c.want {
			t.Errorf("DomainOf(%q) = %q, want %q", c.host, got, c.want)
		}
	}
}
