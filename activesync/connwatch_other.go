//go:build !linux

package activesync

import "net"

// watchGone closes gone when the device closes or resets c or sends
// anything. The returned stop ends the watch; call it before closing c.
func watchGone(c net.Conn, gone chan struct{}) (stop func()) {
	return watchByReading(c, gone)
}
