package wbxml

// Code page 13: Ping.
//
// Source: [MS-ASWBXML] section 2.1.2.1.14, "Code Page 13: Ping"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pagePing = &codePage{
	id:      13,
	name:    "Ping",
	section: "2.1.2.1.14",
	tags: []tagDef{
		{0x05, "Ping", 0},
		{0x07, "Status", 0},
		{0x08, "HeartbeatInterval", 0},
		{0x09, "Folders", 0},
		{0x0A, "Folder", 0},
		{0x0B, "Id", 0},
		{0x0C, "Class", 0},
		{0x0D, "MaxFolders", 0},
	},
}
