package policies

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Entry is one line of the device catalogue: a way to recognise a device
// (or a mail client) and what is known about its encryption at rest.
type Entry struct {
	// Family is the human name shown on the device page ("iPhone 3GS").
	Family string `json:"family"`
	// Field, Match and Pattern recognise the device, with the same meaning
	// as in [Rule].
	Field   Field     `json:"field"`
	Match   MatchKind `json:"match"`
	Pattern string    `json:"pattern"`
	// CanEncrypt says whether the device (or client) can encrypt synced
	// data at rest at all.
	CanEncrypt bool `json:"canEncrypt"`
	// EncryptFromOS is the first OS version with encryption at rest, compared
	// with CompareVersions against DeviceFacts.OS. Empty means no floor.
	EncryptFromOS string `json:"encryptFromOS,omitempty"`
	// RequireFullAck: encryption on this device is only trusted when the
	// device fully applied the policy (Provision acknowledgement status 1),
	// even if AllowNonProvisionableDevices is set. Used for devices where
	// encryption is a user-enabled option (Nokia Eseries).
	RequireFullAck bool `json:"requireFullAck,omitempty"`
	// Notes explains the entry for administrators.
	Notes string `json:"notes,omitempty"`
	// Source says where the strings and the encryption claim come from.
	Source string `json:"source,omitempty"`
}

// Matches reports whether the entry recognises the device.
func (e Entry) Matches(f DeviceFacts) bool {
	return matchField(e.Field, e.Match, e.Pattern, f)
}

// Validate checks the entry's matcher and text fields.
func (e Entry) Validate() error {
	var errs []error
	if strings.TrimSpace(e.Family) == "" {
		errs = append(errs, &RuleError{Field: "Family", Reason: "is empty"})
	}
	if !e.Field.Valid() {
		errs = append(errs, &RuleError{Field: "Field", Reason: fmt.Sprintf("%q is not one of model, type, os, useragent", e.Field)})
	}
	if err := validatePattern(e.Match, e.Pattern); err != nil {
		errs = append(errs, err)
	}
	if e.EncryptFromOS != "" && !HasVersion(e.EncryptFromOS) {
		errs = append(errs, &RuleError{Field: "EncryptFromOS", Reason: fmt.Sprintf("%q has no version number", e.EncryptFromOS)})
	}
	if !e.CanEncrypt && e.EncryptFromOS != "" {
		errs = append(errs, &RuleError{Field: "EncryptFromOS", Reason: "is set but CanEncrypt is false"})
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("catalogue entry %q: %w", e.Family, err)
	}
	return nil
}

// Catalogue is an ordered list of entries; the first entry that matches a
// device describes it. Client-application entries (TouchDown, AstraSync)
// come before platform entries so that they win.
//
// A Catalogue is immutable once built and safe for concurrent use.
type Catalogue struct {
	entries []Entry
}

// NewCatalogue validates the entries and builds a catalogue from a copy of
// them.
func NewCatalogue(entries []Entry) (*Catalogue, error) {
	var errs []error
	for _, e := range entries {
		if err := e.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("policies: invalid catalogue: %w", err)
	}
	c := &Catalogue{entries: make([]Entry, len(entries))}
	copy(c.entries, entries)
	return c, nil
}

// Entries returns a copy of the catalogue's entries, in lookup order.
func (c *Catalogue) Entries() []Entry {
	if c == nil {
		return nil
	}
	out := make([]Entry, len(c.entries))
	copy(out, c.entries)
	return out
}

// Lookup returns the first entry that recognises the device. Lookup uses the
// facts as given; [Decide] passes facts completed by [Enrich]. A nil
// catalogue knows nothing.
func (c *Catalogue) Lookup(f DeviceFacts) (Entry, bool) {
	if c == nil {
		return Entry{}, false
	}
	for _, e := range c.entries {
		if e.Matches(f) {
			return e, true
		}
	}
	return Entry{}, false
}

// catalogueFile is the JSON form of a catalogue, as shipped in
// catalogue.json.
type catalogueFile struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

// maxCatalogueBytes bounds what LoadCatalogue reads.
const maxCatalogueBytes = 4 << 20

// LoadCatalogue reads a catalogue in the catalogue.json format, so that an
// administrator's edited copy can replace the shipped one.
func LoadCatalogue(r io.Reader) (*Catalogue, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxCatalogueBytes+1))
	if err != nil {
		return nil, fmt.Errorf("policies: reading catalogue: %w", err)
	}
	if len(data) > maxCatalogueBytes {
		return nil, fmt.Errorf("policies: catalogue is larger than %d bytes", maxCatalogueBytes)
	}
	var f catalogueFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("policies: parsing catalogue: %w", err)
	}
	return NewCatalogue(f.Entries)
}

// MarshalJSON writes the catalogue in the catalogue.json format.
func (c *Catalogue) MarshalJSON() ([]byte, error) {
	return json.Marshal(catalogueFile{Version: 1, Entries: c.Entries()})
}

//go:embed catalogue.json
var defaultCatalogueJSON string

// DefaultCatalogue returns the shipped device catalogue (catalogue.json,
// described in DEVICES.md).
func DefaultCatalogue() (*Catalogue, error) {
	return LoadCatalogue(strings.NewReader(defaultCatalogueJSON))
}
