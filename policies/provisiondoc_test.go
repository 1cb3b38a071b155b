package policies

import (
	"reflect"
	"slices"
	"testing"
)

// wireOrder is EASProvisionDoc's children in Provision code page token
// order (MS-ASWBXML code page 14, 0x0E–0x38), written out independently of
// provisionElements so that a reordering there fails this test.
var wireOrder = []string{
	"DevicePasswordEnabled",                    // 0x0E
	"AlphanumericDevicePasswordRequired",       // 0x0F
	"RequireStorageCardEncryption",             // 0x10
	"PasswordRecoveryEnabled",                  // 0x11
	"AttachmentsEnabled",                       // 0x13
	"MinDevicePasswordLength",                  // 0x14
	"MaxInactivityTimeDeviceLock",              // 0x15
	"MaxDevicePasswordFailedAttempts",          // 0x16
	"MaxAttachmentSize",                        // 0x17
	"AllowSimpleDevicePassword",                // 0x18
	"DevicePasswordExpiration",                 // 0x19
	"DevicePasswordHistory",                    // 0x1A
	"AllowStorageCard",                         // 0x1B
	"AllowCamera",                              // 0x1C
	"RequireDeviceEncryption",                  // 0x1D
	"AllowUnsignedApplications",                // 0x1E
	"AllowUnsignedInstallationPackages",        // 0x1F
	"MinDevicePasswordComplexCharacters",       // 0x20
	"AllowWiFi",                                // 0x21
	"AllowTextMessaging",                       // 0x22
	"AllowPOPIMAPEmail",                        // 0x23
	"AllowBluetooth",                           // 0x24
	"AllowIrDA",                                // 0x25
	"RequireManualSyncWhenRoaming",             // 0x26
	"AllowDesktopSync",                         // 0x27
	"MaxCalendarAgeFilter",                     // 0x28
	"AllowHTMLEmail",                           // 0x29
	"MaxEmailAgeFilter",                        // 0x2A
	"MaxEmailBodyTruncationSize",               // 0x2B
	"MaxEmailHTMLBodyTruncationSize",           // 0x2C
	"RequireSignedSMIMEMessages",               // 0x2D
	"RequireEncryptedSMIMEMessages",            // 0x2E
	"RequireSignedSMIMEAlgorithm",              // 0x2F
	"RequireEncryptionSMIMEAlgorithm",          // 0x30
	"AllowSMIMEEncryptionAlgorithmNegotiation", // 0x31
	"AllowSMIMESoftCerts",                      // 0x32
	"AllowBrowser",                             // 0x33
	"AllowConsumerEmail",                       // 0x34
	"AllowRemoteDesktop",                       // 0x35
	"AllowInternetSharing",                     // 0x36
	"UnapprovedInROMApplicationList",           // 0x37
	"ApprovedApplicationList",                  // 0x38
}

// in120 is the set MS-ASPROV's version tables give for protocol 12.0.
var in120 = []string{
	"DevicePasswordEnabled", "AlphanumericDevicePasswordRequired",
	"PasswordRecoveryEnabled", "AttachmentsEnabled", "MinDevicePasswordLength",
	"MaxInactivityTimeDeviceLock", "MaxDevicePasswordFailedAttempts",
	"MaxAttachmentSize", "AllowSimpleDevicePassword", "DevicePasswordExpiration",
	"DevicePasswordHistory",
}

func names(fs []DocField) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

func field(fs []DocField, name string) (DocField, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f, true
		}
	}
	return DocField{}, false
}

// fullSettings has every optional value set and both lists filled, so that
// every element is sent.
func fullSettings() Settings {
	s := DefaultSettings()
	s.MaxAttachmentSize = IntPtr(10 << 20)
	s.ApprovedApplicationList = []string{"3EE81D26EC9E3C5E0B2A4A2F1C7C1A4D9F3E2B10"}
	s.UnapprovedInROMApplicationList = []string{"iexplore.exe", "pword.exe"}
	return s
}

func TestProvisionElementNamesAreWireOrder(t *testing.T) {
	if got := ProvisionElementNames(); !slices.Equal(got, wireOrder) {
		t.Errorf("element order\n got %v\nwant %v", got, wireOrder)
	}
}

func TestProvisionDocByVersion(t *testing.T) {
	s := fullSettings()
	tests := []struct {
		version string
		want    []string
	}{
		{"12.0", filterOrder(in120)},
		{"12.1", wireOrder},
		{"14.0", wireOrder},
		{"14.1", wireOrder},
		{"16.0", wireOrder},
		{"16.1", wireOrder},
		{"2.5", nil},
		{"2.0", nil},
		{"", nil},
		{"fourteen", nil},
		{"14", nil},
		{"14.", nil},
		{".1", nil},
	}
	for _, tc := range tests {
		t.Run(tc.version, func(t *testing.T) {
			got := s.ProvisionDoc(tc.version)
			if !slices.Equal(names(got), tc.want) {
				t.Errorf("ProvisionDoc(%q)\n got %v\nwant %v", tc.version, names(got), tc.want)
			}
		})
	}
}

