package fax

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"airlock/delivery"
	"airlock/internal/phone"
	"airlock/message"
	"airlock/store"
)

// Gateway turns mail into faxes and works the fax outbox.
type Gateway struct {
	Store    *store.Store
	Provider Provider
	Addresses
	// Hostname names us in reports and idempotency keys.
	Hostname string
	Log      *slog.Logger
	// MaxAttempts before a temporary failure is final; default 5.
	MaxAttempts int
	// MinBackoff is the wait after the first temporary failure, doubled
	// after each one up to MaxBackoff; defaults 1 minute and 1 hour.
	MinBackoff, MaxBackoff time.Duration
	// PollInterval without a Kick; default 30 s. Lease while sending;
	// default 5 minutes (longer than the provider's timeout).
	PollInterval, Lease time.Duration
	Now                 func() time.Time

	kick                                            chan struct{}
	Sent, Failed, Retried, InDoubt, PanicsRecovered atomic.Int64
}

// Init prepares the defaults; call it before Run, Kick or RunOnce.
func (g *Gateway) Init() *Gateway {
	if g.MaxAttempts <= 0 {
		g.MaxAttempts = 5
	}
	if g.MinBackoff <= 0 {
		g.MinBackoff = time.Minute
	}
	if g.MaxBackoff <= 0 {
		g.MaxBackoff = time.Hour
	}
	if g.PollInterval <= 0 {
		g.PollInterval = 30 * time.Second
	}
	if g.Lease <= 0 {
		g.Lease = 5 * time.Minute
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

// Faxable types, by content type and file name extension.
var (
	faxTypes = map[string]string{"application/pdf": "application/pdf", "image/tiff": "image/tiff", "image/tif": "image/tiff"}
	faxExts  = map[string]string{".pdf": "application/pdf", ".tif": "image/tiff", ".tiff": "image/tiff"}
)

// faxType says whether an attachment can be faxed: a PDF or a TIFF by its
// declared type or name, whose content starts as one.
func faxType(contentType, name string, data []byte) (string, bool) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	t, ok := faxTypes[ct]
	if !ok && (ct == "application/octet-stream" || ct == "") {
		t, ok = faxExts[strings.ToLower(path.Ext(name))]
	}
	if !ok {
		return "", false
	}
	if t == "application/pdf" {
		return t, bytes.HasPrefix(data, []byte("%PDF-"))
	}
	return t, bytes.HasPrefix(data, []byte("II*\x00")) || bytes.HasPrefix(data, []byte("MM\x00*"))
}

// Content returns what is faxed of a message: its text (the cover page)
// and its PDF and TIFF attachments, in order. Other inline parts
// (pictures shown inside an HTML body) are left out; an attachment of any
// other type is an error naming it, so the sender knows what to change.
func Content(raw []byte) (text string, docs []Document, err error) {
	parsed, err := message.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("the message cannot be read: %w", err)
	}
	text, _, err = message.Bodies(raw)
	if err != nil {
		text = ""
	}
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	var refused []string
	for _, a := range parsed.Attachments {
		ct, name, data, err := message.Part(raw, a.PartIndex)
		if err != nil {
			return "", nil, fmt.Errorf("attachment %q cannot be read: %w", a.FileName, err)
		}
		t, ok := faxType(ct, name, data)
		switch {
		case !ok && a.Inline:
			continue // a picture in the body (Apple Mail sends PDFs inline too: those are kept)
		case !ok:
			refused = append(refused, fmt.Sprintf("%q (%s)", name, ct))
			continue
		}
		docs = append(docs, Document{Name: name, ContentType: t, Data: data})
	}
	if len(refused) > 0 {
		return "", nil, fmt.Errorf("only PDF and TIFF files can be faxed, not %s", strings.Join(refused, ", "))
	}
	if text == "" && len(docs) == 0 {
		return "", nil, errors.New("nothing to fax: no text and no PDF or TIFF attachment")
	}
	return text, docs, nil
}

