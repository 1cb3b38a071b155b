package policies

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Settings is a device security policy: every element of MS-ASPROV's
// EASProvisionDoc (2.2.2.28), plus two organisation-level settings that are
// not sent to devices (AllowNonProvisionableDevices,
// DevicePolicyRefreshIntervalHours).
//
// Optional integers that the spec allows to be sent empty
// ("unsignedIntOrEmpty", "unsignedByteOrEmpty") are pointers: nil is sent as
// an empty element, meaning "no policy".
//
// Field comments give the MS-ASPROV section, the wire type and the first
// protocol version that carries the element.
type Settings struct {
	// 2.2.2.2 AllowBluetooth, unsignedByte, 12.1+: 0 disable,
	// 1 hands-free profiles only, 2 allow.
	AllowBluetooth int `json:"allowBluetooth"`
	// 2.2.2.3 AllowBrowser, boolean, 12.1+.
	AllowBrowser bool `json:"allowBrowser"`
	// 2.2.2.4 AllowCamera, boolean, 12.1+.
	AllowCamera bool `json:"allowCamera"`
	// 2.2.2.5 AllowConsumerEmail, boolean, 12.1+.
	AllowConsumerEmail bool `json:"allowConsumerEmail"`
	// 2.2.2.6 AllowDesktopSync, boolean, 12.1+.
	AllowDesktopSync bool `json:"allowDesktopSync"`
	// 2.2.2.7 AllowHTMLEmail, boolean, 12.1+.
	AllowHTMLEmail bool `json:"allowHTMLEmail"`
	// 2.2.2.8 AllowInternetSharing, boolean, 12.1+.
	AllowInternetSharing bool `json:"allowInternetSharing"`
	// 2.2.2.9 AllowIrDA, boolean, 12.1+.
	AllowIrDA bool `json:"allowIrDA"`
	// 2.2.2.10 AllowPOPIMAPEmail, boolean, 12.1+.
	AllowPOPIMAPEmail bool `json:"allowPOPIMAPEmail"`
	// 2.2.2.11 AllowRemoteDesktop, boolean, 12.1+.
	AllowRemoteDesktop bool `json:"allowRemoteDesktop"`
	// 2.2.2.12 AllowSimpleDevicePassword, boolean, 12.0+.
	AllowSimpleDevicePassword bool `json:"allowSimpleDevicePassword"`
	// 2.2.2.13 AllowSMIMEEncryptionAlgorithmNegotiation, integer, 12.1+:
	// 0 do not negotiate, 1 strong algorithms only, 2 any algorithm.
	AllowSMIMEEncryptionAlgorithmNegotiation int `json:"allowSMIMEEncryptionAlgorithmNegotiation"`
	// 2.2.2.14 AllowSMIMESoftCerts, boolean, 12.1+.
	AllowSMIMESoftCerts bool `json:"allowSMIMESoftCerts"`
	// 2.2.2.15 AllowStorageCard, boolean, 12.1+.
	AllowStorageCard bool `json:"allowStorageCard"`
	// 2.2.2.16 AllowTextMessaging, boolean, 12.1+.
	AllowTextMessaging bool `json:"allowTextMessaging"`
	// 2.2.2.17 AllowUnsignedApplications, boolean, 12.1+.
	AllowUnsignedApplications bool `json:"allowUnsignedApplications"`
	// 2.2.2.18 AllowUnsignedInstallationPackages, boolean, 12.1+.
	AllowUnsignedInstallationPackages bool `json:"allowUnsignedInstallationPackages"`
	// 2.2.2.19 AllowWifi (code page token AllowWiFi), boolean, 12.1+.
	AllowWiFi bool `json:"allowWiFi"`
	// 2.2.2.20 AlphanumericDevicePasswordRequired, boolean, 12.0+.
	AlphanumericDevicePasswordRequired bool `json:"alphanumericDevicePasswordRequired"`
	// 2.2.2.22 ApprovedApplicationList, container of 2.2.2.29 Hash, 12.1+.
	// When sent, the client MUST run only the listed in-memory
	// applications, so an empty list is not sent at all.
	ApprovedApplicationList []string `json:"approvedApplicationList,omitempty"`
	// 2.2.2.23 AttachmentsEnabled, boolean, 12.0+.
	AttachmentsEnabled bool `json:"attachmentsEnabled"`
	// 2.2.2.25 DevicePasswordEnabled, boolean, 12.0+.
	DevicePasswordEnabled bool `json:"devicePasswordEnabled"`
	// 2.2.2.26 DevicePasswordExpiration, unsignedIntOrEmpty (days), 12.0+:
	// 0 passwords do not expire; nil no policy.
	DevicePasswordExpiration *int `json:"devicePasswordExpiration,omitempty"`
	// 2.2.2.27 DevicePasswordHistory, unsignedInt, 12.0+: 0 no history.
	DevicePasswordHistory int `json:"devicePasswordHistory"`
	// 2.2.2.30 MaxAttachmentSize, unsignedIntOrEmpty (bytes), 12.0+:
	// nil no limit.
	MaxAttachmentSize *int `json:"maxAttachmentSize,omitempty"`
	// 2.2.2.31 MaxCalendarAgeFilter, unsignedInt, 12.1+: 0 all,
	// 4 two weeks, 5 one month, 6 three months, 7 six months.
	MaxCalendarAgeFilter int `json:"maxCalendarAgeFilter"`
	// 2.2.2.32 MaxDevicePasswordFailedAttempts, unsignedByteOrEmpty,
	// 4–16, 12.0+: nil no limit.
	MaxDevicePasswordFailedAttempts *int `json:"maxDevicePasswordFailedAttempts,omitempty"`
	// 2.2.2.33 MaxEmailAgeFilter, unsignedInt, 12.1+: 0 all, 1 one day,
	// 2 three days, 3 one week, 4 two weeks, 5 one month.
	MaxEmailAgeFilter int `json:"maxEmailAgeFilter"`
	// 2.2.2.34 MaxEmailBodyTruncationSize, integer, 12.1+: -1 no
	// truncation, 0 headers only, >0 size.
	MaxEmailBodyTruncationSize int `json:"maxEmailBodyTruncationSize"`
	// 2.2.2.35 MaxEmailHTMLBodyTruncationSize, integer, 12.1+: as above.
	MaxEmailHTMLBodyTruncationSize int `json:"maxEmailHTMLBodyTruncationSize"`
	// 2.2.2.36 MaxInactivityTimeDeviceLock, unsignedIntOrEmpty (seconds),
	// 12.0+: nil no lock; 9999 or more means unlimited.
	MaxInactivityTimeDeviceLock *int `json:"maxInactivityTimeDeviceLock,omitempty"`
	// 2.2.2.37 MinDevicePasswordComplexCharacters, unsignedByte, 1–4
	// character groups (lower, upper, digits, symbols), 12.1+.
	MinDevicePasswordComplexCharacters int `json:"minDevicePasswordComplexCharacters"`
	// 2.2.2.38 MinDevicePasswordLength, unsignedByteOrEmpty, 1–16, 12.0+:
	// nil or 1 no minimum.
	MinDevicePasswordLength *int `json:"minDevicePasswordLength,omitempty"`
	// 2.2.2.39 PasswordRecoveryEnabled, boolean, 12.0+.
	PasswordRecoveryEnabled bool `json:"passwordRecoveryEnabled"`
	// 2.2.2.46 RequireDeviceEncryption, boolean, 12.1+.
	RequireDeviceEncryption bool `json:"requireDeviceEncryption"`
	// 2.2.2.47 RequireEncryptedSMIMEMessages, boolean, 12.1+.
	RequireEncryptedSMIMEMessages bool `json:"requireEncryptedSMIMEMessages"`
	// 2.2.2.48 RequireEncryptionSMIMEAlgorithm, integer, 12.1+:
	// 0 TripleDES, 1 DES, 2 RC2 128-bit, 3 RC2 64-bit, 4 RC2 40-bit.
	RequireEncryptionSMIMEAlgorithm int `json:"requireEncryptionSMIMEAlgorithm"`
	// 2.2.2.49 RequireManualSyncWhenRoaming, boolean, 12.1+.
	RequireManualSyncWhenRoaming bool `json:"requireManualSyncWhenRoaming"`
	// 2.2.2.50 RequireSignedSMIMEAlgorithm, integer, 12.1+: 0 SHA1, 1 MD5.
	RequireSignedSMIMEAlgorithm int `json:"requireSignedSMIMEAlgorithm"`
	// 2.2.2.51 RequireSignedSMIMEMessages, boolean, 12.1+.
	RequireSignedSMIMEMessages bool `json:"requireSignedSMIMEMessages"`
	// 2.2.2.52 RequireStorageCardEncryption, boolean, 12.1+.
	RequireStorageCardEncryption bool `json:"requireStorageCardEncryption"`
	// 2.2.2.55 UnapprovedInROMApplicationList, container of 2.2.2.21
	// ApplicationName, 12.1+. Not sent when empty.
	UnapprovedInROMApplicationList []string `json:"unapprovedInROMApplicationList,omitempty"`

	// AllowNonProvisionableDevices (organisation level, not sent): devices
	// that do not apply the whole policy may still sync. Exchange's
	// Set-ActiveSyncMailboxPolicy setting of the same name.
	AllowNonProvisionableDevices bool `json:"allowNonProvisionableDevices"`
	// DevicePolicyRefreshIntervalHours (organisation level, not sent): how
	// often devices must fetch the policy again; 0 never. Exchange accepts
	// 1–596523 hours or unlimited.
	DevicePolicyRefreshIntervalHours int `json:"devicePolicyRefreshIntervalHours"`
}

