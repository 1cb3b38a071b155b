package policies

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Action is what happens to a device: it may sync, it may not, or it waits
// for an administrator.
type Action string

// Actions.
const (
	ActionAllow      Action = "allow"
	ActionBlock      Action = "block"
	ActionQuarantine Action = "quarantine"
)

// Valid reports whether a is one of the three actions.
func (a Action) Valid() bool {
	switch a {
	case ActionAllow, ActionBlock, ActionQuarantine:
		return true
	}
	return false
}

// severity orders actions from most to least permissive.
func (a Action) severity() int {
	switch a {
	case ActionAllow:
		return 0
	case ActionQuarantine:
		return 1
	default:
		return 2
	}
}

// Field is the device property a rule or catalogue entry looks at. These are
// the characteristics Exchange's device access rules use (DeviceModel,
// DeviceType, DeviceOS, UserAgent).
type Field string

// Fields.
const (
	FieldModel     Field = "model"     // DeviceFacts.Model, normalised by NormalizeModel
	FieldType      Field = "type"      // DeviceFacts.DeviceType (the DeviceType query parameter)
	FieldOS        Field = "os"        // DeviceFacts.OS
	FieldUserAgent Field = "useragent" // DeviceFacts.UserAgent
)

// Valid reports whether f is a known field.
func (f Field) Valid() bool {
	switch f {
	case FieldModel, FieldType, FieldOS, FieldUserAgent:
		return true
	}
	return false
}

// MatchKind says how Pattern is compared with the field's value.
type MatchKind string

// Match kinds.
//
// All comparisons of exact, prefix and glob patterns ignore case, because
// devices are not consistent ("PocketPC", "PocketPc"). A "re:" pattern is a
// Go regular expression (RE2 syntax) matched as written, unanchored; write
// "^...$" to anchor it and "(?i)" to ignore case.
const (
	// MatchExact: the whole value equals Pattern.
	MatchExact MatchKind = "exact"
	// MatchPrefix: the value starts with Pattern.
	MatchPrefix MatchKind = "prefix"
	// MatchPattern: Pattern is a glob over the whole value ("*" any run,
	// "?" one character), or a regular expression if it starts with "re:".
	MatchPattern MatchKind = "pattern"
)

// Valid reports whether k is a known match kind.
func (k MatchKind) Valid() bool {
	switch k {
	case MatchExact, MatchPrefix, MatchPattern:
		return true
	}
	return false
}

// regexpPrefix marks a MatchPattern pattern as a regular expression.
const regexpPrefix = "re:"

// maxPatternLen bounds patterns typed by administrators.
const maxPatternLen = 512

