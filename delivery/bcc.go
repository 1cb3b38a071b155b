package delivery

import (
	"context"
	"net/mail"
	"strings"

	gomail "github.com/emersion/go-message/mail"

	"airlock/message"
	"airlock/store"
)

// Bcc. A local recipient whose addresses are neither in To nor
// in Cc got the message as a Bcc recipient: their copy is marked
// ReceivedAsBcc (MS-ASEMAIL 2.2.2.65), which a device shows. The header
// cannot say it (Bcc is removed before delivery); the envelope does.
// The sender's own Sent Items copy keeps the Bcc list (Item.BccAddrs),
// which 16.x devices show (email2:Bcc).

// markBcc sets it.ReceivedAsBcc for u's copy of a message with the To and
// Cc of parsed.
func (s *Service) markBcc(ctx context.Context, parsed, it *store.Item, u *store.User) error {
	aliases, err := s.Store.Aliases(ctx, u.ID)
	if err != nil {
		return err
	}
	own := map[string]bool{store.NormalizeEmail(u.Email): true}
	for _, a := range aliases {
		own[store.NormalizeEmail(a)] = true
	}
	it.ReceivedAsBcc = !namesAny(parsed.ToAddrs, own) && !namesAny(parsed.CcAddrs, own)
	return nil
}

// namesAny reports whether the address list names one of own. A list
// net/mail cannot read is searched as text, so a malformed To never turns
// an addressee into a Bcc recipient.
func namesAny(list string, own map[string]bool) bool {
	if strings.TrimSpace(list) == "" {
		return false
	}
	addrs, err := mail.ParseAddressList(list)
	if err != nil {
		l := strings.ToLower(list)
		for a := range own {
			if strings.Contains(l, a) {
				return true
			}
		}
		return false
	}
	for _, a := range addrs {
		if own[store.NormalizeEmail(a.Address)] {
			return true
		}
	}
	return false
}

// bccList is the Bcc field of a submitted message as the store keeps it.
func bccList(list []*gomail.Address) string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, message.FormatAddress(a.Name, a.Address))
	}
	return strings.Join(out, ", ")
}
