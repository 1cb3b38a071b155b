// Package sms sends mail written to an SMS address as a text message:
// "+447700900123@sms.example.nhs.uk" (the number in E.164 form at the SMS
// domain) becomes an SMS to +447700900123 through a pluggable provider,
// by default an HTTP webhook that receives {"to", "text", "ref"} as JSON.
//
// Only authenticated users' submissions reach here (EAS SendMail, SMTP
// with AUTH): mail from outside to an SMS address is refused like any
// unknown local address, so Airlock is no open SMS relay.
//
// # Implementation notes
//
// The message is queued (store.SMSMessage) in the same transaction as the
// sender's copy, so an accepted submission never loses its SMS. Gateway
// workers on any node claim due rows with a lease, exactly like the relay
// queue; a worker that dies mid-send delays the SMS by the lease and it is
// sent again (at least once; the ref lets the provider drop a duplicate).
// A permanent refusal (HTTP 4xx other than 408/429), or MaxAttempts
// temporary failures, removes the row and puts a failure report in the
// sender's Inbox in the same transaction, so the sender hears exactly once.
// Success is reported too when NotifySuccess is set. Text and numbers are
// never logged in full.
package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Addresses recognises SMS addresses in one domain.
type Addresses struct {
	// Domain is the SMS domain, e.g. "sms.example.nhs.uk".
	Domain string
}

// Number returns the E.164 number of an SMS address ("+447700900123@"
// Domain; spaces, dots and dashes in the number are ignored).
func (a Addresses) Number(addr string) (string, bool) {
	if a.Domain == "" {
		return "", false
	}
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.EqualFold(addr[at+1:], a.Domain) {
		return "", false
	}
	n := strings.Map(func(r rune) rune {
		if r == ' ' || r == '.' || r == '-' || r == '(' || r == ')' {
			return -1
		}
		return r
	}, addr[:at])
	if !e164.MatchString(n) {
		return "", false
	}
	return n, true
}

// Message is one text message for a provider.
type Message struct {
	To   string `json:"to"` // E.164
	Text string `json:"text"`
	Ref  string `json:"ref"` // ours, unique per message (for the provider to spot a resend)
}

// Provider sends text messages.
type Provider interface {
	Send(ctx context.Context, m Message) error
}

// PermanentError is a refusal that a retry will not change.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Webhook posts each message as JSON to URL.
type Webhook struct {
	URL string
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token  string
	Client *http.Client // default: 30 s timeout
}

// CheckURL accepts https URLs, and http only to the loopback interface.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("SMS webhook %q: not a URL", raw)
	}
	h := u.Hostname()
	if u.Scheme == "https" || (u.Scheme == "http" && (h == "localhost" || h == "127.0.0.1" || h == "::1")) {
		return nil
	}
	return fmt.Errorf("SMS webhook %q: use https (http only to localhost)", raw)
}

// Send implements Provider: 2xx is success; 408, 429 and 5xx are
// temporary; any other status is a PermanentError.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	if w.Token != "" {
		req.Header.Set("Authorization", "Bearer "+w.Token)
	}
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("provider answered %s: %s", resp.Status, oneLine(string(detail)))
	}
	return &PermanentError{fmt.Errorf("provider refused it: %s: %s", resp.Status, oneLine(string(detail)))}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// permanent reports whether err is a PermanentError.
func permanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
