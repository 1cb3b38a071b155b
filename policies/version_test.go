package policies

import "testing"

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"2.3.4", "3.0", -1},
		{"3.0", "3.0", 0},
		{"3", "3.0.0", 0},
		{"4.0.4", "3.0", 1},
		{"5.2.9", "5.2.10", -1},
		{"6.5", "6.1", 1},
		{"iOS 4.3.3 8J2", "3.0", 1},
		{"iOS 4.3.3 8J2", "4.3.3", 0},
		{"iOS 10", "iOS 9.3.5", 1},
		{"iPhone OS 3.1.3", "4.0", -1},
		{"Android 2.3.4", "Android 3.0", -1},
		{"Windows CE 5.2.21234", "5.2.19000", 1},
		{"Windows CE 5.2.1622", "5.2.19000", -1},
		{"MSFT-WP/7.0.7004", "7.10.7720", -1},
		{"RIM-Q10-SQN100-3/10.2.0.1443", "10.0", 1},
		{"BlackBerry 10.2.0.1443", "10.3", -1},
		{"", "1.0", -1},
		{"1.0", "", 1},
		{"", "", 0},
		{"unknown", "none", 0},
		{"Android/IceCreamSandwich", "3.0", -1},
	}
	for _, tc := range tests {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d (antisymmetry)", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestVersionString(t *testing.T) {
	tests := map[string]string{
		"iOS 4.3.3 8J2":                 "4.3.3",
		"Windows CE 5.2.21234":          "5.2.21234",
		"Android/2.3.4-EAS-1.2":         "2.3.4",
		"RIM-Q10-SQN100-3/10.2.0.1443":  "10.2.0.1443",
		"iOS 10":                        "10",
		"8J2":                           "8",
		"Q10":                           "",
		"":                              "",
		"1.":                            "1",
		"v1.2":                          "",
		"build 99999999999999999999.1":  "",
		"Windows Phone 7.10.7720 (RTM)": "7.10.7720",
	}
	for in, want := range tests {
		if got := VersionString(in); got != want {
			t.Errorf("VersionString(%q) = %q, want %q", in, got, want)
		}
		if HasVersion(in) != (want != "") {
			t.Errorf("HasVersion(%q) = %v", in, HasVersion(in))
		}
	}
}

func FuzzCompareVersions(f *testing.F) {
	f.Add("iOS 4.3.3 8J2", "3.0")
	f.Add("Windows CE 5.2.21234", "5.2.19000")
	f.Fuzz(func(t *testing.T, a, b string) {
		if CompareVersions(a, b) != -CompareVersions(b, a) {
			t.Errorf("not antisymmetric for %q, %q", a, b)
		}
		if CompareVersions(a, a) != 0 {
			t.Errorf("CompareVersions(%q, itself) != 0", a)
		}
	})
}
