package policies

import (
	"testing"
)

// User-Agents as devices sent them; sources in DEVICES.md.
func TestParseUserAgent(t *testing.T) {
	tests := []struct {
		ua   string
		want UAInfo
	}{
		// iOS 4.x–9.x: model and build in the User-Agent.
		{"Apple-iPhone2C1/801.293", UAInfo{Platform: "iOS", Model: "iPhone2,1", OS: "iOS 4.0"}},
		{"Apple-iPhone2C1/810.2", UAInfo{Platform: "iOS", Model: "iPhone2,1", OS: "iOS 4.3.3"}},
		{"Apple-iPhone1C2/803.148", UAInfo{Platform: "iOS", Model: "iPhone1,2", OS: "iOS 4.2.1"}},
		{"Apple-iPhone3C1/901.334", UAInfo{Platform: "iOS", Model: "iPhone3,1", OS: "iOS 5.0"}},
		{"Apple-iPad1C1/803.148", UAInfo{Platform: "iOS", Model: "iPad1,1", OS: "iOS 4.2.1"}},
		{"Apple-iPad2C3/1001.403", UAInfo{Platform: "iOS", Model: "iPad2,3", OS: "iOS 6.0"}},
		{"Apple-iPod5C1/1102.55400001", UAInfo{Platform: "iOS", Model: "iPod5,1", OS: "iOS 7.0.4"}},
		// Unknown build: major version from the build number only.
		{"Apple-iPhone4C1/902.999", UAInfo{Platform: "iOS", Model: "iPhone4,1", OS: "iOS 5", OSApprox: true}},
		// iPhone OS 2.x–3.x: no model.
		{"Apple-iPhone/705.18", UAInfo{Platform: "iOS", OS: "iOS 3.1.3"}},
		{"Apple-iPhone/508.11", UAInfo{Platform: "iOS", OS: "iOS 2.2.1"}},
		{"Apple-iPad/702.367", UAInfo{Platform: "iOS", OS: "iOS 3.2"}},
		{"Apple-(null)/704.11", UAInfo{Platform: "iOS"}},
		// iOS 7+.
		{"iOS/7.0.2 (11A501) dataaccessd/1.0", UAInfo{Platform: "iOS", OS: "iOS 7.0.2"}},
		{"iOS/6.1.3 (10B329)", UAInfo{Platform: "iOS", OS: "iOS 6.1.3"}},
		// Android, AOSP client.
		{"Android/2.3.4-EAS-1.2", UAInfo{Platform: "Android", ClientVersion: "EAS-1.2", OS: "Android 2.3.4"}},
		{"Android/4.0.4-EAS-1.3", UAInfo{Platform: "Android", ClientVersion: "EAS-1.3", OS: "Android 4.0.4"}},
		{"Android/3.0-EAS-1.2", UAInfo{Platform: "Android", ClientVersion: "EAS-1.2", OS: "Android 3.0"}},
		{"Android/3.2.1 KRAKD by jcarrz1-EAS-1.2", UAInfo{Platform: "Android", ClientVersion: "EAS-1.2", OS: "Android 3.2.1"}},
		{"Android/IceCreamSandwich-EAS-1.3", UAInfo{Platform: "Android", ClientVersion: "EAS-1.3"}},
		{"Android/0.3", UAInfo{Platform: "Android"}},
		{"Android-EAS/4.0.2119383124.172283", UAInfo{Platform: "Android"}},
		// Samsung's client.
		{"SAMSUNG-GT-I9000/100.202", UAInfo{Platform: "Android", Client: "Samsung Email", Model: "GT-I9000", OS: "Android 2.2"}},
		{"SAMSUNG-GT-I9000/100.20304", UAInfo{Platform: "Android", Client: "Samsung Email", Model: "GT-I9000", OS: "Android 2.3.4"}},
		{"SAMSUNG-SAMSUNG-SGH-I997/100.20303", UAInfo{Platform: "Android", Client: "Samsung Email", Model: "SGH-I997", OS: "Android 2.3.3"}},
		{"SAMSUNG-GT-P7510/100.301", UAInfo{Platform: "Android", Client: "Samsung Email", Model: "GT-P7510", OS: "Android 3.1"}},
		{"SAMSUNG-SGH-I337M/101.403", UAInfo{Platform: "Android", Client: "Samsung Email", Model: "SGH-I337M", OS: "Android 4.3"}},
		{"SAMSUNGSCHI405/2.3.5-EAS-1.2", UAInfo{Platform: "Android", Client: "Samsung Email", ClientVersion: "EAS-1.2", Model: "SCHI405", OS: "Android 2.3.5"}},
		{"SAMSUNG-GalaxyNexus(4D6F7869SAM)/2.1501", UAInfo{Platform: "Android", Client: "Samsung Email"}},
		// Third-party clients.
		{"TouchDown(MSRPC)/7.1.0005", UAInfo{Platform: "Android", Client: "TouchDown", ClientVersion: "7.1.0005"}},
		{"TouchDown(MSRPC)/8.1.00052/", UAInfo{Platform: "Android", Client: "TouchDown", ClientVersion: "8.1.00052"}},
		{"AstraSync/2.5", UAInfo{Platform: "BlackBerry OS", Client: "AstraSync", ClientVersion: "2.5"}},
		{"NotifySync/4.11.2", UAInfo{Platform: "BlackBerry OS", Client: "NotifySync", ClientVersion: "4.11.2"}},
		// Windows.
		{"MSFT-PPC/5.2.5082", UAInfo{Platform: "Windows Mobile"}},
		{"MSFT-SPhone/5.2.1603", UAInfo{Platform: "Windows Mobile"}},
		{"Microsoft-PocketPC/3.0", UAInfo{Platform: "Windows Mobile"}},
		{"MSFT-WP/7.0.7004", UAInfo{Platform: "Windows Phone", OS: "Windows Phone 7.0.7004"}},
		{"MSFT-WP/7.10.7720", UAInfo{Platform: "Windows Phone", OS: "Windows Phone 7.10.7720"}},
		{"MSFT-WP/8.0.10211", UAInfo{Platform: "Windows Phone", OS: "Windows Phone 8.0.10211"}},
		// Nokia Mail for Exchange.
		{"NokiaE721/2.02(0)MailforExchange 3gpp-gba", UAInfo{Platform: "Symbian", Client: "Mail for Exchange", ClientVersion: "2.02", Model: "E721"}},
		{"NokiaE521/2.00()MailforExchange", UAInfo{Platform: "Symbian", Client: "Mail for Exchange", ClientVersion: "2.00", Model: "E521"}},
		{"NokiaE63/2.09(158)MailforExchange", UAInfo{Platform: "Symbian", Client: "Mail for Exchange", ClientVersion: "2.09", Model: "E63"}},
		// BlackBerry.
		{"RIM-Q10-SQN100-3/10.2.0.1443", UAInfo{Platform: "BlackBerry 10", Model: "Q10-SQN100-3", OS: "BlackBerry 10.2.0.1443"}},
		{"RIM-Passport_SQW100-1/10.3.1.2726", UAInfo{Platform: "BlackBerry 10", Model: "Passport_SQW100-1", OS: "BlackBerry 10.3.1.2726"}},
		{"RIM-Playbook/2.0", UAInfo{Platform: "BlackBerry Tablet OS", Model: "Playbook", OS: "BlackBerry Tablet OS 2.0"}},
		{"BlackBerry/5.2.200 UNTRUSTED/1.0", UAInfo{Platform: "BlackBerry OS"}},
		// Unknown.
		{"", UAInfo{}},
		{"Palm/1.0.1", UAInfo{}},
		{"Outlook/15.0 (15.0.4420.1017; MSI; x86)", UAInfo{}},
	}
	for _, tc := range tests {
		t.Run(tc.ua, func(t *testing.T) {
			if got := ParseUserAgent(tc.ua); got != tc.want {
				t.Errorf("ParseUserAgent(%q)\n got %+v\nwant %+v", tc.ua, got, tc.want)
			}
		})
	}
}

