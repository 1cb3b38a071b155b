package sim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"time"
)

// SMTPResult says how far an SMTP transaction got.
type SMTPResult struct {
	// DataSent: the message and its final dot went out, so a failure
	// after it leaves the outcome unknown (the server may have stored it).
	DataSent bool
	// Sent is when the final dot was written: the moment the message
	// was handed over, for wake-up latency.
	Sent time.Time
}

// SMTPSend delivers one message over plain SMTP (RFC 5321) without
// authentication, as a neighbouring MTA would, to a loopback listener. It
// is written out here rather than taken from net/smtp so that the moment
// the data is handed over can be timed.
func SMTPSend(ctx context.Context, addr, from string, to []string, msg []byte) (SMTPResult, error) {
	var res SMTPResult
	if err := CheckLoopback(addr); err != nil {
		return res, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return res, err
	}
	defer nc.Close()
	dl := time.Now().Add(60 * time.Second)
	if t, ok := ctx.Deadline(); ok && t.Before(dl) {
		dl = t
	}
	nc.SetDeadline(dl)
	c := textproto.NewConn(nc)
	expect := func(code int) error {
		_, _, err := c.ReadResponse(code)
		return err
	}
	cmd := func(code int, format string, args ...any) error {
		id, err := c.Cmd(format, args...)
		if err != nil {
			return err
		}
		c.StartResponse(id)
		defer c.EndResponse(id)
		return expect(code)
	}
	if err := expect(220); err != nil {
		return res, fmt.Errorf("greeting: %w", err)
	}
	if err := cmd(250, "EHLO sim.airlock.test"); err != nil {
		return res, fmt.Errorf("EHLO: %w", err)
	}
	if err := cmd(250, "MAIL FROM:<%s>", from); err != nil {
		return res, fmt.Errorf("MAIL: %w", err)
	}
	for _, rcpt := range to {
		if err := cmd(250, "RCPT TO:<%s>", rcpt); err != nil {
			return res, fmt.Errorf("RCPT %s: %w", rcpt, err)
		}
	}
	if err := cmd(354, "DATA"); err != nil {
		return res, fmt.Errorf("DATA: %w", err)
	}
	w := bufio.NewWriter(nc)
	for _, line := range bytes.SplitAfter(msg, []byte("\n")) {
		if len(line) > 0 && line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
	}
	if !bytes.HasSuffix(msg, []byte("\n")) {
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		return res, fmt.Errorf("DATA: %w", err)
	}
	res.DataSent, res.Sent = true, time.Now()
	if err := expect(250); err != nil {
		return res, fmt.Errorf("end of DATA: %w", err)
	}
	c.Cmd("QUIT")
	return res, nil
}

// smtpCode returns the reply code of an SMTP error, or 0 when the failure
// was not a reply (a dropped connection).
func smtpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
