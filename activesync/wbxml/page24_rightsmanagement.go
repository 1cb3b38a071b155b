package wbxml

// Code page 24: RightsManagement.
//
// Source: [MS-ASWBXML] section 2.1.2.1.25, "Code Page 24: RightsManagement"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageRightsManagement = &codePage{
	id:      24,
	name:    "RightsManagement",
	section: "2.1.2.1.25",
	tags: []tagDef{
		{0x05, "RightsManagementSupport", 0},
		{0x06, "RightsManagementTemplates", 0},
		{0x07, "RightsManagementTemplate", 0},
		{0x08, "RightsManagementLicense", 0},
		{0x09, "EditAllowed", 0},
		{0x0A, "ReplyAllowed", 0},
		{0x0B, "ReplyAllAllowed", 0},
		{0x0C, "ForwardAllowed", 0},
		{0x0D, "ModifyRecipientsAllowed", 0},
		{0x0E, "ExtractAllowed", 0},
		{0x0F, "PrintAllowed", 0},
		{0x10, "ExportAllowed", 0},
		{0x11, "ProgrammaticAccessAllowed", 0},
		{0x12, "Owner", 0},
		{0x13, "ContentExpiryDate", 0},
		{0x14, "TemplateID", 0},
		{0x15, "TemplateName", 0},
		{0x16, "TemplateDescription", 0},
		{0x17, "ContentOwner", 0},
		{0x18, "RemoveRightsManagementProtection", 0},
	},
}
