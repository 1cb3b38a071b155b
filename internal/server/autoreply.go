package server

import (
	"context"
	"log/slog"
	"time"

	"airlock/delivery"
	"airlock/oof"
	"airlock/scheduling"
	"airlock/store"
)

// afterDelivery is what happens to a message once it sits in a local
// recipient's Inbox: an automatic reply when the recipient is out of the
// office (once per sender per absence), and meeting requests, replies and
// cancellations from outside applied to the recipient's calendar. Neither
// may undo the delivery, so failures are logged only.
func afterDelivery(st *store.Store, svc *delivery.Service, log *slog.Logger) func(ctx context.Context, rcpt *store.User, from string, raw []byte) {
	meetings := &scheduling.Service{Store: st, Mail: svc, Log: log}
	return func(ctx context.Context, rcpt *store.User, from string, raw []byte) {
		reply, err := oof.Reply(ctx, st, rcpt, from, raw, time.Now())
		if err != nil {
			log.Warn("automatic reply", "user", rcpt.Email, "err", err)
		} else if reply != nil {
			if _, err := svc.Submit(ctx, delivery.Submission{User: rcpt, MIME: reply.Raw, Envelope: []string{reply.To}, Protocol: "auto-reply"}); err != nil {
				log.Warn("send automatic reply", "user", rcpt.Email, "err", err)
			}
		}
		if err := meetings.Incoming(ctx, rcpt, from, raw); err != nil {
			log.Warn("incoming meeting mail", "user", rcpt.Email, "err", err)
		}
	}
}
