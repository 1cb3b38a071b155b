package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"airlock/internal/notice"
	"airlock/message"
	"airlock/store"
)

// Gateway turns mail into text messages and works the SMS outbox.
type Gateway struct {
	Store    *store.Store
	Provider Provider
	Addresses
	// Hostname names us in reports and refs.
	Hostname string
	Log      *slog.Logger
	// MaxLength bounds the text in characters; default 612 (four
	// concatenated GSM-7 parts).
	MaxLength int
	// MaxAttempts before a temporary failure is reported as final;
	// default 5, with backoff from 30 s doubling.
	MaxAttempts int
	// NotifySuccess also tells the sender when the provider took it.
	NotifySuccess bool
	// PollInterval without a Kick; default 30 s. Lease while sending;
	// default 2 min.
	PollInterval, Lease time.Duration
	Now                 func() time.Time

	kick                                   chan struct{}
	Sent, Failed, Retried, PanicsRecovered atomic.Int64
}

// Init prepares the defaults; call it before Run, Kick or RunOnce.
func (g *Gateway) Init() *Gateway {
	if g.MaxLength <= 0 {
		g.MaxLength = 612
	}
	if g.MaxAttempts <= 0 {
		g.MaxAttempts = 5
	}
	if g.PollInterval <= 0 {
		g.PollInterval = 30 * time.Second
	}
	if g.Lease <= 0 {
		g.Lease = 2 * time.Minute
	}
	if g.Log == nil {
		g.Log = slog.New(slog.DiscardHandler)
	}
	if g.Now == nil {
		g.Now = func() time.Time { return time.Now().UTC() }
	}
	if g.kick == nil {
		g.kick = make(chan struct{}, 1)
	}
	return g
}

// Message builds the text message for one SMS address of a submission: the
// body text without quoted lines and signature, or the subject when there
// is no body, cut to MaxLength.
func (g *Gateway) Message(sender *store.User, raw []byte, parsed *store.Item, addr string) (store.SMSMessage, error) {
	num, ok := g.Number(addr)
	if !ok {
		return store.SMSMessage{}, fmt.Errorf("%q is not an SMS address", addr)
	}
	text, _, err := message.Bodies(raw)
	if err != nil {
		text = ""
	}
	text = smsText(text)
	if text == "" {
		text = strings.TrimSpace(parsed.Subject)
	}
	if text == "" {
		return store.SMSMessage{}, fmt.Errorf("nothing to send to %s: no text and no subject", addr)
	}
	if utf8.RuneCountInString(text) > g.MaxLength {
		text = string([]rune(text)[:g.MaxLength-1]) + "…"
	}
	uid := sender.ID
	// The sender keeps the text as an SMS item in Sent Items,
	// where the delivery status is recorded (items.go).
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	it, itemRaw := NewItem(Item{UserID: sender.ID, From: &mail.Address{Name: sender.DisplayName, Address: sender.Email},
		To: []*mail.Address{{Address: num + "@" + g.Domain}}, Text: text, When: now, Read: true, Status: store.SMSQueued, Hostname: g.Hostname})
	return store.SMSMessage{UserID: &uid, Sender: sender.Email, Address: addr, ToNumber: num, Body: text, Subject: parsed.Subject, MessageID: parsed.MessageID,
		Item: it, ItemRaw: itemRaw}, nil
}

// smsText keeps the new text of a mail: no quoted lines, nothing after a
// signature delimiter or an "On ... wrote:" line, white space collapsed.
func smsText(s string) string {
	var keep []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(l)
		if l == "-- " || l == "--" || strings.HasPrefix(t, "-----Original Message") || (strings.HasPrefix(t, "On ") && strings.HasSuffix(t, "wrote:")) {
			break
		}
		if strings.HasPrefix(t, ">") {
			continue
		}
		keep = append(keep, t)
	}
	return strings.Join(strings.Fields(strings.Join(keep, " ")), " ")
}

