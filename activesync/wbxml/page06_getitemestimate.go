package wbxml

// Code page 6: GetItemEstimate.
//
// Source: [MS-ASWBXML] section 2.1.2.1.7, "Code Page 6: GetItemEstimate"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageGetItemEstimate = &codePage{
	id:      6,
	name:    "GetItemEstimate",
	section: "2.1.2.1.7",
	tags: []tagDef{
		{0x05, "GetItemEstimate", 0},
		{0x07, "Collections", 0},
		{0x08, "Collection", 0},
		{0x09, "Class", 0},
		{0x0A, "CollectionId", 0},
		{0x0C, "Estimate", 0},
		{0x0D, "Response", 0},
		{0x0E, "Status", 0},
	},
}
