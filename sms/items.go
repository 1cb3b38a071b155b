package sms

// SMS items: the text messages a user's mailbox keeps, synced to
// devices that ask for the EAS SMS class (MS-ASMS). Each is a small
// plain-text RFC 5322 message, so every other reader of the folder (IMAP,
// search) sees an ordinary mail; addresses of numbers are written at the
// SMS domain (+447700900123@sms.example.nhs.uk), and shown to EAS devices
// in the MS-ASMS form "[MOBILE:+447700900123]".

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"airlock/store"
)

// mobileForm matches an MS-ASMS party: an optional display name, then
// "[MOBILE:" number "]".
var mobileForm = regexp.MustCompile(`^\s*(?:"?([^"\[]*?)"?\s*)?\[MOBILE:\s*([^\]]+)\]\s*$`)

// Party turns one party of an SMS item as a device writes it ("[MOBILE:+1
// 206 555 0100]", "Ann" [MOBILE:...], or a mail address) into a mail
// address; numbers go to the SMS domain. ok is false when it is neither.
func (a Addresses) Party(s string) (addr *mail.Address, ok bool) {
	if m := mobileForm.FindStringSubmatch(s); m != nil {
		num := normalizeNumber(m[2])
		if !e164.MatchString(num) || a.Domain == "" {
			return nil, false
		}
		return &mail.Address{Name: strings.TrimSpace(m[1]), Address: num + "@" + a.Domain}, true
	}
	if n := normalizeNumber(s); e164.MatchString(n) && a.Domain != "" {
		return &mail.Address{Address: n + "@" + a.Domain}, true
	}
	ad, err := mail.ParseAddress(s)
	if err != nil {
		return nil, false
	}
	return ad, true
}

// Parties reads a list of parties separated by semicolons or commas.
func (a Addresses) Parties(s string) ([]*mail.Address, bool) {
	var out []*mail.Address
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		if strings.TrimSpace(p) == "" {
			continue
		}
		ad, ok := a.Party(p)
		if !ok {
			return nil, false
		}
		out = append(out, ad)
	}
	return out, len(out) > 0
}

// Show writes a stored address list for an EAS device: SMS-domain
// addresses as "[MOBILE:+447700900123]" (with the name, if any), others
// as they are.
func (a Addresses) Show(list string) string {
	addrs, err := mail.ParseAddressList(list)
	if err != nil {
		return list
	}
	parts := make([]string, 0, len(addrs))
	for _, ad := range addrs {
		if num, ok := a.Number(ad.Address); ok {
			if ad.Name != "" {
				parts = append(parts, fmt.Sprintf("%q [MOBILE:%s]", ad.Name, num))
			} else {
				parts = append(parts, "[MOBILE:"+num+"]")
			}
			continue
		}
		parts = append(parts, ad.String())
	}
	return strings.Join(parts, "; ")
}

func normalizeNumber(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '.' || r == '-' || r == '(' || r == ')' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// Item is what an SMS item is made of.
type Item struct {
	UserID, FolderID int64 // FolderID 0: the store picks Sent Items (a sent SMS)
	From             *mail.Address
	To               []*mail.Address
	Text             string
	When             time.Time
	Read             bool
	// Status is the delivery status of a message sent through the gateway
	// (store.SMSQueued); empty otherwise.
	Status   string
	Hostname string // for the Message-ID
}

// MaxText bounds the text of an SMS item a device adds (the same four
// concatenated parts the gateway sends).
const MaxText = 1600

// NewItem builds the SMS item and its message.
func NewItem(p Item) (*store.Item, []byte) {
	when := p.When.UTC().Truncate(time.Second)
	if p.When.IsZero() {
		when = time.Now().UTC().Truncate(time.Second)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	host := p.Hostname
	if host == "" {
		host = "localhost"
	}
	msgID := "sms." + hex.EncodeToString(rnd[:]) + "@" + host
	subject := strings.Join(strings.Fields(p.Text), " ")
	if utf8.RuneCountInString(subject) > 60 {
		subject = string([]rune(subject)[:59]) + "…"
	}
	to := make([]string, len(p.To))
	for i, a := range p.To {
		to[i] = a.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", p.From.String(), strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s>\r\n", when.Format(time.RFC1123Z), msgID)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
	b.WriteString("X-Airlock-SMS: 1\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(p.Text, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	raw := []byte(b.String())

	it := &store.Item{
		UserID: p.UserID, FolderID: p.FolderID, Class: store.ClassSMS, MessageClass: store.SMSMessageClass,
		MessageID: msgID, Subject: subject, FromAddr: p.From.String(), ToAddrs: strings.Join(to, ", "),
		DateReceived: &when, Read: p.Read, Importance: 1, Preview: truncate(strings.Join(strings.Fields(p.Text), " "), 255),
	}
	if p.Status != "" {
		at := when
		it.Props = store.SMSProps{Status: p.Status, At: &at}.JSON()
	}
	return it, raw
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
