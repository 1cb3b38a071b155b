package delivery

// Health-service rules: the hooks Service calls on submission and
// inbound delivery, implemented by package governance. With Service.Rules
// nil everything here is inert and mail flows exactly as before.
//
// The edits to the other files of this package name "rules.go" and
// each calls into this file:
//   - service.go Submit: From the owner with Sender the delegate
//     (onBehalfOf), SMS and fax addresses leave the remote list (splitSMS), and the
//     submission is stored through storeSubmission;
//   - service.go DeliverInbound: stored through storeInbound;
//   - inbound.go: RCPT refuses a full mailbox (rcptQuota) and accepts SMS
//     addresses from authenticated users; DATA maps quota refusals
//     (quotaReply).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"airlock/store"
)

// Quota refusals; compare with errors.Is. Each error also wraps
// store.ErrQuotaExceeded.
var (
	// ErrMailboxFull: every recipient's mailbox is too full for the
	// message (SMTP 552 5.2.2).
	ErrMailboxFull = errors.New("delivery: mailbox full")
	// ErrSendQuotaExceeded: the sender's mailbox is full, so sending is
	// blocked until they make room (EAS Status 115 SendQuotaExceeded).
	ErrSendQuotaExceeded = errors.New("delivery: sender's mailbox is over its quota; sending is blocked")
	// ErrSentItemsFull: the sender's Sent Items copy would take their
	// mailbox over its quota (EAS Status 113 MailboxQuotaExceeded).
	ErrSentItemsFull = errors.New("delivery: no room for the copy in Sent Items")
)

// Rules are the organisation's mail rules. Implementations must be safe for
// concurrent use.
type Rules interface {
	// CheckQuota returns an error wrapping store.ErrQuotaExceeded when
	// size more bytes would take the user over their quota.
	CheckQuota(ctx context.Context, userID, size int64) error
	// SendOnBehalf returns the owner of address from when user may send
	// mail From it as a delegate.
	SendOnBehalf(ctx context.Context, user *store.User, from string) (*store.User, bool)
	// IsSMSAddress reports whether addr is handled by the SMS gateway.
	IsSMSAddress(addr string) bool
	// IsFaxAddress reports whether addr is handled by the fax gateway.
	IsFaxAddress(addr string) bool
	// Outgoing decides what happens to the parts of a submission that
	// leave the organisation: the relay's recipients and data (the tag
	// line added), what is held, and the text messages.
	Outgoing(ctx context.Context, o Outgoing) (*OutgoingDecision, error)
	// Committed runs after a submission or delivery committed.
	Committed(ctx context.Context, c Committed)
}

// Committed is what a committed write did, for Rules.Committed.
type Committed struct {
	UserIDs []int64         // local users who got mail (quota warnings)
	SMS     int             // text messages queued
	Fax     int             // faxes queued
	Held    *store.HeldMail // mail held, with its id
	Sender  *store.User     // nil for inbound mail
}

// Outgoing is the outside-bound part of one submission.
type Outgoing struct {
	User   *store.User
	Raw    []byte // the message as stored for local recipients
	Parsed *store.Item
	Remote []string // recipients for the relay
	SMS    []string // SMS addresses
	Fax    []string // fax addresses
}

// OutgoingDecision is what Rules.Outgoing decided.
type OutgoingDecision struct {
	Relay     []string // recipients the relay takes
	RelayData []byte   // what the relay sends; nil means Outgoing.Raw
	Held      *store.HeldMail
	SMS       []store.SMSMessage
	Fax       []store.FaxMessage
	Notices   []store.Delivery // for the sender, in the same transaction
}

// maxGovernedAttempts bounds the retries of a write refused inside its
// transaction by a quota that filled up since the early check.
const maxGovernedAttempts = 3

// onBehalfOf returns the owner when the submission's single From address
// belongs to someone who let user send on their behalf.
func (s *Service) onBehalfOf(ctx context.Context, user *store.User, from []*mail.Address) *store.User {
	if s.Rules == nil || len(from) != 1 {
		return nil
	}
	owner, ok := s.Rules.SendOnBehalf(ctx, user, from[0].Address)
	if !ok || owner.ID == user.ID {
		return nil
	}
	return owner
}

