package authguard

// Lookups is how many accounts the guard has looked up.
func (g *Guard) Lookups() int64 { return g.lookups.Load() }
