package wbxml

// Code page 22: Email2.
//
// Source: [MS-ASWBXML] section 2.1.2.1.23, "Code Page 22: Email2"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageEmail2 = &codePage{
	id:      22,
	name:    "Email2",
	section: "2.1.2.1.23",
	tags: []tagDef{
		{0x05, "UmCallerID", 0},
		{0x06, "UmUserNotes", 0},
		{0x07, "UmAttDuration", 0},
		{0x08, "UmAttOrder", 0},
		{0x09, "ConversationId", opaque},    // byte array (opaque), MS-ASCON 2.2.2.3.3
		{0x0A, "ConversationIndex", opaque}, // byte array (opaque), MS-ASEMAIL and MS-ASCON
		{0x0B, "LastVerbExecuted", 0},
		{0x0C, "LastVerbExecutionTime", 0},
		{0x0D, "ReceivedAsBcc", 0},
		{0x0E, "Sender", 0},
		{0x0F, "CalendarType", 0},
		{0x10, "IsLeapMonth", 0},
		{0x11, "AccountId", 0},
		{0x12, "FirstDayOfWeek", 0},
		{0x13, "MeetingMessageType", 0},
		{0x15, "IsDraft", 0}, // 16.0+
		{0x16, "Bcc", 0},     // 16.0+
		{0x17, "Send", 0},    // 16.0+
	},
}
