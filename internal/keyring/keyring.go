// Package keyring keeps Airlock's secrets and stored mail sealed at rest
// under a master key that lives outside the database: a key file (mode
// 0600) or an environment variable a key-management service fills. Someone
// who copies the database alone learns no secret and no message text.
//
// The master key seals nothing but other keys (envelope encryption, NIST
// SP 800-57 key-wrapping keys): each message blob has its own random data
// key, and a few long-lived named keys (Settings, Fields, Dedupe, Search,
// AuditChain) are random keys kept in the database wrapped by the master
// key. Rotating the master key therefore re-wraps keys and re-encrypts no
// data, and the named keys, and what they derive, stay the same.
//
// # Implementation notes
//
// Every key is AES-256-GCM (standard library). A sealed value is
// "al" | version 1 | key id (8 bytes) | nonce (12) | ciphertext and tag,
// with associated data naming what the value is (a column, a key's name),
// so a value moved to another column or another key's row does not open.
// The key id is the first 8 bytes of SHA-256("airlock key id" | key): it
// tells a wrong key from damaged data without revealing the key. A
// database holds a sealed check value (CheckValue) that must open under
// the master key at start, so a lost or wrong key is a clear error and
// never a silent new key.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of every key: AES-256.
const KeySize = 32

// Names of the long-lived keys the master key wraps.
const (
	// Settings seals organisation settings (the web signing key, TOTP
	// secrets, webhook secrets).
	Settings = "settings"
	// Fields seals message summary fields (subject, preview, calendar and
	// contact properties) and queued mail.
	Fields = "fields"
	// Dedupe keys the content hash of blobs, so a hash in the database
	// cannot confirm a guessed message.
	Dedupe = "dedupe"
	// Search keys the trigram filter that lets mailbox search skip
	// messages without decrypting them.
	Search = "search"
	// AuditChain keys the audit log's hash chain.
	AuditChain = "audit-chain"
)

// Names lists every named key; a database gets each on first open.
var Names = []string{Settings, Fields, Dedupe, Search, AuditChain}

var (
	// ErrNoMasterKey: no master key was given and none can be made.
	ErrNoMasterKey = errors.New("no master key")
	// ErrWrongKey: the value was sealed under another key.
	ErrWrongKey = errors.New("sealed under another key")
	// ErrDamaged: the value is not a sealed value or does not open.
	ErrDamaged = errors.New("sealed value damaged or altered")
)

const (
	idSize     = 8
	nonceSize  = 12
	version    = 1
	headerSize = 3 + idSize + nonceSize
	// Overhead is how many bytes sealing adds.
	Overhead = headerSize + 16
	// textPrefix marks a sealed value stored in a text column (base64).
	textPrefix = "$al1$"
	idDomain   = "airlock key id"
)

// Key is one AES-256-GCM key.
type Key struct {
	id   [idSize]byte
	raw  []byte
	aead cipher.AEAD
}

// NewKey makes a Key of 32 raw bytes (copied).
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(raw), KeySize)
	}
	b, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	k := &Key{raw: append([]byte(nil), raw...), aead: aead}
	var in [len(idDomain) + KeySize]byte
	copy(in[copy(in[:], idDomain):], raw)
	sum := sha256.Sum256(in[:])
	copy(k.id[:], sum[:])
	return k, nil
}

// GenerateKey makes a random key.
func GenerateKey() *Key {
	raw := make([]byte, KeySize)
	rand.Read(raw) // never fails (crypto/rand, Go 1.24+)
	k, _ := NewKey(raw)
	return k
}

// ID is the key's public fingerprint, in hex.
func (k *Key) ID() string { return hex.EncodeToString(k.id[:]) }

// Bytes returns a copy of the raw key.
func (k *Key) Bytes() []byte { return append([]byte(nil), k.raw...) }

// Seal encrypts plaintext bound to aad (what the value is).
func (k *Key) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, headerSize, headerSize+len(plaintext)+k.aead.Overhead())
	out[0], out[1], out[2] = 'a', 'l', version
	copy(out[3:], k.id[:])
	rand.Read(out[3+idSize : headerSize])
	return k.aead.Seal(out, out[3+idSize:headerSize], plaintext, aad)
}

// Open decrypts a value sealed by Seal with the same aad.
func (k *Key) Open(sealed, aad []byte) ([]byte, error) {
	if !IsSealed(sealed) || len(sealed) < Overhead {
		return nil, ErrDamaged
	}
	if subtle.ConstantTimeCompare(sealed[3:3+idSize], k.id[:]) != 1 {
		return nil, fmt.Errorf("%w %x (this key is %s)", ErrWrongKey, sealed[3:3+idSize], k.ID())
	}
	out, err := k.aead.Open(nil, sealed[3+idSize:headerSize], sealed[headerSize:], aad)
	if err != nil {
		return nil, ErrDamaged
	}
	return out, nil
}

