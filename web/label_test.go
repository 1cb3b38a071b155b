package web

import "testing"

func TestLabelOf(t *testing.T) {
	for in, want := range map[string]string{"AllowHTMLEmail": "Allow HTML Email", "RequireSignedSMIMEMessages": "Require Signed S/MIME Messages", "AllowPOPIMAPEmail": "Allow POP/IMAP Email",
		"AllowIrDA": "Allow IrDA", "AllowWiFi": "Allow Wi-Fi", "UnapprovedInROMApplicationList": "Unapproved in ROM Application List", "MaxEmailHTMLBodyTruncationSize": "Max Email HTML Body Truncation Size",
		"AllowSMIMEEncryptionAlgorithmNegotiation": "Allow S/MIME Encryption Algorithm Negotiation", "DevicePolicyRefreshIntervalHours": "Device Policy Refresh Interval Hours"} {
		if got := labelOf(in); got != want {
			t.Errorf("labelOf(%s) = %q, want %q", in, got, want)
		}
	}
}
