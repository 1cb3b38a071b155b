package governance

import (
	"context"
	"fmt"

	"airlock/pim"
	"airlock/store"
)

// DelegatedEvents returns owner's events for actor to show beside their
// own diary, private ones masked, as DelegatedCalendarICS does; allowed is
// false (and nothing returned) without a calendar grant or break-glass
// now. The read and the refusal are audited.
func (s *Service) DelegatedEvents(ctx context.Context, actor, owner *store.User, ip string) (events []pim.Event, allowed bool, err error) {
	a := Actor{UserID: actor.ID, Name: actor.Email, IP: ip}
	g, ok := s.calendarGrant(ctx, actor.ID, owner.ID)
	if !ok {
		s.audit(ctx, a, "delegate.calendar_read", "calendar", owner.Email, owner.ID, "denied", "no calendar delegation")
		return nil, false, nil
	}
	if events, err = s.calendarEvents(ctx, owner.ID); err != nil {
		return nil, true, err
	}
	detail := fmt.Sprintf("%d events, as %s, beside the delegate's diary", len(events), g.Kind)
	if err := s.audit(ctx, a, "delegate.calendar_read", "calendar", owner.Email, owner.ID, "success", detail); err != nil {
		return nil, true, err // no unaudited read
	}
	return events, true, nil
}
