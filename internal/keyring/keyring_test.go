package keyring_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"airlock/internal/keyring"
)

func TestSealOpenRefusesAnythingButTheSameKeyAndPurpose(t *testing.T) {
	k, other := keyring.GenerateKey(), keyring.GenerateKey()
	sealed := k.Seal([]byte("bed 4 stable"), []byte("items.subject"))
	if bytes.Contains(sealed, []byte("bed 4")) || len(sealed) != len("bed 4 stable")+keyring.Overhead {
		t.Fatalf("sealed value %q", sealed)
	}
	if got, err := k.Open(sealed, []byte("items.subject")); err != nil || string(got) != "bed 4 stable" {
		t.Fatalf("open: %q %v", got, err)
	}
	flipped := append([]byte(nil), sealed...)
	flipped[len(flipped)-1] ^= 1
	for _, c := range []struct {
		name   string
		key    *keyring.Key
		sealed []byte
		aad    string
		want   error
	}{
		{"another key", other, sealed, "items.subject", keyring.ErrWrongKey},
		{"another column", k, sealed, "items.preview", keyring.ErrDamaged},
		{"altered", k, flipped, "items.subject", keyring.ErrDamaged},
		{"truncated", k, sealed[:20], "items.subject", keyring.ErrDamaged},
		{"plain text", k, []byte("bed 4 stable"), "items.subject", keyring.ErrDamaged},
	} {
		if _, err := c.key.Open(c.sealed, []byte(c.aad)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if a, b := k.Seal([]byte("x"), nil), k.Seal([]byte("x"), nil); bytes.Equal(a, b) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
}

func TestSealStringKeepsEmptyAndReadsLegacyText(t *testing.T) {
	k := keyring.GenerateKey()
	if k.SealString("", nil) != "" {
		t.Error("empty string sealed")
	}
	s := k.SealString("Referral", []byte("a"))
	if !keyring.IsSealedString(s) {
		t.Fatalf("%q not marked", s)
	}
	if got, err := k.OpenString(s, []byte("a")); err != nil || got != "Referral" {
		t.Fatalf("%q %v", got, err)
	}
	if got, err := k.OpenString("stored before", []byte("a")); err != nil || got != "stored before" {
		t.Fatalf("legacy: %q %v", got, err)
	}
}

func TestWrappedKeysOpenOnlyUnderTheirMasterAndName(t *testing.T) {
	master, next := keyring.GenerateKey(), keyring.GenerateKey()
	r := keyring.NewRing(master, nil)
	dk, wrapped := r.NewDataKey()
	got, err := r.DataKey(wrapped)
	if err != nil || !bytes.Equal(got.Bytes(), dk.Bytes()) {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := keyring.Unwrap(master, wrapped, keyring.Dedupe); err == nil {
		t.Error("a data key opened as a named key")
	}
	rewrapped, err := r.Rewrap(wrapped, "", next)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.DataKey(rewrapped); !errors.Is(err, keyring.ErrWrongKey) {
		t.Errorf("old master opened the rewrapped key: %v", err)
	}
	got, err = keyring.NewRing(next, nil).DataKey(rewrapped)
	if err != nil || !bytes.Equal(got.Bytes(), dk.Bytes()) {
		t.Fatalf("new master: %v", err)
	}
	if err := keyring.Verify(next, keyring.CheckValue(master)); !errors.Is(err, keyring.ErrWrongKey) {
		t.Errorf("check value of another key: %v", err)
	}
	if err := keyring.Verify(master, keyring.CheckValue(master)); err != nil {
		t.Error(err)
	}
}

func TestSourceCreatesAKeyFileOnlyOnceAndPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	src := keyring.Source{File: path}
	if _, err := src.Load(); !errors.Is(err, keyring.ErrNoMasterKey) {
		t.Fatalf("load before create: %v", err)
	}
	k, created, err := src.Create()
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %v", di.Mode())
	}
	again, created, err := src.Create()
	if err != nil || created || again.ID() != k.ID() {
		t.Fatalf("second create: %v %v", created, err)
	}
	env := keyring.Source{Base64: keyring.Encode(k)}
	if got, err := env.Load(); err != nil || got.ID() != k.ID() {
		t.Fatalf("base64 source: %v", err)
	}
	if _, err := (keyring.Source{Base64: "c2hvcnQ="}).Load(); err == nil {
		t.Error("a short key was accepted")
	}
	if _, _, err := (keyring.Source{Base64: "c2hvcnQ=", File: path + ".x"}).Create(); err == nil {
		t.Error("a bad $AIRLOCK_MASTER_KEY fell back to making a key file")
	}
}

// BenchmarkOpenMessage: what reading one stored mail costs in keyring
// work, as a Sync window does per message: unwrap its data key, open a
// 4 KB blob, and open three summary fields.
//
//	go test ./internal/keyring -run '^$' -bench OpenMessage -benchmem
func BenchmarkOpenMessage(b *testing.B) {
	r := keyring.NewRing(keyring.GenerateKey(), nil)
	fields := keyring.GenerateKey()
	dek, wrapped := r.NewDataKey()
	blob := dek.Seal(bytes.Repeat([]byte("Observations unchanged. "), 170), []byte("blobs.data"))
	subject := fields.SealString("Handover from the night team", []byte("items.subject"))
	b.ReportAllocs()
	for b.Loop() {
		k, err := r.DataKey(wrapped)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Open(blob, []byte("blobs.data")); err != nil {
			b.Fatal(err)
		}
		for range 3 {
			if _, err := fields.OpenString(subject, []byte("items.subject")); err != nil {
				b.Fatal(err)
			}
		}
	}
}
