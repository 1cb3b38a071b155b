package policies

import (
	"fmt"
	"strings"
	"time"
)

// AdminOverride is an administrator's decision for one device. An empty
// Action (or "none") means there is none.
type AdminOverride struct {
	Action Action    `json:"action,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// DecisionInput is everything Decide looks at.
type DecisionInput struct {
	Facts DeviceFacts
	// Override is the administrator's decision for this device, if any.
	Override AdminOverride
	// Rules are the organisation's device access rules, in any order.
	Rules []Rule
	// Catalogue describes known devices; nil means none.
	Catalogue *Catalogue
	// OrgDefault applies when no rule matches; an invalid or empty value
	// means ActionQuarantine.
	OrgDefault Action
	// Settings is the policy the device was (or will be) given. Decide reads
	// RequireDeviceEncryption and AllowNonProvisionableDevices.
	Settings Settings
}

// Decision is the outcome for one device.
type Decision struct {
	Action Action `json:"action"`
	// Reason is a sentence for the device page and the quarantine notice.
	Reason string `json:"reason"`
	// DecidedBy names what decided: "admin:<who>", "rule:<id>", "default",
	// "catalogue" (encryption evidence), "policy" (acknowledgement) or
	// "mdm".
	DecidedBy string `json:"decidedBy"`
	// Evidence lists what the device was judged on, one fact per line.
	Evidence []string `json:"evidence"`
	// PendingProvision is set when the device is refused only because it
	// has not acknowledged a policy yet (AckNone). The caller should send
	// it through the Provision command (MS-ASPROV 3.2.5.1) and decide again
	// with the acknowledgement, rather than record a block.
	PendingProvision bool `json:"pendingProvision,omitempty"`
}

// Decide judges a device. The order is:
//
//  1. the administrator's decision for this device, which beats everything;
//  2. the rules, by ascending priority, first enabled match wins;
//  3. the organisation default.
//
// The outcome of 2 or 3 is then checked against the evidence, which can only
// make it stricter (allow → quarantine → block):
//
//   - an MDM verdict of non-compliant blocks;
//   - when Settings.RequireDeviceEncryption is set and the catalogue knows
//     the device: a device that cannot encrypt, or whose OS is older than
//     the entry's EncryptFromOS, is blocked even if it acknowledged the
//     policy (clients have been known to acknowledge encryption they do not
//     do); if the OS version is unknown it is quarantined unless an MDM
//     verdict says compliant;
//   - a device that has not applied the whole policy (PolicyAck other than
//     AckApplied) is blocked unless Settings.AllowNonProvisionableDevices is
//     set, or it reports external management (AckExternal) and the MDM says
//     compliant. Catalogue entries with RequireFullAck need AckApplied even
//     when AllowNonProvisionableDevices is set.
//
// A device the catalogue does not know is judged by the rules, the default
// and its acknowledgement alone.
func Decide(in DecisionInput) Decision {
	facts, ev := Enrich(in.Facts)
	ev = append(ev, facts.PolicyAck.String())
	mdmTrue := facts.MDMCompliant != nil && *facts.MDMCompliant
	mdmFalse := facts.MDMCompliant != nil && !*facts.MDMCompliant
	switch {
	case mdmTrue:
		ev = append(ev, "MDM verdict: compliant")
	case mdmFalse:
		ev = append(ev, "MDM verdict: not compliant")
	}
	entry, known := in.Catalogue.Lookup(facts)
	if known {
		ev = append(ev, catalogueEvidence(entry))
	} else {
		ev = append(ev, "not in the device catalogue")
	}

	// 1. The administrator's decision for this device.
	switch ov := in.Override; {
	case ov.Action.Valid():
		ev = append(ev, fmt.Sprintf("administrator override: %s by %s", ov.Action, nonEmpty(ov.By, "unknown")))
		return Decision{
			Action:    ov.Action,
			Reason:    overrideReason(ov),
			DecidedBy: "admin:" + nonEmpty(ov.By, "unknown"),
			Evidence:  ev,
		}
	case ov.Action != "" && ov.Action != "none":
		ev = append(ev, fmt.Sprintf("ignored administrator override with unknown action %q", ov.Action))
	}

	// 2. Rules, then 3. the organisation default.
	d := decideByRules(in.Rules, facts, &ev)
	if d.Action == "" {
		def := in.OrgDefault
		if !def.Valid() {
			if def != "" {
				ev = append(ev, fmt.Sprintf("organisation default %q is not an action; using quarantine", def))
			}
			def = ActionQuarantine
		}
		ev = append(ev, "no rule matched; organisation default: "+string(def))
		d = Decision{Action: def, DecidedBy: "default", Reason: defaultReason(def)}
	}

	// Evidence gates: each can only make the decision stricter.
	t := tightener{d: d, ev: &ev}
	if mdmFalse {
		t.apply(ActionBlock, "mdm", "The device management service reports this device as not compliant.")
	}
	if in.Settings.RequireDeviceEncryption && known {
		switch {
		case !entry.CanEncrypt:
			t.apply(ActionBlock, "catalogue", fmt.Sprintf(
				"The %s cannot encrypt data stored on it, and this service requires device encryption.", entry.Family))
		case entry.EncryptFromOS != "" && HasVersion(facts.OS):
			if CompareVersions(facts.OS, entry.EncryptFromOS) < 0 {
				t.apply(ActionBlock, "catalogue", fmt.Sprintf(
					"The %s encrypts stored data only from OS version %s; this device reports %s. Update the device's software, or use a client that encrypts.",
					entry.Family, entry.EncryptFromOS, facts.OS))
			} else {
				ev = append(ev, fmt.Sprintf("OS %s is at or above the encryption floor %s", facts.OS, entry.EncryptFromOS))
			}
		case entry.EncryptFromOS != "":
			if mdmTrue {
				ev = append(ev, "OS version unknown; accepted on the MDM's compliance verdict")
			} else {
				t.apply(ActionQuarantine, "catalogue", fmt.Sprintf(
					"The device did not report its OS version, so it cannot be confirmed that this %s encrypts stored data (it needs OS %s or later). An administrator will review it.",
					entry.Family, entry.EncryptFromOS))
			}
		}
	}
	needFull := !in.Settings.AllowNonProvisionableDevices
	if in.Settings.RequireDeviceEncryption && known && entry.RequireFullAck {
		needFull = true
	}
	switch {
	case facts.PolicyAck == AckApplied:
	case facts.PolicyAck == AckExternal && mdmTrue:
		ev = append(ev, "externally managed, and the MDM says compliant")
	case needFull:
		reason := ackReason(facts.PolicyAck)
		if in.Settings.AllowNonProvisionableDevices {
			reason += fmt.Sprintf(" The %s is trusted to encrypt only when it applies the whole policy.", entry.Family)
		}
		if t.apply(ActionBlock, "policy", reason) && facts.PolicyAck == AckNone {
			t.d.PendingProvision = true
		}
	default:
		ev = append(ev, "accepted without a full policy acknowledgement: non-provisionable devices are allowed")
	}

	out := t.d
	out.Evidence = ev
	return out
}

// tightener applies evidence gates to a decision, keeping the strictest.
type tightener struct {
	d  Decision
	ev *[]string
}

// apply makes the decision a if a is stricter, and reports whether it did.
// A gate that does not change the outcome is still recorded as evidence.
func (t *tightener) apply(a Action, by, reason string) bool {
	if a.severity() > t.d.Action.severity() {
		*t.ev = append(*t.ev, fmt.Sprintf("%s overrides %s (%s): %s", by, t.d.DecidedBy, t.d.Action, reason))
		t.d = Decision{Action: a, DecidedBy: by, Reason: reason}
		return true
	}
	*t.ev = append(*t.ev, fmt.Sprintf("also (%s, %s): %s", by, a, reason))
	return false
}

func decideByRules(rules []Rule, f DeviceFacts, ev *[]string) Decision {
	for _, r := range SortRules(rules) {
		if !r.Enabled {
			continue
		}
		if err := r.Validate(); err != nil {
			*ev = append(*ev, fmt.Sprintf("rule %d skipped: %v", r.ID, err))
			continue
		}
		if !r.Matches(f) {
			continue
		}
		*ev = append(*ev, fmt.Sprintf("matched rule %d (priority %d): %s %s %q → %s",
			r.ID, r.Priority, r.Field, r.Match, r.Pattern, r.Action))
		return Decision{Action: r.Action, DecidedBy: fmt.Sprintf("rule:%d", r.ID), Reason: ruleReason(r)}
	}
	return Decision{}
}

func catalogueEvidence(e Entry) string {
	switch {
	case !e.CanEncrypt:
		return fmt.Sprintf("catalogue: %s cannot encrypt data at rest", e.Family)
	case e.EncryptFromOS != "":
		return fmt.Sprintf("catalogue: %s encrypts from OS %s", e.Family, e.EncryptFromOS)
	case e.RequireFullAck:
		return fmt.Sprintf("catalogue: %s encrypts when the full policy is applied", e.Family)
	}
	return fmt.Sprintf("catalogue: %s encrypts data at rest", e.Family)
}

func overrideReason(ov AdminOverride) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s by administrator %s", verb(ov.Action), nonEmpty(ov.By, "(unknown)"))
	if !ov.At.IsZero() {
		fmt.Fprintf(&b, " on %s", ov.At.UTC().Format("2 January 2006"))
	}
	b.WriteString(".")
	if n := strings.TrimSpace(ov.Note); n != "" {
		b.WriteString(" ")
		b.WriteString(n)
	}
	return b.String()
}

func ruleReason(r Rule) string {
	desc := strings.TrimSpace(r.Description)
	if desc == "" {
		desc = fmt.Sprintf("%s %s %q", r.Field, r.Match, r.Pattern)
	}
	desc = strings.TrimRight(desc, ".")
	s := fmt.Sprintf("%s by rule %d: %s.", verb(r.Action), r.ID, desc)
	if r.Action == ActionQuarantine {
		s += " An administrator will review this device."
	}
	return s
}

func defaultReason(a Action) string {
	switch a {
	case ActionAllow:
		return "Allowed: no rule matched, and the organisation allows other devices."
	case ActionBlock:
		return "Blocked: this kind of device is not on the organisation's approved list."
	}
	return "Quarantined: this kind of device is not on the organisation's approved list yet. An administrator will review it."
}

func ackReason(a PolicyAck) string {
	switch a {
	case AckNone:
		return "The device has not yet accepted the security policy."
	case AckPartial:
		return "The device applied only part of the security policy (acknowledgement status 2)."
	case AckUnknownPolicy:
		return "The device did not apply the security policy (acknowledgement status 3)."
	case AckExternal:
		return "The device says it is managed by another system (acknowledgement status 4), and no device-management verdict confirms it is compliant."
	}
	return fmt.Sprintf("The device sent an unknown policy acknowledgement (status %d).", int(a))
}

func verb(a Action) string {
	switch a {
	case ActionAllow:
		return "Allowed"
	case ActionBlock:
		return "Blocked"
	case ActionQuarantine:
		return "Quarantined"
	}
	return string(a)
}

func nonEmpty(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
