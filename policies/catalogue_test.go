package policies

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultCatalogueEntries(t *testing.T) {
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cat.Entries() {
		if strings.TrimSpace(e.Source) == "" || strings.TrimSpace(e.Notes) == "" {
			t.Errorf("%s: every entry needs notes and a source", e.Family)
		}
	}
}

func TestCatalogueLookup(t *testing.T) {
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		facts      DeviceFacts
		family     string // "" = not found
		canEncrypt bool
	}{
		{"iPhone 3GS by model", DeviceFacts{Model: "iPhone2,1"}, "iPhone 3GS", true},
		{"iPhone 3GS as sent", DeviceFacts{Model: "iPhone2C1"}, "iPhone 3GS", true},
		{"iPhone 3G", DeviceFacts{Model: "iPhone1,2"}, "iPhone 3G", false},
		{"original iPhone", DeviceFacts{Model: "iPhone1,1"}, "iPhone (original, 2G)", false},
		{"iPhone 4", DeviceFacts{Model: "iPhone3,1"}, "iPhone 4 or later", true},
		{"iPhone 12", DeviceFacts{Model: "iPhone13,2"}, "iPhone 4 or later", true},
		{"iPad by model", DeviceFacts{Model: "iPad2,3"}, "iPad", true},
		{"iPad by type", DeviceFacts{DeviceType: "iPad"}, "iPad", true},
		{"iPod touch unknown", DeviceFacts{DeviceType: "iPod", Model: "iPod5,1"}, "", false},
		{"TouchDown wins over Android", DeviceFacts{DeviceType: "Android", UserAgent: "TouchDown(MSRPC)/7.1.0005"}, "NitroDesk TouchDown (Android)", true},
		{"stock Android", DeviceFacts{DeviceType: "Android", UserAgent: "Android/2.3.4-EAS-1.2"}, "Android (native Email)", true},
		{"Samsung", DeviceFacts{DeviceType: "SAMSUNGGTI9000", UserAgent: "SAMSUNG-GT-I9000/100.20304"}, "Samsung Email (Android)", true},
		{"WP7", DeviceFacts{DeviceType: "WP", UserAgent: "MSFT-WP/7.10.7720"}, "Windows Phone 7", false},
		{"WP7 by type", DeviceFacts{DeviceType: "WP"}, "Windows Phone 7", false},
		{"WP8", DeviceFacts{DeviceType: "WP8", UserAgent: "MSFT-WP/8.0.10211"}, "Windows Phone 8 or later", true},
		{"WM Pocket PC", DeviceFacts{DeviceType: "PocketPC", UserAgent: "MSFT-PPC/5.2.5082"}, "Windows Mobile 6.1/6.5 (Pocket PC)", true},
		{"WM Standard", DeviceFacts{DeviceType: "SmartPhone", UserAgent: "MSFT-SPhone/5.2.1603"}, "Windows Mobile 6.1/6.5 (Standard)", true},
		{"Nokia E72-1", DeviceFacts{DeviceType: "NokiaEmail", UserAgent: "NokiaE721/2.02(0)MailforExchange 3gpp-gba"}, "Nokia Eseries (Mail for Exchange)", true},
		{"Nokia E52-1", DeviceFacts{UserAgent: "NokiaE521/2.00()MailforExchange"}, "Nokia Eseries (Mail for Exchange)", true},
		{"Nokia E7-00", DeviceFacts{UserAgent: "NokiaE7-00/3.00(0)MailforExchange"}, "Nokia E5 / E7", true},
		{"Nokia E5-00 without hyphen", DeviceFacts{UserAgent: "NokiaE500/2.05(0)MailforExchange"}, "Nokia E5 / E7", true},
		{"Nokia E73 is not an approved Eseries", DeviceFacts{UserAgent: "NokiaE73/2.02(0)MailforExchange 3gpp-gba"}, "", false},
		{"Nokia E72-1 by reported model, unknown User-Agent", DeviceFacts{DeviceType: "NokiaEmail", Model: "NokiaE72-1", UserAgent: "MfE-Client/3.0.50"}, "Nokia Eseries (Mail for Exchange)", true},
		{"Nokia E72-1 by model without the maker", DeviceFacts{Model: "E72-1"}, "Nokia Eseries (Mail for Exchange)", true},
		{"Nokia E7-00 by reported model", DeviceFacts{Model: "NokiaE7-00"}, "Nokia E5 / E7", true},
		{"Nokia E73 by model is not an approved Eseries", DeviceFacts{Model: "NokiaE73-1"}, "", false},
		{"Nokia N97 unknown", DeviceFacts{UserAgent: "NokiaN97/3.00(73)MailforExchange"}, "", false},
		{"BlackBerry 10", DeviceFacts{DeviceType: "BlackBerry", UserAgent: "RIM-Q10-SQN100-3/10.2.0.1443"}, "BlackBerry 10", true},
		{"PlayBook is not BlackBerry 10", DeviceFacts{UserAgent: "RIM-Playbook/2.0"}, "", false},
		{"AstraSync", DeviceFacts{DeviceType: "BlackBerry", UserAgent: "AstraSync/2.5"}, "AstraSync (BlackBerry OS)", true},
		{"nothing known", DeviceFacts{DeviceType: "Palm", UserAgent: "Palm/1.0.1"}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// As its callers do, look up the facts completed by Enrich:
			// families known by model are then found whether the device
			// reported the model or only its User-Agent carries it.
			f, _ := Enrich(tc.facts)
			e, ok := cat.Lookup(f)
			if ok != (tc.family != "") || e.Family != tc.family || e.CanEncrypt != tc.canEncrypt {
				t.Errorf("Lookup = %q (found %v, encrypts %v), want %q (encrypts %v)", e.Family, ok, e.CanEncrypt, tc.family, tc.canEncrypt)
			}
		})
	}
	var nilCat *Catalogue
	if _, ok := nilCat.Lookup(DeviceFacts{Model: "iPhone2,1"}); ok {
		t.Error("nil catalogue found an entry")
	}
}

