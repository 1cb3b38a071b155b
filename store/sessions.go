package store

import (
	"context"
	"strconv"

	"gorm.io/gorm"
)

// sessionGenKey + user id is the org setting holding the user's session
// generation. Every web session and API token carries the generation it
// was issued under; bumping it revokes them all at once, on every node.
const sessionGenKey = "session_gen:"

// SessionGeneration returns the user's current session generation.
func (s *Store) SessionGeneration(ctx context.Context, userID int64) (int64, error) {
	v, err := s.Setting(ctx, sessionGenKey+strconv.FormatInt(userID, 10), "0")
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n, nil
}

// RevokeSessions bumps the user's session generation, so every web session
// and API token issued before is refused.
func (s *Store) RevokeSessions(ctx context.Context, userID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return s.bumpSessionGen(tx, userID) })
}

// bumpSessionGen increments the generation in one statement, so two
// revocations at once both count.
func (s *Store) bumpSessionGen(tx *gorm.DB, userID int64) error {
	return wrap(tx.Exec(`INSERT INTO org_settings (key, value, updated_at) VALUES (?, '1', ?)
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(org_settings.value AS BIGINT) + 1 AS TEXT), updated_at = excluded.updated_at`,
		sessionGenKey+strconv.FormatInt(userID, 10), s.now()).Error, "revoke sessions")
}
