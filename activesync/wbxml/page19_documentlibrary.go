package wbxml

// Code page 19: DocumentLibrary.
//
// Source: [MS-ASWBXML] section 2.1.2.1.20, "Code Page 19: DocumentLibrary"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageDocumentLibrary = &codePage{
	id:      19,
	name:    "DocumentLibrary",
	section: "2.1.2.1.20",
	tags: []tagDef{
		{0x05, "LinkId", 0},
		{0x06, "DisplayName", 0},
		{0x07, "IsFolder", 0},
		{0x08, "CreationDate", 0},
		{0x09, "LastModifiedDate", 0},
		{0x0A, "IsHidden", 0},
		{0x0B, "ContentLength", 0},
		{0x0C, "ContentType", 0},
	},
}
