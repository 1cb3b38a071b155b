package web

import (
	"time"
)

// Shared computers (ward and office PCs): a user who ticks "This is a
// shared computer" at sign-in gets a session that
//
//   - ends after SharedIdle without a click (default 10 minutes): every
//     request the user makes renews the token for another SharedIdle, and
//     a token past it is refused like any expired one, so renewal after
//     idleness is impossible. What the browser does on its own (the live
//     updates' stream and refreshes, live.go) is not activity;
//   - lives in a cookie without Max-Age, which the browser forgets when it
//     closes.
//
// A normal session renews once half of its token's lifetime (SessionTTL)
// has passed, and its cookie persists until the token expires, so closing
// and reopening the browser on one's own computer keeps the session.
// Either kind ends at the session's absolute lifetime.

// sessionTTL is the lifetime of a dashboard token of the given kind.
func (s *Server) sessionTTL(shared bool) time.Duration {
	if shared {
		return s.d.SharedIdle
	}
	return s.d.SessionTTL
}

// sessionCookieAge is the session cookie's Max-Age: none on a shared
// computer (a browser-session cookie), else until the token expires.
func (s *Server) sessionCookieAge(shared bool, exp time.Time) int {
	if shared {
		return 0
	}
	return max(1, int(exp.Sub(s.d.Now()).Seconds()))
}

// dueForRenewal says whether an active request renews the token: a shared
// computer's at every request (so the idle timeout runs from the last
// click), others once half their lifetime has passed. Never past the
// absolute lifetime: sign caps the new expiry there anyway.
func (s *Server) dueForRenewal(c *claims, exp time.Time) bool {
	left := exp.Sub(s.d.Now())
	if c.Shared {
		return left < s.d.SharedIdle
	}
	return left < s.d.SessionTTL/sessionRenewFraction
}

// sharedIdleText says the idle timeout in words, for the sign-in form.
func (s *Server) sharedIdleText() string {
	return plural(int(s.d.SharedIdle.Round(time.Minute).Minutes()), "minute")
}
