package keyring

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables that name the master key.
const (
	// EnvKey carries the key itself, in base64: for a key-management
	// service or secret store that hands keys to processes this way.
	EnvKey = "AIRLOCK_MASTER_KEY"
	// EnvKeyFile names a key file.
	EnvKeyFile = "AIRLOCK_MASTER_KEY_FILE"
)

// Source says where the master key comes from. The first that is set is
// used: Key, Base64, File.
type Source struct {
	// Key is the key itself (an embedding program; tests).
	Key []byte
	// Base64 is the key in standard base64 ($AIRLOCK_MASTER_KEY).
	Base64 string
	// File is a key file: the key in base64 on one line, mode 0600. Create
	// writes it on a database's first start.
	File string
}

// FromEnv is the source the environment names, $AIRLOCK_MASTER_KEY or
// else $AIRLOCK_MASTER_KEY_FILE, or else defaultFile.
func FromEnv(defaultFile string) Source {
	if v := strings.TrimSpace(os.Getenv(EnvKey)); v != "" {
		return Source{Base64: v}
	}
	if v := os.Getenv(EnvKeyFile); v != "" {
		return Source{File: v}
	}
	return Source{File: defaultFile}
}

// IsZero reports whether nothing is set.
func (s Source) IsZero() bool { return s.Key == nil && s.Base64 == "" && s.File == "" }

// String names the source for messages, never the key.
func (s Source) String() string {
	switch {
	case s.Key != nil:
		return "the key given"
	case s.Base64 != "":
		return "$" + EnvKey
	case s.File != "":
		return "key file " + s.File
	}
	return "no key (set $" + EnvKey + " or $" + EnvKeyFile + ")"
}

// Load reads the master key. A key file that does not exist, or no source
// at all, is ErrNoMasterKey.
func (s Source) Load() (*Key, error) {
	switch {
	case s.Key != nil:
		return NewKey(s.Key)
	case s.Base64 != "":
		return decodeKey(s.Base64, "$"+EnvKey)
	case s.File == "":
		return nil, fmt.Errorf("%w: set $%s or $%s", ErrNoMasterKey, EnvKey, EnvKeyFile)
	}
	b, err := os.ReadFile(s.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: key file %s does not exist", ErrNoMasterKey, s.File)
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	return decodeKey(string(b), "key file "+s.File)
}

// Create is Load, except that a key file that does not exist is made with
// a new random key. Call it only for a database that has no keys yet.
func (s Source) Create() (k *Key, created bool, err error) {
	k, err = s.Load()
	if !errors.Is(err, ErrNoMasterKey) || s.File == "" || s.Key != nil || s.Base64 != "" {
		return k, false, err
	}
	k = GenerateKey()
	if err := WriteKeyFile(s.File, k); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process made it meanwhile
			k, err = s.Load()
			return k, false, err
		}
		return nil, false, err
	}
	return k, true, nil
}

func decodeKey(s, where string) (*Key, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) != KeySize {
		return nil, fmt.Errorf("%s: want %d bytes in base64", where, KeySize)
	}
	return NewKey(raw)
}

// Encode is the key as a key file or $AIRLOCK_MASTER_KEY holds it.
func Encode(k *Key) string { return base64.StdEncoding.EncodeToString(k.raw) }

// WriteKeyFile writes k to a new file, mode 0600 (its directory 0700 if
// made), synced to disk. It fails if the file exists.
func WriteKeyFile(path string, k *Key) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("master key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	_, err = f.WriteString(Encode(k) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write master key: %w", err)
	}
	return nil
}
