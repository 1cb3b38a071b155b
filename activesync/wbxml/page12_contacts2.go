package wbxml

// Code page 12: Contacts2.
//
// Source: [MS-ASWBXML] section 2.1.2.1.13, "Code Page 12: Contacts2"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageContacts2 = &codePage{
	id:      12,
	name:    "Contacts2",
	section: "2.1.2.1.13",
	tags: []tagDef{
		{0x05, "CustomerId", 0},
		{0x06, "GovernmentId", 0},
		{0x07, "IMAddress", 0},
		{0x08, "IMAddress2", 0},
		{0x09, "IMAddress3", 0},
		{0x0A, "ManagerName", 0},
		{0x0B, "CompanyMainPhone", 0},
		{0x0C, "AccountName", 0},
		{0x0D, "NickName", 0},
		{0x0E, "MMS", 0},
	},
}
