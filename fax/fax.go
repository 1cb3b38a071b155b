// Package fax sends mail written to a fax address as a fax:
// "+442079460018@fax.example.nhs.uk" (the number in E.164 form at the fax
// domain) becomes a fax to +442079460018 through a pluggable provider, by
// default an HTTP webhook, built the way the SMS gateway (package sms) is.
// What is faxed is the message's text (a cover page, when there is any)
// and its PDF and TIFF attachments, in order; a message with an attachment
// of any other type is refused with the reason, before anything is sent.
//
// Only authenticated users' submissions reach here (EAS SendMail, SMTP
// with AUTH, the staff web): mail from outside to a fax address is refused
// like any unknown local address, so Airlock is no open fax relay.
//
// # Implementation notes
//
// The fax is queued (store.FaxMessage, the whole message sealed at rest) in
// the same transaction as the sender's copy, whose Props then carry the
// status of each number (queued, sent, failed). Gateway workers on any node
// claim due rows with a lease, like the relay queue. The row is marked
// (StartedAt, committed) before the provider is called, and every call for
// one row carries the same idempotency key (fax-<row id>@<host>), so a
// worker that dies mid-call makes the next one send the same key and the
// provider drops the repeat: one message is never faxed twice. A timeout,
// a network error or an HTTP 408, 429 or 5xx is retried with backoff, at
// most MaxAttempts times; any other 4xx is final at once. A final failure
// puts a delivery status notification (the relay's bounce code) in the
// sender's Inbox and marks the copy failed, in the transaction that
// removes the row, so the sender hears exactly once.
package fax

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"airlock/internal/phone"
)

// Addresses recognises fax addresses in one domain.
type Addresses struct {
	// Domain is the fax domain, e.g. "fax.example.nhs.uk".
	Domain string
}

// Number returns the E.164 number of a fax address ("+442079460018@"
// Domain; spaces, dots and dashes in the number are ignored).
func (a Addresses) Number(addr string) (string, bool) { return phone.AtDomain(addr, a.Domain) }

// Address is the fax address of an E.164 number.
func (a Addresses) Address(number string) string { return number + "@" + a.Domain }

// Document is one file of a fax.
type Document struct {
	Name        string `json:"name"`
	ContentType string `json:"contentType"` // application/pdf or image/tiff
	Data        []byte `json:"data"`        // base64 in JSON
}

// Fax is one fax for a provider.
type Fax struct {
	To string `json:"to"` // E.164
	// Ref is ours, the same on every attempt for one fax: the provider's
	// idempotency key (also sent as the Idempotency-Key header).
	Ref       string     `json:"ref"`
	Subject   string     `json:"subject,omitempty"`
	Text      string     `json:"text,omitempty"` // the cover page; may be empty
	Documents []Document `json:"documents"`
}

// Provider sends faxes.
type Provider interface {
	Send(ctx context.Context, f Fax) error
}

// PermanentError is a refusal that a retry will not change.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

func permanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Webhook posts each fax as JSON to URL.
type Webhook struct {
	URL string
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Client defaults to one with a 60 s timeout (a fax with documents
	// is larger than a text message).
	Client *http.Client
}

// CheckURL accepts https URLs, and http only to the loopback interface.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("fax provider %q: not a URL", raw)
	}
	h := u.Hostname()
	if u.Scheme == "https" || (u.Scheme == "http" && (h == "localhost" || h == "127.0.0.1" || h == "::1")) {
		return nil
	}
	return fmt.Errorf("fax provider %q: use https (http only to localhost)", raw)
}

// Send implements Provider: 2xx is success; 408, 429, 5xx and errors on
// the way (a timeout) are temporary; any other status is a PermanentError.
func (w *Webhook) Send(ctx context.Context, f Fax) error {
	body, err := json.Marshal(f)
	if err != nil {
		return &PermanentError{err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", f.Ref)
	if w.Token != "" {
		req.Header.Set("Authorization", "Bearer "+w.Token)
	}
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("provider unreachable: %w", err)
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("fax provider answered %s: %s", resp.Status, oneLine(string(detail)))
	}
	return &PermanentError{fmt.Errorf("fax provider refused it: %s: %s", resp.Status, oneLine(string(detail)))}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
