package activesync

// ResetBodyCache empties the process's cache of rendered bodies, so a
// benchmark can measure a device that is the first to fetch its mail.
func ResetBodyCache() { renderedBodies.reset() }

// BodyCacheLen is the number of bodies the process's cache holds.
func BodyCacheLen() int { n, _ := renderedBodies.len(); return n }
