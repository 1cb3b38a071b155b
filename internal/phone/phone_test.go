package phone

import "testing"

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"07700 900123":         "+447700900123",
		"+44 7700-900123":      "+447700900123",
		"+44 (0)20 7946 0018":  "+442079460018",
		"020 7946 0018":        "+442079460018",
		"0044 7700 900123":     "+447700900123",
		"+1 (206) 555-0100":    "+12065550100",
		"7700900123":           "",
		"+44abc":               "",
		"+0123456789":          "",
		"":                     "",
		"+4477009001231234567": "",
	} {
		got, ok := Normalize(in)
		if got != want || ok != (want != "") {
			t.Errorf("Normalize(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	if !IsUKMobile("+447700900123") || IsUKMobile("+442079460018") {
		t.Error("IsUKMobile")
	}
}

func TestAtDomain(t *testing.T) {
	for addr, want := range map[string]string{
		"+442079460018@fax.example.nhs.uk":      "+442079460018",
		"<+44 20-7946 0018@FAX.example.nhs.uk>": "+442079460018",
		"02079460018@fax.example.nhs.uk":        "", // a fax address is written in E.164
		"+442079460018@example.nhs.uk":          "",
		"+44abc@fax.example.nhs.uk":             "",
	} {
		got, ok := AtDomain(addr, "fax.example.nhs.uk")
		if got != want || ok != (want != "") {
			t.Errorf("AtDomain(%q) = %q %v, want %q", addr, got, ok, want)
		}
	}
}
