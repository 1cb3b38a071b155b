// Package activesync serves Exchange ActiveSync (MS-ASHTTP, MS-ASCMD):
// one gate for every command (handler.go), then the commands.
//
// # Implementation notes
//
// Request bodies are bounded before they are read: each command has a
// limit (only those that carry mail or attachments get the large one, and
// only for an allowed device), the body is read after authentication and
// the device's gate, within an admission slot that caps a device's and an
// account's requests and body bytes in flight (held Pings and Syncs with
// Wait do not count), and before a read deadline sized by its length
// (inflight.go).
package activesync
