package cli

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"airlock/internal/server"
)

// governanceFlags declares serve's issue-9 flags (IMAP, submission,
// internal networks, SMS). The returned function finishes them after
// parsing (reads the SMS token file).
func governanceFlags(fs *flag.FlagSet, c *server.GovernanceConfig) func() error {
	fs.StringVar(&c.IMAPListen, "imap-listen", envOr("AIRLOCK_IMAP_LISTEN", ""), "IMAP with implicit TLS for desktop clients, e.g. 0.0.0.0:993; internal networks only; empty: off ($AIRLOCK_IMAP_LISTEN)")
	fs.StringVar(&c.IMAPStartTLSListen, "imap-starttls-listen", envOr("AIRLOCK_IMAP_STARTTLS_LISTEN", ""), "IMAP with STARTTLS (LOGIN disabled before TLS), e.g. 0.0.0.0:143; empty: off ($AIRLOCK_IMAP_STARTTLS_LISTEN)")
	fs.StringVar(&c.SubmissionListen, "submission-listen", envOr("AIRLOCK_SUBMISSION_LISTEN", ""), "SMTP submission (STARTTLS, AUTH) for desktop clients, e.g. 0.0.0.0:587; internal networks only; empty: off ($AIRLOCK_SUBMISSION_LISTEN)")
	fs.StringVar(&c.InternalNetworks, "internal-networks", envOr("AIRLOCK_INTERNAL_NETWORKS", "127.0.0.1/32,::1/128"), "comma-separated CIDR prefixes that may reach IMAP and submission; others are refused and audited ($AIRLOCK_INTERNAL_NETWORKS)")
	fs.StringVar(&c.SMSWebhook, "sms-webhook", envOr("AIRLOCK_SMS_WEBHOOK", ""), "SMS provider URL that receives {to,text,ref} as JSON (https); empty: no SMS ($AIRLOCK_SMS_WEBHOOK)")
	fs.StringVar(&c.SMSDomain, "sms-domain", envOr("AIRLOCK_SMS_DOMAIN", ""), "domain of SMS addresses, +447700900123@DOMAIN (default sms.<domain>) ($AIRLOCK_SMS_DOMAIN)")
	tokenFile := fs.String("sms-token-file", envOr("AIRLOCK_SMS_TOKEN_FILE", ""), "file holding the SMS provider's bearer token; or set $AIRLOCK_SMS_TOKEN ($AIRLOCK_SMS_TOKEN_FILE)")
	notify, _ := strconv.ParseBool(envOr("AIRLOCK_SMS_NOTIFY_SUCCESS", "false"))
	fs.BoolVar(&c.SMSNotifySuccess, "sms-notify-success", notify, "also tell senders when the SMS provider took their message ($AIRLOCK_SMS_NOTIFY_SUCCESS)")
	return func() error {
		c.SMSToken = os.Getenv("AIRLOCK_SMS_TOKEN")
		if *tokenFile != "" {
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return fmt.Errorf("--sms-token-file: %w", err)
			}
			c.SMSToken = strings.TrimRight(string(b), "\r\n")
		}
		return nil
	}
}
