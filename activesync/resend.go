package activesync

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"airlock/message"
	"airlock/store"
)

// Resends of mail without a ClientId.
//
// Before 14.0, SendMail, SmartReply and SmartForward carry no ClientId
// (MS-ASCMD 2.2.3.28.1 is 14.0+), so nothing in the request tells a resend
// from a new message. Yet devices do resend: the message stays in the
// device's Outbox until the server's answer arrives, and iOS and Windows
// Mobile 6.x send it again when the answer is lost (a timeout on a slow or
// dropped mobile connection) or at the next connection. Without care the
// recipients get it twice.
//
// The rule: a request without a ClientId whose command, source item and MIME
// bytes are exactly those of a message the same device sent within the
// window is a resend. It is answered as a success and nothing goes out again
// (store.Resend, recorded in the delivery's own transaction, so a request
// that failed leaves no key behind and its resend is a first attempt). The
// window is
//   - resendWindowWithID (24 h) when the MIME carries a Message-ID: the bytes
//     include an identifier the device made for this one message, so the
//     same bytes are the same message however late the resend comes;
//   - resendWindowNoID (10 min) otherwise: two deliberate, identical short
//     notes ("OK") to the same person without Date or Message-ID must not be
//     merged for long, while a resend after a timeout comes within minutes.
//
// A device that rebuilds the MIME before resending (a new Date or
// Message-ID) is not recognised: its bytes differ, as they would for a new
// message. 14.0+ requests keep the ClientId rule (Status 118).
const (
	resendWindowWithID = 24 * time.Hour
	resendWindowNoID   = 10 * time.Minute
)

// resendKey is the device's key for a request without a ClientId.
func resendKey(devicePK int64, cmd string, cr *composeRequest) *store.Resend {
	h := sha256.New()
	for _, part := range []string{cmd, cr.FolderID, cr.ItemID, cr.LongID, cr.InstanceID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(cr.MIME)
	window := resendWindowNoID
	if message.HasHeaderField(cr.MIME, "Message-ID") {
		window = resendWindowWithID
	}
	return &store.Resend{DevicePK: devicePK, Fingerprint: hex.EncodeToString(h.Sum(nil)), Window: window}
}
