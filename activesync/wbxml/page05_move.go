package wbxml

// Code page 5: Move.
//
// Source: [MS-ASWBXML] section 2.1.2.1.6, "Code Page 5: Move"
// (learn.microsoft.com/openspecs/exchange_server_protocols/ms-aswbxml).
var pageMove = &codePage{
	id:      5,
	name:    "Move",
	section: "2.1.2.1.6",
	tags: []tagDef{
		{0x05, "MoveItems", 0},
		{0x06, "Move", 0},
		{0x07, "SrcMsgId", 0},
		{0x08, "SrcFldId", 0},
		{0x09, "DstFldId", 0},
		{0x0A, "Response", 0},
		{0x0B, "Status", 0},
		{0x0C, "DstMsgId", 0},
	},
}
