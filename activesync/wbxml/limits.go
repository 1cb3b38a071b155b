package wbxml

// Limits bound what a Decoder (and ParseXML) accepts. A zero field means the
// default shown; use DefaultLimits to see them all. Limits cost nothing when
// they are not reached: lengths are checked before anything is allocated.
type Limits struct {
	// MaxDepth is the deepest element nesting; the root is depth 1.
	// Default 64 (EAS documents nest about 12 deep).
	MaxDepth int
	// MaxDocumentSize is the largest WBXML document, in bytes, including the
	// header. Default 48 MiB: a 25 MB attachment sent with SendMail is about
	// 34 MB of base64 MIME. The HTTP layer should apply a smaller per-command
	// limit to the request body before it reaches the codec.
	MaxDocumentSize int64
	// MaxValueLen is the largest single inline string or opaque value, in
	// bytes. Default 48 MiB.
	MaxValueLen int
	// MaxStringTable is the largest string table, in bytes. EAS devices send
	// none; libwbxml writes its public identifier there. Default 64 KiB.
	MaxStringTable int
	// MaxElements is the most elements one document may hold; it bounds the
	// memory of Unmarshal, which costs a few hundred bytes per element.
	// Default 200,000 (a Sync response of 512 items uses about 30,000).
	MaxElements int
}

// Default limits.
const (
	DefaultMaxDepth        = 64
	DefaultMaxDocumentSize = 48 << 20
	DefaultMaxValueLen     = 48 << 20
	DefaultMaxStringTable  = 64 << 10
	DefaultMaxElements     = 200000
)

// DefaultLimits returns the limits used when a field is zero.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:        DefaultMaxDepth,
		MaxDocumentSize: DefaultMaxDocumentSize,
		MaxValueLen:     DefaultMaxValueLen,
		MaxStringTable:  DefaultMaxStringTable,
		MaxElements:     DefaultMaxElements,
	}
}

// withDefaults fills zero (or negative) fields with the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxDocumentSize <= 0 {
		l.MaxDocumentSize = DefaultMaxDocumentSize
	}
	if l.MaxValueLen <= 0 {
		l.MaxValueLen = DefaultMaxValueLen
	}
	if l.MaxStringTable <= 0 {
		l.MaxStringTable = DefaultMaxStringTable
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	return l
}
