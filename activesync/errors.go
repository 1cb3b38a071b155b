package activesync

import (
	"errors"
	"fmt"
	"net/http"
)

// Common status codes of MS-ASCMD 2.2.2 (14.0 and later). 12.x clients do
// not know them; for those the handler answers with the HTTP status instead.
const (
	StatusInvalidContent          = 101
	StatusInvalidWBXML            = 102
	StatusInvalidXML              = 103
	StatusInvalidDateTime         = 104
	StatusInvalidCombinationOfIDs = 105
	StatusInvalidIDs              = 106
	StatusInvalidMIME             = 107
	StatusDeviceIDMissing         = 108
	StatusDeviceTypeMissing       = 109
	StatusServerError             = 110
	StatusServerErrorRetryLater   = 111
	StatusMailboxQuotaExceeded    = 113
	StatusSendQuotaExceeded       = 115
	StatusMessagePreviouslySent   = 118
	StatusMessageHasNoRecipient   = 119
	StatusMailSubmissionFailed    = 120
	StatusUserDisabledForSync     = 126
	StatusDeviceBlocked           = 129
	StatusAccessDenied            = 130
	StatusAccountDisabled         = 131
	StatusCommandNotSupported     = 137
	StatusVersionNotSupported     = 138
	StatusDeviceNotFullyProvision = 139
	StatusRemoteWipeRequested     = 140
	StatusLegacyDeviceStrictPol   = 141
	StatusDeviceNotProvisioned    = 142
	StatusPolicyRefresh           = 143
	StatusInvalidPolicyKey        = 144
	StatusExternallyManaged       = 145
	StatusItemNotFound            = 150
	StatusDeviceInfoRequired      = 165
	StatusMaximumDevicesReached   = 177
)

// Error is a protocol error: what the device is told (an HTTP status and,
// for 14.0+ clients, an EAS Status in the command's response element) and,
// separately, the internal cause that goes to the log only.
type Error struct {
	HTTP   int    // HTTP status; 200 when the EAS Status carries the error
	Status int    // EAS Status for the command element; 0 for none
	Legacy int    // HTTP status for 12.x clients, who do not read Status; 0 = HTTP
	Reason string // short, safe to show a client
	Cause  error  // internal detail, logged, never sent
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("eas: HTTP %d status %d: %s", e.HTTP, e.Status, e.Reason)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// statusError is a 14.0+ common status that a 12.x client gets as an HTTP
// status.
func statusError(status, legacyHTTP int, reason string, cause error) *Error {
	return &Error{HTTP: http.StatusOK, Status: status, Legacy: legacyHTTP, Reason: reason, Cause: cause}
}

// httpError is a failure the HTTP status alone conveys.
func httpError(code int, reason string, cause error) *Error {
	return &Error{HTTP: code, Reason: reason, Cause: cause}
}

// Errors the gate and the commands share.
func errNeedsProvision(cause error) *Error {
	return statusError(StatusDeviceNotProvisioned, 449, "device not provisioned", cause)
}

func errInvalidPolicyKey(cause error) *Error {
	return statusError(StatusInvalidPolicyKey, 449, "policy key invalid", cause)
}

func errBadWBXML(cause error) *Error {
	return &Error{HTTP: http.StatusBadRequest, Status: StatusInvalidWBXML, Reason: "malformed WBXML", Cause: cause}
}

func errServer(cause error) *Error {
	return statusError(StatusServerError, http.StatusInternalServerError, "server error", cause)
}

func errRetryLater(cause error) *Error {
	return statusError(StatusServerErrorRetryLater, http.StatusServiceUnavailable, "server busy, try again", cause)
}

// asError turns any error into a protocol error, treating unknown ones as
// server errors.
func asError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return errServer(err)
}