// isGateway reports whether addr goes to the SMS or the fax gateway
// rather than the relay.
func (s *Service) isGateway(addr string) bool {
	return s.Rules != nil && (s.Rules.IsSMSAddress(addr) || s.Rules.IsFaxAddress(addr))
}

// splitSMS moves SMS addresses from res.Remote to res.SMS, and fax
// addresses to res.Fax: the gateways take them, not the relay.
func (s *Service) splitSMS(res *Result) {
	if s.Rules == nil {
		return
	}
	remote := res.Remote[:0:0]
	for _, a := range res.Remote {
		switch {
		case s.Rules.IsSMSAddress(a):
			res.SMS = append(res.SMS, a)
		case s.Rules.IsFaxAddress(a):
			res.Fax = append(res.Fax, a)
		default:
			remote = append(remote, a)
		}
	}
	res.Remote = remote
}

// storeSubmission stores ss with the rules applied: the sender's quota,
// each local recipient's quota (a full one gets no copy and the sender a
// report), and Outgoing for the relay's and the SMS gateway's part; all in
// one transaction, retried when a quota filled up meanwhile.
func (s *Service) storeSubmission(ctx context.Context, sub Submission, raw []byte, parsed *store.Item, res *Result, ss store.Submission) error {
	if s.Rules == nil {
		return s.Store.Submit(ctx, ss)
	}
	size := int64(len(raw))
	if err := s.Rules.CheckQuota(ctx, sub.User.ID, 1); err != nil {
		return quotaErr(err, ErrSendQuotaExceeded)
	}
	if sub.SaveInSent {
		if err := s.Rules.CheckQuota(ctx, sub.User.ID, size); err != nil {
			return quotaErr(err, ErrSentItemsFull)
		}
	}
	items := ss.Items
	remote, smsAddrs, faxAddrs := res.Remote, res.SMS, res.Fax
	for attempt := 1; ; attempt++ {
		g := store.Governed{}
		ss.Items = nil
		failed := map[string]string{}
		var sentCopy *store.Item
		for _, it := range items {
			// The Sent Items copy was checked above, with a clearer error.
			if it.UserID == sub.User.ID && sub.SaveInSent && s.isSentCopy(ctx, it) {
				sentCopy = it
			} else if err := s.Rules.CheckQuota(ctx, it.UserID, size); errors.Is(err, store.ErrQuotaExceeded) {
				failed[s.addressOf(ctx, it.UserID)] = fullDiagnostic
				continue
			} else if err != nil {
				return err
			}
			ss.Items = append(ss.Items, it)
			if !slices.Contains(g.Enforce, it.UserID) {
				g.Enforce = append(g.Enforce, it.UserID)
			}
		}
		ss.Outbound = nil
		res.Remote, res.SMS, res.Fax, res.Held, res.Refused = remote, smsAddrs, faxAddrs, nil, nil
		if len(remote)+len(smsAddrs)+len(faxAddrs) > 0 {
			dec, err := s.Rules.Outgoing(ctx, Outgoing{User: sub.User, Raw: raw, Parsed: parsed, Remote: remote, SMS: smsAddrs, Fax: faxAddrs})
			if err != nil {
				return err
			}
			res.Remote = dec.Relay
			if len(dec.Relay) > 0 {
				data := dec.RelayData
				if data == nil {
					data = raw
				}
				uid := sub.User.ID
				ss.Outbound = &store.OutboundMail{UserID: &uid, MailFrom: sub.User.Email, RcptTo: strings.Join(dec.Relay, "\n"), Data: data}
			}
			if dec.Held != nil {
				g.Held = dec.Held
				res.Held = dec.Held.Recipients()
			}
			g.SMS = dec.SMS
			g.Fax = dec.Fax
			for i := range g.Fax {
				g.Fax[i].SentItem = sentCopy // the status goes on it
			}
			g.Notices = append(g.Notices, dec.Notices...)
		}
		if len(failed) > 0 {
			for a := range failed {
				res.Refused = append(res.Refused, a)
			}
			slices.Sort(res.Refused)
			d, err := s.quotaReport(ctx, sub.User, raw, failed)
			if err != nil {
				return err
			}
			g.Notices = append(g.Notices, *d)
		}
		err := s.Store.SubmitGoverned(ctx, ss, g)
		var qe *store.QuotaError
		switch {
		case err == nil:
			s.Rules.Committed(ctx, Committed{UserIDs: g.Enforce, SMS: len(g.SMS), Fax: len(g.Fax), Held: g.Held, Sender: sub.User})
			return nil
		case errors.As(err, &qe) && qe.UserID == sub.User.ID:
			return quotaErr(err, ErrSentItemsFull)
		case errors.As(err, &qe) && attempt < maxGovernedAttempts:
			continue // a recipient filled up since the check: check again
		}
		return err
	}
}

