package governance

import (
	"context"
	"log/slog"
	"time"

	"airlock/scheduling"
	"airlock/store"
)

// Service applies the rules. Its zero value is not usable: set Store.
type Service struct {
	Store *store.Store
	// Hostname names the server in notices (postmaster@Hostname).
	Hostname string
	Log      *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Meetings carries the meetings a delegate organises or answers for
	// an owner (calendar_write.go); nil: delegates cannot change calendars.
	Meetings *scheduling.Service

	// MaxBreakGlass bounds how long break-glass access may last; default
	// 72 h.
	MaxBreakGlass time.Duration
	// BreakGlassPending is how long a request waits for its approvals
	// before it lapses; default 7 days.
	BreakGlassPending time.Duration
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

func (s *Service) maxBreakGlass() time.Duration {
	if s.MaxBreakGlass > 0 {
		return s.MaxBreakGlass
	}
	return 72 * time.Hour
}

func (s *Service) pendingFor() time.Duration {
	if s.BreakGlassPending > 0 {
		return s.BreakGlassPending
	}
	return 7 * 24 * time.Hour
}

// Actor is who does something, for the audit log: a user (UserID set) or
// an operator at the shell ("cli:<os user>").
type Actor struct {
	UserID int64
	Name   string // email address, or "cli:<os user>"
	IP     string
}

// audit appends an event; a failure is logged, never silent, and returned.
func (s *Service) audit(ctx context.Context, a Actor, action, targetType, target string, userID int64, outcome, detail string) error {
	e := &store.AuditEvent{
		At: s.now(), Actor: a.Name, ActorIP: a.IP, Action: action, TargetType: targetType, Target: target,
		Outcome: outcome, Detail: detail,
	}
	if userID != 0 {
		e.UserID = &userID
	}
	if err := s.Store.Audit(ctx, e); err != nil {
		s.log().Error("audit failed", "action", action, "err", err)
		return err
	}
	return nil
}
