package activesync

import (
	"testing"
	"time"
)

// The resend key of a request without a ClientId: what makes two requests
// the same message, and which window applies.
func TestResendKey(t *testing.T) {
	const withID = "To: bob@example.nhs.uk\r\nMessage-ID: <a@b>\r\n\r\nhi\r\n"
	base := composeRequest{MIME: []byte(withID)}
	key := resendKey(7, "SendMail", &base)
	cases := []struct {
		name   string
		device int64
		cmd    string
		cr     composeRequest
		same   bool
		window time.Duration
	}{
		{"identical request", 7, "SendMail", base, true, resendWindowWithID},
		{"another device", 8, "SendMail", base, false, resendWindowWithID},
		{"another command", 7, "SmartForward", base, false, resendWindowWithID},
		{"another source item", 7, "SendMail", composeRequest{MIME: base.MIME, ItemID: "12"}, false, resendWindowWithID},
		{"one byte more", 7, "SendMail", composeRequest{MIME: []byte(withID + " ")}, false, resendWindowWithID},
		{"no Message-ID", 7, "SendMail", composeRequest{MIME: []byte("To: bob@example.nhs.uk\r\n\r\nhi\r\n")}, false, resendWindowNoID},
		{"Message-ID only in the body", 7, "SendMail", composeRequest{MIME: []byte("To: bob@example.nhs.uk\r\n\r\nMessage-ID: <x@y>\r\n")}, false, resendWindowNoID},
		{"folded Message-ID, LF only", 7, "SendMail", composeRequest{MIME: []byte("To: bob@example.nhs.uk\nmessage-id:\n <a@b>\n\nhi\n")}, false, resendWindowWithID},
		{"no header at all", 7, "SendMail", composeRequest{MIME: []byte("hi")}, false, resendWindowNoID},
	}
	for _, c := range cases {
		k := resendKey(c.device, c.cmd, &c.cr)
		if same := k.DevicePK == key.DevicePK && k.Fingerprint == key.Fingerprint; same != c.same {
			t.Errorf("%s: same key %v, want %v", c.name, same, c.same)
		}
		if k.Window != c.window {
			t.Errorf("%s: window %v, want %v", c.name, k.Window, c.window)
		}
	}
}
