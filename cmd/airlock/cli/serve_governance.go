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
// internal networks, SMS, fax). The returned function finishes them after
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
	fs.StringVar(&c.FaxWebhook, "fax-webhook", envOr("AIRLOCK_FAX_WEBHOOK", ""), "fax provider URL that receives {to,ref,subject,text,documents} as JSON (https); empty: no fax ($AIRLOCK_FAX_WEBHOOK)")
	fs.StringVar(&c.FaxDomain, "fax-domain", envOr("AIRLOCK_FAX_DOMAIN", ""), "domain of fax addresses, +442079460018@DOMAIN (default fax.<domain>) ($AIRLOCK_FAX_DOMAIN)")
	faxTokenFile := fs.String("fax-token-file", envOr("AIRLOCK_FAX_TOKEN_FILE", ""), "file holding the fax provider's bearer token; or set $AIRLOCK_FAX_TOKEN ($AIRLOCK_FAX_TOKEN_FILE)")
	return func() error {
		c.FaxToken = os.Getenv("AIRLOCK_FAX_TOKEN")
		if *faxTokenFile != "" {
			b, err := os.ReadFile(*faxTokenFile)
			if err != nil {
				return fmt.Errorf("--fax-token-file: %w", err)
			}
			c.FaxToken = strings.TrimRight(string(b), "\r\n")
		}
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