// Message builds the fax for one fax address of a submission, or says why
// the message cannot be faxed.
func (g *Gateway) Message(sender *store.User, raw []byte, parsed *store.Item, addr string) (store.FaxMessage, error) {
	num, ok := g.Number(addr)
	if !ok {
		return store.FaxMessage{}, fmt.Errorf("%q is not a fax address", addr)
	}
	if _, _, err := Content(raw); err != nil {
		return store.FaxMessage{}, err
	}
	uid := sender.ID
	return store.FaxMessage{UserID: &uid, Sender: sender.Email, Address: addr, ToNumber: num, Data: raw,
		Subject: parsed.Subject, MessageID: parsed.MessageID}, nil
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
			g.Log.Warn("fax outbox", "err", err)
		}
		wait := g.PollInterval
		if due, err := g.Store.NextFaxDue(ctx); err == nil {
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

// RunOnce sends every fax due now and returns how many it tried.
func (g *Gateway) RunOnce(ctx context.Context) (int, error) {
	n := 0
	start := g.Now()
	for ctx.Err() == nil {
		m, err := g.Store.ClaimFax(ctx, start, g.Lease)
		if errors.Is(err, store.ErrNotFound) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if err := g.attempt(ctx, m); err != nil {
			g.Log.Error("fax attempt", "fax_id", m.ID, "err", err)
		}
	}
	return n, ctx.Err()
}

// Ref is the idempotency key of a queued fax: the same on every attempt.
func (g *Gateway) Ref(m *store.FaxMessage) string { return fmt.Sprintf("fax-%d@%s", m.ID, g.Hostname) }

func (g *Gateway) attempt(ctx context.Context, m *store.FaxMessage) (err error) {
	defer func() {
		if p := recover(); p != nil {
			g.PanicsRecovered.Add(1)
			g.Log.Error("panic in fax gateway", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	log := g.Log.With("fax_id", m.ID, "to", phone.Mask(m.ToNumber), "attempt", m.Attempts)
	if m.StartedAt != nil {
		// The last attempt called the provider and was never settled: the
		// fax may have gone. It goes again with the same key, by which the
		// provider drops a repeat.
		g.InDoubt.Add(1)
		log.Warn("fax: previous attempt interrupted during the call; sending again with the same idempotency key")
	}
	text, docs, cerr := Content(m.Data)
	var sendErr error
	if cerr != nil {
		sendErr = &PermanentError{cerr}
	} else {
		// Committed before the call, so a crash from here to the
		// settlement is known as "perhaps sent" to the next attempt.
		if err := g.Store.MarkFaxStarted(ctx, m.ID); err != nil {
			return err // not called: the lease brings it back
		}
		sendErr = g.Provider.Send(ctx, Fax{To: m.ToNumber, Ref: g.Ref(m), Subject: m.Subject, Text: text, Documents: docs})
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the lease brings it back
	}
	switch {
	case sendErr == nil:
		g.Sent.Add(1)
		log.Info("fax sent", "documents", len(docs))
		return g.Store.SettleFax(ctx, m.ID, nil, "", nil)
	case !permanent(sendErr) && m.Attempts < g.MaxAttempts:
		g.Retried.Add(1)
		next := g.Now().Add(g.backoff(m.Attempts))
		log.Warn("fax deferred", "err", sendErr, "next", next)
		return g.Store.SettleFax(ctx, m.ID, &next, oneLine(sendErr.Error()), nil)
	}
	g.Failed.Add(1)
	why := oneLine(sendErr.Error())
	if !permanent(sendErr) {
		why = fmt.Sprintf("gave up after %d attempts; last error: %s", m.Attempts, why)
	}
	log.Warn("fax failed", "err", sendErr)
	report, err := g.bounce(ctx, m, why)
	if err != nil {
		log.Error("cannot build the bounce; the sender will not be told", "err", err)
	}
	return g.Store.SettleFax(ctx, m.ID, nil, why, report)
}

func (g *Gateway) backoff(attempts int) time.Duration {
	d := g.MinBackoff
	for i := 1; i < attempts && d < g.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, g.MaxBackoff)
}

// bounce is the delivery status notification for the sender.
func (g *Gateway) bounce(ctx context.Context, m *store.FaxMessage, why string) (*store.Delivery, error) {
	if m.UserID == nil {
		return nil, errors.New("the sender no longer exists")
	}
	return delivery.GatewayBounce(ctx, g.Store, delivery.GatewayFailure{
		Hostname: g.Hostname, UserID: *m.UserID, Sender: m.Sender, Original: m.Data, Arrival: m.CreatedAt, Now: g.Now(),
		Failed:  map[string]string{m.Address: why},
		Explain: fmt.Sprintf("The fax to %s could not be sent: the fax provider refused it, or could not be reached in time.", m.ToNumber),
	})
}
