package wbxml

import (
	"errors"
	"fmt"
)

// Sentinel error kinds. Every error returned by this package is an *Error
// whose Kind is one of these, so callers test with errors.Is:
//
//	if errors.Is(err, wbxml.ErrTooLarge) { ... }
var (
	// ErrBadHeader: the version, public identifier or charset is not the one
	// EAS uses (1.3, 0x01 or the ActiveSync DTD, UTF-8).
	ErrBadHeader = errors.New("bad WBXML header")
	// ErrTruncated: the input ends early, or a length runs past its end.
	ErrTruncated = errors.New("truncated input")
	// ErrUnknownPage: SWITCH_PAGE to, or a name in, a code page that
	// MS-ASWBXML does not define.
	ErrUnknownPage = errors.New("unknown code page")
	// ErrUnknownToken: a tag token or element name that the current code page
	// does not define.
	ErrUnknownToken = errors.New("unknown tag")
	// ErrTooDeep: elements nested deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("nesting too deep")
	// ErrTooLarge: a document, value, string table or element count over its
	// limit.
	ErrTooLarge = errors.New("too large")
	// ErrBadInteger: an mb_u_int32 longer than 5 bytes or above 2^32-1.
	ErrBadInteger = errors.New("bad mb_u_int32")
	// ErrBadOffset: a string table reference outside the table.
	ErrBadOffset = errors.New("bad string table offset")
	// ErrAttributes: an element with attributes (EAS defines none).
	ErrAttributes = errors.New("attributes not allowed")
	// ErrLiteral: a LITERAL tag (EAS defines every tag by token).
	ErrLiteral = errors.New("literal tags not allowed")
	// ErrUnsupported: a global token EAS does not use (EXT_*, PI).
	ErrUnsupported = errors.New("unsupported token")
	// ErrUnbalanced: an END with no element open, or elements left open.
	ErrUnbalanced = errors.New("unbalanced elements")
	// ErrTrailingData: bytes after the root element ends.
	ErrTrailingData = errors.New("trailing data")
	// ErrStructure: content outside the root element, a document with no or
	// two roots.
	ErrStructure = errors.New("bad document structure")
	// ErrMixedContent: an element with both text and child elements.
	ErrMixedContent = errors.New("mixed content")
	// ErrBadEntity: an ENTITY that is not a Unicode scalar value.
	ErrBadEntity = errors.New("bad character entity")
	// ErrBadString: a string that cannot be carried (NUL in an inline string,
	// text not representable as XML).
	ErrBadString = errors.New("bad string")
	// ErrBadBase64: base64 text of an opaque element that does not decode.
	ErrBadBase64 = errors.New("bad base64")
	// ErrShortStream: a streamed value ended before its declared length.
	ErrShortStream = errors.New("short stream")
	// ErrBadXML: XML input that is not well-formed, or an element outside
	// every EAS namespace.
	ErrBadXML = errors.New("bad XML")
	// ErrBadEncoding: DecodeHex or DecodeBase64 input that is not hex or
	// base64.
	ErrBadEncoding = errors.New("bad hex or base64 wrapper")
	// ErrIO: the underlying reader or writer failed; Unwrap gives the cause.
	ErrIO = errors.New("I/O error")
)

// Error is the error type of this package. Errors are sticky: once a Decoder
// or Encoder has returned one, it returns the same error from then on.
type Error struct {
	Kind   error // one of the Err* sentinels
	Offset int64 // byte offset in the WBXML input (decoding) or output (encoding); -1 if none
	Reason string
	Err    error // underlying cause, if any (I/O, XML syntax)
}

func (e *Error) Error() string {
	msg := "wbxml: " + e.Kind.Error()
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" (offset %d)", e.Offset)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

func newError(kind error, off int64, format string, args ...any) *Error {
	return &Error{Kind: kind, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
