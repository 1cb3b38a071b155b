package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"airlock/message"
	"airlock/store"
)

// Errors of Submit and of inbound delivery; compare with errors.Is.
var (
	// ErrMalformed: the message is not a message (see message.Parse), or
	// an address header cannot be read.
	ErrMalformed = errors.New("delivery: malformed message")
	// ErrNoRecipients: no To, Cc or Bcc address.
	ErrNoRecipients = errors.New("delivery: no recipients")
	// ErrNoRelay: a recipient is remote and no relay is configured.
	ErrNoRelay = errors.New("delivery: remote recipient and no relay configured")
	// ErrAlreadySent: the user already sent a message with this ClientId.
	ErrAlreadySent = errors.New("delivery: message already sent")
	// ErrResent: the device already sent this very message (the same
	// Submission.Resend key) within the key's window; nothing was stored.
	ErrResent = errors.New("delivery: message resent by the device")
	// ErrTooLarge: the message exceeds the size limit.
	ErrTooLarge = errors.New("delivery: message too large")
)

// DefaultMaxMessageSize is the default limit on a message: 25 MiB.
const DefaultMaxMessageSize = 25 << 20

// Service stores mail for local users and queues it for remote ones.
type Service struct {
	Store *store.Store
	// Hostname names this server in Received fields, Message-IDs and
	// bounces.
	Hostname string
	Log      *slog.Logger
	// Relay takes remote recipients. Without one (or with one that has no
	// smarthost address), a submission with a remote recipient fails with
	// ErrNoRelay rather than waiting in a queue nobody drains.
	Relay *Relay
	// MaxMessageSize bounds a message; default DefaultMaxMessageSize.
	MaxMessageSize int64
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Rules are the health-service rules (rules.go); nil: none.
	Rules Rules
	// Delivered, when set, is called after an inbound message is stored,
	// once per local recipient that received it: automatic replies and
	// meeting mail from outside hang here. Its errors are logged, never
	// undo the delivery.
	Delivered func(ctx context.Context, rcpt *store.User, envelopeFrom string, raw []byte)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Service) maxSize() int64 {
	if s.MaxMessageSize > 0 {
		return s.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

func (s *Service) hostname() string {
	if s.Hostname == "" {
		return "localhost"
	}
	return s.Hostname
}

// RemoteAllowed reports whether remote recipients can be accepted.
func (s *Service) RemoteAllowed() bool { return s.Relay != nil && s.Relay.cfg.Addr != "" }

// Submission is a message a user sends.
type Submission struct {
	User *store.User
	// ClientID is the device's id for the message (EAS ClientId); a
	// second submission with the same one fails with ErrAlreadySent.
	// Empty for SMTP.
	ClientID string
	// Resend, for a device message without a ClientId (EAS 12.x), is the
	// device's fingerprint of it: a second submission with the same one
	// within its window fails with ErrResent.
	Resend *store.Resend
	// MIME is the RFC 5322 message as the client composed it.
	MIME []byte
	// SaveInSent keeps a copy in the sender's Sent Items.
	SaveInSent bool
	// Envelope, when not nil, are the recipients (SMTP RCPT TO); otherwise
	// they are read from To, Cc and Bcc.
	Envelope []string
	// Protocol and RemoteAddr describe the submission in the Received
	// field ("HTTPS (ActiveSync)", "ESMTPSA").
	Protocol   string
	RemoteAddr string
}

// Result says where a submitted message went.
type Result struct {
	MessageID string
	Local     []string // addresses delivered here
	Remote    []string // addresses queued for the relay
	// Health-service rules (rules.go):
	SMS     []string // SMS addresses queued for the SMS gateway
	Fax     []string // fax addresses queued for the fax gateway
	Held    []string // remote addresses held (sensitive mail, secure domains)
	Refused []string // local addresses whose mailbox was full (the sender gets a report)
}

// Submit stores a message the user sends: From forced to the user, Bcc
// removed, a Received field added; local recipients' Inboxes, the sender's
// Sent Items and the relay queue in one transaction.
func (s *Service) Submit(ctx context.Context, sub Submission) (*Result, error) {
	if int64(len(sub.MIME)) > s.maxSize() {
		return nil, fmt.Errorf("%d bytes: %w", len(sub.MIME), ErrTooLarge)
	}
	hdr, body, err := splitMessage(sub.MIME)
	if err != nil {
		return nil, err
	}
	// One header value, edited only through mh: textproto.Header must not
	// be copied while it is being changed.
	mh := mail.Header{Header: gomessage.Header{Header: hdr}}

	rcpts := sub.Envelope
	if rcpts == nil {
		for _, key := range []string{"To", "Cc", "Bcc"} {
			list, err := mh.AddressList(key)
			if err != nil {
				return nil, fmt.Errorf("%s: %v: %w", key, err, ErrMalformed)
			}
			for _, a := range list {
				rcpts = append(rcpts, a.Address)
			}
		}
	}
	rcpts = normalizeAddrs(rcpts)
	if len(rcpts) == 0 {
		return nil, ErrNoRecipients
	}
	bcc, _ := mh.AddressList("Bcc") // kept on the Sent Items copy (bcc.go)
	mh.Del("Bcc")

	// From is the authenticated user: one of their addresses as the
	// client wrote it, or else their primary address.
	aliases, err := s.Store.Aliases(ctx, sub.User.ID)
	if err != nil {
		return nil, err
	}
	own := append([]string{sub.User.Email}, aliases...)
	from, _ := mh.AddressList("From")
	onBehalf := s.onBehalfOf(ctx, sub.User, from) // delegates (rules.go)
	if onBehalf == nil && (len(from) != 1 || !slices.Contains(own, store.NormalizeEmail(from[0].Address))) {
		mh.SetAddressList("From", []*mail.Address{{Name: sub.User.DisplayName, Address: sub.User.Email}})
	}
	mh.Del("Sender")
	if onBehalf != nil { // From the owner, Sender the delegate (RFC 5322 3.6.2)
		mh.SetAddressList("Sender", []*mail.Address{{Name: sub.User.DisplayName, Address: sub.User.Email}})
	}
	now := s.now()
	if !mh.Has("Date") {
		mh.SetDate(now)
	}
	msgID, _ := mh.MessageID()
	if msgID == "" {
		if err := mh.GenerateMessageIDWithHostname(s.hostname()); err != nil {
			return nil, err
		}
		msgID, _ = mh.MessageID()
	}
	if !mh.Has("Mime-Version") {
		mh.Set("MIME-Version", "1.0")
	}
	proto := sub.Protocol
	if proto == "" {
		proto = "HTTPS (ActiveSync)"
	}
	mh.Add("Received", s.received(sub.RemoteAddr, "", proto, "", now, " ")) // folded by the writer
	raw, err := joinMessage(mh.Header.Header, body)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > s.maxSize() {
		return nil, fmt.Errorf("%d bytes: %w", len(raw), ErrTooLarge)
	}
	parsed, err := message.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrMalformed)
	}

	res := &Result{MessageID: msgID}
	var items []*store.Item
	seen := map[int64]bool{}
	for _, addr := range rcpts {
		u, err := s.Store.UserByAddress(ctx, addr)
		switch {
		case errors.Is(err, store.ErrNotFound):
			res.Remote = append(res.Remote, addr)
			continue
		case err != nil:
			return nil, err
		}
		res.Local = append(res.Local, addr)
		if seen[u.ID] {
			continue // two addresses of one user: one copy
		}
		seen[u.ID] = true
		it, err := s.copyFor(ctx, parsed, u.ID, store.FolderInbox)
		if err != nil {
			return nil, err
		}
		if err := s.markBcc(ctx, parsed, it, u); err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	s.splitSMS(res) // SMS and fax addresses are ours, not the relay's (rules.go)
	if len(res.Remote) > 0 && !s.RemoteAllowed() {
		return nil, fmt.Errorf("%s: %w", strings.Join(res.Remote, ", "), ErrNoRelay)
	}
	if sub.SaveInSent {
		it, err := s.copyFor(ctx, parsed, sub.User.ID, store.FolderSentItems)
		if err != nil {
			return nil, err
		}
		it.Read = true
		it.BccAddrs = bccList(bcc)
		items = append(items, it)
	}
	ss := store.Submission{UserID: sub.User.ID, ClientID: sub.ClientID, Resend: sub.Resend, Raw: raw, Items: items}
	if len(res.Remote) > 0 {
		uid := sub.User.ID
		ss.Outbound = &store.OutboundMail{UserID: &uid, MailFrom: sub.User.Email, RcptTo: strings.Join(res.Remote, "\n"), Data: raw}
	}
	if err := s.storeSubmission(ctx, sub, raw, parsed, res, ss); err != nil { // health-service rules (rules.go)
		if errors.Is(err, store.ErrClientIDUsed) {
			return nil, fmt.Errorf("client id %q: %w", sub.ClientID, ErrAlreadySent)
		}
		if errors.Is(err, store.ErrResent) {
			return nil, fmt.Errorf("%v: %w", err, ErrResent)
		}
		return nil, err
	}
	if ss.Outbound != nil {
		s.Relay.Kick()
	}
	s.log().Info("mail submitted", "user_id", sub.User.ID, "local", len(res.Local), "remote", len(res.Remote), "bytes", len(raw))
	return res, nil
}

// Inbound is a message arriving over SMTP or LMTP for local users.
type Inbound struct {
	From       string // envelope sender, "" for a bounce
	Recipients []*store.User
	// For is the one recipient address named in the Received field (only
	// when there is exactly one, so Bcc recipients stay private).
	For        string
	Data       []byte
	Helo       string
	RemoteAddr string
	Protocol   string // ESMTP, ESMTPS, LMTP
}

// DeliverInbound stores an incoming message once for all its local
// recipients, in their Inboxes, in one transaction.
func (s *Service) DeliverInbound(ctx context.Context, in Inbound) error {
	if len(in.Recipients) == 0 {
		return ErrNoRecipients
	}
	if int64(len(in.Data)) > s.maxSize() {
		return ErrTooLarge
	}
	recv := "Received: " + s.received(in.RemoteAddr, in.Helo, in.Protocol, in.For, s.now(), "\r\n\t") + "\r\n"
	raw := make([]byte, 0, len(recv)+len(in.Data))
	raw = append(append(raw, recv...), in.Data...)
	parsed, err := message.Parse(raw)
	if err != nil {
		return fmt.Errorf("%v: %w", err, ErrMalformed)
	}
	d := store.Delivery{Raw: raw}
	seen := map[int64]bool{}
	for _, u := range in.Recipients {
		if seen[u.ID] {
			continue
		}
		seen[u.ID] = true
		it, err := s.copyFor(ctx, parsed, u.ID, store.FolderInbox)
		if err != nil {
			return err
		}
		if err := s.markBcc(ctx, parsed, it, u); err != nil {
			return err
		}
		d.Items = append(d.Items, it)
	}
	if err := s.storeInbound(ctx, in, &d); err != nil { // health-service rules (rules.go)
		return err
	}
	s.log().Info("mail delivered", "protocol", in.Protocol, "recipients", len(d.Items), "bytes", len(raw))
	if s.Delivered != nil {
		for _, u := range in.Recipients {
			for _, it := range d.Items {
				if it.UserID == u.ID && it.ID != 0 {
					s.Delivered(ctx, u, in.From, raw)
					break
				}
			}
		}
	}
	return nil
}

// copyFor returns the parsed summary as a new item in one of the user's
// default folders.
func (s *Service) copyFor(ctx context.Context, parsed *store.Item, userID int64, t store.FolderType) (*store.Item, error) {
	f, err := s.Store.FolderByType(ctx, userID, t)
	if err != nil {
		return nil, err
	}
	it := *parsed
	it.UserID, it.FolderID = userID, f.ID
	it.Attachments = slices.Clone(parsed.Attachments)
	return &it, nil
}

// received formats a Received field's value (RFC 5321 4.4), its clauses
// separated by sep (a space, or a fold).
func (s *Service) received(remote, helo, proto, forAddr string, at time.Time, sep string) string {
	var b strings.Builder
	b.WriteString("from ")
	if helo != "" {
		b.WriteString(sanitizeToken(helo))
		b.WriteString(" ")
	}
	if remote != "" {
		b.WriteString("([" + sanitizeToken(remote) + "])")
	} else {
		b.WriteString("(unknown)")
	}
	b.WriteString(sep + "by " + s.hostname() + " (Airlock) with " + proto + " id " + shortID())
	if forAddr != "" {
		b.WriteString(sep + "for <" + sanitizeToken(forAddr) + ">")
	}
	b.WriteString("; " + at.Format(time.RFC1123Z))
	return b.String()
}

func sanitizeToken(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '(' || r == ')' || r == '<' || r == '>' || r == ';' {
			return -1
		}
		return r
	}, s)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

func shortID() string {
	return strings.ToUpper(rand.Text()[:12])
}

// normalizeAddrs lower-cases, trims and de-duplicates, keeping order.
func normalizeAddrs(in []string) []string {
	var out []string
	for _, a := range in {
		a = store.NormalizeEmail(strings.Trim(strings.TrimSpace(a), "<>"))
		if a != "" && strings.Contains(a, "@") && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// splitMessage reads the header block of raw, keeping every field's raw
// bytes, and returns it with the body that follows.
func splitMessage(raw []byte) (textproto.Header, []byte, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return textproto.Header{}, nil, fmt.Errorf("header: %v: %w", err, ErrMalformed)
	}
	if h.Len() == 0 {
		return textproto.Header{}, nil, fmt.Errorf("no header fields: %w", ErrMalformed)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return textproto.Header{}, nil, err
	}
	return h, body, nil
}

func joinMessage(h textproto.Header, body []byte) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(body) + 1024)
	if err := textproto.WriteHeader(&b, h); err != nil {
		return nil, fmt.Errorf("header: %v: %w", err, ErrMalformed)
	}
	b.Write(body)
	return b.Bytes(), nil
}
