package wbxml

// Code page 11: ValidateCert.
//
// Source: [MS-ASWBXML] section 2.1.2.1.12, "Code Page 11: ValidateCert"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageValidateCert = &codePage{
	id:      11,
	name:    "ValidateCert",
	section: "2.1.2.1.12",
	tags: []tagDef{
		{0x05, "ValidateCert", 0},
		{0x06, "Certificates", 0},
		{0x07, "Certificate", 0},
		{0x08, "CertificateChain", 0},
		{0x09, "CheckCRL", 0},
		{0x0A, "Status", 0},
	},
}
