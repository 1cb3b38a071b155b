// Package password hashes and verifies passwords with argon2id, stored in the
// PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash) so that the
// parameters travel with each hash and can be raised later without breaking
// old ones.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// Default follows OWASP's argon2id minimum (19 MiB, t=2, p=1): about 20 ms on
// the reference 2-core machine. EAS clients send Basic credentials on every
// request, so callers cache successful verifications (see activesync's
// authenticator) rather than raise the cost further.
var Default = Params{Memory: DefaultMemoryKiB, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// DefaultMemoryKiB is the memory one Default verification takes.
const DefaultMemoryKiB = 19 * 1024

// ErrMismatch is returned by Verify when the password is wrong.
var ErrMismatch = errors.New("password: mismatch")

// ErrMalformed is returned for a hash that is not a PHC argon2id string.
var ErrMalformed = errors.New("password: malformed hash")

// Hash returns the PHC string of pw under p.
func Hash(pw string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify checks pw against a PHC string in constant time.
func Verify(pw, phc string) error {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return ErrMalformed
	}
	// Refuse absurd costs from a tampered hash rather than burn the CPU.
	if p.Memory == 0 || p.Memory > 1<<20 || p.Time == 0 || p.Time > 16 || p.Threads == 0 {
		return ErrMalformed
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return ErrMalformed
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return ErrMalformed
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// dummy is a valid hash of a random password, verified against when the
// user does not exist so that an unknown user costs the same time as a wrong
// password (no user enumeration by timing).
var dummy, _ = Hash(rand.Text(), Default)

// VerifyDummy spends the time of one Verify and always fails.
func VerifyDummy(pw string) error {
	_ = Verify(pw, dummy)
	return ErrMismatch
}
