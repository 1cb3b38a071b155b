package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"airlock/delivery"
	"airlock/delivery/deliverytest"
	"airlock/store"
	"airlock/store/storetest"
)

// Internal senders spoofed on port 25: mail from outside the internal
// networks that claims one of the organisation's domains, in the envelope
// or in From:/Sender:, is refused with 550 5.7.1 and not stored; the same
// mail from an internal network, or from an authenticated session, is
// taken, and so is ordinary mail from other organisations.
func TestInternalSendersSpoofedOnPort25Refused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		alice := addUser(t, st, "alice@example.nhs.uk")
		bob := addUser(t, st, "bob@example.nhs.uk")
		addUser(t, st, "carol@sister-trust.nhs.uk") // a domain known from a user only
		if err := st.AddAlias(ctx, bob.ID, "ward7@alias-domain.example"); err != nil {
			t.Fatal(err)
		}
		svc := &delivery.Service{Store: st, Hostname: "mx.example.nhs.uk"}
		cert, pool := deliverytest.SelfSigned(t)
		listenFrom := func(internal bool) string {
			addr, _, _ := listen(t, svc, delivery.ListenerConfig{
				TLSConfig: tlsServer(cert),
				Authenticate: func(ctx context.Context, user, pw, _ string) (*store.User, error) {
					if user == "alice@example.nhs.uk" && pw == "pw" {
						return alice, nil
					}
					return nil, errors.New("bad")
				},
				Internal:   func(string) bool { return internal },
				OwnDomains: []string{"example.nhs.uk", "mx.example.nhs.uk"},
			})
			return addr
		}
		outside, inside := listenFrom(false), listenFrom(true)

		msg := func(from, subject string) string {
			return fmt.Sprintf("From: %s\r\nTo: bob@example.nhs.uk\r\nSubject: %s\r\nMessage-ID: <%s@x>\r\n\r\nPlease send the results.\r\n", from, subject, subject)
		}
		cases := []struct {
			name, envelope, from string
			outsideRefused       bool
		}{
			{"other organisation", "gp@surgery.example", "GP <gp@surgery.example>", false},
			{"envelope claims own domain", "alice@example.nhs.uk", "GP <gp@surgery.example>", true},
			{"envelope in other case", "Alice@EXAMPLE.nhs.uk", "GP <gp@surgery.example>", true},
			{"envelope claims subdomain", "it@ward.example.nhs.uk", "GP <gp@surgery.example>", true},
			{"envelope claims a user's domain", "x@sister-trust.nhs.uk", "GP <gp@surgery.example>", true},
			{"envelope claims an alias's domain", "x@alias-domain.example", "GP <gp@surgery.example>", true},
			{"header From claims own domain", "bounce@surgery.example", "Alice <alice@example.nhs.uk>", true},
			{"bounce with own From", "", "Alice <alice@example.nhs.uk>", true},
			{"encoded display name", "gp@surgery.example", "=?utf-8?q?alice=40example=2Enhs=2Euk?= <x@surgery.example>", true},
			{"unknown user in own domain", "nobody@example.nhs.uk", "GP <gp@surgery.example>", true},
			{"look-alike domain", "alice@example.nhs.uk.evil.example", "Alice <alice@example-nhs.uk>", false},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := len(items(t, st, bob, store.FolderInbox))
				err := sendPlain(outside, tc.envelope, []string{"bob@example.nhs.uk"}, msg(tc.from, fmt.Sprintf("out%d", i)))
				if tc.outsideRefused {
					var se *smtp.SMTPError
					if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "own domain") {
						t.Fatalf("from outside: %v, want 550 5.7.1", err)
					}
					if n := len(items(t, st, bob, store.FolderInbox)); n != before {
						t.Fatalf("refused mail stored")
					}
				} else if err != nil {
					t.Fatalf("from outside: %v", err)
				}
				if err := sendPlain(inside, tc.envelope, []string{"bob@example.nhs.uk"}, msg(tc.from, fmt.Sprintf("in%d", i))); err != nil {
					t.Fatalf("from an internal network: %v", err)
				}
			})
		}

		// Authenticated, from outside: alice's own mail is hers to send.
		c, err := smtp.DialStartTLS(outside, tlsClient(pool))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.nhs.uk", "pw")); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("alice@example.nhs.uk", []string{"bob@example.nhs.uk"}, strings.NewReader(msg("Alice <alice@example.nhs.uk>", "authenticated"))); err != nil {
			t.Fatalf("authenticated: %v", err)
		}
	})
}
