package wbxml

// Code page 17: AirSyncBase.
//
// Source: [MS-ASWBXML] section 2.1.2.1.18, "Code Page 17: AirSyncBase"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageAirSyncBase = &codePage{
	id:      17,
	name:    "AirSyncBase",
	section: "2.1.2.1.18",
	tags: []tagDef{
		{0x05, "BodyPreference", 0},
		{0x06, "Type", 0},
		{0x07, "TruncationSize", 0},
		{0x08, "AllOrNone", 0},
		{0x0A, "Body", 0},
		{0x0B, "Data", 0},
		{0x0C, "EstimatedDataSize", 0},
		{0x0D, "Truncated", 0},
		{0x0E, "Attachments", 0},
		{0x0F, "Attachment", 0},
		{0x10, "DisplayName", 0},
		{0x11, "FileReference", 0},
		{0x12, "Method", 0},
		{0x13, "ContentId", 0},
		{0x14, "ContentLocation", 0},
		{0x15, "IsInline", 0},
		{0x16, "NativeBodyType", 0},
		{0x17, "ContentType", 0},
		{0x18, "Preview", 0},
		{0x19, "BodyPartPreference", 0},
		{0x1A, "BodyPart", 0},
		{0x1B, "Status", 0},
		{0x1C, "Add", 0},              // 16.0+
		{0x1D, "Delete", 0},           // 16.0+
		{0x1E, "ClientId", 0},         // 16.0+
		{0x1F, "Content", opaque},     // byte array (opaque), MS-ASAIRS 2.2.2.15; 16.0+
		{0x20, "Location", 0},         // 16.0+
		{0x21, "Annotation", 0},       // 16.0+
		{0x22, "Street", 0},           // 16.0+
		{0x23, "City", 0},             // 16.0+
		{0x24, "State", 0},            // 16.0+
		{0x25, "Country", 0},          // 16.0+
		{0x26, "PostalCode", 0},       // 16.0+
		{0x27, "Latitude", 0},         // 16.0+
		{0x28, "Longitude", 0},        // 16.0+
		{0x29, "Accuracy", 0},         // 16.0+
		{0x2A, "Altitude", 0},         // 16.0+
		{0x2B, "AltitudeAccuracy", 0}, // 16.0+
		{0x2C, "LocationUri", 0},      // 16.0+
		{0x2D, "InstanceId", 0},       // 16.0+
	},
}
