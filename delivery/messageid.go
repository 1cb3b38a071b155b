package delivery

import (
	"fmt"

	"airlock/message"
	"airlock/store"
)

// withMessageID returns the queued message as it goes to the relay: its own
// bytes when its header has a Message-ID (every message Submit and the
// bounces queue has one), else with one added that is derived from the
// queue row, so every attempt of the message, on any node, carries the same
// Message-ID. A receiver that sees a message twice (a resend after a crash,
// see Relay.attempt) can then tell it is one message (RFC 5322 3.6.4).
func withMessageID(m *store.OutboundMail, hostname string) []byte {
	if message.HasHeaderField(m.Data, "Message-ID") {
		return m.Data
	}
	id := fmt.Sprintf("Message-ID: <queue.%d.%d@%s>\r\n", m.ID, m.CreatedAt.UnixNano(), hostname)
	out := make([]byte, 0, len(id)+len(m.Data))
	return append(append(out, id...), m.Data...)
}
