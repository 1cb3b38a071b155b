package activesync

// commandTable is the dispatcher: every command Airlock serves, what it
// needs from the gate, and since which protocol version it exists. OPTIONS
// advertises exactly these names, and a test loops over this table to prove
// that none skips the gate.
func commandTable(h *Handler) []*Command {
	return []*Command{
		{Name: "Provision", Run: h.provision, MinVersion: V120, Quarantine: true},
		{Name: "Settings", Run: h.settings, NeedsPolicy: true, MinVersion: V120, Quarantine: true},
	}
}
