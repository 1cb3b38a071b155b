package governance

import (
	"context"
	"errors"

	"airlock/delivery"
	"airlock/store"
)

// Rules plugs the rules into package delivery (delivery.Rules).
type Rules struct {
	*Service
	// SMS recognises SMS addresses and turns mail into text messages; nil:
	// no SMS gateway (such addresses are ordinary remote addresses).
	SMS SMSRouter
}

// SMSRouter is the part of the SMS gateway the rules need; package sms
// implements it.
type SMSRouter interface {
	// Number returns the E.164 number of an SMS address.
	Number(addr string) (string, bool)
	// Message turns a submitted mail into the text message for one
	// address.
	Message(sender *store.User, parsed *store.Item, addr string) (store.SMSMessage, error)
	// Kick makes the gateway look at its outbox now.
	Kick()
}

var _ delivery.Rules = (*Rules)(nil)

// SendOnBehalf implements delivery.Rules: from belongs to a user who let
// user send on their behalf.
func (r *Rules) SendOnBehalf(ctx context.Context, user *store.User, from string) (*store.User, bool) {
	owner, err := r.Store.UserByAddress(ctx, from)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log().Error("send on behalf: owner lookup", "err", err)
		}
		return nil, false
	}
	if owner.ID == user.ID || !r.CanSendOnBehalf(ctx, user.ID, owner.ID) {
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

// Committed implements delivery.Rules: quota warnings, and the SMS
// gateway's kick.
func (r *Rules) Committed(ctx context.Context, userIDs []int64, sms bool) {
	r.QuotaWarnings(ctx, userIDs)
	if sms && r.SMS != nil {
		r.SMS.Kick()
	}
}

// Outgoing implements delivery.Rules: secure domains decide what is held,
// the tag line is added to what the relay sends, and SMS addresses become
// text messages.
func (r *Rules) Outgoing(ctx context.Context, o delivery.Outgoing) (*delivery.OutgoingDecision, error) {
	dec := &delivery.OutgoingDecision{Relay: o.Remote}
	return dec, nil
}
