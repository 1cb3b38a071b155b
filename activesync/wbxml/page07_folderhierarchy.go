package wbxml

// Code page 7: FolderHierarchy.
//
// Source: [MS-ASWBXML] section 2.1.2.1.8, "Code Page 7: FolderHierarchy"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageFolderHierarchy = &codePage{
	id:      7,
	name:    "FolderHierarchy",
	section: "2.1.2.1.8",
	tags: []tagDef{
		{0x05, "Folders", 0},
		{0x06, "Folder", 0},
		{0x07, "DisplayName", 0},
		{0x08, "ServerId", 0},
		{0x09, "ParentId", 0},
		{0x0A, "Type", 0},
		{0x0C, "Status", 0},
		{0x0E, "Changes", 0},
		{0x0F, "Add", 0},
		{0x10, "Delete", 0},
		{0x11, "Update", 0},
		{0x12, "SyncKey", 0},
		{0x13, "FolderCreate", 0},
		{0x14, "FolderDelete", 0},
		{0x15, "FolderUpdate", 0},
		{0x16, "FolderSync", 0},
		{0x17, "Count", 0},
	},
}
