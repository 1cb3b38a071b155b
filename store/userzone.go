package store

import (
	"context"
	"strconv"
)

// A user's time zone is a user setting kept beside the organisation's
// settings (one row per user who chose one), so it needs no schema of its
// own: the staff web shows the diary in it and reads the times typed in
// its forms in it, and the server uses it where EAS has no zone of its
// own to go by (an all-day event without one, a delegate's diary form).

// DefaultTimeZone is a user's zone until they choose one: the health
// service's.
const DefaultTimeZone = "Europe/London"

// settingUserZone + user id is the key of a user's zone (an IANA name).
const settingUserZone = "user_tz:"

// UserTimeZone returns the IANA name of the user's zone, DefaultTimeZone
// when they have not chosen one. Callers check the name resolves.
func (s *Store) UserTimeZone(ctx context.Context, userID int64) (string, error) {
	v, err := s.Setting(ctx, settingUserZone+strconv.FormatInt(userID, 10), DefaultTimeZone)
	if v == "" {
		v = DefaultTimeZone
	}
	return v, err
}

// SetUserTimeZone stores the user's zone (an IANA name the caller has
// checked).
func (s *Store) SetUserTimeZone(ctx context.Context, userID int64, zone string) error {
	return s.SetSetting(ctx, settingUserZone+strconv.FormatInt(userID, 10), zone)
}
