package wbxml

// Code page 8: MeetingResponse.
//
// Source: [MS-ASWBXML] section 2.1.2.1.9, "Code Page 8: MeetingResponse"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageMeetingResponse = &codePage{
	id:      8,
	name:    "MeetingResponse",
	section: "2.1.2.1.9",
	tags: []tagDef{
		{0x05, "CalendarId", 0},
		{0x06, "CollectionId", 0},
		{0x07, "MeetingResponse", 0},
		{0x08, "RequestId", 0},
		{0x09, "Request", 0},
		{0x0A, "Result", 0},
		{0x0B, "Status", 0},
		{0x0C, "UserResponse", 0},
		{0x0E, "InstanceId", 0},
		{0x10, "ProposedStartTime", 0}, // 16.1
		{0x11, "ProposedEndTime", 0},   // 16.1
		{0x12, "SendResponse", 0},      // 16.0+
	},
}
