package activesync

import (
	"fmt"
	"strings"
	"time"

	"airlock/store"
)

// The quarantine view. A device waiting for an administrator's decision
// reaches FolderSync and Sync only (their Command.Quarantine), and sees:
//
//   - in FolderSync, the Inbox alone;
//   - in the Inbox, one message that is not in the mailbox (so the user's
//     other devices never see it), saying that the device awaits approval
//     and why, as Exchange does;
//   - in any other collection, nothing.
//
// The device keeps its sync keys throughout. Once allowed, its next
// FolderSync adds the other folders and its next Inbox Sync deletes the
// notice and sends the real mail: the states record that the view was the
// quarantine view (hierarchyState.Quarantine, collectionState.Quarantine and
// Notice), and the Inbox state's high-water mark never moved while it was.

// noticeID is the notice's ServerId; item ids are numbers, so it cannot
// collide with one.
const noticeID = "q:1"

// quarantineNotice builds the notice for the device as a mail item (never
// stored) and its raw message.
func quarantineNotice(r *Request) (*store.Item, []byte) {
	dev := r.Device
	when := dev.FirstSeen
	if when.IsZero() {
		when = time.Now()
	}
	when = when.UTC().Truncate(time.Second)
	domain := "localhost"
	if _, d, ok := strings.Cut(r.User.Email, "@"); ok {
		domain = d
	}
	from := fmt.Sprintf(`"Airlock" <postmaster@%s>`, domain)
	what := strings.TrimSpace(strings.Join([]string{dev.DeviceType, dev.Model}, " "))
	reason := r.Access.Reason
	if reason == "" {
		reason = "new devices need an administrator's approval"
	}
	subject := "Your device is waiting for approval"
	body := fmt.Sprintf("This device (%s, device id %s) cannot synchronise your mailbox yet: it is waiting for an administrator to approve it.\r\n\r\n"+
		"Reason: %s\r\n\r\n"+
		"You do not need to do anything. When the device is approved, your mail, calendar and contacts will appear here and this message will disappear.\r\n\r\n"+
		"If you did not set up this device, contact your IT service desk at once.\r\n",
		what, dev.DeviceID, reason)
	raw := "From: " + from + "\r\n" +
		"To: " + r.User.Email + "\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: " + when.Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <quarantine." + dev.DeviceID + "@airlock>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n" + body
	it := &store.Item{
		UserID: r.User.ID, Class: store.ClassEmail, Subject: subject, FromAddr: from, ToAddrs: r.User.Email,
		DateReceived: &when, Importance: 2, MessageClass: "IPM.Note", ThreadTopic: subject,
		Preview: strings.SplitN(body, "\r\n", 2)[0], Size: int64(len(raw)), CreatedAt: when, UpdatedAt: when,
	}
	return it, []byte(raw)
}