// filterOrder returns the names of set in wire order.
func filterOrder(set []string) []string {
	var out []string
	for _, n := range wireOrder {
		if slices.Contains(set, n) {
			out = append(out, n)
		}
	}
	return out
}

func TestProvisionDoc120OmitsLaterElements(t *testing.T) {
	doc := DefaultSettings().ProvisionDoc("12.0")
	for _, name := range []string{"RequireDeviceEncryption", "RequireStorageCardEncryption", "AllowWiFi",
		"AllowBluetooth", "MinDevicePasswordComplexCharacters", "ApprovedApplicationList", "MaxEmailAgeFilter"} {
		if _, ok := field(doc, name); ok {
			t.Errorf("12.0 document contains %s", name)
		}
	}
	for _, name := range []string{"DevicePasswordEnabled", "AlphanumericDevicePasswordRequired",
		"MinDevicePasswordLength", "MaxInactivityTimeDeviceLock", "MaxDevicePasswordFailedAttempts"} {
		if _, ok := field(doc, name); !ok {
			t.Errorf("12.0 document lacks %s", name)
		}
	}
}

func TestProvisionDocValues(t *testing.T) {
	s := DefaultSettings()
	s.MaxAttachmentSize = nil
	s.MinDevicePasswordLength = nil
	doc := s.ProvisionDoc("14.1")
	tests := []struct {
		name, want string
	}{
		{"DevicePasswordEnabled", "1"},
		{"AlphanumericDevicePasswordRequired", "1"},
		{"AllowSimpleDevicePassword", "0"},
		{"RequireDeviceEncryption", "1"},
		{"RequireStorageCardEncryption", "1"},
		{"AllowDesktopSync", "0"},
		{"MaxInactivityTimeDeviceLock", "300"},
		{"MaxDevicePasswordFailedAttempts", "10"},
		{"DevicePasswordExpiration", "0"},
		{"MaxEmailBodyTruncationSize", "-1"},
		{"AllowBluetooth", "2"},
		{"MinDevicePasswordComplexCharacters", "2"},
		{"MaxAttachmentSize", ""},       // nil: empty element = no limit
		{"MinDevicePasswordLength", ""}, // nil: empty element = no minimum
	}
	for _, tc := range tests {
		f, ok := field(doc, tc.name)
		if !ok {
			t.Errorf("%s missing", tc.name)
			continue
		}
		if f.Value != tc.want || len(f.Children) != 0 {
			t.Errorf("%s = %q (children %v), want %q", tc.name, f.Value, f.Children, tc.want)
		}
	}
	// Empty lists are not sent: ApprovedApplicationList present means "run
	// only these".
	for _, name := range []string{"ApprovedApplicationList", "UnapprovedInROMApplicationList"} {
		if _, ok := field(doc, name); ok {
			t.Errorf("%s sent although empty", name)
		}
	}
	// Organisation-level settings are never sent.
	for _, f := range doc {
		if f.Name == "AllowNonProvisionableDevices" || f.Name == "DevicePasswordRefreshIntervalHours" {
			t.Errorf("organisation setting %s sent", f.Name)
		}
	}
}

func TestProvisionDocLists(t *testing.T) {
	doc := fullSettings().ProvisionDoc("16.1")
	approved, _ := field(doc, "ApprovedApplicationList")
	if approved.Value != "" || !reflect.DeepEqual(approved.Children,
		[]DocField{{Name: "Hash", Value: "3EE81D26EC9E3C5E0B2A4A2F1C7C1A4D9F3E2B10"}}) {
		t.Errorf("ApprovedApplicationList = %+v", approved)
	}
	rom, _ := field(doc, "UnapprovedInROMApplicationList")
	want := []DocField{{Name: "ApplicationName", Value: "iexplore.exe"}, {Name: "ApplicationName", Value: "pword.exe"}}
	if !reflect.DeepEqual(rom.Children, want) {
		t.Errorf("UnapprovedInROMApplicationList children = %+v, want %+v", rom.Children, want)
	}
}

func TestProvisionDocBooleansFollowSettings(t *testing.T) {
	s := DefaultSettings()
	s.AllowCamera = false
	s.AllowWiFi = false
	s.RequireManualSyncWhenRoaming = true
	doc := s.ProvisionDoc("12.1")
	for name, want := range map[string]string{"AllowCamera": "0", "AllowWiFi": "0", "RequireManualSyncWhenRoaming": "1"} {
		if f, _ := field(doc, name); f.Value != want {
			t.Errorf("%s = %q, want %q", name, f.Value, want)
		}
	}
}