// isSentCopy reports whether it is the item for the sender's Sent Items.
func (s *Service) isSentCopy(ctx context.Context, it *store.Item) bool {
	f, err := s.Store.FolderByType(ctx, it.UserID, store.FolderSentItems)
	return err == nil && f.ID == it.FolderID
}

// storeInbound stores an inbound message with each recipient's quota
// checked: full mailboxes get no copy; if every one is full the message is
// refused (ErrMailboxFull, SMTP 552 5.2.2), otherwise the others get it and
// the envelope sender a report for the rest.
func (s *Service) storeInbound(ctx context.Context, in Inbound, d *store.Delivery) error {
	if s.Rules == nil {
		return s.Store.Deliver(ctx, *d)
	}
	items := d.Items
	size := int64(len(d.Raw))
	for attempt := 1; ; attempt++ {
		g := store.Governed{}
		failed := map[string]string{}
		var kept []*store.Item
		for _, it := range items {
			if err := s.Rules.CheckQuota(ctx, it.UserID, size); errors.Is(err, store.ErrQuotaExceeded) {
				failed[s.addressOf(ctx, it.UserID)] = fullDiagnostic
				continue
			} else if err != nil {
				return err
			}
			kept = append(kept, it)
			g.Enforce = append(g.Enforce, it.UserID)
		}
		if len(kept) == 0 {
			return &QuotaRefusal{Addresses: sortedKeys(failed)}
		}
		if len(failed) > 0 {
			if err := s.reportInbound(ctx, in, d.Raw, failed, &g); err != nil {
				return err
			}
		}
		err := s.Store.DeliverGoverned(ctx, store.Delivery{Raw: d.Raw, Items: kept}, g)
		if err == nil {
			d.Items = kept
			s.Rules.Committed(ctx, Committed{UserIDs: g.Enforce})
			return nil
		}
		var qe *store.QuotaError
		if errors.As(err, &qe) && attempt < maxGovernedAttempts {
			continue
		}
		if errors.As(err, &qe) {
			return &QuotaRefusal{Addresses: []string{s.addressOf(ctx, qe.UserID)}}
		}
		return err
	}
}

// reportInbound tells the envelope sender which recipients' mailboxes were
// full: into their Inbox if they are local, through the relay otherwise,
// nowhere for a null sender (a bounce must not bounce).
func (s *Service) reportInbound(ctx context.Context, in Inbound, raw []byte, failed map[string]string, g *store.Governed) error {
	if in.From == "" {
		s.log().Info("recipients over quota; null sender, no report", "refused", len(failed))
		return nil
	}
	if u, err := s.Store.UserByAddress(ctx, in.From); err == nil {
		d, err := s.quotaReport(ctx, u, raw, failed)
		if err != nil {
			return err
		}
		g.Notices = append(g.Notices, *d)
		return nil
	}
	if !s.RemoteAllowed() {
		s.log().Warn("recipients over quota; remote sender and no relay, no report", "refused", len(failed))
		return nil
	}
	dsn, err := s.quotaDSN(in.From, raw, failed)
	if err != nil {
		return err
	}
	g.Outbound = append(g.Outbound, &store.OutboundMail{MailFrom: "", RcptTo: in.From, Data: dsn})
	return nil
}