// Rule is an administrator's device access rule: when Field matches Pattern
// the device gets Action. Rules are tried in ascending Priority (then
// ascending ID); the first enabled match wins.
type Rule struct {
	ID          int64     `json:"id"`
	Priority    int       `json:"priority"`
	Field       Field     `json:"field"`
	Match       MatchKind `json:"match"`
	Pattern     string    `json:"pattern"`
	Action      Action    `json:"action"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
}

// RuleError describes what is wrong with one rule or catalogue entry.
type RuleError struct {
	ID     int64  // rule ID, or 0 for a catalogue entry
	Field  string // the offending struct field ("Pattern", "Action", …)
	Reason string
}

func (e *RuleError) Error() string {
	if e.ID != 0 {
		return fmt.Sprintf("rule %d: %s: %s", e.ID, e.Field, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// Validate checks the rule's field, match kind, pattern and action. Errors
// are *RuleError values joined with errors.Join.
func (r Rule) Validate() error {
	var errs []error
	add := func(field, reason string) {
		errs = append(errs, &RuleError{ID: r.ID, Field: field, Reason: reason})
	}
	if !r.Field.Valid() {
		add("Field", fmt.Sprintf("%q is not one of model, type, os, useragent", r.Field))
	}
	if err := validatePattern(r.Match, r.Pattern); err != nil {
		var re *RuleError
		if errors.As(err, &re) {
			re.ID = r.ID
		}
		errs = append(errs, err)
	}
	if !r.Action.Valid() {
		add("Action", fmt.Sprintf("%q is not one of allow, block, quarantine", r.Action))
	}
	return errors.Join(errs...)
}

func validatePattern(kind MatchKind, pattern string) error {
	if !kind.Valid() {
		return &RuleError{Field: "Match", Reason: fmt.Sprintf("%q is not one of exact, prefix, pattern", kind)}
	}
	if strings.TrimSpace(pattern) == "" {
		return &RuleError{Field: "Pattern", Reason: "is empty"}
	}
	if len(pattern) > maxPatternLen {
		return &RuleError{Field: "Pattern", Reason: fmt.Sprintf("is longer than %d bytes", maxPatternLen)}
	}
	if kind == MatchPattern {
		if _, err := compilePattern(pattern); err != nil {
			return &RuleError{Field: "Pattern", Reason: err.Error()}
		}
	}
	return nil
}

// Matches reports whether the rule's pattern matches the device. It does not
// look at Enabled, and an invalid rule matches nothing. Matches uses the
// facts as given; [Decide] passes facts completed by [Enrich].
func (r Rule) Matches(f DeviceFacts) bool {
	return matchField(r.Field, r.Match, r.Pattern, f)
}

func matchField(field Field, kind MatchKind, pattern string, f DeviceFacts) bool {
	var value string
	switch field {
	case FieldModel:
		value = NormalizeModel(f.Model)
		if kind != MatchPattern || !strings.HasPrefix(pattern, regexpPrefix) {
			pattern = NormalizeModel(pattern)
		}
	case FieldType:
		value = f.DeviceType
	case FieldOS:
		value = f.OS
	case FieldUserAgent:
		value = f.UserAgent
	default:
		return false
	}
	if value == "" || pattern == "" {
		return false
	}
	switch kind {
	case MatchExact:
		return strings.EqualFold(value, pattern)
	case MatchPrefix:
		return len(value) >= len(pattern) && strings.EqualFold(value[:len(pattern)], pattern)
	case MatchPattern:
		re, err := compilePattern(pattern)
		if err != nil {
			return false
		}
		return re.MatchString(value)
	}
	return false
}

// patternCache keeps compiled patterns; rules are few but Decide may run on
// every request. It is cleared when full so that it stays bounded whatever
// administrators type.
var patternCache = struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}{m: map[string]*regexp.Regexp{}}

const patternCacheMax = 1024

// compilePattern turns a MatchPattern pattern into a regexp: "re:" patterns
// as written, globs as an anchored case-insensitive expression.
func compilePattern(pattern string) (*regexp.Regexp, error) {
	patternCache.Lock()
	re, ok := patternCache.m[pattern]
	patternCache.Unlock()
	if ok {
		return re, nil
	}
	var expr string
	if rest, isRE := strings.CutPrefix(pattern, regexpPrefix); isRE {
		if rest == "" {
			return nil, errors.New("regular expression is empty")
		}
		expr = rest
	} else {
		expr = globToRegexp(pattern)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	patternCache.Lock()
	if len(patternCache.m) >= patternCacheMax {
		patternCache.m = map[string]*regexp.Regexp{}
	}
	patternCache.m[pattern] = re
	patternCache.Unlock()
	return re, nil
}

// globToRegexp converts a glob ("*" any run, "?" one character, everything
// else literal) into an anchored, case-insensitive expression.
func globToRegexp(glob string) string {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return b.String()
}

// SortRules returns the rules in evaluation order: ascending Priority, then
// ascending ID. The input is not modified.
func SortRules(rules []Rule) []Rule {
	out := make([]Rule, len(rules))
	copy(out, rules)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority < out[j].Priority
		}
		return out[i].ID < out[j].ID
	})
	return out
}

//go:embed default_rules.json
var defaultRulesJSON []byte

// rulesFile is the JSON form of a rule set, as shipped in default_rules.json.
type rulesFile struct {
	Version int    `json:"version"`
	Rules   []Rule `json:"rules"`
}

// LoadRules parses a rule set in the default_rules.json format and validates
// every rule. Duplicate IDs are an error.
func LoadRules(data []byte) ([]Rule, error) {
	var f rulesFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("policies: parsing rules: %w", err)
	}
	seen := make(map[int64]bool, len(f.Rules))
	var errs []error
	for _, r := range f.Rules {
		if seen[r.ID] {
			errs = append(errs, &RuleError{ID: r.ID, Field: "ID", Reason: "is used twice"})
		}
		seen[r.ID] = true
		if err := r.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("policies: invalid rules: %w", err)
	}
	return f.Rules, nil
}

// DefaultRules returns the health service's shipped rules (default_rules.json,
// described in DEVICES.md). The result is a fresh copy the caller may edit.
func DefaultRules() ([]Rule, error) {
	return LoadRules(defaultRulesJSON)
}

// DefaultOrgAction is the shipped organisation default for devices no rule
// matches: an administrator looks at them first.
const DefaultOrgAction = ActionQuarantine
