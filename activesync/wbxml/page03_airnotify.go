package wbxml

// Code page 3: AirNotify.
//
// Source: [MS-ASWBXML] section 2.1.2.1.4, "Code Page 3: AirNotify"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
//
// The current MS-ASWBXML says this code page is no longer in use but that
// tokens 0x05 to 0x17 have been defined; their names come from earlier
// revisions of the document (they match libwbxml's table). They are kept so
// that a document from an old client decodes, and nothing in EAS 16.1 uses
// them.
var pageAirNotify = &codePage{
	id:      3,
	name:    "AirNotify",
	section: "2.1.2.1.4",
	tags: []tagDef{
		{0x05, "Notify", 0},
		{0x06, "Notification", 0},
		{0x07, "Version", 0},
		{0x08, "LifeTime", 0},
		{0x09, "DeviceInfo", 0},
		{0x0A, "Enable", 0},
		{0x0B, "Folder", 0},
		{0x0C, "ServerId", 0},
		{0x0D, "DeviceAddress", 0},
		{0x0E, "ValidCarrierProfiles", 0},
		{0x0F, "CarrierProfile", 0},
		{0x10, "Status", 0},
		{0x11, "Responses", 0},
		{0x12, "Devices", 0},
		{0x13, "Device", 0},
		{0x14, "Id", 0},
		{0x15, "Expiry", 0},
		{0x16, "NotifyGUID", 0},
		{0x17, "DeviceFriendlyName", 0},
	},
}
