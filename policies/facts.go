package policies

import (
	"fmt"
	"strings"
)

// PolicyAck is the Status a device sent when acknowledging the policy in
// its second Provision request (MS-ASPROV 2.2.2.54.1 Status (Policy)), or
// AckNone if it has not acknowledged one.
type PolicyAck int

// Acknowledgement values.
const (
	AckNone          PolicyAck = 0 // no acknowledgement received
	AckApplied       PolicyAck = 1 // the policy was applied in full
	AckPartial       PolicyAck = 2 // partly applied (at least the PIN, per the spec)
	AckUnknownPolicy PolicyAck = 3 // the client did not apply it / unknown policy
	AckExternal      PolicyAck = 4 // the client says it is managed by a third party
)

// String describes the acknowledgement for evidence and reasons.
func (a PolicyAck) String() string {
	switch a {
	case AckNone:
		return "no policy acknowledgement"
	case AckApplied:
		return "policy acknowledged: status 1 (applied in full)"
	case AckPartial:
		return "policy acknowledged: status 2 (applied in part)"
	case AckUnknownPolicy:
		return "policy acknowledged: status 3 (not applied)"
	case AckExternal:
		return "policy acknowledged: status 4 (externally managed)"
	}
	return fmt.Sprintf("policy acknowledged: unknown status %d", int(a))
}

// Where DeviceFacts' model and OS came from, for DeviceFacts.InfoSource.
const (
	InfoFromSettings  = "Settings"  // Settings command DeviceInformation (12.x, 14.0)
	InfoFromProvision = "Provision" // Provision command DeviceInformation (14.1+)
)

// DeviceFacts is what the server knows about a device when deciding.
//
// DeviceID, DeviceType and ProtocolVersion come from the request line and
// headers (MS-ASHTTP); UserAgent from the User-Agent header (or
// DeviceInformation/UserAgent). Model, OS and OSLanguage come from
// DeviceInformation (MS-ASCMD 2.2.3.45), which clients send with the
// Settings command (12.0–14.0) or inside the first Provision request
// (14.1+), or not at all. [Enrich] fills gaps from the User-Agent.
type DeviceFacts struct {
	DeviceID        string `json:"deviceId"`
	DeviceType      string `json:"deviceType"`
	Model           string `json:"model,omitempty"`
	OS              string `json:"os,omitempty"`
	OSLanguage      string `json:"osLanguage,omitempty"`
	UserAgent       string `json:"userAgent,omitempty"`
	ProtocolVersion string `json:"protocolVersion,omitempty"`
	// InfoSource says which command delivered Model/OS: InfoFromSettings,
	// InfoFromProvision, or "" if unknown or none was sent.
	InfoSource string `json:"infoSource,omitempty"`
	// PolicyAck is the device's acknowledgement of the current policy.
	PolicyAck PolicyAck `json:"policyAck"`
	// MDMCompliant is an external device-management verdict: nil when there
	// is none, false when the MDM says the device is not compliant.
	MDMCompliant *bool `json:"mdmCompliant,omitempty"`
}

// Enrich returns the facts with Model and OS filled from the User-Agent
// where the device did not report them, the model in canonical form (see
// [NormalizeModel]), and evidence lines saying where each value came from.
// Reported values always win over derived ones.
func Enrich(f DeviceFacts) (DeviceFacts, []string) {
	var ev []string
	src := "DeviceInformation"
	if f.InfoSource != "" {
		src = f.InfoSource + " DeviceInformation"
	}
	ua := ParseUserAgent(f.UserAgent)

	if f.Model != "" {
		norm := NormalizeModel(f.Model)
		if norm != f.Model {
			ev = append(ev, fmt.Sprintf("model %s (sent as %q) from %s", norm, f.Model, src))
		} else {
			ev = append(ev, fmt.Sprintf("model %s from %s", norm, src))
		}
		f.Model = norm
	} else if ua.Model != "" {
		f.Model = NormalizeModel(ua.Model)
		ev = append(ev, fmt.Sprintf("model %s from User-Agent %q", f.Model, f.UserAgent))
	} else {
		ev = append(ev, "model unknown")
	}

	switch {
	case strings.TrimSpace(f.OS) != "" && (HasVersion(f.OS) || ua.OS == ""):
		ev = append(ev, fmt.Sprintf("OS %q from %s", f.OS, src))
	case strings.TrimSpace(f.OS) != "":
		// Some Android clients report OS "Android-Linux" with no version;
		// the User-Agent's version is more useful.
		ev = append(ev, fmt.Sprintf("OS %q from %s has no version; using %s from User-Agent %q",
			f.OS, src, ua.OS, f.UserAgent))
		f.OS = ua.OS
	case ua.OS != "":
		f.OS = ua.OS
		if ua.OSApprox {
			ev = append(ev, fmt.Sprintf("OS %s (major version only) from User-Agent %q", f.OS, f.UserAgent))
		} else {
			ev = append(ev, fmt.Sprintf("OS %s from User-Agent %q", f.OS, f.UserAgent))
		}
	default:
		ev = append(ev, "OS version unknown")
	}

	if ua.Client != "" {
		c := ua.Client
		if ua.ClientVersion != "" {
			c += " " + ua.ClientVersion
		}
		ev = append(ev, fmt.Sprintf("mail client %s from User-Agent", c))
	}
	if f.DeviceType != "" {
		ev = append(ev, fmt.Sprintf("device type %q", f.DeviceType))
	}
	if f.ProtocolVersion != "" {
		ev = append(ev, "EAS protocol "+f.ProtocolVersion)
	}
	return f, ev
}
