package wbxml

// Code page 0: AirSync.
//
// Source: [MS-ASWBXML] section 2.1.2.1.1, "Code Page 0: AirSync"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageAirSync = &codePage{
	id:      0,
	name:    "AirSync",
	section: "2.1.2.1.1",
	tags: []tagDef{
		{0x05, "Sync", 0},
		{0x06, "Responses", 0},
		{0x07, "Add", 0},
		{0x08, "Change", 0},
		{0x09, "Delete", 0},
		{0x0A, "Fetch", 0},
		{0x0B, "SyncKey", 0},
		{0x0C, "ClientId", 0},
		{0x0D, "ServerId", 0},
		{0x0E, "Status", 0},
		{0x0F, "Collection", 0},
		{0x10, "Class", 0},
		{0x12, "CollectionId", 0},
		{0x13, "GetChanges", 0},
		{0x14, "MoreAvailable", 0},
		{0x15, "WindowSize", 0},
		{0x16, "Commands", 0},
		{0x17, "Options", 0},
		{0x18, "FilterType", 0},
		{0x19, "Truncation", 0}, // 2.5 only
		{0x1B, "Conflict", 0},
		{0x1C, "Collections", 0},
		{0x1D, "ApplicationData", 0},
		{0x1E, "DeletesAsMoves", 0},
		{0x20, "Supported", 0},
		{0x21, "SoftDelete", 0},
		{0x22, "MIMESupport", 0},
		{0x23, "MIMETruncation", 0},
		{0x24, "Wait", 0},
		{0x25, "Limit", 0},
		{0x26, "Partial", 0},
		{0x27, "ConversationMode", 0},
		{0x28, "MaxItems", 0},
		{0x29, "HeartbeatInterval", 0},
	},
}
