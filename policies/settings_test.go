package policies

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultSettingsValid(t *testing.T) {
	s := DefaultSettings()
	if err := s.Validate(); err != nil {
		t.Fatalf("DefaultSettings().Validate() = %v", err)
	}
	// The health service's minimums.
	checks := []struct {
		what string
		ok   bool
	}{
		{"password required", s.DevicePasswordEnabled},
		{"alphanumeric", s.AlphanumericDevicePasswordRequired},
		{"min length 6", s.MinDevicePasswordLength != nil && *s.MinDevicePasswordLength == 6},
		{"lock after 5 minutes", s.MaxInactivityTimeDeviceLock != nil && *s.MaxInactivityTimeDeviceLock == 300},
		{"wipe after 10 failures", s.MaxDevicePasswordFailedAttempts != nil && *s.MaxDevicePasswordFailedAttempts == 10},
		{"device encryption", s.RequireDeviceEncryption},
		{"storage card encryption", s.RequireStorageCardEncryption},
		{"no simple passwords", !s.AllowSimpleDevicePassword},
		{"non-provisionable refused", !s.AllowNonProvisionableDevices},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("default policy: %s not set", c.what)
		}
	}
}

func TestSettingsValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Settings)
		field  string // SettingError.Field expected
	}{
		{"bluetooth 3", func(s *Settings) { s.AllowBluetooth = 3 }, "AllowBluetooth"},
		{"negotiation -1", func(s *Settings) { s.AllowSMIMEEncryptionAlgorithmNegotiation = -1 }, "AllowSMIMEEncryptionAlgorithmNegotiation"},
		{"expiration negative", func(s *Settings) { s.DevicePasswordExpiration = IntPtr(-1) }, "DevicePasswordExpiration"},
		{"history 51", func(s *Settings) { s.DevicePasswordHistory = 51 }, "DevicePasswordHistory"},
		{"attachment size 0", func(s *Settings) { s.MaxAttachmentSize = IntPtr(0) }, "MaxAttachmentSize"},
		{"calendar filter 3 (one week is e-mail only)", func(s *Settings) { s.MaxCalendarAgeFilter = 3 }, "MaxCalendarAgeFilter"},
		{"calendar filter 8", func(s *Settings) { s.MaxCalendarAgeFilter = 8 }, "MaxCalendarAgeFilter"},
		{"failed attempts 3", func(s *Settings) { s.MaxDevicePasswordFailedAttempts = IntPtr(3) }, "MaxDevicePasswordFailedAttempts"},
		{"failed attempts 17", func(s *Settings) { s.MaxDevicePasswordFailedAttempts = IntPtr(17) }, "MaxDevicePasswordFailedAttempts"},
		{"email filter 6", func(s *Settings) { s.MaxEmailAgeFilter = 6 }, "MaxEmailAgeFilter"},
		{"body truncation -2", func(s *Settings) { s.MaxEmailBodyTruncationSize = -2 }, "MaxEmailBodyTruncationSize"},
		{"html truncation -5", func(s *Settings) { s.MaxEmailHTMLBodyTruncationSize = -5 }, "MaxEmailHTMLBodyTruncationSize"},
		{"inactivity 0", func(s *Settings) { s.MaxInactivityTimeDeviceLock = IntPtr(0) }, "MaxInactivityTimeDeviceLock"},
		{"complex chars 0", func(s *Settings) { s.MinDevicePasswordComplexCharacters = 0 }, "MinDevicePasswordComplexCharacters"},
		{"complex chars 5", func(s *Settings) { s.MinDevicePasswordComplexCharacters = 5 }, "MinDevicePasswordComplexCharacters"},
		{"password length 0", func(s *Settings) { s.MinDevicePasswordLength = IntPtr(0) }, "MinDevicePasswordLength"},
		{"password length 17", func(s *Settings) { s.MinDevicePasswordLength = IntPtr(17) }, "MinDevicePasswordLength"},
		{"encryption algorithm 5", func(s *Settings) { s.RequireEncryptionSMIMEAlgorithm = 5 }, "RequireEncryptionSMIMEAlgorithm"},
		{"signing algorithm 2", func(s *Settings) { s.RequireSignedSMIMEAlgorithm = 2 }, "RequireSignedSMIMEAlgorithm"},
		{"refresh interval negative", func(s *Settings) { s.DevicePolicyRefreshIntervalHours = -1 }, "DevicePolicyRefreshIntervalHours"},
		{"refresh interval too long", func(s *Settings) { s.DevicePolicyRefreshIntervalHours = 596524 }, "DevicePolicyRefreshIntervalHours"},
		{"hash not a hash", func(s *Settings) { s.ApprovedApplicationList = []string{"not a hash!"} }, "ApprovedApplicationList[0]"},
		{"hash twice", func(s *Settings) {
			s.ApprovedApplicationList = []string{"3EE81D26EC9E3C5E0B2A", "3EE81D26EC9E3C5E0B2A"}
		}, "ApprovedApplicationList[1]"},
		{"empty app name", func(s *Settings) { s.UnapprovedInROMApplicationList = []string{" "} }, "UnapprovedInROMApplicationList[0]"},
		{"app name with newline", func(s *Settings) { s.UnapprovedInROMApplicationList = []string{"a\nb"} }, "UnapprovedInROMApplicationList[0]"},
		{"encryption without password", func(s *Settings) { s.DevicePasswordEnabled = false }, "RequireDeviceEncryption"},
		{"wipe threshold without password", func(s *Settings) {
			s.DevicePasswordEnabled = false
			s.RequireDeviceEncryption = false
		}, "MaxDevicePasswordFailedAttempts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings()
			tc.change(&s)
			err := s.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			var se *SettingError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SettingError", err)
			}
			if !strings.Contains(err.Error(), tc.field+" = ") {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestSettingsValidateAcceptsBoundaries(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Settings)
	}{
		{"nil optionals", func(s *Settings) {
			s.MaxAttachmentSize, s.MaxDevicePasswordFailedAttempts = nil, nil
			s.MaxInactivityTimeDeviceLock, s.MinDevicePasswordLength, s.DevicePasswordExpiration = nil, nil, nil
		}},
		{"failed attempts 4 and length 16", func(s *Settings) {
			s.MaxDevicePasswordFailedAttempts = IntPtr(4)
			s.MinDevicePasswordLength = IntPtr(16)
		}},
		{"unlimited lock", func(s *Settings) { s.MaxInactivityTimeDeviceLock = IntPtr(MaxInactivityUnlimited) }},
		{"all filters", func(s *Settings) {
			s.MaxCalendarAgeFilter = AgeFilterSixMonths
			s.MaxEmailAgeFilter = AgeFilterOneMonth
		}},
		{"truncate headers only", func(s *Settings) { s.MaxEmailBodyTruncationSize = 0 }},
		{"refresh never", func(s *Settings) { s.DevicePolicyRefreshIntervalHours = 0 }},
		{"no password, no password settings", func(s *Settings) {
			s.DevicePasswordEnabled = false
			s.RequireDeviceEncryption = false
			s.MaxDevicePasswordFailedAttempts = nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings()
			tc.change(&s)
			if err := s.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

func TestSettingsValidateReportsEveryError(t *testing.T) {
	s := DefaultSettings()
	s.AllowBluetooth = 9
	s.MaxEmailAgeFilter = 9
	err := s.Validate()
	for _, f := range []string{"AllowBluetooth", "MaxEmailAgeFilter"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error %v does not mention %s", err, f)
		}
	}
}

// The store persists Settings as JSON; a round trip must keep every field,
// including nil versus zero optionals.
func TestSettingsJSONRoundTrip(t *testing.T) {
	for _, s := range []Settings{DefaultSettings(), fullSettings(), {}} {
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Settings
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, back) {
			t.Errorf("round trip changed settings:\n got %+v\nwant %+v\njson %s", back, s, data)
		}
	}
}

// Every EASProvisionDoc element has a Settings field with a JSON tag, so
// nothing the spec defines is silently dropped.
func TestSettingsCoverEveryElement(t *testing.T) {
	tags := map[string]bool{}
	rt := reflect.TypeOf(Settings{})
	for i := 0; i < rt.NumField(); i++ {
		tag := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
		if tag == "" {
			t.Errorf("field %s has no JSON tag", rt.Field(i).Name)
		}
		tags[strings.ToLower(tag)] = true
	}
	for _, name := range wireOrder {
		if !tags[strings.ToLower(name)] {
			t.Errorf("no Settings field for %s", name)
		}
	}
	if rt.NumField() != len(wireOrder)+2 {
		t.Errorf("Settings has %d fields, want %d elements + 2 organisation settings", rt.NumField(), len(wireOrder))
	}
}