// Kick makes the worker look at the outbox now.
func (g *Gateway) Kick() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// Run works the outbox until ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	for {
		if _, err := g.RunOnce(ctx); err != nil && ctx.Err() == nil {
			g.Log.Warn("sms outbox", "err", err)
		}
		wait := g.PollInterval
		if due, err := g.Store.NextSMSDue(ctx); err == nil {
			wait = min(wait, max(due.Sub(g.Now()), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-g.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// RunOnce sends every message due now and returns how many it tried.
func (g *Gateway) RunOnce(ctx context.Context) (int, error) {
	n := 0
	start := g.Now()
	for ctx.Err() == nil {
		m, err := g.Store.ClaimSMS(ctx, start, g.Lease)
		if errors.Is(err, store.ErrNotFound) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if err := g.attempt(ctx, m); err != nil {
			g.Log.Error("sms attempt", "sms_id", m.ID, "err", err)
		}
	}
	return n, ctx.Err()
}

func (g *Gateway) attempt(ctx context.Context, m *store.SMSMessage) (err error) {
	defer func() {
		if p := recover(); p != nil {
			g.PanicsRecovered.Add(1)
			g.Log.Error("panic in sms gateway", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	ref := fmt.Sprintf("sms-%d@%s", m.ID, g.Hostname)
	sendErr := g.Provider.Send(ctx, Message{To: m.ToNumber, Text: m.Body, Ref: ref})
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the lease brings it back
	}
	log := g.Log.With("sms_id", m.ID, "to", mask(m.ToNumber), "attempt", m.Attempts)
	switch {
	case sendErr == nil:
		g.Sent.Add(1)
		log.Info("sms sent")
		var n *store.Delivery
		if g.NotifySuccess {
			if n, err = g.report(ctx, m, true, ""); err != nil {
				log.Error("cannot build the success report", "err", err)
			}
		}
		return g.Store.SettleSMS(ctx, m.ID, nil, "", n)
	case !permanent(sendErr) && m.Attempts < g.MaxAttempts:
		g.Retried.Add(1)
		next := g.Now().Add(backoff(m.Attempts))
		log.Warn("sms deferred", "err", sendErr, "next", next)
		return g.Store.SettleSMS(ctx, m.ID, &next, oneLine(sendErr.Error()), nil)
	}
	g.Failed.Add(1)
	why := sendErr.Error()
	if !permanent(sendErr) {
		why = fmt.Sprintf("gave up after %d attempts; last error: %s", m.Attempts, why)
	}
	log.Warn("sms failed", "err", sendErr)
	n, err := g.report(ctx, m, false, why)
	if err != nil {
		log.Error("cannot build the failure report; the sender will not be told", "err", err)
	}
	return g.Store.SettleSMS(ctx, m.ID, nil, why, n)
}

func backoff(attempts int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// mask hides all but the last three digits of a number for the logs.
func mask(n string) string {
	if len(n) <= 3 {
		return "***"
	}
	return strings.Repeat("*", len(n)-3) + n[len(n)-3:]
}

// report is the sender's notice of the outcome.
func (g *Gateway) report(ctx context.Context, m *store.SMSMessage, ok bool, why string) (*store.Delivery, error) {
	if m.UserID == nil {
		return nil, errors.New("the sender no longer exists")
	}
	u, err := g.Store.UserByID(ctx, *m.UserID)
	if err != nil {
		return nil, err
	}
	subj := m.Subject
	if subj == "" {
		subj = "(no subject)"
	}
	n := notice.Notice{Hostname: g.Hostname, To: u, Kind: "sms", Now: g.Now()}
	if ok {
		n.Subject = "Delivered to the SMS provider: " + subj
		n.Body = fmt.Sprintf("Your message to %s was passed to the SMS provider.\n", m.Address)
	} else {
		n.Subject = "Undeliverable (SMS): " + subj
		n.Body = fmt.Sprintf("Your message to %s could not be sent as a text message.\n\n  %s\n\nNo further attempts will be made. The text was:\n\n  %s\n", m.Address, why, m.Body)
	}
	return n.Delivery(ctx, g.Store)
}
