package message

import (
	"crypto/md5"
	"encoding/binary"
	"regexp"
	"strings"
	"time"
)

// topicPrefix matches the reply and forward markers mail clients put in
// front of a subject, in the languages NHS staff meet most: English (Re, Fw,
// Fwd), German (AW, WG), Nordic (SV, VS), Dutch (Antw), French (TR, RE),
// Spanish (RV), with an optional counter ("Re[2]:").
var topicPrefix = regexp.MustCompile(`(?i)^\s*(re|fwd?|aw|wg|sv|vs|antw|tr|rv|enc)(\[\d+\])?\s*:\s*`)

// ThreadTopic is the subject without its reply and forward prefixes
// (MS-ASEMAIL 2.2.2.80 ThreadTopic; PidTagConversationTopic).
func ThreadTopic(subject string) string {
	s := subject
	for {
		t := topicPrefix.ReplaceAllString(s, "")
		if t == s {
			break
		}
		s = t
	}
	return strings.TrimSpace(s)
}

var msgID = regexp.MustCompile(`<[^<>\s]+>`)

// ids returns the message ids of a References or In-Reply-To field, in
// order, without angle brackets. A field without brackets (seen from broken
// clients) counts as one id.
func ids(field string) []string {
	var out []string
	for _, m := range msgID.FindAllString(field, -1) {
		out = append(out, m[1:len(m)-1])
	}
	if len(out) == 0 {
		if f := strings.TrimSpace(field); f != "" && !strings.ContainsAny(f, " \t") {
			out = append(out, strings.Trim(f, "<>"))
		}
	}
	return out
}

// firstID returns the first id of a Message-ID field without brackets.
func firstID(field string) string {
	if l := ids(field); len(l) > 0 {
		return l[0]
	}
	return ""
}

// ConversationID derives the 16-byte conversation id (MS-ASEMAIL 2.2.2.21
// ConversationId) from the thread's root message id, so every message of a
// thread gets the same value without any lookup: the first id of
// References (the root, RFC 5322 3.6.4), else In-Reply-To (the parent; a
// client that keeps no References starts a sub-thread there), else the
// message's own id. A message with no ids at all is grouped by its topic.
// The MD5 here is an identifier, not a security measure.
func ConversationID(references, inReplyTo, messageID, topic string) []byte {
	root := ""
	if l := ids(references); len(l) > 0 {
		root = l[0]
	} else if l := ids(inReplyTo); len(l) > 0 {
		root = l[0]
	} else if messageID != "" {
		root = messageID
	} else {
		root = "topic:" + strings.ToLower(topic)
	}
	sum := md5.Sum([]byte(root))
	return sum[:]
}

// filetimeEpoch is 1601-01-01, the FILETIME origin, in Unix seconds.
const filetimeEpoch = -11644473600

// ConversationIndex builds the 22-byte header block of a conversation index
// (MS-OXOMSG 2.2.1.3 PidTagConversationIndex, MS-ASEMAIL 2.2.2.22):
// one reserved byte 0x01; the 40 most significant bits of the FILETIME of t
// (100 ns units since 1601), big-endian, the 24 low bits dropped; and the
// 16-byte conversation GUID, here the ConversationId, so a client can match
// the two. Response levels (5-byte child blocks) are added by clients that
// reply; a received message starts its own header.
func ConversationIndex(t time.Time, conversationID []byte) []byte {
	out := make([]byte, 22)
	out[0] = 0x01
	ft := uint64((t.Unix()-filetimeEpoch)*10_000_000 + int64(t.Nanosecond()/100))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ft)
	copy(out[1:6], b[:5])
	copy(out[6:], conversationID)
	return out
}
