package cli

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"airlock/internal/server"
)

// mailFlags declares serve's push and mail-flow flags into c. The returned
// function finishes them after parsing (reads the relay password file).
func mailFlags(fs *flag.FlagSet, c *server.MailConfig) func() error {
	fs.StringVar(&c.SMTPListen, "smtp-listen", envOr("AIRLOCK_SMTP_LISTEN", ""), "SMTP address for incoming mail, e.g. 0.0.0.0:25; empty: off ($AIRLOCK_SMTP_LISTEN)")
	fs.StringVar(&c.LMTPListen, "lmtp-listen", envOr("AIRLOCK_LMTP_LISTEN", ""), "LMTP address for an MTA in front (Postfix), e.g. 127.0.0.1:24; empty: off ($AIRLOCK_LMTP_LISTEN)")
	fs.StringVar(&c.RelayHost, "relay", envOr("AIRLOCK_RELAY", ""), "smarthost HOST:PORT for mail to other domains; empty: such mail is refused ($AIRLOCK_RELAY)")
	fs.StringVar(&c.RelayUser, "relay-user", envOr("AIRLOCK_RELAY_USER", ""), "user name for AUTH PLAIN with the smarthost ($AIRLOCK_RELAY_USER)")
	pwFile := fs.String("relay-password-file", envOr("AIRLOCK_RELAY_PASSWORD_FILE", ""), "file holding the smarthost password; or set $AIRLOCK_RELAY_PASSWORD ($AIRLOCK_RELAY_PASSWORD_FILE)")
	starttls, _ := strconv.ParseBool(envOr("AIRLOCK_RELAY_STARTTLS", "true"))
	fs.BoolVar(&starttls, "relay-starttls", starttls, "require STARTTLS with the smarthost; false only for a relay on this host ($AIRLOCK_RELAY_STARTTLS)")
	size, _ := strconv.ParseInt(envOr("AIRLOCK_MAX_MESSAGE_SIZE", "26214400"), 10, 64)
	fs.Int64Var(&c.MaxMessageSize, "max-message-size", size, "largest message in bytes, in and out ($AIRLOCK_MAX_MESSAGE_SIZE)")
	hbMin, _ := time.ParseDuration(envOr("AIRLOCK_HEARTBEAT_MIN", "60s"))
	hbMax, _ := time.ParseDuration(envOr("AIRLOCK_HEARTBEAT_MAX", "3540s"))
	fs.DurationVar(&c.HeartbeatMin, "heartbeat-min", hbMin, "shortest Ping heartbeat a device may ask for ($AIRLOCK_HEARTBEAT_MIN)")
	fs.DurationVar(&c.HeartbeatMax, "heartbeat-max", hbMax, "longest Ping heartbeat; a proxy in front must allow longer idle requests ($AIRLOCK_HEARTBEAT_MAX)")
	return func() error {
		c.RelayDisableStartTLS = !starttls
		c.RelayPassword = os.Getenv("AIRLOCK_RELAY_PASSWORD")
		if *pwFile != "" {
			b, err := os.ReadFile(*pwFile)
			if err != nil {
				return fmt.Errorf("--relay-password-file: %w", err)
			}
			c.RelayPassword = strings.TrimRight(string(b), "\r\n")
		}
		return nil
	}
}
