// Package notice writes the short messages Airlock itself puts in a user's
// Inbox: quota warnings, break-glass notices, held-mail and SMS reports.
// They are plain RFC 5322 text messages from the postmaster address, marked
// Auto-Submitted so that no client or vacation responder answers them.
package notice

import (
	"context"
	"crypto/rand"
	"fmt"
	"mime"
	"strings"
	"time"

	"airlock/message"
	"airlock/store"
)

// Notice is one message to a user.
type Notice struct {
	Hostname string // names the sender (postmaster@Hostname) and the Message-ID
	To       *store.User
	Subject  string
	Body     string // plain text; lines end in \n or \r\n
	// Kind goes in X-Airlock-Notice (quota-warning, breakglass, held, sms...).
	Kind string
	Now  time.Time
}

// Raw returns the message.
func (n Notice) Raw() []byte {
	host := n.Hostname
	if host == "" {
		host = "localhost"
	}
	now := n.Now
	if now.IsZero() {
		now = time.Now()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: Airlock <postmaster@%s>\r\n", host)
	fmt.Fprintf(&b, "To: %s\r\n", mime.QEncoding.Encode("utf-8", n.To.DisplayName)+" <"+n.To.Email+">")
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", n.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", strings.ToLower(rand.Text()), host)
	b.WriteString("Auto-Submitted: auto-generated\r\n")
	if n.Kind != "" {
		fmt.Fprintf(&b, "X-Airlock-Notice: %s\r\n", n.Kind)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(n.Body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// Delivery returns the notice as a delivery into the user's Inbox.
func (n Notice) Delivery(ctx context.Context, st *store.Store) (*store.Delivery, error) {
	raw := n.Raw()
	it, err := message.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse our own notice: %w", err)
	}
	inbox, err := st.FolderByType(ctx, n.To.ID, store.FolderInbox)
	if err != nil {
		return nil, err
	}
	it.UserID, it.FolderID = n.To.ID, inbox.ID
	return &store.Delivery{Raw: raw, Items: []*store.Item{it}}, nil
}
