package policies

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// shipped loads the embedded catalogue and rules, failing the test if
// either is invalid.
func shipped(t *testing.T) (*Catalogue, []Rule) {
	t.Helper()
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatalf("DefaultCatalogue: %v", err)
	}
	rules, err := DefaultRules()
	if err != nil {
		t.Fatalf("DefaultRules: %v", err)
	}
	return cat, rules
}

func boolPtr(b bool) *bool { return &b }

// Real strings for each seed family; see DEVICES.md for their sources.
var (
	iPhone3GS = DeviceFacts{
		DeviceID: "Appl88036XYZ3NR", DeviceType: "iPhone", Model: "iPhone2C1",
		OS: "iOS 4.3.3 8J2", UserAgent: "Apple-iPhone2C1/810.2",
		ProtocolVersion: "14.0", InfoSource: InfoFromSettings,
	}
	iPhone3GUAOnly = DeviceFacts{
		DeviceID: "Appl8803AAAA3NR", DeviceType: "iPhone",
		UserAgent: "Apple-iPhone1C2/803.148", ProtocolVersion: "12.1",
	}
	iPhone2G = DeviceFacts{
		DeviceID: "Appl0001", DeviceType: "iPhone", Model: "iPhone1,1",
		OS: "iPhone OS 3.1.3", UserAgent: "Apple-iPhone/705.18", ProtocolVersion: "12.0",
		InfoSource: InfoFromSettings,
	}
	iPad2 = DeviceFacts{
		DeviceID: "DMPGK0ABCDEF", DeviceType: "iPad",
		UserAgent: "iOS/7.0.2 (11A501) dataaccessd/1.0", ProtocolVersion: "14.1",
	}
	nokiaE72 = DeviceFacts{
		DeviceID: "IMEI356795024156858", DeviceType: "NokiaEmail",
		UserAgent: "NokiaE721/2.02(0)MailforExchange 3gpp-gba", ProtocolVersion: "12.1",
	}
	// nokiaE72ByModel reports its model only through DeviceInformation;
	// its mail client's User-Agent says nothing known.
	nokiaE72ByModel = DeviceFacts{
		DeviceID: "IMEI356795024156859", DeviceType: "NokiaEmail", Model: "NokiaE72-1",
		UserAgent: "MfE-Client/3.0.50", ProtocolVersion: "12.1", InfoSource: InfoFromSettings,
	}
	wp7 = DeviceFacts{
		DeviceID: "6F24CAD599A5BF1A690246B8C68FAE8D", DeviceType: "WP",
		UserAgent: "MSFT-WP/7.0.7004", ProtocolVersion: "14.0",
	}
	wm65 = DeviceFacts{
		DeviceID: "BAD73E6E02156460E800185977C03182", DeviceType: "PocketPC",
		OS: "Windows CE 5.2.21234", UserAgent: "MSFT-PPC/5.2.5082",
		ProtocolVersion: "12.1", InfoSource: InfoFromSettings,
	}
	android23Stock = DeviceFacts{
		DeviceID: "androidc1234567", DeviceType: "Android",
		UserAgent: "Android/2.3.4-EAS-1.2", ProtocolVersion: "12.0",
	}
	android23TouchDown = DeviceFacts{
		DeviceID: "android1234abcd", DeviceType: "Android",
		OS: "Android 2.3.4", UserAgent: "TouchDown(MSRPC)/7.1.0005", ProtocolVersion: "14.0",
	}
	android4 = DeviceFacts{
		DeviceID: "android1a2b3c4d", DeviceType: "Android",
		UserAgent: "Android/4.0.4-EAS-1.3", ProtocolVersion: "14.0",
	}
	samsungGalaxyS = DeviceFacts{
		DeviceID: "SEC17F1AB2C3D4E5", DeviceType: "SAMSUNGGTI9000",
		UserAgent: "SAMSUNG-GT-I9000/100.20304", ProtocolVersion: "12.1",
	}
	bb10 = DeviceFacts{
		DeviceID: "BB2B2449CA", DeviceType: "BlackBerry",
		Model: "Q10", OS: "BlackBerry 10.2.0.1443",
		UserAgent: "RIM-Q10-SQN100-3/10.2.0.1443", ProtocolVersion: "14.1",
		InfoSource: InfoFromProvision,
	}
	// No public sample of AstraSync's strings was found; this one assumes
	// the product name is in the User-Agent, as the catalogue does.
	astraSync = DeviceFacts{
		DeviceID: "2100000a", DeviceType: "BlackBerry",
		UserAgent: "AstraSync/2.5", ProtocolVersion: "12.1",
	}
	notifySync = DeviceFacts{
		DeviceID: "2100000b", DeviceType: "BlackBerry",
		UserAgent: "NotifySync/4.11", ProtocolVersion: "12.1",
	}
)