func TestCatalogueRoundTrip(t *testing.T) {
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(cat)
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadCatalogue(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cat.Entries(), back.Entries()) {
		t.Error("catalogue changed in a JSON round trip")
	}
}

// An administrator's edited file replaces the shipped one.
func TestLoadCatalogueOverride(t *testing.T) {
	edited := `{"version":1,"entries":[
	  {"family":"Samsung Galaxy S II (SAFE)","field":"useragent","match":"prefix","pattern":"SAMSUNG-GT-I9100/",
	   "canEncrypt":true,"encryptFromOS":"2.3.5","notes":"local decision","source":"local test"}]}`
	cat, err := LoadCatalogue(strings.NewReader(edited))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := cat.Lookup(DeviceFacts{UserAgent: "SAMSUNG-GT-I9100/100.20306"})
	if !ok || e.EncryptFromOS != "2.3.5" {
		t.Errorf("Lookup = %+v, %v", e, ok)
	}
	d := Decide(DecisionInput{
		Facts:     DeviceFacts{DeviceType: "SAMSUNGGTI9100", UserAgent: "SAMSUNG-GT-I9100/100.20306", PolicyAck: AckApplied},
		Catalogue: cat, OrgDefault: ActionAllow, Settings: DefaultSettings(),
	})
	if d.Action != ActionAllow {
		t.Errorf("with the edited catalogue: %s by %s: %s", d.Action, d.DecidedBy, d.Reason)
	}
}

func TestLoadCatalogueErrors(t *testing.T) {
	tests := map[string]string{
		"not JSON":        `[`,
		"no family":       `{"entries":[{"field":"model","match":"exact","pattern":"x","canEncrypt":true}]}`,
		"bad field":       `{"entries":[{"family":"f","field":"colour","match":"exact","pattern":"x"}]}`,
		"bad regexp":      `{"entries":[{"family":"f","field":"model","match":"pattern","pattern":"re:("}]}`,
		"floor no number": `{"entries":[{"family":"f","field":"model","match":"exact","pattern":"x","canEncrypt":true,"encryptFromOS":"Honeycomb"}]}`,
		"floor without encryption": `{"entries":[{"family":"f","field":"model","match":"exact","pattern":"x",` +
			`"canEncrypt":false,"encryptFromOS":"3.0"}]}`,
	}
	for name, data := range tests {
		if _, err := LoadCatalogue(strings.NewReader(data)); err == nil {
			t.Errorf("%s: LoadCatalogue succeeded", name)
		}
	}
	big := strings.NewReader(`{"entries":[` + strings.Repeat(" ", maxCatalogueBytes) + `]}`)
	if _, err := LoadCatalogue(big); err == nil {
		t.Error("oversized catalogue accepted")
	}
}

// The rules and the catalogue describe the same families; DEVICES.md must
// mention every catalogue family so that the documentation stays in step.
func TestDevicesDocCoversCatalogue(t *testing.T) {
	doc, err := os.ReadFile("DEVICES.md")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cat.Entries() {
		if !bytes.Contains(doc, []byte(e.Family)) {
			t.Errorf("DEVICES.md does not mention %q", e.Family)
		}
	}
}
