// Package wbxml encodes and decodes Exchange ActiveSync WBXML
// ([MS-ASWBXML]), the binary XML of every EAS request and response body.
// It knows nothing of HTTP or storage; it depends on the standard library
// and github.com/beevik/etree only.
//
// # Format
//
// A document is a WBXML 1.3 header followed by a token stream
// ([MS-ASWBXML] section 2.1.1, WAP-192-WBXML):
//
//	03        version 1.3
//	01        public identifier "unknown" (what devices send)
//	6A        charset UTF-8 (IANA MIBenum 106)
//	00        string table length 0
//	45 ...    body: tags, SWITCH_PAGE, STR_I, OPAQUE, END
//
// A tag byte is a 6-bit token (0x05..0x3F) of the current code page, plus
// 0x40 when the element has content (0x80, attributes, is never used by
// EAS). SWITCH_PAGE (0x00 n) changes the code page; END (0x01) closes the
// innermost element; STR_I (0x03) is a NUL-terminated UTF-8 string; OPAQUE
// (0xC3) is a length (mb_u_int32) and that many bytes. The Decoder also
// accepts STR_T (string table references), ENTITY (a character code) and the
// header libwbxml writes (public identifier as the string
// "-//MICROSOFT//DTD ActiveSync//EN" in the string table). The Encoder
// writes exactly the device form above.
//
// The 26 code pages of EAS 16.1 are defined one per file,
// page00_airsync.go to page25_find.go, each citing its MS-ASWBXML section
// (2.1.2.1.1 to 2.1.2.1.26). Code page 20 is ItemOperations (not
// ItemEstimate); page 6 is GetItemEstimate. Names are spelled as in
// MS-ASWBXML and MS-ASCMD ("AirSyncBase", "Email2", "GAL", "Find").
//
// # The etree representation
//
// Unmarshal returns an *etree.Document; Marshal takes one. Each element's
// Space is its code page name and its Tag the element name, so an element
// prints and is created as "Space:Tag":
//
//	doc := etree.NewDocument()
//	fs := doc.CreateElement("FolderHierarchy:FolderSync")
//	fs.CreateElement("FolderHierarchy:Status").SetText("1")
//	data, err := wbxml.Marshal(doc)
//
//	doc, err := wbxml.Unmarshal(body)
//	key := doc.Root().SelectElement("FolderHierarchy:SyncKey").Text()
//	st := doc.FindElement("//Provision:Policy/Provision:Status")
//
// A name always carries its page: AirSync:Status and Provision:Status are
// different elements, and a name without a page is an error. Decoded
// documents carry no namespace attributes (the Space is the page name, not a
// prefix bound elsewhere), which keeps lookups exact; WriteXML adds
// xmlns:Page="Page:" declarations on the root when printing, so the printed
// text is namespace-well-formed XML that ParseXML, xmllint and libwbxml read.
// Only leaf elements have text; an element with both text and children is
// rejected (ErrMixedContent), as EAS never uses mixed content. An element
// without content and one with empty text are the same and encode as a tag
// without the content bit.
//
// # Opaque data
//
// MS-ASDTYPE section 2.7.1 says elements holding a byte array MUST travel as
// WBXML OPAQUE data. They are, by the current specifications:
//
//	Email2:ConversationId         MS-ASCON 2.2.2.3.3 (conversation ID, 16 bytes)
//	Email2:ConversationIndex      MS-ASEMAIL / MS-ASCON (conversation index)
//	ItemOperations:ConversationId MS-ASCON 2.2.2.3.1 (Move of a conversation)
//	Search:ConversationId         treated as a byte array: MS-ASCMD 2.2.3.35.2 calls it a
//	                              string holding the conversation ID, which is the byte
//	                              array the client received in Email2:ConversationId
//	                              (libwbxml treats it as binary too)
//	ComposeMail:Mime              MS-ASCMD 2.2.3.109 (SendMail, SmartReply, SmartForward MIME)
//	AirSyncBase:Content           MS-ASAIRS 2.2.2.15 (attachment added by the client, 16.0+)
//	GAL:Data                      MS-ASCMD 2.2.3.39.1, 2.2.3.39.4 (contact photo)
//	ResolveRecipients:Data        MS-ASCMD 2.2.3.39.3 (contact photo)
//
// libwbxml 0.11.8 treats exactly these eight as binary
// (TestLibwbxmlTokenTable checks it), an independent confirmation of the
// list. In the etree form their text is the standard base64 of the bytes; Marshal
// decodes it and writes OPAQUE, Unmarshal does the reverse, so they
// round-trip exactly. A device that sends such a value as an inline string
// is accepted (the string's bytes are the value). Use Bytes and SetBytes to
// read and write them. Elements that look binary but are defined as base64
// strings stay strings: ItemOperations:Data (MS-ASCMD 2.2.3.39.2),
// Contacts:Picture, Calendar:Timezone, Email:TimeZone, the certificates of
// ValidateCert and ResolveRecipients, AirSyncBase:Data.
//
// OPAQUE content in any other element (some clients send bodies that way)
// becomes plain text when it is valid UTF-8 made of XML characters, and is
// re-encoded as STR_I. Content that is not (binary bytes, invalid UTF-8,
// control characters, from OPAQUE or STR_I) is kept as base64 text with the
// marker attribute wbxml:opaque="base64" and re-encoded as OPAQUE. So every
// decoded document prints as XML and parses back to the same tree, and
// decode -> encode -> decode is the identity.
//
// # Large values
//
// Bodies and attachments need not be held in memory on the way out. The
// Encoder writes tokens to an io.Writer through a 32 KiB buffer;
// OpaqueFrom(r, n), TextFrom(r) and Base64From(r) copy a value from a reader
// (Base64From is the way to send a 25 MB attachment as ItemOperations:Data).
// Attach(el, Base64Stream(r)) lets an element of an etree document stand for
// such a stream, so a handler can build the response tree and stream the one
// big value. Tests measure (runtime.MemStats) that streaming 25 MB allocates
// under 1 MB. Incoming documents are decoded from one in-memory buffer
// bounded by Limits.MaxDocumentSize; the pull Decoder's tokens alias that
// buffer (no copies), and Unmarshal copies each value once into the tree.
//
// # Limits and errors
//
// Limits bound depth (64), document size (48 MiB), one value (48 MiB), the
// string table (64 KiB) and the element count (200,000). Lengths are checked
// against the remaining input before anything is allocated, so a claimed
// 4 GiB OPAQUE is rejected in constant time. Every error is an *Error with
// Kind (a sentinel such as ErrTruncated, ErrUnknownToken, ErrUnknownPage,
// ErrTooDeep, ErrTooLarge, ErrBadHeader, ErrAttributes, ErrBadInteger,
// ErrTrailingData, ErrUnbalanced), the byte Offset and a Reason; test with
// errors.Is. A request body that fails to decode is a client error: HTTP 400
// or, inside a command, EAS status 102 (InvalidWBXML); ErrTooLarge may map
// to HTTP 413.
//
// # Implementation notes
//
//   - The Decoder is a pull parser over a byte slice: Next returns one token
//     at a time, allocates nothing per token, keeps only the stack of open
//     elements (at most MaxDepth) and never recurses. Its first error is
//     sticky. An element without content is reported as StartTag followed by
//     EndTag.
//   - mb_u_int32 values are read with at most 5 bytes and rejected above
//     2^32-1; OPAQUE, string table and STR_T lengths and offsets are checked
//     against the input before use.
//   - The Encoder defers writing a start tag until it knows whether content
//     follows, so empty elements get the content bit clear; it switches code
//     page only before a tag (END and content are page-independent). Its
//     output for a given tree is deterministic (fuzz-tested).
//   - The code page tables are checked at init (no duplicate token or name,
//     tokens in range) and a test proves each page's name <-> token map is
//     one-to-one. Tokens that only old revisions of MS-ASWBXML defined and the
//     current one dropped (AirSync 0x11, 0x1A, 0x1F; Email 0x0B AttRemoved;
//     Contacts 0x3B; Calendar 0x10, 0x2B-0x32; Tasks 0x21; GetItemEstimate 0x06,
//     0x0B; FolderHierarchy 0x0B, 0x0D, 0x18; MeetingResponse 0x0D; Ping 0x06;
//     Provision 0x12; Search 0x1C, 0x1D) are not defined and decode as
//     ErrUnknownToken. Tokens the current tables still list for protocol 2.5
//     only are defined (commented "2.5 only"). Code page 3 (AirNotify) is "no
//     longer in use"; its tokens 0x05-0x17 keep their old names.
//   - Independent checks: the MS-ASWBXML section 3 example encodes to the
//     specification's bytes; libwbxml 0.11.8 (wbxml2xml, xml2wbxml) decodes
//     our encoding of the corpus and of every page identically, and both
//     decoders agree on libwbxml's encodings (see libwbxml_test.go); Find and
//     the 16.1 tokens libwbxml lacks are checked against bytes assembled from
//     the specification's tables (spec_test.go). Fuzzing: FUZZING.md.
//     Throughput: BENCHMARKS.md.
package wbxml
