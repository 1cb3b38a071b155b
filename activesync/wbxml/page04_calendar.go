package wbxml

// Code page 4: Calendar.
//
// Source: [MS-ASWBXML] section 2.1.2.1.5, "Code Page 4: Calendar"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageCalendar = &codePage{
	id:      4,
	name:    "Calendar",
	section: "2.1.2.1.5",
	tags: []tagDef{
		{0x05, "Timezone", 0},
		{0x06, "AllDayEvent", 0},
		{0x07, "Attendees", 0},
		{0x08, "Attendee", 0},
		{0x09, "Email", 0},
		{0x0A, "Name", 0},
		{0x0B, "Body", 0},          // 2.5 only
		{0x0C, "BodyTruncated", 0}, // 2.5 only
		{0x0D, "BusyStatus", 0},
		{0x0E, "Categories", 0},
		{0x0F, "Category", 0},
		{0x11, "DtStamp", 0},
		{0x12, "EndTime", 0},
		{0x13, "Exception", 0},
		{0x14, "Exceptions", 0},
		{0x15, "Deleted", 0},
		{0x16, "ExceptionStartTime", 0},
		{0x17, "Location", 0}, // not 16.x: airsyncbase:Location is used since 16.0
		{0x18, "MeetingStatus", 0},
		{0x19, "OrganizerEmail", 0},
		{0x1A, "OrganizerName", 0},
		{0x1B, "Recurrence", 0},
		{0x1C, "Type", 0},
		{0x1D, "Until", 0},
		{0x1E, "Occurrences", 0},
		{0x1F, "Interval", 0},
		{0x20, "DayOfWeek", 0},
		{0x21, "DayOfMonth", 0},
		{0x22, "WeekOfMonth", 0},
		{0x23, "MonthOfYear", 0},
		{0x24, "Reminder", 0},
		{0x25, "Sensitivity", 0},
		{0x26, "Subject", 0},
		{0x27, "StartTime", 0},
		{0x28, "UID", 0},
		{0x29, "AttendeeStatus", 0},
		{0x2A, "AttendeeType", 0},
		{0x33, "DisallowNewTimeProposal", 0},
		{0x34, "ResponseRequested", 0},
		{0x35, "AppointmentReplyTime", 0},
		{0x36, "ResponseType", 0},
		{0x37, "CalendarType", 0},
		{0x38, "IsLeapMonth", 0},
		{0x39, "FirstDayOfWeek", 0},
		{0x3A, "OnlineMeetingConfLink", 0},
		{0x3B, "OnlineMeetingExternalLink", 0},
		{0x3C, "ClientUid", 0}, // 16.0+
	},
}
