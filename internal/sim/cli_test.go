package sim

import (
	"strings"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	for in, ok := range map[string]bool{
		"http://127.0.0.1:8443": true, "http://localhost:1": true, "http://[::1]:80": true, "127.0.0.2:25": true,
		"http://10.0.0.1:8443": false, "https://mail.example.nhs.uk": false, "0.0.0.0:25": false, "http://192.168.1.1": false,
	} {
		if err := CheckLoopback(in); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v", in, err)
		}
	}
}

func TestMainRefusesNonLoopbackAndBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--server", "http://10.1.2.3:8443", "--duration", "1s"},
		{"run", "--server", "http://127.0.0.1:1", "--smtp", "192.0.2.1:25", "--duration", "1s"},
		{"run", "--duration", "1s"},
		{"run", "--server", "http://127.0.0.1:1", "--mix", "change=x"},
		{"run", "--server", "http://127.0.0.1:1", "--devices", "100", "--users", "2"},
		{"bench", "nothing"},
		{"frobnicate"},
	} {
		var out, errOut strings.Builder
		if code := Main(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}

func TestMixTokensAndFlags(t *testing.T) {
	m, err := ParseMix("change=1,send=3")
	if err != nil || m != (Mix{Change: 1, Send: 3}) {
		t.Fatalf("ParseMix: %v %v", m, err)
	}
	if _, err := ParseMix("change=0"); err == nil {
		t.Error("all-zero mix accepted")
	}
	tok := NewToken("rabcdef", "m", strings.Repeat("d", 60), 12345)
	if len(tok) > 40 {
		t.Errorf("token %q longer than a ClientId may be", tok)
	}
	if got := TokenOf("Re: [sim rabcdef-md1-3] hello"); got != "rabcdef-md1-3" || RunOf(got) != "rabcdef" {
		t.Errorf("TokenOf = %q", got)
	}
	if TokenOf("no token here") != "" {
		t.Error("token found in a plain subject")
	}
	if f := smtpFlag("  -smtp-listen string\n    \tSMTP address"); f != "smtp-listen" {
		t.Errorf("smtpFlag = %q", f)
	}
	if f := smtpFlag("  -listen string"); f != "" {
		t.Errorf("smtpFlag found %q in help without one", f)
	}
}