const fullDiagnostic = "552 5.2.2 Mailbox full: the recipient's mailbox is over its quota"

// QuotaRefusal is an inbound message refused because every recipient's
// mailbox is full. It wraps ErrMailboxFull and store.ErrQuotaExceeded.
type QuotaRefusal struct{ Addresses []string }

func (e *QuotaRefusal) Error() string {
	return fmt.Sprintf("%s: %v", strings.Join(e.Addresses, ", "), ErrMailboxFull)
}

// Unwrap lets errors.Is find ErrMailboxFull and store.ErrQuotaExceeded.
func (e *QuotaRefusal) Unwrap() []error { return []error{ErrMailboxFull, store.ErrQuotaExceeded} }

// quotaErr wraps a quota failure with our sentinel, keeping the store's.
func quotaErr(err, sentinel error) error {
	if errors.Is(err, store.ErrQuotaExceeded) {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	return err
}

// quotaReply is the SMTP reply for a quota refusal, or nil.
func quotaReply(err error) *smtp.SMTPError {
	if errors.Is(err, ErrSendQuotaExceeded) || errors.Is(err, ErrSentItemsFull) {
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Your mailbox is over its quota: sending is blocked until you make room"}
	}
	var qr *QuotaRefusal
	if !errors.As(err, &qr) {
		return nil
	}
	msg := "Mailbox full: the recipient's mailbox is over its quota"
	if len(qr.Addresses) == 1 {
		msg = "Mailbox full: <" + qr.Addresses[0] + "> is over its quota"
	}
	return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: msg}
}

// rcptQuota refuses a recipient whose mailbox is already full at RCPT.
func (s *Service) rcptQuota(ctx context.Context, u *store.User, addr string) *smtp.SMTPError {
	if s.Rules == nil {
		return nil
	}
	if err := s.Rules.CheckQuota(ctx, u.ID, 1); errors.Is(err, store.ErrQuotaExceeded) {
		return quotaReply(&QuotaRefusal{Addresses: []string{addr}})
	}
	return nil
}

func (s *Service) addressOf(ctx context.Context, userID int64) string {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return fmt.Sprintf("user-%d", userID)
	}
	return u.Email
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// quotaReport is the delivery status notification for a local sender,
// into their Inbox.
func (s *Service) quotaReport(ctx context.Context, to *store.User, raw []byte, failed map[string]string) (*store.Delivery, error) {
	dsn, err := s.quotaDSN(to.Email, raw, failed)
	if err != nil {
		return nil, err
	}
	parsed, err := parseBounce(dsn)
	if err != nil {
		return nil, err
	}
	it, err := s.copyFor(ctx, parsed, to.ID, store.FolderInbox)
	if err != nil {
		return nil, err
	}
	return &store.Delivery{Raw: dsn, Items: []*store.Item{it}}, nil
}

// quotaDSN writes an RFC 3464 report for recipients refused over quota.
func (s *Service) quotaDSN(sender string, raw []byte, failed map[string]string) ([]byte, error) {
	origHdr := headerBlock(raw)
	subject := "Undeliverable: mailbox full"
	if subj := headerValue(origHdr, "Subject"); subj != "" {
		subject = "Undeliverable: " + subj
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	now := s.now()
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n", s.hostname(), sender, subject, now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n", strings.ToLower(shortID()+shortID()), s.hostname())
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"\r\n\r\n", mw.Boundary())
	text, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(text, "Your message was not delivered to the following recipients because their\r\nmailbox is full (over its quota). They have to make room first.\r\n\r\n")
	for _, rc := range sortedKeys(failed) {
		fmt.Fprintf(text, "  %s\r\n", rc)
	}
	status, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"message/delivery-status"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(status, "Reporting-MTA: dns; %s\r\n", s.hostname())
	for _, rc := range sortedKeys(failed) {
		fmt.Fprintf(status, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; %s\r\n", rc, failed[rc])
	}
	headers, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/rfc822-headers"}})
	if err != nil {
		return nil, err
	}
	headers.Write(origHdr)
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
