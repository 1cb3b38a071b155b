package policies

import (
	"strconv"
	"strings"
)

// CompareVersions compares the first version number found in a and in b and
// returns -1, 0 or +1 (a < b, a == b, a > b).
//
// The strings may carry text around the number, as devices send it:
// "iOS 4.3.3 8J2", "Android 2.3.4", "Windows CE 5.2.21234", "6.5",
// "MSFT-WP/7.0.7004". The first dotted number ("4.3.3") is used; if there is
// none, the first standalone integer ("iOS 10" gives 10). Components compare
// numerically and missing components count as zero, so "4" == "4.0" and
// "5.2.9" < "5.2.10".
//
// A string without any number is lower than every string with one, and equal
// to another string without one. Callers that must tell "unknown" from "old"
// should check [HasVersion] first.
func CompareVersions(a, b string) int {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return -1
	case !okb:
		return 1
	}
	for i := 0; i < len(va) || i < len(vb); i++ {
		var x, y int
		if i < len(va) {
			x = va[i]
		}
		if i < len(vb) {
			y = vb[i]
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// HasVersion reports whether s contains a version number that
// [CompareVersions] would use.
func HasVersion(s string) bool {
	_, ok := parseVersion(s)
	return ok
}

// VersionString returns the version number [CompareVersions] would use from s
// ("4.3.3" from "iOS 4.3.3 8J2"), or "" if there is none.
func VersionString(s string) string {
	v, ok := parseVersion(s)
	if !ok {
		return ""
	}
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ".")
}

// maxVersionComponent bounds each numeric component so that absurd input
// cannot overflow; real OS versions stay far below it.
const maxVersionComponent = 1 << 30

// parseVersion finds the first dotted number in s, or else the first
// standalone integer. A number glued to a preceding letter ("Q10", "8J2") is
// not standalone.
func parseVersion(s string) ([]int, bool) {
	var firstInt []int
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		if i > 0 && (isLetter(s[i-1]) || isDigit(s[i-1])) {
			// Skip the rest of this glued run.
			for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
				i++
			}
			continue
		}
		// Collect digits and dots.
		j := i
		for j < len(s) && (isDigit(s[j]) || (s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]))) {
			j++
		}
		run := s[i:j]
		comps, ok := splitVersion(run)
		if !ok {
			i = j
			continue
		}
		if len(comps) > 1 {
			return comps, true
		}
		if firstInt == nil {
			firstInt = comps
		}
		i = j
	}
	if firstInt != nil {
		return firstInt, true
	}
	return nil, false
}

func splitVersion(run string) ([]int, bool) {
	fields := strings.Split(run, ".")
	out := make([]int, 0, len(fields))
	for _, f := range fields {
		if f == "" {
			return nil, false
		}
		n, err := strconv.Atoi(f)
		if err != nil || n > maxVersionComponent {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
