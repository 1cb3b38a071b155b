package wbxml

// Code page 20: ItemOperations.
//
// Source: [MS-ASWBXML] section 2.1.2.1.21, "Code Page 20: ItemOperations"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageItemOperations = &codePage{
	id:      20,
	name:    "ItemOperations",
	section: "2.1.2.1.21",
	tags: []tagDef{
		{0x05, "ItemOperations", 0},
		{0x06, "Fetch", 0},
		{0x07, "Store", 0},
		{0x08, "Options", 0},
		{0x09, "Range", 0},
		{0x0A, "Total", 0},
		{0x0B, "Properties", 0},
		{0x0C, "Data", 0},
		{0x0D, "Status", 0},
		{0x0E, "Response", 0},
		{0x0F, "Version", 0},
		{0x10, "Schema", 0},
		{0x11, "Part", 0},
		{0x12, "EmptyFolderContents", 0},
		{0x13, "DeleteSubFolders", 0},
		{0x14, "UserName", 0},
		{0x15, "Password", 0},
		{0x16, "Move", 0},
		{0x17, "DstFldId", 0},
		{0x18, "ConversationId", opaque}, // byte array (opaque), MS-ASCON 2.2.2.3.1
		{0x19, "MoveAlways", 0},
	},
}