// Values of Settings.AllowBluetooth.
const (
	BluetoothDisable       = 0
	BluetoothHandsfreeOnly = 1
	BluetoothAllow         = 2
)

// Values of Settings.MaxCalendarAgeFilter and MaxEmailAgeFilter.
const (
	AgeFilterAll         = 0
	AgeFilterOneDay      = 1 // e-mail only
	AgeFilterThreeDays   = 2 // e-mail only
	AgeFilterOneWeek     = 3 // e-mail only
	AgeFilterTwoWeeks    = 4
	AgeFilterOneMonth    = 5
	AgeFilterThreeMonths = 6 // calendar only
	AgeFilterSixMonths   = 7 // calendar only
)

// Values of Settings.RequireEncryptionSMIMEAlgorithm.
const (
	SMIMEEncryptTripleDES = 0
	SMIMEEncryptDES       = 1
	SMIMEEncryptRC2128    = 2
	SMIMEEncryptRC264     = 3
	SMIMEEncryptRC240     = 4
)

// Values of Settings.RequireSignedSMIMEAlgorithm.
const (
	SMIMESignSHA1 = 0
	SMIMESignMD5  = 1
)

// Values of Settings.AllowSMIMEEncryptionAlgorithmNegotiation.
const (
	SMIMENegotiateNone   = 0
	SMIMENegotiateStrong = 1
	SMIMENegotiateAny    = 2
)

