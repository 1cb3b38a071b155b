package activesync

// Hooks for the external tests of the Email class (email_drafts_test.go):
// they decompress what the server sends and compress what a device sends.
var (
	DecompressRTF = decompressRTF
	CompressRTF   = compressRTF
	RTFToText     = rtfToText
	RTFFromText   = rtfFromText
)
