package governance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"airlock/internal/notice"

	"airlock/delivery"
	"airlock/store"
)

// Rules plugs the rules into package delivery (delivery.Rules).
type Rules struct {
	*Service
	// SMS recognises SMS addresses and turns mail into text messages; nil:
	// no SMS gateway (such addresses are ordinary remote addresses).
	SMS SMSRouter
	// Fax recognises fax addresses and turns mail into faxes; nil: no fax
	// gateway.
	Fax FaxRouter
}

// FaxRouter is the part of the fax gateway the rules need; package fax
// implements it.
type FaxRouter interface {
	// Number returns the E.164 number of a fax address.
	Number(addr string) (string, bool)
	// Message turns a submitted mail into the fax for one address, or
	// says why it cannot be faxed (an attachment of another type).
	Message(sender *store.User, raw []byte, parsed *store.Item, addr string) (store.FaxMessage, error)
	// Kick makes the gateway look at its outbox now.
	Kick()
}

// SMSRouter is the part of the SMS gateway the rules need; package sms
// implements it.
type SMSRouter interface {
	// Number returns the E.164 number of an SMS address.
	Number(addr string) (string, bool)
	// Message turns a submitted mail into the text message for one
	// address.
	Message(sender *store.User, raw []byte, parsed *store.Item, addr string) (store.SMSMessage, error)
	// Kick makes the gateway look at its outbox now.
	Kick()
}

var _ delivery.Rules = (*Rules)(nil)

// SendOnBehalf implements delivery.Rules: from belongs to a user who let
// user send on their behalf, or, for the meeting mail of a calendar
// managed by delegation (calendar_write.go), their calendar.
func (r *Rules) SendOnBehalf(ctx context.Context, user *store.User, from string) (*store.User, bool) {
	owner, err := r.Store.UserByAddress(ctx, from)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log().Error("send on behalf: owner lookup", "err", err)
		}
		return nil, false
	}
	if owner.ID == user.ID || !(r.CanSendOnBehalf(ctx, user.ID, owner.ID) || r.meetingOnBehalf(ctx, user.ID, owner.ID)) {
		return nil, false
	}
	return owner, true
}

// IsSMSAddress implements delivery.Rules.
func (r *Rules) IsSMSAddress(addr string) bool {
	if r.SMS == nil {
		return false
	}
	_, ok := r.SMS.Number(addr)
	return ok
}

// IsFaxAddress implements delivery.Rules.
func (r *Rules) IsFaxAddress(addr string) bool {
	if r.Fax == nil {
		return false
	}
	_, ok := r.Fax.Number(addr)
	return ok
}

// Committed implements delivery.Rules: quota warnings, the audit of held
// mail, and the SMS gateway's kick.
func (r *Rules) Committed(ctx context.Context, c delivery.Committed) {
	r.QuotaWarnings(ctx, c.UserIDs)
	if c.Held != nil {
		r.audit(ctx, Actor{Name: "system"}, "securemail.hold", "held_mail", fmt.Sprint(c.Held.ID), derefID(c.Held.UserID), "success",
			fmt.Sprintf("%q to %s: %s", c.Held.Subject, strings.Join(c.Held.Recipients(), ", "), c.Held.Reason))
	}
	if c.SMS > 0 && r.SMS != nil {
		r.SMS.Kick()
	}
	if c.Fax > 0 && r.Fax != nil {
		r.Fax.Kick()
	}
}

// Outgoing implements delivery.Rules: secure domains decide what is held,
// the tag line is added to what the relay sends, and SMS addresses become
// text messages.
func (r *Rules) Outgoing(ctx context.Context, o delivery.Outgoing) (*delivery.OutgoingDecision, error) {
	dec := &delivery.OutgoingDecision{}
	send, hold, reason, err := r.holdDecision(ctx, o.Parsed.Subject, o.Remote)
	if err != nil {
		return nil, err
	}
	dec.Relay = send
	if len(hold) > 0 {
		uid := o.User.ID
		dec.Held = &store.HeldMail{UserID: &uid, MailFrom: o.User.Email, RcptTo: strings.Join(hold, "\n"), Subject: o.Parsed.Subject, Reason: reason, Data: o.Raw}
		n, err := r.holdNotice(ctx, o.User, o.Parsed.Subject, hold, reason)
		if err != nil {
			return nil, err
		}
		dec.Notices = append(dec.Notices, *n)
	}
	if len(o.SMS) > 0 {
		refused := map[string]string{}
		for _, a := range o.SMS {
			if reason != "" {
				// A text message is never a secure channel: sensitive
				// mail is not sent by SMS, and cannot be released to it.
				refused[a] = "it is marked sensitive, and text messages are not a secure channel"
				continue
			}
			m, err := r.SMS.Message(o.User, o.Raw, o.Parsed, a)
			if err != nil {
				refused[a] = err.Error()
				continue
			}
			m.NextAttempt = r.now()
			dec.SMS = append(dec.SMS, m)
		}
		if len(refused) > 0 {
			n, err := r.smsRefusedNotice(ctx, o.User, o.Parsed.Subject, refused)
			if err != nil {
				return nil, err
			}
			dec.Notices = append(dec.Notices, *n)
		}
	}
	if len(o.Fax) > 0 {
		if err := r.outgoingFax(ctx, o, reason, dec); err != nil {
			return nil, err
		}
	}
	if len(dec.Relay) > 0 {
		data, err := r.taglineFor(ctx, o.Raw)
		if err != nil {
			return nil, err
		}
		dec.RelayData = data
	}
	return dec, nil
}

func (r *Rules) smsRefusedNotice(ctx context.Context, sender *store.User, subject string, refused map[string]string) (*store.Delivery, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Your message %q was not sent as a text message to:\n\n", subject)
	for _, a := range slices.Sorted(maps.Keys(refused)) {
		fmt.Fprintf(&b, "  %s: %s\n", a, refused[a])
	}
	b.WriteString("\nAny other recipients received it as normal.\n")
	return notice.Notice{Hostname: r.Hostname, To: sender, Kind: "sms", Now: r.now(), Subject: "Not sent by SMS: " + subject, Body: b.String()}.Delivery(ctx, r.Store)
}

// outgoingFax turns the fax addresses of a submission into faxes, or tells
// the sender (in the same transaction) which could not be faxed and why.
// Sensitive mail (reason not empty) is never faxed: a fax machine's tray
// is not a secure channel.
func (r *Rules) outgoingFax(ctx context.Context, o delivery.Outgoing, reason string, dec *delivery.OutgoingDecision) error {
	refused := map[string]string{}
	for _, a := range o.Fax {
		if reason != "" {
			refused[a] = "it is marked sensitive, and fax is not a secure channel"
			continue
		}
		m, err := r.Fax.Message(o.User, o.Raw, o.Parsed, a)
		if err != nil {
			refused[a] = err.Error()
			continue
		}
		m.NextAttempt = r.now()
		dec.Fax = append(dec.Fax, m)
	}
	if len(refused) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your message %q was not faxed to:\n\n", o.Parsed.Subject)
	for _, a := range slices.Sorted(maps.Keys(refused)) {
		fmt.Fprintf(&b, "  %s: %s\n", a, refused[a])
	}
	b.WriteString("\nAny other recipients received it as normal.\n")
	n, err := notice.Notice{Hostname: r.Hostname, To: o.User, Kind: "fax", Now: r.now(), Subject: "Not faxed: " + o.Parsed.Subject, Body: b.String()}.Delivery(ctx, r.Store)
	if err != nil {
		return err
	}
	dec.Notices = append(dec.Notices, *n)
	return nil
}