func TestNormalizeModel(t *testing.T) {
	tests := map[string]string{
		"iPhone2,1":  "iPhone2,1",
		"iPhone2C1":  "iPhone2,1",
		"iPhone2_1":  "iPhone2,1",
		"iphone3c1":  "iPhone3,1",
		"iPad3C6":    "iPad3,6",
		"iPod5C1":    "iPod5,1",
		" iPhone9C4": "iPhone9,4",
		"iPhone":     "iPhone",
		"GT-I9000":   "GT-I9000",
		"E72-1":      "E72-1",
		"":           "",
	}
	for in, want := range tests {
		if got := NormalizeModel(in); got != want {
			t.Errorf("NormalizeModel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEnrich(t *testing.T) {
	tests := []struct {
		name      string
		in        DeviceFacts
		model, os string
	}{
		{"reported values win", DeviceFacts{Model: "iPhone3C1", OS: "iOS 4.3.3 8J2", UserAgent: "Apple-iPhone2C1/801.293"},
			"iPhone3,1", "iOS 4.3.3 8J2"},
		{"gaps filled from the User-Agent", DeviceFacts{UserAgent: "Apple-iPhone2C1/801.293"}, "iPhone2,1", "iOS 4.0"},
		{"Android OS from the User-Agent", DeviceFacts{DeviceType: "Android", UserAgent: "Android/2.3.4-EAS-1.2"}, "", "Android 2.3.4"},
		{"nothing to fill", DeviceFacts{DeviceType: "WindowsMobile", UserAgent: "MSFT-PPC/5.2.5082"}, "", ""},
		{"blank OS is filled", DeviceFacts{OS: "  ", UserAgent: "MSFT-WP/7.0.7004"}, "", "Windows Phone 7.0.7004"},
		// A vendor Android client reports OS "Android-Linux" and Build.MODEL
		// in Settings (decompiled com.android.exchange.EasDevInfoSvc).
		{"versionless OS replaced by the User-Agent's", DeviceFacts{Model: "GT-I9000", OS: "Android-Linux",
			UserAgent: "SAMSUNG-GT-I9000/100.20304"}, "GT-I9000", "Android 2.3.4"},
		{"versionless OS kept when the User-Agent has none", DeviceFacts{OS: "Android-Linux",
			UserAgent: "Android/0.3"}, "", "Android-Linux"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ev := Enrich(tc.in)
			if got.Model != tc.model || got.OS != tc.os {
				t.Errorf("Enrich: model %q OS %q, want %q %q", got.Model, got.OS, tc.model, tc.os)
			}
			if len(ev) == 0 {
				t.Error("no evidence")
			}
		})
	}
}

func FuzzParseUserAgent(f *testing.F) {
	for _, s := range []string{"Apple-iPhone2C1/801.293", "SAMSUNG-GT-I9000/100.20304", "Android/2.3.4-EAS-1.2",
		"RIM-Q10-SQN100-3/10.2.0.1443", "NokiaE721/2.02(0)MailforExchange", "iOS/7.0.2 (11A501) dataaccessd/1.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		info := ParseUserAgent(ua)
		if info.OS != "" && !HasVersion(info.OS) {
			t.Errorf("ParseUserAgent(%q).OS = %q has no version", ua, info.OS)
		}
		_, _ = Enrich(DeviceFacts{UserAgent: ua, Model: ua, OS: ua})
	})
}
