package wbxml

// Code page 15: Search.
//
// Source: [MS-ASWBXML] section 2.1.2.1.16, "Code Page 15: Search"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageSearch = &codePage{
	id:      15,
	name:    "Search",
	section: "2.1.2.1.16",
	tags: []tagDef{
		{0x05, "Search", 0},
		{0x07, "Store", 0},
		{0x08, "Name", 0},
		{0x09, "Query", 0},
		{0x0A, "Options", 0},
		{0x0B, "Range", 0},
		{0x0C, "Status", 0},
		{0x0D, "Response", 0},
		{0x0E, "Result", 0},
		{0x0F, "Properties", 0},
		{0x10, "Total", 0},
		{0x11, "EqualTo", 0},
		{0x12, "Value", 0},
		{0x13, "And", 0},
		{0x14, "Or", 0},
		{0x15, "FreeText", 0},
		{0x17, "DeepTraversal", 0},
		{0x18, "LongId", 0},
		{0x19, "RebuildResults", 0},
		{0x1A, "LessThan", 0},
		{0x1B, "GreaterThan", 0},
		{0x1E, "UserName", 0},
		{0x1F, "Password", 0},
		{0x20, "ConversationId", opaque}, // treated as a byte array (opaque): see the package doc
		{0x21, "Picture", 0},
		{0x22, "MaxSize", 0},
		{0x23, "MaxPictures", 0},
	},
}