// IsSealed reports whether b starts like a sealed value.
func IsSealed(b []byte) bool {
	return len(b) >= 3 && b[0] == 'a' && b[1] == 'l' && b[2] == version
}

// KeyID returns the id of the key a sealed value names, in hex.
func KeyID(sealed []byte) string {
	if !IsSealed(sealed) || len(sealed) < 3+idSize {
		return ""
	}
	return hex.EncodeToString(sealed[3 : 3+idSize])
}

// SealString seals s for a text column: a marked base64 string. The empty
// string stays empty.
func (k *Key) SealString(s string, aad []byte) string {
	if s == "" {
		return ""
	}
	return textPrefix + base64.RawStdEncoding.EncodeToString(k.Seal([]byte(s), aad))
}

// OpenString reverses SealString. A text without the mark is returned as
// it is (stored before encryption at rest, until the start-up migration
// seals it).
func (k *Key) OpenString(s string, aad []byte) (string, error) {
	if !IsSealedString(s) {
		return s, nil
	}
	b, err := base64.RawStdEncoding.DecodeString(s[len(textPrefix):])
	if err != nil {
		return "", ErrDamaged
	}
	out, err := k.Open(b, aad)
	return string(out), err
}

// IsSealedString reports whether s was made by SealString.
func IsSealedString(s string) bool { return strings.HasPrefix(s, textPrefix) }

// Wrap seals key k under the master key, bound to its name.
func Wrap(master, k *Key, name string) []byte {
	return master.Seal(k.raw, []byte("airlock key:"+name))
}

// Unwrap opens a key wrapped by Wrap.
func Unwrap(master *Key, wrapped []byte, name string) (*Key, error) {
	raw, err := master.Open(wrapped, []byte("airlock key:"+name))
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	return NewKey(raw)
}

var checkText = []byte("airlock master key check")

// CheckValue is the value a database keeps to recognise its master key.
func CheckValue(master *Key) []byte { return master.Seal(checkText, []byte("check")) }

// Verify reports whether check (from CheckValue) opens under master, with
// an error that says which key the database expects.
func Verify(master *Key, check []byte) error {
	got, err := master.Open(check, []byte("check"))
	if err != nil || subtle.ConstantTimeCompare(got, checkText) != 1 {
		return fmt.Errorf("the database is sealed under master key %s, but the key given is %s: %w", KeyID(check), master.ID(), ErrWrongKey)
	}
	return nil
}

// dataKeyName binds wrapped per-blob data keys.
const dataKeyName = "data"

var dataKeyAAD = []byte("airlock key:" + dataKeyName)

// Ring is a database's open keys: the master key and the named keys it
// unwrapped. It is safe for concurrent use (read-only once made).
type Ring struct {
	master *Key
	named  map[string]*Key
}

// NewRing makes a Ring from the master key and the unwrapped named keys.
func NewRing(master *Key, named map[string]*Key) *Ring {
	return &Ring{master: master, named: named}
}

// MasterID is the master key's fingerprint.
func (r *Ring) MasterID() string { return r.master.ID() }

// Named returns a named key (one of Names).
func (r *Ring) Named(name string) *Key {
	k := r.named[name]
	if k == nil {
		panic("keyring: no key named " + name) // Names are fixed at build time
	}
	return k
}

// Key returns the 32 bytes of a named key, for a MAC or a derivation
// (AuditChain). They stay the same across master-key rotation.
func (r *Ring) Key(name string) []byte { return r.Named(name).Bytes() }

// NewDataKey makes a random data key and its wrapped form to store with
// what it seals.
func (r *Ring) NewDataKey() (*Key, []byte) {
	k := GenerateKey()
	return k, Wrap(r.master, k, dataKeyName)
}

// DataKey unwraps a stored data key.
func (r *Ring) DataKey(wrapped []byte) (*Key, error) {
	raw, err := r.master.Open(wrapped, dataKeyAAD)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return NewKey(raw)
}

// Rewrap re-wraps a key wrapped under this ring's master key (a data key
// when name is "", else the named key) under next.
func (r *Ring) Rewrap(wrapped []byte, name string, next *Key) ([]byte, error) {
	if name == "" {
		name = dataKeyName
	}
	k, err := Unwrap(r.master, wrapped, name)
	if err != nil {
		return nil, err
	}
	return Wrap(next, k, name), nil
}