// MaxInactivityUnlimited is the MaxInactivityTimeDeviceLock value clients
// read as "no limit" (MS-ASPROV 2.2.2.36: 9999 or more).
const MaxInactivityUnlimited = 9999

// IntPtr returns a pointer to n, for the optional Settings fields.
func IntPtr(n int) *int { return &n }

// DefaultSettings returns the policy shipped for a health service:
//
//   - a device password is required: alphanumeric, at least 6 characters,
//     2 character groups, no simple ("1111", "abcd") passwords;
//   - the device locks after 5 minutes of inactivity and wipes itself after
//     10 failed unlock attempts;
//   - passwords do not expire (NCSC password guidance advises against forced
//     expiry), so no history is kept;
//   - the device and its storage card must be encrypted; non-provisionable
//     devices are refused; the policy is refreshed every 24 hours;
//   - desktop sync, remote desktop and infrared are off (they copy mailbox
//     data to unmanaged machines); other features follow Exchange's
//     defaults; S/MIME negotiation is limited to strong algorithms.
func DefaultSettings() Settings {
	return Settings{
		AllowBluetooth:                           BluetoothAllow,
		AllowBrowser:                             true,
		AllowCamera:                              true,
		AllowConsumerEmail:                       true,
		AllowDesktopSync:                         false,
		AllowHTMLEmail:                           true,
		AllowInternetSharing:                     true,
		AllowIrDA:                                false,
		AllowPOPIMAPEmail:                        true,
		AllowRemoteDesktop:                       false,
		AllowSimpleDevicePassword:                false,
		AllowSMIMEEncryptionAlgorithmNegotiation: SMIMENegotiateStrong,
		AllowSMIMESoftCerts:                      true,
		AllowStorageCard:                         true,
		AllowTextMessaging:                       true,
		AllowUnsignedApplications:                true,
		AllowUnsignedInstallationPackages:        true,
		AllowWiFi:                                true,
		AlphanumericDevicePasswordRequired:       true,
		AttachmentsEnabled:                       true,
		DevicePasswordEnabled:                    true,
		DevicePasswordExpiration:                 IntPtr(0),
		DevicePasswordHistory:                    0,
		MaxAttachmentSize:                        nil,
		MaxCalendarAgeFilter:                     AgeFilterAll,
		MaxDevicePasswordFailedAttempts:          IntPtr(10),
		MaxEmailAgeFilter:                        AgeFilterAll,
		MaxEmailBodyTruncationSize:               -1,
		MaxEmailHTMLBodyTruncationSize:           -1,
		MaxInactivityTimeDeviceLock:              IntPtr(300),
		MinDevicePasswordComplexCharacters:       2,
		MinDevicePasswordLength:                  IntPtr(6),
		PasswordRecoveryEnabled:                  false,
		RequireDeviceEncryption:                  true,
		RequireEncryptedSMIMEMessages:            false,
		RequireEncryptionSMIMEAlgorithm:          SMIMEEncryptTripleDES,
		RequireManualSyncWhenRoaming:             false,
		RequireSignedSMIMEAlgorithm:              SMIMESignSHA1,
		RequireSignedSMIMEMessages:               false,
		RequireStorageCardEncryption:             true,

		AllowNonProvisionableDevices:     false,
		DevicePolicyRefreshIntervalHours: 24,
	}
}

