// Package phone reads telephone numbers as people type them and writes
// them in E.164 form (+447700900123), the form the SMS and fax gateways
// put before the @ of their addresses.
package phone

import (
	"regexp"
	"strings"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Normalize returns the E.164 form of a number typed by a person: spaces,
// dots, dashes and brackets are ignored; "00" is the international prefix;
// a UK national number (07700 900123, 020 7946 0018, "+44 (0)20 ...") gets
// +44. ok is false when the result is not a plausible E.164 number.
func Normalize(s string) (string, bool) {
	n := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '.', '-', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	switch {
	case strings.HasPrefix(n, "+440"): // "+44 (0)20 ..." written out
		n = "+44" + n[4:]
	case strings.HasPrefix(n, "00"):
		n = "+" + n[2:]
	case strings.HasPrefix(n, "0"):
		n = "+44" + n[1:]
	}
	if !e164.MatchString(n) {
		return "", false
	}
	return n, true
}

// IsUKMobile reports whether an E.164 number is a UK mobile (+447...), the
// only UK numbers that take text messages.
func IsUKMobile(n string) bool { return strings.HasPrefix(n, "+447") && len(n) == 13 }

// AtDomain returns the E.164 number of an address "+<number>@domain"
// (domain compared without case; the number exactly E.164, spaces, dots
// and dashes ignored). ok is false for any other address.
func AtDomain(addr, domain string) (string, bool) {
	if domain == "" {
		return "", false
	}
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.EqualFold(addr[at+1:], domain) || !strings.HasPrefix(addr, "+") {
		return "", false
	}
	return Normalize(addr[:at])
}

// Mask hides all but the last three digits, for logs.
func Mask(n string) string {
	if len(n) <= 3 {
		return "***"
	}
	return strings.Repeat("*", len(n)-3) + n[len(n)-3:]
}
