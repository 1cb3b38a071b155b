package cli

import (
	"flag"
	"strconv"
	"time"

	"airlock/internal/server"
)

// transportFlags adds the connection and request body limits; the function
// it returns finishes them after parsing.
func transportFlags(fs *flag.FlagSet, c *server.TransportConfig) func() {
	conns, _ := strconv.Atoi(envOr("AIRLOCK_MAX_CONNS_PER_ADDRESS", "1000"))
	fs.IntVar(&c.MaxConnsPerAddress, "max-conns-per-address", conns, "most connections one client address may hold open (HTTPS, SMTP); a site behind one NAT address shares it; 0: no cap, for a proxy in front ($AIRLOCK_MAX_CONNS_PER_ADDRESS)")
	bt, _ := time.ParseDuration(envOr("AIRLOCK_BODY_TIMEOUT", "30s"))
	fs.DurationVar(&c.BodyTimeout, "body-timeout", bt, "time a request body may take, plus 1 s per 32 KiB of it; never limits a held Ping ($AIRLOCK_BODY_TIMEOUT)")
	dev, _ := strconv.Atoi(envOr("AIRLOCK_MAX_REQUESTS_PER_DEVICE", "4"))
	fs.IntVar(&c.MaxRequestsPerDevice, "max-requests-per-device", dev, "EAS requests one device may have in flight on a node, held Pings not counted ($AIRLOCK_MAX_REQUESTS_PER_DEVICE)")
	user, _ := strconv.Atoi(envOr("AIRLOCK_MAX_REQUESTS_PER_USER", "8"))
	fs.IntVar(&c.MaxRequestsPerUser, "max-requests-per-user", user, "EAS requests one account may have in flight on a node, held Pings not counted ($AIRLOCK_MAX_REQUESTS_PER_USER)")
	return func() {
		if c.MaxConnsPerAddress == 0 {
			c.MaxConnsPerAddress = -1 // the configuration's "no cap"
		}
	}
}