func withAck(f DeviceFacts, ack PolicyAck) DeviceFacts {
	f.PolicyAck = ack
	return f
}

func TestDecideSeedFamilies(t *testing.T) {
	cat, rules := shipped(t)
	settings := DefaultSettings()

	tests := []struct {
		name      string
		facts     DeviceFacts
		settings  *Settings // nil: DefaultSettings
		want      Action
		decidedBy string
		reason    string // substring of Reason
		evidence  string // substring of one Evidence line
		pending   bool
	}{
		{
			name: "iPhone 3GS allowed after Provision ack 1", facts: withAck(iPhone3GS, AckApplied),
			want: ActionAllow, decidedBy: "rule:32", reason: "iPhone 3GS and newer",
			evidence: "model iPhone2,1 (sent as \"iPhone2C1\") from Settings DeviceInformation",
		},
		{
			name: "iPhone 3GS catalogue evidence", facts: withAck(iPhone3GS, AckApplied),
			want: ActionAllow, decidedBy: "rule:32", evidence: "catalogue: iPhone 3GS encrypts from OS 3.0",
		},
		{
			name: "iPhone 3G blocked even with ack 1, model from User-Agent", facts: withAck(iPhone3GUAOnly, AckApplied),
			want: ActionBlock, decidedBy: "rule:31", reason: "no hardware encryption",
			evidence: "model iPhone1,2 from User-Agent",
		},
		{
			name: "original iPhone blocked", facts: withAck(iPhone2G, AckApplied),
			want: ActionBlock, decidedBy: "rule:30",
		},
		{
			name: "iPad on iOS 7 allowed", facts: withAck(iPad2, AckApplied),
			want: ActionAllow, decidedBy: "rule:33", evidence: "OS iOS 7.0.2 from User-Agent",
		},
		{
			name: "Nokia E72 with ack 1 allowed", facts: withAck(nokiaE72, AckApplied),
			want: ActionAllow, decidedBy: "rule:60",
		},
		{
			name: "Nokia E72 with ack 2 refused", facts: withAck(nokiaE72, AckPartial),
			want: ActionBlock, decidedBy: "policy", reason: "only part of the security policy",
		},
		{
			name:  "Nokia E72 with ack 2 refused even when non-provisionable devices are allowed",
			facts: withAck(nokiaE72, AckPartial), settings: allowNonProvisionable(settings),
			want: ActionBlock, decidedBy: "policy", reason: "only when it applies the whole policy",
		},
		{
			name: "Nokia E72 without ack refused, pending provisioning", facts: withAck(nokiaE72, AckNone),
			want: ActionBlock, decidedBy: "policy", reason: "not yet accepted", pending: true,
		},
		{
			name: "Nokia E72 by DeviceInformation model with ack 1 allowed", facts: withAck(nokiaE72ByModel, AckApplied),
			want: ActionAllow, decidedBy: "rule:60", evidence: "catalogue: Nokia Eseries",
		},
		{
			name:  "Nokia E72 by DeviceInformation model with ack 2 refused even when non-provisionable devices are allowed",
			facts: withAck(nokiaE72ByModel, AckPartial), settings: allowNonProvisionable(settings),
			want: ActionBlock, decidedBy: "policy", reason: "only when it applies the whole policy",
		},
		{
			name: "Windows Phone 7 blocked", facts: withAck(wp7, AckApplied),
			want: ActionBlock, decidedBy: "rule:40", evidence: "OS Windows Phone 7.0.7004 from User-Agent",
		},
		{
			name: "Windows Mobile 6.5 allowed", facts: withAck(wm65, AckApplied),
			want: ActionAllow, decidedBy: "rule:50", evidence: "at or above the encryption floor 5.2.19000",
		},
		{
			name: "Windows Mobile 6.0 refused by catalogue floor",
			facts: func() DeviceFacts {
				f := withAck(wm65, AckApplied)
				f.OS = "Windows CE 5.2.1622"
				return f
			}(),
			want: ActionBlock, decidedBy: "catalogue", reason: "encrypts stored data only from OS version 5.2.19000",
		},
		{
			name: "Windows Mobile without an OS version quarantined",
			facts: func() DeviceFacts {
				f := withAck(wm65, AckApplied)
				f.OS = ""
				return f
			}(),
			want: ActionQuarantine, decidedBy: "catalogue", reason: "did not report its OS version",
		},
		{
			name: "Android 2.3 stock mail refused despite ack 1", facts: withAck(android23Stock, AckApplied),
			want: ActionBlock, decidedBy: "catalogue", reason: "only from OS version 3.0",
			evidence: "OS Android 2.3.4 from User-Agent",
		},
		{
			name: "Android 2.3 with TouchDown allowed", facts: withAck(android23TouchDown, AckApplied),
			want: ActionAllow, decidedBy: "rule:10", evidence: "catalogue: NitroDesk TouchDown (Android) encrypts data at rest",
		},
		{
			name: "Android 4 allowed", facts: withAck(android4, AckApplied),
			want: ActionAllow, decidedBy: "rule:70",
		},
		{
			name: "Samsung Galaxy S on 2.3.4 refused", facts: withAck(samsungGalaxyS, AckApplied),
			want: ActionBlock, decidedBy: "catalogue", evidence: "OS Android 2.3.4 from User-Agent",
		},
		{
			name: "Samsung reporting OS Android-Linux still judged on the User-Agent version",
			facts: func() DeviceFacts {
				f := withAck(samsungGalaxyS, AckApplied)
				f.Model, f.OS, f.InfoSource = "GT-I9000", "Android-Linux", InfoFromSettings
				return f
			}(),
			want: ActionBlock, decidedBy: "catalogue", evidence: "has no version; using Android 2.3.4",
		},
		{
			name: "BlackBerry 10 native client goes to review", facts: withAck(bb10, AckApplied),
			want: ActionQuarantine, decidedBy: "rule:80",
		},
		{
			name: "BlackBerry through AstraSync allowed", facts: withAck(astraSync, AckApplied),
			want: ActionAllow, decidedBy: "rule:20",
		},
		{
			name: "BlackBerry through NotifySync allowed", facts: withAck(notifySync, AckApplied),
			want: ActionAllow, decidedBy: "rule:21",
		},
		{
			name: "AstraSync without full ack refused", facts: withAck(astraSync, AckPartial),
			want: ActionBlock, decidedBy: "policy",
		},
		{
			name:  "unknown device quarantined by default",
			facts: DeviceFacts{DeviceID: "x1", DeviceType: "Palm", UserAgent: "Palm/1.0.1", PolicyAck: AckApplied},
			want:  ActionQuarantine, decidedBy: "default", evidence: "not in the device catalogue",
		},
		{
			name:  "old iPhone OS User-Agent without model goes to the default",
			facts: DeviceFacts{DeviceID: "x2", DeviceType: "iPhone", UserAgent: "Apple-iPhone/705.18", PolicyAck: AckApplied},
			want:  ActionQuarantine, decidedBy: "default", evidence: "model unknown",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := settings
			if tc.settings != nil {
				s = *tc.settings
			}
			d := Decide(DecisionInput{
				Facts: tc.facts, Rules: rules, Catalogue: cat,
				OrgDefault: DefaultOrgAction, Settings: s,
			})
			checkDecision(t, d, tc.want, tc.decidedBy, tc.reason, tc.evidence)
			if d.PendingProvision != tc.pending {
				t.Errorf("PendingProvision = %v, want %v", d.PendingProvision, tc.pending)
			}
		})
	}
}

