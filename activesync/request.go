package activesync

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Version is an EAS protocol version as the MS-ASProtocolVersion header
// carries it ("14.1"), kept as major*10+minor (141) so versions compare.
type Version int

// The protocol versions Airlock speaks, oldest first.
const (
	V120 Version = 120
	V121 Version = 121
	V140 Version = 140
	V141 Version = 141
	V160 Version = 160
	V161 Version = 161
)

// SupportedVersions lists what OPTIONS advertises (MS-ASHTTP 2.2.4.1.1.1).
var SupportedVersions = []Version{V120, V121, V140, V141, V160, V161}

// ServerVersion is the MS-Server-ActiveSync header of every answer
// (MS-ASHTTP 2.2.4.1.2, "the version of the ActiveSync server"; its own
// example is "15.1"). Clients may read it as an Exchange build, so it
// names a release that offers every version in SupportedVersions:
// Exchange 2016 (15.1) is the first with 16.0 and 16.1 (MS-ASHTTP
// Appendix A: Exchange 2010 SP1 and 2013 stop at 14.1).
const ServerVersion = "15.1"

func (v Version) String() string { return fmt.Sprintf("%d.%d", int(v)/10, int(v)%10) }

// ParseVersion reads "14.1"; it returns 0 for anything else.
func ParseVersion(s string) Version {
	major, minor, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return 0
	}
	a, err1 := strconv.Atoi(major)
	b, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil || a < 0 || a > 99 || b < 0 || b > 9 {
		return 0
	}
	return Version(a*10 + b)
}

func supported(v Version) bool {
	for _, s := range SupportedVersions {
		if v == s {
			return true
		}
	}
	return false
}

// Query is the request line of an EAS POST (MS-ASHTTP 2.2.1.1.1), from
// either the plain or the base64-encoded form.
type Query struct {
	Cmd             string
	User            string
	DeviceID        string
	DeviceType      string
	PolicyKey       string // from the base64 form; the plain form uses the header
	ProtocolVersion Version
	AttachmentName  string
	CollectionID    string
	ItemID          string
	LongID          string
	Occurrence      string
	SaveInSent      bool
	AcceptMultiPart bool
	Locale          uint16
}

// Command codes of the base64 query form (MS-ASHTTP 2.2.1.1.1.1.2).
var commandCodes = map[byte]string{
	0: "Sync", 1: "SendMail", 2: "SmartForward", 3: "SmartReply", 4: "GetAttachment",
	9: "FolderSync", 10: "FolderCreate", 11: "FolderDelete", 12: "FolderUpdate",
	13: "MoveItems", 14: "GetItemEstimate", 15: "MeetingResponse", 16: "Search",
	17: "Settings", 18: "Ping", 19: "ItemOperations", 20: "Provision",
	21: "ResolveRecipients", 22: "ValidateCert", 23: "Find",
}

// ParseQuery reads the request line. A query that is neither form is an
// error; missing fields are left empty for the handler to judge.
func ParseQuery(r *http.Request) (Query, error) {
	raw := r.URL.RawQuery
	if raw == "" {
		return Query{}, fmt.Errorf("empty query")
	}
	// The plain form always names its command; anything else must be the
	// base64 form, and a line that decodes as neither is an error.
	if !strings.Contains(raw, "Cmd=") {
		return parseBase64Query(raw)
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return Query{}, fmt.Errorf("malformed query: %v", err)
	}
	q := Query{
		Cmd:            v.Get("Cmd"),
		User:           v.Get("User"),
		DeviceID:       v.Get("DeviceId"),
		DeviceType:     v.Get("DeviceType"),
		AttachmentName: v.Get("AttachmentName"),
		CollectionID:   v.Get("CollectionId"),
		ItemID:         v.Get("ItemId"),
		LongID:         v.Get("LongId"),
		Occurrence:     v.Get("Occurrence"),
	}
	// SaveInSent=T (MS-ASHTTP 2.2.1.1.1.2.6), used by 12.x SendMail.
	q.SaveInSent = strings.EqualFold(v.Get("SaveInSent"), "T")
	q.ProtocolVersion = ParseVersion(r.Header.Get("MS-ASProtocolVersion"))
	q.AcceptMultiPart = strings.EqualFold(r.Header.Get("MS-ASAcceptMultiPart"), "T")
	return q, nil
}

// parseBase64Query decodes MS-ASHTTP 2.2.1.1.1.1: version, command code,
// locale, length-prefixed DeviceId, PolicyKey and DeviceType, then
// tag-length-value command parameters.
func parseBase64Query(raw string) (Query, error) {
	// PathUnescape, not QueryUnescape: a '+' of base64 that a device sent
	// unescaped is a '+', not a space.
	s, err := url.PathUnescape(raw)
	if err != nil {
		return Query{}, fmt.Errorf("base64 query: %v", err)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return Query{}, fmt.Errorf("base64 query: not base64")
		}
	}
	r := byteReader{b: b}
	var q Query
	ver := r.byte()
	q.ProtocolVersion = Version(ver)
	code := r.byte()
	name, ok := commandCodes[code]
	if !ok {
		name = fmt.Sprintf("#%d", code)
	}
	q.Cmd = name
	q.Locale = binary.LittleEndian.Uint16(r.bytes(2))
	q.DeviceID = deviceIDString(r.bytes(int(r.byte())))
	switch n := int(r.byte()); n {
	case 0:
	case 4:
		q.PolicyKey = strconv.FormatUint(uint64(binary.LittleEndian.Uint32(r.bytes(4))), 10)
	default:
		return Query{}, fmt.Errorf("base64 query: policy key of %d bytes", n)
	}
	q.DeviceType = string(r.bytes(int(r.byte())))
	for r.err == nil && r.remaining() > 0 {
		tag := r.byte()
		val := r.bytes(int(r.byte()))
		switch tag {
		case 0:
			q.AttachmentName = string(val)
		case 1:
			q.CollectionID = string(val)
		case 3:
			q.ItemID = string(val)
		case 4:
			q.LongID = string(val)
		case 6:
			q.Occurrence = string(val)
		case 7:
			if len(val) > 0 {
				q.SaveInSent = val[0]&0x01 != 0
				q.AcceptMultiPart = val[0]&0x02 != 0
			}
		case 8:
			q.User = string(val)
		}
	}
	if r.err != nil {
		return Query{}, r.err
	}
	return q, nil
}

// deviceIDString keeps a printable DeviceId as it is and shows a binary one
// (some clients send a raw GUID) in hex, so both query forms name a device
// the same way.
func deviceIDString(b []byte) string {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return strings.ToUpper(hex.EncodeToString(b))
		}
	}
	return string(b)
}

type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) remaining() int { return len(r.b) }

func (r *byteReader) byte() byte {
	v := r.bytes(1)
	return v[0]
}

func (r *byteReader) bytes(n int) []byte {
	if r.err != nil || n > len(r.b) {
		if r.err == nil {
			r.err = fmt.Errorf("base64 query: truncated")
		}
		return make([]byte, max(n, 1))
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// validDeviceID enforces MS-ASHTTP 2.2.1.1.1.2.3: up to 32 alphanumeric
// characters (hex of a binary id may be longer; allow up to 64), and a
// DeviceType likewise short and printable. Anything else is refused before it
// reaches the store or a log line.
func validDeviceID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validDeviceType(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for _, c := range t {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
