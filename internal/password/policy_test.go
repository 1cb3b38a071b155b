package password

import (
	"errors"
	"testing"
)

// Admin second factor and password strength: an administrator's password
// needs 12 characters and none may be a common one; composition is not
// required, so a long passphrase of plain words passes.
func TestAdminPasswordPolicy(t *testing.T) {
	for _, tc := range []struct {
		pw    string
		admin bool
		want  error
	}{
		{"12345678", true, ErrTooShort},
		{"12345678", false, ErrCommon},
		{"password1234", true, ErrCommon},
		{"Summer2024!", false, ErrCommon},
		{"Welcome@2025", true, ErrCommon},
		{"1234567", false, ErrTooShort},
		{"correct horse battery", true, nil},
		{"kettle-orbit-pencil", false, nil},
		{string(make([]byte, MaxLen+1)), false, ErrTooLong},
	} {
		if err := Check(tc.pw, tc.admin); !errors.Is(err, tc.want) {
			t.Errorf("Check(%.20q, admin=%v) = %v, want %v", tc.pw, tc.admin, err, tc.want)
		}
	}
}
