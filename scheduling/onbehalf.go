package scheduling

// Meetings handled by a delegate: a personal assistant who
// keeps a consultant's diary organises and answers meetings for them. The
// meeting operations are the owner's own (Organized, Respond, acting on
// the owner's calendar, with the owner as organizer or attendee); only
// the mail differs: it is submitted by the delegate, so that delivery
// keeps From the owner and adds Sender the delegate (RFC 5322 3.6.2), and
// the delegate is the envelope sender. Whether the delegate may do so is
// decided by the caller and, again, by delivery's rules at submission.

import (
	"context"

	"airlock/delivery"
	"airlock/store"
)

// OnBehalf returns a copy of s whose meeting mail is submitted by
// delegate; its operations are called with the owner as the user.
func (s *Service) OnBehalf(delegate *store.User) *Service {
	c := *s
	if s.Mail != nil {
		c.Mail = delegateSubmitter{next: s.Mail, delegate: delegate}
	}
	return &c
}

// delegateSubmitter submits the owner's meeting mail as the delegate.
type delegateSubmitter struct {
	next     Submitter
	delegate *store.User
}

func (d delegateSubmitter) Submit(ctx context.Context, sub delivery.Submission) (*delivery.Result, error) {
	sub.User = d.delegate
	sub.Protocol = "HTTPS (meeting on behalf)"
	return d.next.Submit(ctx, sub)
}
