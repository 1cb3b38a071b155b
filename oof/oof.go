// Package oof keeps each user's out-of-office settings (what EAS Settings
// Oof reads and writes, MS-ASCMD 2.2.3.119) and decides, for a message just
// delivered to a user, whether it gets an automatic reply and what that
// reply is.
//
// Delivery calls Reply after it stored an inbound message for a local
// recipient and sends what comes back (as the recipient, through the
// normal submission path: local colleagues get it in their Inbox, others
// through the relay).
//
// # Rules
//
// A reply goes out only while the OOF is on (State Global, or TimeBased
// with now inside [Start, End)), only with the message that applies to the
// sender (Internal for a colleague in the directory, ExternalKnown for an
// address in the recipient's contacts, ExternalUnknown for anyone else), and
// only when that message is enabled. RFC 3834 is followed so replies never
// loop or reach lists: no reply to a message without an envelope sender, to
// automatic senders (mailer-daemon, postmaster, noreply, owner-, -request,
// bounce), to messages marked Auto-Submitted (other than "no"), Precedence
// bulk/list/junk, List-Id or List-Unsubscribe, X-Auto-Response-Suppress
// OOF/All, to messages that do not name the recipient in To or Cc, or to the
// recipient's own messages. Each sender gets one reply per OOF period: the
// claim is a row in the store, so two nodes delivering two messages from
// one sender at once send one reply.
package oof

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"airlock/directory"
	"airlock/message"
	"airlock/store"
)

// OOF states (MS-ASCMD 2.2.3.120 OofState).
const (
	StateDisabled  = 0
	StateGlobal    = 1
	StateTimeBased = 2
)

// Message is one of the three replies.
type Message struct {
	Enabled bool   `json:"enabled"`
	Body    string `json:"body,omitempty"`
	HTML    bool   `json:"html,omitempty"` // Body is HTML, else plain text
}

// Settings are a user's out-of-office settings.
type Settings struct {
	State           int       `json:"state"`
	Start           time.Time `json:"start,omitzero"`
	End             time.Time `json:"end,omitzero"`
	Internal        Message   `json:"internal"`
	ExternalKnown   Message   `json:"externalKnown"`
	ExternalUnknown Message   `json:"externalUnknown"`
}

// ErrInvalid is wrapped by Save errors about settings that cannot be
// stored: an unknown state, or a time-based OOF without a period.
var ErrInvalid = errors.New("oof: invalid settings")

