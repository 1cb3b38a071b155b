package activesync

// The SMS class (MS-ASMS; MS-ASCMD 2.2.3.27.6 Class, 14.0 and later).
//
// SMS items live among the mail of the Inbox (received) and Sent Items
// (sent), as items of class SMS (store/sms_items.go). A device that wants
// them says so with a second Options of Class SMS on the collection
// (syncOptions.SMS); only then does the scan send them, each Add and
// Change carrying <Class>SMS</Class>. A device that never asks (every
// Email-only client) never sees one: the scan skips them, and a device
// that drops the SMS Options is told to delete those it holds. A device
// adds the texts it sent or received on the phone with a Sync Add carrying
// <Class>SMS</Class>; it changes the read flag and deletes them like mail.
//
// Sending goes through SendMail to "+E164@sms.<domain>" (package sms):
// the sender's Sent Items gets an SMS item whose delivery status the
// gateway records when the provider answers; the item then changes, so the
// sender's SMS-syncing devices get it again.

import (
	"crypto/md5"
	"encoding/binary"
	"net/mail"
	"strings"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync/wbxml"
	"airlock/sms"
	"airlock/store"
)

// smsCodec renders and parses SMS items (MS-ASMS 2.2.2).
type smsCodec struct{}

// hasSMSOptions reports whether a collection's Options include one of
// Class SMS (MS-ASMS 2.2.2.2.1.2).
func hasSMSOptions(all []*etree.Element) bool {
	for _, o := range all {
		if strings.TrimSpace(text(o, "AirSync:Class")) == string(store.ClassSMS) {
			return true
		}
	}
	return false
}

// smsAllowed reports whether a device may sync SMS in this folder: 14.0
// and later, and a mail folder.
func smsAllowed(v Version, folder *store.Folder) bool {
	return v >= V140 && folder.Class == store.ClassEmail
}

// smsOptionsFor drops an SMS Options the device may not use here (before
// 14.0, or on a folder that is not mail), so that it never counts as an
// options change.
func smsOptionsFor(o *syncOptions, v Version, folder *store.Folder) *syncOptions {
	if o == nil || !o.SMS || smsAllowed(v, folder) {
		return o
	}
	cp := *o
	cp.SMS = false
	return &cp
}

// addCodecFor picks the codec of a device's Add: the folder's, or the SMS
// codec for an Add with <Class>SMS</Class> in a mail folder (nil: the
// class does not belong there).
func addCodecFor(folderCodec classCodec, el *etree.Element, folder *store.Folder, v Version) classCodec {
	cls := strings.TrimSpace(text(el, "AirSync:Class"))
	switch {
	case cls == "" || cls == string(folder.Class):
		return folderCodec
	case cls == string(store.ClassSMS) && smsAllowed(v, folder):
		return smsCodec{}
	}
	return nil
}

// write renders MS-ASMS 2.2.2.1: the parties in the "[MOBILE:...]" form,
// the text as a plain-text body, and the conversation elements required
// in responses.
func (smsCodec) write(app *etree.Element, it *store.Item, raw []byte, full bool, o renderOpts) {
	addIf(app, "Email:To", o.SMS.Show(it.ToAddrs))
	addIf(app, "Email:From", o.SMS.Show(it.FromAddr))
	when := it.CreatedAt
	if it.DateReceived != nil {
		when = *it.DateReceived
	}
	add(app, "Email:DateReceived", formatTime(when))
	add(app, "Email:Importance", itoa(it.Importance))
	add(app, "Email:Read", boolText(it.Read))
	// The body is always the plain text: an SMS has no other form.
	plain := renderOpts{Version: o.Version, Options: &syncOptions{BodyPrefs: []bodyPref{{Type: bodyPlain}}}}
	if o.Options != nil {
		for _, p := range o.Options.BodyPrefs {
			if p.Type == bodyPlain {
				plain.Options.BodyPrefs[0] = p
			}
		}
	}
	writeBody(app, it, raw, plain, false)
	add(app, "Email:MessageClass", store.SMSMessageClass)
	id, index := smsConversation(it, o.User)
	wbxml.SetBytes(app.CreateElement("Email2:ConversationId"), id)
	wbxml.SetBytes(app.CreateElement("Email2:ConversationIndex"), index)
}

// smsConversation groups the texts exchanged with one number: the id is a
// hash of the other party, the index the MS-ASCON header form (a reserved
// byte, the time's upper bytes as FILETIME, then the id).
func smsConversation(it *store.Item, user *store.User) (id, index []byte) {
	other := it.FromAddr
	if user != nil && strings.Contains(strings.ToLower(it.FromAddr), user.Email) {
		other = it.ToAddrs // sent by the user: the party is the recipient
	}
	sum := md5.Sum([]byte(strings.ToLower(other)))
	id = sum[:]
	when := it.CreatedAt
	if it.DateReceived != nil {
		when = *it.DateReceived
	}
	ft := uint64(when.UnixNano()/100) + 116444736000000000
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ft)
	index = append([]byte{1}, b[:5]...)
	index = append(index, id...)
	return id, index
}

// parseAdd reads a text the device sent or received on the phone (MS-ASMS
// 3.1.5.1): From, To, DateReceived, Read and the body. Parties that are
// neither "[MOBILE:...]", a number nor a mail address, an empty text, or
// one over sms.MaxText characters are refused (Status 6).
func (smsCodec) parseAdd(app *etree.Element, o renderOpts) (*store.Item, []byte, error) {
	body := ""
	if b := child(app, "AirSyncBase:Body"); b != nil {
		body = text(b, "AirSyncBase:Data")
	}
	body = strings.TrimSpace(body)
	if body == "" || len([]rune(body)) > sms.MaxText {
		return nil, nil, errConversion
	}
	me := &mail.Address{Address: o.User.Email, Name: o.User.DisplayName}
	from := me
	if s := text(app, "Email:From"); s != "" {
		a, ok := o.SMS.Party(s)
		if !ok {
			return nil, nil, errConversion
		}
		from = a
	}
	to := []*mail.Address{me}
	if s := text(app, "Email:To"); s != "" {
		list, ok := o.SMS.Parties(s)
		if !ok {
			return nil, nil, errConversion
		}
		to = list
	}
	when := time.Now()
	if s := text(app, "Email:DateReceived"); s != "" {
		t, ok := parseEASTime(s)
		if !ok {
			return nil, nil, errConversion
		}
		when = t
	}
	it, raw := sms.NewItem(sms.Item{From: from, To: to, Text: body, When: when, Read: text(app, "Email:Read") == "1", Hostname: "airlock"})
	return it, raw, nil
}

// parseChange: a device changes an SMS's read flag (MS-ASMS 3.1.5.2).
func (smsCodec) parseChange(app *etree.Element, cur *store.Item, o renderOpts) (store.FlagChange, *store.Item, error) {
	var ch store.FlagChange
	if el := child(app, "Email:Read"); el != nil {
		b := strings.TrimSpace(el.Text()) == "1"
		ch.Read = &b
	}
	return ch, nil, nil
}

// skipSMS reports whether the scan must leave an SMS item out for this
// device (it did not ask for the class).
func skipSMS(it *store.Item, opts *syncOptions) bool {
	return it.Class == store.ClassSMS && (opts == nil || !opts.SMS)
}
