package activesync

// commandTable is the dispatcher: every command Airlock serves, what it
// needs from the gate, and since which protocol version it exists. OPTIONS
// advertises exactly these names, and a test loops over this table to prove
// that none skips the gate.
func commandTable(h *Handler) []*Command {
	return []*Command{
		{Name: "Provision", Run: h.provision, MinVersion: V120, Quarantine: true},
		{Name: "Settings", Run: h.settings, NeedsPolicy: true, MinVersion: V120, Quarantine: true},
		{Name: "FolderSync", Run: h.folderSync, NeedsPolicy: true, MinVersion: V120, Quarantine: true},
		{Name: "FolderCreate", Run: h.folderCreate, NeedsPolicy: true, MinVersion: V120},
		{Name: "FolderUpdate", Run: h.folderUpdate, NeedsPolicy: true, MinVersion: V120},
		{Name: "FolderDelete", Run: h.folderDelete, NeedsPolicy: true, MinVersion: V120},
		{Name: "Sync", Run: h.sync, NeedsPolicy: true, MinVersion: V120, Quarantine: true, LargeBody: true, Push: true},
		{Name: "GetItemEstimate", Run: h.getItemEstimate, NeedsPolicy: true, MinVersion: V120},
		{Name: "MoveItems", Run: h.moveItems, NeedsPolicy: true, MinVersion: V120},
		{Name: "ItemOperations", Run: h.itemOperations, NeedsPolicy: true, MinVersion: V120, LargeBody: true},
		{Name: "GetAttachment", Run: h.getAttachment, NeedsPolicy: true, MinVersion: V120},
		{Name: "Ping", Run: h.ping, NeedsPolicy: true, MinVersion: V120, Push: true},
		{Name: "SendMail", Run: h.sendMail, NeedsPolicy: true, MinVersion: V120, RawBody: true, LargeBody: true},
		{Name: "SmartReply", Run: h.smartReply, NeedsPolicy: true, MinVersion: V120, RawBody: true, LargeBody: true},
		{Name: "SmartForward", Run: h.smartForward, NeedsPolicy: true, MinVersion: V120, RawBody: true, LargeBody: true},
		{Name: "Search", Run: h.search, NeedsPolicy: true, MinVersion: V120},
		{Name: "ResolveRecipients", Run: h.resolveRecipients, NeedsPolicy: true, MinVersion: V120},
		{Name: "Find", Run: h.find, NeedsPolicy: true, MinVersion: V161},
		{Name: "MeetingResponse", Run: h.meetingResponse, NeedsPolicy: true, MinVersion: V120},
	}
}