// Validate checks the settings.
func (s Settings) Validate() error {
	switch s.State {
	case StateDisabled, StateGlobal:
	case StateTimeBased:
		if s.Start.IsZero() || s.End.IsZero() {
			return fmt.Errorf("%w: a time-based OOF needs a start and an end", ErrInvalid)
		}
		if !s.End.After(s.Start) {
			return fmt.Errorf("%w: the OOF ends before it starts", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: state %d", ErrInvalid, s.State)
	}
	for _, m := range []Message{s.Internal, s.ExternalKnown, s.ExternalUnknown} {
		if len(m.Body) > 64<<10 {
			return fmt.Errorf("%w: reply longer than 64 KiB", ErrInvalid)
		}
	}
	return nil
}

// Active reports whether automatic replies are on at now.
func (s Settings) Active(now time.Time) bool {
	switch s.State {
	case StateGlobal:
		return true
	case StateTimeBased:
		return !now.Before(s.Start) && now.Before(s.End)
	}
	return false
}

// Store is what this package needs from the store.
type Store interface {
	Oof(ctx context.Context, userID int64) (*store.OofRecord, error)
	SetOof(ctx context.Context, userID int64, settingsJSON string) (*store.OofRecord, error)
	ClaimOofReply(ctx context.Context, userID, generation int64, sender string) (bool, error)
	Aliases(ctx context.Context, userID int64) ([]string, error)
	directory.Store
}

var _ Store = (*store.Store)(nil)

// Load returns a user's settings (disabled when never set) and their
// generation.
func Load(ctx context.Context, st Store, userID int64) (Settings, int64, error) {
	rec, err := st.Oof(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return Settings{}, 0, nil
	}
	if err != nil {
		return Settings{}, 0, err
	}
	var s Settings
	if err := json.Unmarshal([]byte(rec.Settings), &s); err != nil {
		return Settings{}, 0, fmt.Errorf("oof settings of user %d: %v", userID, err)
	}
	return s, rec.Generation, nil
}

// Save validates and stores a user's settings; senders already answered
// will be answered again under the new settings.
func Save(ctx context.Context, st Store, userID int64, s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.Start, s.End = s.Start.UTC(), s.End.UTC()
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = st.SetOof(ctx, userID, string(b))
	return err
}

// Audience of a sender.
type Audience int

const (
	Internal Audience = iota
	ExternalKnown
	ExternalUnknown
)

func (s Settings) messageFor(a Audience) Message {
	switch a {
	case Internal:
		return s.Internal
	case ExternalKnown:
		return s.ExternalKnown
	}
	return s.ExternalUnknown
}

// Outgoing is an automatic reply to send as the recipient.
type Outgoing struct {
	To  string // the envelope recipient: the original sender
	Raw []byte // the RFC 5322 reply
}

// Reply decides whether the message raw, delivered to rcpt from the
// envelope sender, gets an automatic reply, and returns it (nil when not).
// now is the delivery time.
func Reply(ctx context.Context, st Store, rcpt *store.User, envelopeFrom string, raw []byte, now time.Time) (*Outgoing, error) {
	sender := store.NormalizeEmail(strings.Trim(envelopeFrom, "<> "))
	if sender == "" || automaticSender(sender) {
		return nil, nil
	}
	set, gen, err := Load(ctx, st, rcpt.ID)
	if err != nil || !set.Active(now) {
		return nil, err
	}
	hdr, err := readHeader(raw)
	if err != nil {
		return nil, nil // not a message we can answer sensibly
	}
	if suppressed(hdr) {
		return nil, nil
	}
	own, err := st.Aliases(ctx, rcpt.ID)
	if err != nil {
		return nil, err
	}
	own = append(own, rcpt.Email)
	if contains(own, sender) || !addressed(hdr, own) {
		return nil, nil
	}
	aud := ExternalUnknown
	if _, err := st.DirectoryEntry(ctx, sender); err == nil {
		aud = Internal
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	} else if found, _, err := directory.Resolve(ctx, st, rcpt, sender, 1); err != nil {
		return nil, err
	} else if len(found) > 0 {
		aud = ExternalKnown
	}
	msg := set.messageFor(aud)
	if !msg.Enabled || strings.TrimSpace(msg.Body) == "" {
		return nil, nil
	}
	ok, err := st.ClaimOofReply(ctx, rcpt.ID, gen, sender)
	if err != nil || !ok {
		return nil, err
	}
	out, err := compose(rcpt, sender, hdr, msg, now)
	if err != nil {
		return nil, err
	}
	return &Outgoing{To: sender, Raw: out}, nil
}

// automaticSender recognises addresses of software, not people (RFC 3834
// 2, and common practice).
func automaticSender(addr string) bool {
	local, _, _ := strings.Cut(addr, "@")
	switch local {
	case "mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply", "bounce", "bounces", "listserv", "majordomo":
		return true
	}
	return strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") || strings.HasSuffix(local, "-bounces") ||
		strings.HasPrefix(local, "bounce-") || strings.HasPrefix(local, "noreply")
}

func readHeader(raw []byte) (mail.Header, error) {
	m, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, err
	}
	return m.Header, nil
}

// suppressed reports the header fields that forbid an automatic reply.
func suppressed(h mail.Header) bool {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "list", "junk":
		return true
	}
	if h.Get("List-Id") != "" || h.Get("List-Unsubscribe") != "" {
		return true
	}
	for _, v := range strings.Split(strings.ToLower(h.Get("X-Auto-Response-Suppress")), ",") {
		if v = strings.TrimSpace(v); v == "oof" || v == "all" {
			return true
		}
	}
	return false
}

// addressed reports whether one of own is in To or Cc.
func addressed(h mail.Header, own []string) bool {
	for _, key := range []string{"To", "Cc"} {
		list, _ := h.AddressList(key)
		for _, a := range list {
			if contains(own, store.NormalizeEmail(a.Address)) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// compose builds the reply (RFC 3834 3): Auto-Submitted: auto-replied,
// threaded on the original, subject "Automatic reply: ...".
func compose(rcpt *store.User, to string, orig mail.Header, m Message, now time.Time) ([]byte, error) {
	var h gomail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*gomail.Address{{Name: rcpt.DisplayName, Address: rcpt.Email}})
	h.SetAddressList("To", []*gomail.Address{{Address: to}})
	subj := orig.Get("Subject")
	if dec, err := new(mime.WordDecoder).DecodeHeader(subj); err == nil {
		subj = dec
	}
	h.SetSubject(strings.TrimSpace("Automatic reply: " + subj))
	if id := strings.TrimSpace(orig.Get("Message-Id")); id != "" {
		h.Set("In-Reply-To", id)
		refs := strings.TrimSpace(orig.Get("References") + " " + id)
		h.Set("References", refs)
	}
	h.Set("Auto-Submitted", "auto-replied")
	h.Set("X-Auto-Response-Suppress", "All")
	_, host, _ := strings.Cut(rcpt.Email, "@")
	if err := h.GenerateMessageIDWithHostname(host); err != nil {
		return nil, err
	}
	ct := "text/plain"
	if m.HTML {
		ct = "text/html"
	}
	h.Set("Content-Type", ct+"; charset=utf-8")
	var b bytes.Buffer
	w, err := gomail.CreateSingleInlineWriter(&b, h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write([]byte(m.Body)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// AsText returns a reply body as plain text (for a device that asked for
// text), converting HTML; AsHTML the other way.
func (m Message) AsText() string {
	if !m.HTML {
		return m.Body
	}
	text, _, err := message.Bodies([]byte("MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + m.Body))
	if err != nil {
		return m.Body
	}
	return strings.TrimSpace(text)
}

// AsHTML returns the body as HTML.
func (m Message) AsHTML() string {
	if m.HTML {
		return m.Body
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", "<br>", "\n", "<br>")
	return "<html><body>" + r.Replace(m.Body) + "</body></html>"
}
