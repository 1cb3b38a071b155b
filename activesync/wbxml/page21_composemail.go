package wbxml

// Code page 21: ComposeMail.
//
// Source: [MS-ASWBXML] section 2.1.2.1.22, "Code Page 21: ComposeMail"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageComposeMail = &codePage{
	id:      21,
	name:    "ComposeMail",
	section: "2.1.2.1.22",
	tags: []tagDef{
		{0x05, "SendMail", 0},
		{0x06, "SmartForward", 0},
		{0x07, "SmartReply", 0},
		{0x08, "SaveInSentItems", 0},
		{0x09, "ReplaceMime", 0},
		{0x0B, "Source", 0},
		{0x0C, "FolderId", 0},
		{0x0D, "ItemId", 0},
		{0x0E, "LongId", 0},
		{0x0F, "InstanceId", 0},
		{0x10, "Mime", opaque}, // byte array (opaque), MS-ASCMD 2.2.3.109
		{0x11, "ClientId", 0},
		{0x12, "Status", 0},
		{0x13, "AccountId", 0},
		{0x15, "Forwardees", 0}, // 16.0+
		{0x16, "Forwardee", 0},  // 16.0+
		{0x17, "Name", 0},       // 16.0+
		{0x18, "Email", 0},      // 16.0+
	},
}