func allowNonProvisionable(s Settings) *Settings {
	s.AllowNonProvisionableDevices = true
	return &s
}

func checkDecision(t *testing.T, d Decision, want Action, decidedBy, reason, evidence string) {
	t.Helper()
	if d.Action != want || d.DecidedBy != decidedBy {
		t.Errorf("got %s by %s, want %s by %s\nreason: %s\nevidence:\n  %s",
			d.Action, d.DecidedBy, want, decidedBy, d.Reason, strings.Join(d.Evidence, "\n  "))
	}
	if reason != "" && !strings.Contains(d.Reason, reason) {
		t.Errorf("reason %q does not contain %q", d.Reason, reason)
	}
	if evidence != "" && !slices.ContainsFunc(d.Evidence, func(s string) bool { return strings.Contains(s, evidence) }) {
		t.Errorf("no evidence line contains %q:\n  %s", evidence, strings.Join(d.Evidence, "\n  "))
	}
	if d.Reason == "" {
		t.Error("empty reason")
	}
}

// The catalogue refuses a device that cannot encrypt even when no rule
// mentions it and the device acknowledged the policy.
func TestDecideCatalogueRefusesWithoutRules(t *testing.T) {
	cat, _ := shipped(t)
	for _, f := range []DeviceFacts{iPhone3GUAOnly, iPhone2G, wp7} {
		d := Decide(DecisionInput{
			Facts: withAck(f, AckApplied), Catalogue: cat,
			OrgDefault: ActionAllow, Settings: DefaultSettings(),
		})
		checkDecision(t, d, ActionBlock, "catalogue", "cannot encrypt", "overrides default (allow)")
	}
}

