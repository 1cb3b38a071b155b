package wbxml

// Code page 9: Tasks.
//
// Source: [MS-ASWBXML] section 2.1.2.1.10, "Code Page 9: Tasks"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageTasks = &codePage{
	id:      9,
	name:    "Tasks",
	section: "2.1.2.1.10",
	tags: []tagDef{
		{0x05, "Body", 0},          // 2.5 only
		{0x06, "BodySize", 0},      // 2.5 only
		{0x07, "BodyTruncated", 0}, // 2.5 only
		{0x08, "Categories", 0},
		{0x09, "Category", 0},
		{0x0A, "Complete", 0},
		{0x0B, "DateCompleted", 0},
		{0x0C, "DueDate", 0},
		{0x0D, "UtcDueDate", 0},
		{0x0E, "Importance", 0},
		{0x0F, "Recurrence", 0},
		{0x10, "Type", 0},
		{0x11, "Start", 0},
		{0x12, "Until", 0},
		{0x13, "Occurrences", 0},
		{0x14, "Interval", 0},
		{0x15, "DayOfMonth", 0},
		{0x16, "DayOfWeek", 0},
		{0x17, "WeekOfMonth", 0},
		{0x18, "MonthOfYear", 0},
		{0x19, "Regenerate", 0},
		{0x1A, "DeadOccur", 0},
		{0x1B, "ReminderSet", 0},
		{0x1C, "ReminderTime", 0},
		{0x1D, "Sensitivity", 0},
		{0x1E, "StartDate", 0},
		{0x1F, "UtcStartDate", 0},
		{0x20, "Subject", 0},
		{0x22, "OrdinalDate", 0},
		{0x23, "SubOrdinalDate", 0},
		{0x24, "CalendarType", 0},
		{0x25, "IsLeapMonth", 0},
		{0x26, "FirstDayOfWeek", 0},
	},
}
