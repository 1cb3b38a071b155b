// Command airlock is the Airlock secure mobile-mail gateway: one binary that
// serves Exchange ActiveSync, the admin dashboard and the mail listeners
// (airlock serve), and the tools administrators use (users, devices,
// policies, rules, migrate, import, wbxml).
package main

import (
	"os"

	"airlock/cmd/airlock/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