// Without the encryption requirement the catalogue does not refuse; the
// rules and the acknowledgement decide.
func TestDecideEncryptionNotRequired(t *testing.T) {
	cat, _ := shipped(t)
	s := DefaultSettings()
	s.RequireDeviceEncryption = false
	d := Decide(DecisionInput{
		Facts: withAck(android23Stock, AckApplied), Catalogue: cat,
		OrgDefault: ActionAllow, Settings: s,
	})
	checkDecision(t, d, ActionAllow, "default", "", "catalogue: Android (native Email) encrypts from OS 3.0")
}

func TestDecideAdminOverrideBeatsEverything(t *testing.T) {
	cat, rules := shipped(t)
	at := time.Date(2011, 5, 6, 11, 30, 0, 0, time.UTC)
	tests := []struct {
		name  string
		facts DeviceFacts
		ov    AdminOverride
		want  Action
	}{
		{"allow a device the catalogue refuses", withAck(iPhone3GUAOnly, AckNone),
			AdminOverride{Action: ActionAllow, By: "alice@nhs.example", At: at, Note: "Trial of legacy handset."}, ActionAllow},
		{"block a device every rule allows", withAck(iPhone3GS, AckApplied),
			AdminOverride{Action: ActionBlock, By: "bob@nhs.example", At: at}, ActionBlock},
		{"quarantine despite MDM false", func() DeviceFacts {
			f := withAck(android4, AckApplied)
			f.MDMCompliant = boolPtr(false)
			return f
		}(), AdminOverride{Action: ActionQuarantine, By: "carol@nhs.example", At: at}, ActionQuarantine},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(DecisionInput{
				Facts: tc.facts, Override: tc.ov, Rules: rules, Catalogue: cat,
				OrgDefault: DefaultOrgAction, Settings: DefaultSettings(),
			})
			checkDecision(t, d, tc.want, "admin:"+tc.ov.By, "6 May 2011", "administrator override")
			if d.PendingProvision {
				t.Error("PendingProvision set on an admin decision")
			}
		})
	}
}

