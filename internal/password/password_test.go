package password

import (
	"errors"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse", Default)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify("correct horse", h); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := Verify("wrong horse", h); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: got %v", err)
	}
	h2, _ := Hash("correct horse", Default)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA",
		"$argon2id$v=18$m=19456,t=2,p=1$AAAA$AAAA",
		"$argon2id$v=19$m=99999999,t=2,p=1$AAAA$AAAA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$AAAA",
	} {
		if err := Verify("x", h); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, want ErrMalformed", h, err)
		}
	}
	if err := VerifyDummy("x"); !errors.Is(err, ErrMismatch) {
		t.Fatal("VerifyDummy must fail")
	}
}