// SettingError is one invalid setting.
type SettingError struct {
	Field  string // the Settings field, named as on the wire
	Value  any
	Reason string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("%s = %v: %s", e.Field, e.Value, e.Reason)
}

// Limits used by Validate.
const (
	maxUnsignedInt      = 1<<31 - 1 // spec allows 2^32-1; kept to what every client can hold in a signed 32-bit int
	maxPasswordHistory  = 50        // Exchange: 0–50
	maxRefreshHours     = 596523    // Exchange: 1–596523 hours
	maxListEntries      = 1000
	maxApplicationName  = 1024
	minFailedAttempts   = 4
	maxFailedAttempts   = 16
	minPasswordLen      = 1
	maxPasswordLen      = 16
	maxComplexityGroups = 4
)

// hashRE accepts the hexadecimal or base64 text of an application hash.
// MS-ASPROV 2.2.2.29 only says "string"; Exchange stores SHA-1 hashes.
var hashRE = regexp.MustCompile(`^[A-Za-z0-9+/=]{16,128}$`)

// Validate checks every value against MS-ASPROV's ranges (and Exchange's
// where the spec leaves them open) and a few combinations that cannot work.
// The errors are *SettingError values joined with errors.Join; nil means
// valid.
func (s Settings) Validate() error {
	var errs []error
	bad := func(field string, value any, reason string) {
		errs = append(errs, &SettingError{Field: field, Value: value, Reason: reason})
	}
	inSet := func(field string, v int, allowed ...int) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(field, v, fmt.Sprintf("must be one of %v", allowed))
	}
	inRange := func(field string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(field, v, fmt.Sprintf("must be between %d and %d", lo, hi))
		}
	}
	optRange := func(field string, v *int, lo, hi int) {
		if v != nil {
			inRange(field, *v, lo, hi)
		}
	}

	inSet("AllowBluetooth", s.AllowBluetooth, BluetoothDisable, BluetoothHandsfreeOnly, BluetoothAllow)
	inSet("AllowSMIMEEncryptionAlgorithmNegotiation", s.AllowSMIMEEncryptionAlgorithmNegotiation,
		SMIMENegotiateNone, SMIMENegotiateStrong, SMIMENegotiateAny)
	optRange("DevicePasswordExpiration", s.DevicePasswordExpiration, 0, maxUnsignedInt)
	inRange("DevicePasswordHistory", s.DevicePasswordHistory, 0, maxPasswordHistory)
	optRange("MaxAttachmentSize", s.MaxAttachmentSize, 1, maxUnsignedInt)
	inSet("MaxCalendarAgeFilter", s.MaxCalendarAgeFilter,
		AgeFilterAll, AgeFilterTwoWeeks, AgeFilterOneMonth, AgeFilterThreeMonths, AgeFilterSixMonths)
	optRange("MaxDevicePasswordFailedAttempts", s.MaxDevicePasswordFailedAttempts, minFailedAttempts, maxFailedAttempts)
	inRange("MaxEmailAgeFilter", s.MaxEmailAgeFilter, AgeFilterAll, AgeFilterOneMonth)
	inRange("MaxEmailBodyTruncationSize", s.MaxEmailBodyTruncationSize, -1, maxUnsignedInt)
	inRange("MaxEmailHTMLBodyTruncationSize", s.MaxEmailHTMLBodyTruncationSize, -1, maxUnsignedInt)
	optRange("MaxInactivityTimeDeviceLock", s.MaxInactivityTimeDeviceLock, 1, maxUnsignedInt)
	inRange("MinDevicePasswordComplexCharacters", s.MinDevicePasswordComplexCharacters, 1, maxComplexityGroups)
	optRange("MinDevicePasswordLength", s.MinDevicePasswordLength, minPasswordLen, maxPasswordLen)
	inRange("RequireEncryptionSMIMEAlgorithm", s.RequireEncryptionSMIMEAlgorithm, SMIMEEncryptTripleDES, SMIMEEncryptRC240)
	inSet("RequireSignedSMIMEAlgorithm", s.RequireSignedSMIMEAlgorithm, SMIMESignSHA1, SMIMESignMD5)
	inRange("DevicePolicyRefreshIntervalHours", s.DevicePolicyRefreshIntervalHours, 0, maxRefreshHours)

	checkList := func(field string, list []string, check func(string) string) {
		if len(list) > maxListEntries {
			bad(field, len(list), fmt.Sprintf("has more than %d entries", maxListEntries))
			return
		}
		seen := make(map[string]bool, len(list))
		for i, v := range list {
			if reason := check(v); reason != "" {
				bad(fmt.Sprintf("%s[%d]", field, i), v, reason)
			}
			if seen[v] {
				bad(fmt.Sprintf("%s[%d]", field, i), v, "is listed twice")
			}
			seen[v] = true
		}
	}
	checkList("ApprovedApplicationList", s.ApprovedApplicationList, func(v string) string {
		if !hashRE.MatchString(v) {
			return "must be an application hash (16–128 hex or base64 characters)"
		}
		return ""
	})
	checkList("UnapprovedInROMApplicationList", s.UnapprovedInROMApplicationList, func(v string) string {
		switch {
		case strings.TrimSpace(v) == "":
			return "is empty"
		case len(v) > maxApplicationName:
			return fmt.Sprintf("is longer than %d bytes", maxApplicationName)
		case strings.ContainsAny(v, "\x00\r\n"):
			return "contains a control character"
		}
		return ""
	})

	// Combinations. Password sub-settings are ignored by clients when no
	// password is required (MS-ASPROV 2.2.2.20 and following), which would
	// silently weaken the policy; encryption at rest on the clients this
	// service supports is keyed to the device password.
	if !s.DevicePasswordEnabled {
		if s.RequireDeviceEncryption {
			bad("RequireDeviceEncryption", true, "needs DevicePasswordEnabled: clients encrypt data at rest under the device password")
		}
		if s.MaxDevicePasswordFailedAttempts != nil {
			bad("MaxDevicePasswordFailedAttempts", *s.MaxDevicePasswordFailedAttempts, "has no effect unless DevicePasswordEnabled is set")
		}
	}
	return errors.Join(errs...)
}