func TestDecideIgnoresNoneAndInvalidOverride(t *testing.T) {
	cat, rules := shipped(t)
	for _, a := range []Action{"", "none", "permit"} {
		d := Decide(DecisionInput{
			Facts: withAck(iPhone3GS, AckApplied), Override: AdminOverride{Action: a, By: "x"},
			Rules: rules, Catalogue: cat, Settings: DefaultSettings(),
		})
		if d.DecidedBy != "rule:32" {
			t.Errorf("override %q: decided by %s, want rule:32", a, d.DecidedBy)
		}
	}
}

func TestDecideRulePriority(t *testing.T) {
	f := withAck(DeviceFacts{DeviceID: "d", DeviceType: "Android", UserAgent: "Android/4.4.2-EAS-1.3"}, AckApplied)
	rule := func(id int64, prio int, field Field, kind MatchKind, pattern string, a Action, enabled bool) Rule {
		return Rule{ID: id, Priority: prio, Field: field, Match: kind, Pattern: pattern, Action: a, Enabled: enabled}
	}
	tests := []struct {
		name  string
		rules []Rule
		want  Action
		by    string
	}{
		{"lower priority number first", []Rule{
			rule(1, 20, FieldType, MatchExact, "android", ActionAllow, true),
			rule(2, 10, FieldUserAgent, MatchPrefix, "Android/4", ActionBlock, true),
		}, ActionBlock, "rule:2"},
		{"same priority: lower ID first", []Rule{
			rule(9, 10, FieldType, MatchExact, "Android", ActionQuarantine, true),
			rule(3, 10, FieldOS, MatchPattern, "Android 4.*", ActionAllow, true),
		}, ActionAllow, "rule:3"},
		{"disabled rules are skipped", []Rule{
			rule(1, 1, FieldType, MatchExact, "Android", ActionBlock, false),
			rule(2, 2, FieldType, MatchExact, "Android", ActionAllow, true),
		}, ActionAllow, "rule:2"},
		{"invalid rules are skipped", []Rule{
			rule(1, 1, FieldType, MatchPattern, "re:([", ActionBlock, true),
			rule(2, 2, FieldType, MatchExact, "Android", ActionAllow, true),
		}, ActionAllow, "rule:2"},
		{"regexp on the derived OS", []Rule{
			rule(5, 1, FieldOS, MatchPattern, `re:^Android 4\.4`, ActionAllow, true),
		}, ActionAllow, "rule:5"},
		{"no match: default", []Rule{
			rule(1, 1, FieldType, MatchExact, "iPhone", ActionAllow, true),
		}, ActionQuarantine, "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(DecisionInput{Facts: f, Rules: tc.rules, Settings: DefaultSettings()})
			if d.Action != tc.want || d.DecidedBy != tc.by {
				t.Errorf("got %s by %s, want %s by %s\n  %s", d.Action, d.DecidedBy, tc.want, tc.by, strings.Join(d.Evidence, "\n  "))
			}
		})
	}
}

