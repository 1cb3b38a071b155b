package wbxml

// Code page 16: GAL.
//
// Source: [MS-ASWBXML] section 2.1.2.1.17, "Code Page 16: GAL"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageGAL = &codePage{
	id:      16,
	name:    "GAL",
	section: "2.1.2.1.17",
	tags: []tagDef{
		{0x05, "DisplayName", 0},
		{0x06, "Phone", 0},
		{0x07, "Office", 0},
		{0x08, "Title", 0},
		{0x09, "Company", 0},
		{0x0A, "Alias", 0},
		{0x0B, "FirstName", 0},
		{0x0C, "LastName", 0},
		{0x0D, "HomePhone", 0},
		{0x0E, "MobilePhone", 0},
		{0x0F, "EmailAddress", 0},
		{0x10, "Picture", 0},
		{0x11, "Status", 0},
		{0x12, "Data", opaque}, // byte array (opaque), MS-ASCMD 2.2.3.39.1 and 2.2.3.39.4
	},
}
