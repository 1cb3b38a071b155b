package wbxml

// Code page 2: Email.
//
// Source: [MS-ASWBXML] section 2.1.2.1.3, "Code Page 2: Email"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageEmail = &codePage{
	id:      2,
	name:    "Email",
	section: "2.1.2.1.3",
	tags: []tagDef{
		{0x05, "Attachment", 0},    // 2.5 only; airsyncbase:Attachment since 12.0
		{0x06, "Attachments", 0},   // 2.5 only
		{0x07, "AttName", 0},       // 2.5 only
		{0x08, "AttSize", 0},       // 2.5 only
		{0x09, "Att0Id", 0},        // 2.5 only; the spec spells it with a zero
		{0x0A, "AttMethod", 0},     // 2.5 only
		{0x0C, "Body", 0},          // 2.5 only
		{0x0D, "BodySize", 0},      // 2.5 only
		{0x0E, "BodyTruncated", 0}, // 2.5 only
		{0x0F, "DateReceived", 0},
		{0x10, "DisplayName", 0}, // 2.5 only
		{0x11, "DisplayTo", 0},
		{0x12, "Importance", 0},
		{0x13, "MessageClass", 0},
		{0x14, "Subject", 0},
		{0x15, "Read", 0},
		{0x16, "To", 0},
		{0x17, "Cc", 0},
		{0x18, "From", 0},
		{0x19, "ReplyTo", 0},
		{0x1A, "AllDayEvent", 0},
		{0x1B, "Categories", 0},
		{0x1C, "Category", 0},
		{0x1D, "DtStamp", 0},
		{0x1E, "EndTime", 0},
		{0x1F, "InstanceType", 0},
		{0x20, "BusyStatus", 0},
		{0x21, "Location", 0}, // not 16.x: airsyncbase:Location is used since 16.0
		{0x22, "MeetingRequest", 0},
		{0x23, "Organizer", 0},
		{0x24, "RecurrenceId", 0},
		{0x25, "Reminder", 0},
		{0x26, "ResponseRequested", 0},
		{0x27, "Recurrences", 0},
		{0x28, "Recurrence", 0},
		{0x29, "Type", 0},
		{0x2A, "Until", 0},
		{0x2B, "Occurrences", 0},
		{0x2C, "Interval", 0},
		{0x2D, "DayOfWeek", 0},
		{0x2E, "DayOfMonth", 0},
		{0x2F, "WeekOfMonth", 0},
		{0x30, "MonthOfYear", 0},
		{0x31, "StartTime", 0},
		{0x32, "Sensitivity", 0},
		{0x33, "TimeZone", 0},
		{0x34, "GlobalObjId", 0},
		{0x35, "ThreadTopic", 0},
		{0x36, "MIMEData", 0},      // 2.5 only
		{0x37, "MIMETruncated", 0}, // 2.5 only
		{0x38, "MIMESize", 0},      // 2.5 only
		{0x39, "InternetCPID", 0},
		{0x3A, "Flag", 0},
		{0x3B, "Status", 0},
		{0x3C, "ContentClass", 0},
		{0x3D, "FlagType", 0},
		{0x3E, "CompleteTime", 0},
		{0x3F, "DisallowNewTimeProposal", 0},
	},
}
