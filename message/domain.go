package message

import "strings"

// DomainOf returns the mail domain a host name implies: host without its
// first label ("mail.example.nhs.uk" → "example.nhs.uk"). A host of one or
// two labels ("localhost", "example.org") is its own domain, so a name is
// never cut down to a top-level domain.
func DomainOf(host string) string {
	if i := strings.IndexByte(host, '.'); i >= 0 && i < len(host)-1 && strings.Contains(host[i+1:], ".") {
		return host[i+1:]
	}
	return host
}