func TestDecideAcknowledgementAndMDM(t *testing.T) {
	allowAll := []Rule{{ID: 1, Priority: 1, Field: FieldUserAgent, Match: MatchPattern, Pattern: "*", Action: ActionAllow, Enabled: true}}
	base := DeviceFacts{DeviceID: "d", DeviceType: "Palm", UserAgent: "Palm/1.0"}
	tests := []struct {
		name    string
		ack     PolicyAck
		mdm     *bool
		allowNP bool
		want    Action
		by      string
		pending bool
	}{
		{"applied", AckApplied, nil, false, ActionAllow, "rule:1", false},
		{"none", AckNone, nil, false, ActionBlock, "policy", true},
		{"partial", AckPartial, nil, false, ActionBlock, "policy", false},
		{"not applied", AckUnknownPolicy, nil, false, ActionBlock, "policy", false},
		{"external, no MDM", AckExternal, nil, false, ActionBlock, "policy", false},
		{"external, MDM compliant", AckExternal, boolPtr(true), false, ActionAllow, "rule:1", false},
		{"partial, non-provisionable allowed", AckPartial, nil, true, ActionAllow, "rule:1", false},
		{"MDM says not compliant", AckApplied, boolPtr(false), false, ActionBlock, "mdm", false},
		{"MDM says not compliant, non-provisionable allowed", AckApplied, boolPtr(false), true, ActionBlock, "mdm", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			f.PolicyAck = tc.ack
			f.MDMCompliant = tc.mdm
			s := DefaultSettings()
			s.AllowNonProvisionableDevices = tc.allowNP
			d := Decide(DecisionInput{Facts: f, Rules: allowAll, Settings: s})
			if d.Action != tc.want || d.DecidedBy != tc.by || d.PendingProvision != tc.pending {
				t.Errorf("got %s by %s (pending %v), want %s by %s (pending %v)\n  %s",
					d.Action, d.DecidedBy, d.PendingProvision, tc.want, tc.by, tc.pending, strings.Join(d.Evidence, "\n  "))
			}
		})
	}
}

// An MDM "compliant" verdict stands in for an unreported OS version, but not
// for a device the catalogue says cannot encrypt.
func TestDecideMDMCompliantEvidence(t *testing.T) {
	cat, rules := shipped(t)
	noOS := withAck(wm65, AckApplied)
	noOS.OS = ""
	noOS.MDMCompliant = boolPtr(true)
	d := Decide(DecisionInput{Facts: noOS, Rules: rules, Catalogue: cat, Settings: DefaultSettings()})
	checkDecision(t, d, ActionAllow, "rule:50", "", "accepted on the MDM's compliance verdict")

	f := withAck(iPhone3GUAOnly, AckApplied)
	f.MDMCompliant = boolPtr(true)
	d = Decide(DecisionInput{Facts: f, Catalogue: cat, OrgDefault: ActionAllow, Settings: DefaultSettings()})
	checkDecision(t, d, ActionBlock, "catalogue", "cannot encrypt", "MDM verdict: compliant")
}

// A stricter gate replaces the outcome; a weaker one only adds evidence.
func TestDecideGatesOnlyTighten(t *testing.T) {
	cat, _ := shipped(t)
	block := []Rule{{ID: 7, Priority: 1, Field: FieldType, Match: MatchExact, Pattern: "Android", Action: ActionBlock, Enabled: true}}
	d := Decide(DecisionInput{Facts: withAck(android4, AckNone), Rules: block, Catalogue: cat, Settings: DefaultSettings()})
	checkDecision(t, d, ActionBlock, "rule:7", "", "also (policy, block)")
	if d.PendingProvision {
		t.Error("a device blocked by a rule must not be sent to provisioning")
	}

	quarantine := []Rule{{ID: 8, Priority: 1, Field: FieldType, Match: MatchExact, Pattern: "Android", Action: ActionQuarantine, Enabled: true}}
	d = Decide(DecisionInput{Facts: withAck(android23Stock, AckApplied), Rules: quarantine, Catalogue: cat, Settings: DefaultSettings()})
	checkDecision(t, d, ActionBlock, "catalogue", "", "catalogue overrides rule:8 (quarantine)")
}

func TestDecideOrgDefault(t *testing.T) {
	f := withAck(DeviceFacts{DeviceID: "d", DeviceType: "Palm"}, AckApplied)
	for _, tc := range []struct {
		def, want Action
	}{
		{ActionAllow, ActionAllow},
		{ActionBlock, ActionBlock},
		{ActionQuarantine, ActionQuarantine},
		{"", ActionQuarantine},
		{"maybe", ActionQuarantine},
	} {
		d := Decide(DecisionInput{Facts: f, OrgDefault: tc.def, Settings: DefaultSettings()})
		if d.Action != tc.want || d.DecidedBy != "default" {
			t.Errorf("default %q: got %s by %s, want %s by default", tc.def, d.Action, d.DecidedBy, tc.want)
		}
	}
}
