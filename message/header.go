package message

import "bytes"

// HasHeaderField reports whether the header block of the raw message msg
// has a field called name (any value; a field folded onto the next line
// counts). It reads only the header block and parses nothing, so it is
// cheap enough for the send path's checks.
func HasHeaderField(msg []byte, name string) bool {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		end = bytes.Index(msg, []byte("\n\n"))
	}
	if end < 0 {
		end = len(msg)
	}
	for _, line := range bytes.Split(msg[:end], []byte("\n")) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			continue // a folded continuation
		}
		n, _, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(n), []byte(name)) {
			return true
		}
	}
	return false
}
