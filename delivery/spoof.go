package delivery

// Mail from outside that claims to come from inside.
//
// Staff send through ActiveSync, IMAP's submission or the submission
// listener, all authenticated. A message that reaches the SMTP or LMTP
// listener without authentication, from outside the internal networks,
// and names one of the organisation's own domains as its envelope sender
// (MAIL FROM) or in its From: or Sender: header, is therefore forged: it
// would be shown to staff as coming from a colleague. It is refused with
// 550 5.7.1 (RFC 3463: delivery not authorized) before it is stored. A
// bounce (MAIL FROM:<>) is judged by its headers. The organisation's
// domains are those of the configured names (ListenerConfig.OwnDomains)
// and of every user's address and alias, with their subdomains.
//
// This is not SPF, DKIM or DMARC: mail from other organisations is taken
// as it comes.

import (
	"bufio"
	"bytes"
	"context"
	"mime"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"
)

var errSpoofed = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
	Message: "Sender claims this organisation's own domain but the message comes from outside it; staff must send through the organisation's service"}

// external reports whether the session must not claim the organisation's
// domains: not authenticated, and not from an internal network.
func (s *session) external() bool {
	if s.user != nil {
		return false
	}
	return s.l.cfg.Internal == nil || !s.l.cfg.Internal(remoteIP(s.conn))
}

// claimsOwn reports whether any of the addresses (or header values) names
// one of the organisation's domains.
func (s *session) claimsOwn(ctx context.Context, values ...string) (bool, error) {
	for _, v := range values {
		for _, d := range addressDomains(v) {
			own, err := s.l.own.has(ctx, s.l, d)
			if err != nil || own {
				return own, err
			}
		}
	}
	return false, nil
}

// senderHeaders returns the From and Sender fields of a message, as sent
// and with RFC 2047 encoded words decoded (a display name may hide an
// address there).
func senderHeaders(data []byte) []string {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range []string{"From", "Sender"} {
		for _, v := range h.Values(k) {
			out = append(out, v)
			if dec, err := new(mime.WordDecoder).DecodeHeader(v); err == nil && dec != v {
				out = append(out, dec)
			}
		}
	}
	return out
}

var domainAfterAt = regexp.MustCompile(`(?i)@\s*([a-z0-9-]+(?:\.[a-z0-9-]+)+)`)

// addressDomains lists every domain written after an "@" in s: the
// address in an envelope, every address and address-like display name in
// a header.
func addressDomains(s string) []string {
	var out []string
	for _, m := range domainAfterAt.FindAllStringSubmatch(s, -1) {
		out = append(out, strings.ToLower(strings.TrimSuffix(m[1], ".")))
	}
	return out
}

// ownDomains answers whether a domain (or a parent of it) is the
// organisation's, caching the store's answers for a minute.
type ownDomains struct {
	mu    sync.Mutex
	cache map[string]ownEntry
}

type ownEntry struct {
	own bool
	at  time.Time
}

const ownDomainsTTL = time.Minute

func (o *ownDomains) has(ctx context.Context, l *Listeners, domain string) (bool, error) {
	// "ward.example.nhs.uk" is the organisation's when "example.nhs.uk"
	// is; a top-level domain alone never is.
	for d := domain; strings.Contains(d, "."); _, d, _ = strings.Cut(d, ".") {
		for _, c := range l.cfg.OwnDomains {
			if strings.EqualFold(c, d) {
				return true, nil
			}
		}
		own, err := o.lookup(ctx, l, d)
		if err != nil || own {
			return own, err
		}
	}
	return false, nil
}

func (o *ownDomains) lookup(ctx context.Context, l *Listeners, d string) (bool, error) {
	o.mu.Lock()
	e, ok := o.cache[d]
	o.mu.Unlock()
	if ok && time.Since(e.at) < ownDomainsTTL {
		return e.own, nil
	}
	own, err := l.svc.Store.HasDomain(ctx, d)
	if err != nil {
		return false, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cache == nil || len(o.cache) > 4096 {
		o.cache = map[string]ownEntry{}
	}
	o.cache[d] = ownEntry{own: own, at: time.Now()}
	return own, nil
}
