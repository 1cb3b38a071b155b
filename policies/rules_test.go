package policies

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRuleValidate(t *testing.T) {
	good := Rule{ID: 1, Priority: 1, Field: FieldModel, Match: MatchExact, Pattern: "iPhone2,1", Action: ActionAllow, Enabled: true}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Rule)
		field  string
	}{
		{"unknown field", func(r *Rule) { r.Field = "imei" }, "Field"},
		{"unknown match", func(r *Rule) { r.Match = "regex" }, "Match"},
		{"empty pattern", func(r *Rule) { r.Pattern = " " }, "Pattern"},
		{"long pattern", func(r *Rule) { r.Pattern = strings.Repeat("a", maxPatternLen+1) }, "Pattern"},
		{"bad regexp", func(r *Rule) { r.Match, r.Pattern = MatchPattern, "re:iPhone(" }, "Pattern"},
		{"empty regexp", func(r *Rule) { r.Match, r.Pattern = MatchPattern, "re:" }, "Pattern"},
		{"unknown action", func(r *Rule) { r.Action = "permit" }, "Action"},
		{"empty action", func(r *Rule) { r.Action = "" }, "Action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.change(&r)
			err := r.Validate()
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("Validate() = %v, want a *RuleError", err)
			}
			if re.Field != tc.field || re.ID != 1 {
				t.Errorf("error for field %q (rule %d), want %q (rule 1): %v", re.Field, re.ID, tc.field, err)
			}
		})
	}
}

func TestRuleMatches(t *testing.T) {
	f := DeviceFacts{
		DeviceType: "SAMSUNGGTI9000", Model: "iPhone2C1", OS: "Android 2.3.4",
		UserAgent: "SAMSUNG-GT-I9000/100.20304",
	}
	tests := []struct {
		field   Field
		match   MatchKind
		pattern string
		want    bool
	}{
		{FieldType, MatchExact, "SAMSUNGGTI9000", true},
		{FieldType, MatchExact, "samsunggti9000", true}, // case-insensitive
		{FieldType, MatchExact, "SAMSUNG", false},
		{FieldType, MatchPrefix, "samsung", true},
		{FieldType, MatchPrefix, "SAMSUNGGTI90000", false},
		{FieldModel, MatchExact, "iPhone2,1", true}, // the model is normalised
		{FieldModel, MatchExact, "iPhone2C1", true}, // and so is the pattern
		{FieldModel, MatchPattern, "iphone2,?", true},
		{FieldModel, MatchPattern, `re:^iPhone2,1$`, true},
		{FieldModel, MatchPattern, `re:^iPhone2C1$`, false}, // regexps see the normalised model
		{FieldOS, MatchPattern, "Android 2.*", true},
		{FieldOS, MatchPattern, "Android 3.*", false},
		{FieldOS, MatchPattern, "android ?.?.?", true},
		{FieldOS, MatchPattern, "Android 2", false},   // globs cover the whole value
		{FieldOS, MatchPattern, "re:Android 2", true}, // regexps are unanchored
		{FieldOS, MatchPattern, "re:^android", false}, // and case-sensitive
		{FieldOS, MatchPattern, "re:(?i)^android", true},
		{FieldUserAgent, MatchPattern, "*GT-I9000*", true},
		{FieldUserAgent, MatchPattern, "*.*", true},       // '.' is literal in globs
		{FieldUserAgent, MatchPattern, "*[*", false},      // so is '['
		{FieldUserAgent, MatchPrefix, "SAMSUNG-GT", true}, // prefix
		{"imei", MatchExact, "x", false},
	}
	for _, tc := range tests {
		r := Rule{ID: 1, Field: tc.field, Match: tc.match, Pattern: tc.pattern, Action: ActionAllow, Enabled: true}
		if got := r.Matches(f); got != tc.want {
			t.Errorf("%s %s %q: Matches = %v, want %v", tc.field, tc.match, tc.pattern, got, tc.want)
		}
	}
	// An empty field never matches, not even "*".
	r := Rule{Field: FieldOS, Match: MatchPattern, Pattern: "*"}
	if r.Matches(DeviceFacts{}) {
		t.Error(`"*" matched an empty OS`)
	}
}

func TestSortRules(t *testing.T) {
	in := []Rule{{ID: 3, Priority: 5}, {ID: 1, Priority: 9}, {ID: 2, Priority: 5}, {ID: 0, Priority: -1}}
	got := SortRules(in)
	var ids []int64
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if want := []int64{0, 2, 3, 1}; !reflect.DeepEqual(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
	if in[0].ID != 3 {
		t.Error("SortRules modified its input")
	}
}

func TestDefaultRules(t *testing.T) {
	rules, err := DefaultRules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 15 {
		t.Errorf("only %d default rules", len(rules))
	}
	for _, r := range rules {
		if !r.Enabled || strings.TrimSpace(r.Description) == "" {
			t.Errorf("rule %d: enabled=%v description=%q", r.ID, r.Enabled, r.Description)
		}
	}
	// Each call returns a fresh copy.
	rules[0].Action = ActionBlock
	again, _ := DefaultRules()
	if again[0].Action == ActionBlock && rules[0].ID == 10 {
		t.Error("DefaultRules shares its slice between calls")
	}
}

func TestLoadRulesErrors(t *testing.T) {
	tests := map[string]string{
		"not JSON":      `{`,
		"duplicate IDs": `{"rules":[{"id":1,"field":"type","match":"exact","pattern":"a","action":"allow"},{"id":1,"field":"type","match":"exact","pattern":"b","action":"allow"}]}`,
		"invalid rule":  `{"rules":[{"id":1,"field":"colour","match":"exact","pattern":"a","action":"allow"}]}`,
	}
	for name, data := range tests {
		if _, err := LoadRules([]byte(data)); err == nil {
			t.Errorf("%s: LoadRules succeeded", name)
		}
	}
}

func TestRuleJSON(t *testing.T) {
	r := Rule{ID: 12, Priority: 3, Field: FieldUserAgent, Match: MatchPattern, Pattern: "re:^Nokia", Action: ActionQuarantine, Description: "d", Enabled: true}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":12,"priority":3,"field":"useragent","match":"pattern","pattern":"re:^Nokia","action":"quarantine","description":"d","enabled":true}`
	if string(data) != want {
		t.Errorf("JSON %s, want %s", data, want)
	}
}
