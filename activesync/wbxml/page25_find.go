package wbxml

// Code page 25: Find.
//
// Source: [MS-ASWBXML] section 2.1.2.1.26, "Code Page 25: Find"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
//
// Tokens 0x0F, 0x10 and 0x1A to 0x1F are not defined by the specification.
var pageFind = &codePage{
	id:      25,
	name:    "Find",
	section: "2.1.2.1.26",
	tags: []tagDef{
		{0x05, "Find", 0},
		{0x06, "SearchId", 0},
		{0x07, "ExecuteSearch", 0},
		{0x08, "MailBoxSearchCriterion", 0},
		{0x09, "Query", 0},
		{0x0A, "Status", 0},
		{0x0B, "FreeText", 0},
		{0x0C, "Options", 0},
		{0x0D, "Range", 0},
		{0x0E, "DeepTraversal", 0},
		{0x11, "Response", 0},
		{0x12, "Result", 0},
		{0x13, "Properties", 0},
		{0x14, "Preview", 0},
		{0x15, "HasAttachments", 0},
		{0x16, "Total", 0},
		{0x17, "DisplayCc", 0},
		{0x18, "DisplayBcc", 0},
		{0x19, "GalSearchCriterion", 0},
		{0x20, "MaxPictures", 0},
		{0x21, "MaxSize", 0},
		{0x22, "Picture", 0},
	},
}
