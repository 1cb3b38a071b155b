package wbxml

// Code page 10: ResolveRecipients.
//
// Source: [MS-ASWBXML] section 2.1.2.1.11, "Code Page 10: ResolveRecipients"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageResolveRecipients = &codePage{
	id:      10,
	name:    "ResolveRecipients",
	section: "2.1.2.1.11",
	tags: []tagDef{
		{0x05, "ResolveRecipients", 0},
		{0x06, "Response", 0},
		{0x07, "Status", 0},
		{0x08, "Type", 0},
		{0x09, "Recipient", 0},
		{0x0A, "DisplayName", 0},
		{0x0B, "EmailAddress", 0},
		{0x0C, "Certificates", 0},
		{0x0D, "Certificate", 0},
		{0x0E, "MiniCertificate", 0},
		{0x0F, "Options", 0},
		{0x10, "To", 0},
		{0x11, "CertificateRetrieval", 0},
		{0x12, "RecipientCount", 0},
		{0x13, "MaxCertificates", 0},
		{0x14, "MaxAmbiguousRecipients", 0},
		{0x15, "CertificateCount", 0},
		{0x16, "Availability", 0},
		{0x17, "StartTime", 0},
		{0x18, "EndTime", 0},
		{0x19, "MergedFreeBusy", 0},
		{0x1A, "Picture", 0},
		{0x1B, "MaxSize", 0},
		{0x1C, "Data", opaque}, // byte array (opaque), MS-ASCMD 2.2.3.39.3
		{0x1D, "MaxPictures", 0},
	},
}
