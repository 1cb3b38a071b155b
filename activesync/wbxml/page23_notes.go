package wbxml

// Code page 23: Notes.
//
// Source: [MS-ASWBXML] section 2.1.2.1.24, "Code Page 23: Notes"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageNotes = &codePage{
	id:      23,
	name:    "Notes",
	section: "2.1.2.1.24",
	tags: []tagDef{
		{0x05, "Subject", 0},
		{0x06, "MessageClass", 0},
		{0x07, "LastModifiedDate", 0},
		{0x08, "Categories", 0},
		{0x09, "Category", 0},
	},
}
