package delivery

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"regexp"
	"sort"
	"strings"
	"time"

	"airlock/message"
	"airlock/store"
)

type dsnInput struct {
	Hostname, Relay, Sender string
	Arrival, Now            time.Time
	Failed                  map[string]string // recipient -> diagnostic
	Original                []byte
	// Explain replaces the sentence that blames the relay (a gateway's
	// report); DiagType is the Diagnostic-Code's type, default "smtp".
	Explain, DiagType string
}

var enhanced = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)

// buildDSN writes a delivery status notification (RFC 3464, RFC 6522
// multipart/report): a human explanation, the machine-readable status per
// recipient, and the original's header.
func buildDSN(in dsnInput) ([]byte, error) {
	origHdr := headerBlock(in.Original)
	subject := "Undeliverable"
	if s := headerValue(origHdr, "Subject"); s != "" {
		subject = "Undeliverable: " + s
	}
	rcpts := make([]string, 0, len(in.Failed))
	for rc := range in.Failed {
		rcpts = append(rcpts, rc)
	}
	sort.Strings(rcpts)

	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", in.Hostname)
	fmt.Fprintf(&b, "To: <%s>\r\n", in.Sender)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", in.Now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", strings.ToLower(shortID()+shortID()), in.Hostname)
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"\r\n\r\n", mw.Boundary())

	text, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}, "Content-Transfer-Encoding": {"8bit"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(text, "Your message could not be delivered to the following recipients.\r\n\r\n")
	for _, rc := range rcpts {
		fmt.Fprintf(text, "  %s\r\n    %s\r\n", rc, in.Failed[rc])
	}
	if in.Explain == "" {
		in.Explain = fmt.Sprintf("The relay %s refused it, or it could not be handed over in time.", in.Relay)
	}
	fmt.Fprintf(text, "\r\n%s\r\nNo further attempts will be made.\r\n", in.Explain)
	if in.DiagType == "" {
		in.DiagType = "smtp"
	}

	status, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"message/delivery-status"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(status, "Reporting-MTA: dns; %s\r\n", in.Hostname)
	if !in.Arrival.IsZero() {
		fmt.Fprintf(status, "Arrival-Date: %s\r\n", in.Arrival.Format(time.RFC1123Z))
	}
	for _, rc := range rcpts {
		diag := in.Failed[rc]
		code := "5.0.0"
		if m := enhanced.FindStringSubmatch(diag); m != nil && m[1] == "5" {
			code = m[0]
		}
		fmt.Fprintf(status, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: %s\r\n", rc, code)
		if in.Relay != "" {
			host, _, _ := strings.Cut(in.Relay, ":")
			fmt.Fprintf(status, "Remote-MTA: dns; %s\r\n", host)
		}
		fmt.Fprintf(status, "Diagnostic-Code: %s; %s\r\n", in.DiagType, diag)
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

// headerBlock returns the header of a raw message, up to and including the
// blank line.
func headerBlock(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+4]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[:i+2]
	}
	return raw
}

// headerValue reads one (unfolded) field of a header block, raw.
func headerValue(block []byte, key string) string {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(block)))
	h, _ := r.ReadMIMEHeader()
	return strings.TrimSpace(h.Get(key))
}

func parseBounce(raw []byte) (*store.Item, error) {
	it, err := message.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse our own bounce: %w", err)
	}
	return it, nil
}

// GatewayFailure is a message a gateway (fax) could not deliver, for
// GatewayBounce.
type GatewayFailure struct {
	Hostname string
	UserID   int64  // the sender, whose Inbox gets the report
	Sender   string // their address, the report's To
	Original []byte // the message as submitted
	Arrival  time.Time
	Now      time.Time
	// Failed maps each recipient address to why it failed.
	Failed map[string]string
	// Explain says what refused it, for people ("The fax provider refused it.").
	Explain string
}

// GatewayBounce is the delivery status notification (RFC 3464) for the
// sender of a message a gateway could not deliver, as a delivery into
// their Inbox: the same report the relay writes, with the gateway named.
func GatewayBounce(ctx context.Context, st *store.Store, f GatewayFailure) (*store.Delivery, error) {
	raw, err := buildDSN(dsnInput{Hostname: f.Hostname, Sender: f.Sender, Arrival: f.Arrival, Now: f.Now,
		Failed: f.Failed, Original: f.Original, Explain: f.Explain, DiagType: "x-airlock"})
	if err != nil {
		return nil, err
	}
	parsed, err := parseBounce(raw)
	if err != nil {
		return nil, err
	}
	it, err := (&Service{Store: st, Hostname: f.Hostname}).copyFor(ctx, parsed, f.UserID, store.FolderInbox)
	if err != nil {
		return nil, err
	}
	return &store.Delivery{Raw: raw, Items: []*store.Item{it}}, nil
}
