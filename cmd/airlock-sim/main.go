// Command airlock-sim simulates Exchange ActiveSync devices against Airlock
// servers on loopback and checks that no mail is lost, duplicated or left
// inconsistent: the EAS counterpart of Dovecot's imaptest. See
// docs/scale.md for the measurements made with it.
package main

import (
	"os"

	"airlock/internal/sim"
)

func main() {
	os.Exit(sim.Main(os.Args[1:], os.Stdout, os.Stderr))
}
