package message

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"airlock/store"
)

// crlf turns a readable literal into wire form.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimPrefix(s, "\n"), "\n", "\r\n"))
}

var pdfBytes = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

var (
	msgPlain = crlf(`
Return-Path: <amira.patel@example.nhs.uk>
Received: from mx1.example.nhs.uk by mail.example.nhs.uk; Tue, 02 Jan 2024 09:15:02 +0000
Message-ID: <a1b2c3@mail.example.nhs.uk>
Date: Tue, 02 Jan 2024 09:15:00 +0000
From: =?UTF-8?Q?Amira_Patel_=E2=80=93_Cardiology?= <amira.patel@example.nhs.uk>
To: "O'Connor, James" <james.oconnor@example.nhs.uk>, ward7b@example.nhs.uk
Cc: Priya Nair <priya.nair@example.nhs.uk>
Reply-To: Cardiology Office <cardiology@example.nhs.uk>
Subject: =?UTF-8?B?V2FyZCByb3VuZCDigJMgY2hhbmdlIG9mIHRpbWU=?=
Importance: High
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hi James,

The ward round moves to 10:30 tomorrow =E2=80=93 please let the team know.

Amira
`)

	msgHTMLOnly = crlf(`
Message-ID: <html-only@example.com>
Date: Wed, 03 Jan 2024 14:00:00 +0100
From: Trust Communications <comms@example.nhs.uk>
To: all-staff@example.nhs.uk
Subject: Staff bulletin
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><style>p{color:red}</style></head><body><h1>Staff&nbsp;bulletin</h1>
<p>Flu vaccination clinics open <b>Monday</b>. <a href="https://intranet.example/flu">Book here</a>.</p></body></html>
`)

	msgAlternative = crlf(`
Message-ID: <alt@example.com>
Date: Thu, 04 Jan 2024 08:00:00 +0000
From: pharmacy@example.nhs.uk
To: amira.patel@example.nhs.uk
Subject: Formulary update
X-Priority: 5 (Lowest)
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-1"

--alt-1
Content-Type: text/plain; charset=us-ascii

Apixaban dosing guidance has been updated.
--alt-1
Content-Type: text/html; charset=us-ascii

<p>Apixaban dosing guidance has been <i>updated</i>.</p>
--alt-1--
`)

	msgAttachments = crlf(`
Message-ID: <att@example.com>
Date: Fri, 05 Jan 2024 16:20:00 +0000
From: Tom Evans <tom.evans@example.nhs.uk>
To: amira.patel@example.nhs.uk
Subject: Clinic letters
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix-1"

--mix-1
Content-Type: text/plain; charset=utf-8

Letters attached for signing.
--mix-1
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''Befund%20M%C3%BCller.pdf
Content-Transfer-Encoding: base64

` + base64.StdEncoding.EncodeToString(pdfBytes) + `
--mix-1
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;
 name="=?UTF-8?Q?r=C3=A9sum=C3=A9_clinic.docx?="
Content-Transfer-Encoding: base64

UEsDBBQAAAAIAA==
--mix-1--
`)

	msgInlineImage = crlf(`
Message-ID: <inline@example.com>
Date: Sat, 06 Jan 2024 10:00:00 +0000
From: Grace Adeyemi <grace.adeyemi@example.nhs.uk>
To: amira.patel@example.nhs.uk
Subject: ECG trace
MIME-Version: 1.0
Content-Type: multipart/related; boundary="rel-1"; type="text/html"

--rel-1
Content-Type: text/html; charset=utf-8

<p>See trace:</p><img src="cid:ecg001@example">
--rel-1
Content-Type: image/png
Content-ID: <ecg001@example>
Content-Transfer-Encoding: base64

` + base64.StdEncoding.EncodeToString(pngBytes) + `
--rel-1--
`)

	msgNested = crlf(`
Message-ID: <fwd@example.com>
Date: Sun, 07 Jan 2024 11:00:00 +0000
From: james.oconnor@example.nhs.uk
To: amira.patel@example.nhs.uk
Subject: Fwd: Bed state
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain

See below.
--outer
Content-Type: message/rfc822

Message-ID: <inner@example.com>
Date: Sat, 06 Jan 2024 18:00:00 +0000
From: bed.manager@example.nhs.uk
To: james.oconnor@example.nhs.uk
Subject: Bed state 18:00
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain

Two side rooms free.
--inner
Content-Type: text/csv
Content-Disposition: attachment; filename="beds.csv"

ward,free
7B,2
--inner--

--outer--
`)

	msgSigned = crlf(`
Message-ID: <signed@example.com>
Date: Mon, 08 Jan 2024 09:00:00 +0000
From: Priya Nair <priya.nair@example.nhs.uk>
To: amira.patel@example.nhs.uk
Subject: Signed referral
MIME-Version: 1.0
Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="sig-1"

--sig-1
Content-Type: text/plain; charset=utf-8

Referral for Mr A, signed.
--sig-1
Content-Type: application/pkcs7-signature; name="smime.p7s"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="smime.p7s"

MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIIB
--sig-1--
`)

	msgEncrypted = crlf(`
Message-ID: <enc@example.com>
Date: Mon, 08 Jan 2024 09:30:00 +0000
From: Priya Nair <priya.nair@example.nhs.uk>
To: amira.patel@example.nhs.uk
Subject: Encrypted results
MIME-Version: 1.0
Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"
Content-Disposition: attachment; filename="smime.p7m"
Content-Transfer-Encoding: base64

MIAGCSqGSIb3DQEHA6CAMIACAQAxggFAMIIBPAIBADAkMBgxFjAUBgNVBAMMDWFtaXJh
`)

	msgMeeting = crlf(`
Message-ID: <meeting@example.com>
Date: Tue, 09 Jan 2024 12:00:00 +0000
From: Amira Patel <amira.patel@example.nhs.uk>
To: james.oconnor@example.nhs.uk
Subject: Cardiology MDT
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="mtg"

--mtg
Content-Type: text/plain; charset=utf-8

Weekly MDT, Seminar Room 2.
--mtg
Content-Type: text/calendar; charset=utf-8; method=REQUEST

BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example//EN
METHOD:REQUEST
BEGIN:VEVENT
UID:mdt-2024@example.nhs.uk
DTSTAMP:20240109T120000Z
DTSTART;TZID=Europe/London:20240116T130000
DTEND;TZID=Europe/London:20240116T140000
SUMMARY:Cardiology MDT
ORGANIZER;CN=Amira Patel:mailto:amira.patel@example.nhs.uk
ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:james.oconnor@example.nhs.uk
END:VEVENT
END:VCALENDAR
--mtg--
`)

	msgMeetingReply = crlf(`
Message-ID: <reply@example.com>
Date: Tue, 09 Jan 2024 13:00:00 +0000
From: james.oconnor@example.nhs.uk
To: amira.patel@example.nhs.uk
Subject: Accepted: Cardiology MDT
MIME-Version: 1.0
Content-Type: text/calendar; charset=utf-8

BEGIN:VCALENDAR
METHOD:REPLY
BEGIN:VEVENT
UID:mdt-2024@example.nhs.uk
ATTENDEE;PARTSTAT=ACCEPTED:mailto:james.oconnor@example.nhs.uk
END:VEVENT
END:VCALENDAR
`)

	msgWindows1252 = append(crlf(`
Message-ID: <cp1252@example.com>
Date: Wed, 10 Jan 2024 10:00:00 +0000
From: =?windows-1252?Q?Ren=E9e_Dupr=E9?= <renee@example.fr>
To: amira.patel@example.nhs.uk
Subject: =?windows-1252?Q?Caf=E9_order_=96_10=80?=
MIME-Version: 1.0
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: 8bit

`), []byte("Caf\xe9 for the team \x96 10\x80 total.\r\n")...)

	msgISO2022JP = append(crlf(`
Message-ID: <jp@example.jp>
Date: Thu, 11 Jan 2024 10:00:00 +0900
From: tanaka@example.jp
To: amira.patel@example.nhs.uk
Subject: =?ISO-2022-JP?B?GyRCMnE1RCROJCpDTiRpJDsbKEI=?=
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit

`), []byte("\x1b$B$3$s$K$A$O!\"2q5D$N7o$G$9\x1b(B\r\n")...)

	msgReply = crlf(`
Message-ID: <reply-2@example.com>
In-Reply-To: <reply-1@example.com>
References: <a1b2c3@mail.example.nhs.uk> <reply-1@example.com>
Date: Tue, 02 Jan 2024 11:00:00 +0000
From: james.oconnor@example.nhs.uk
To: amira.patel@example.nhs.uk
Subject: RE: AW: Re[2]: Ward round – change of time
Content-Type: text/plain

Noted.
`)

	msgNoDate = crlf(`
Received: from a by b; Fri, 12 Jan 2024 07:45:00 +0000
Received: from c by d; Fri, 12 Jan 2024 07:44:00 +0000
Subject: no date
From: x@example.com

body
`)
)

func TestParse(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(s string) *time.Time {
		d, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	tests := []struct {
		name  string
		raw   []byte
		want  store.Item // compared field by field where set; see check
		atts  []store.Attachment
		check func(t *testing.T, it *store.Item)
	}{
		{
			name: "plain",
			raw:  msgPlain,
			want: store.Item{
				MessageID: "a1b2c3@mail.example.nhs.uk", Subject: "Ward round – change of time",
				FromAddr:     `"Amira Patel – Cardiology" <amira.patel@example.nhs.uk>`,
				ToAddrs:      `"O'Connor, James" <james.oconnor@example.nhs.uk>, ward7b@example.nhs.uk`,
				CcAddrs:      `"Priya Nair" <priya.nair@example.nhs.uk>`,
				ReplyTo:      `"Cardiology Office" <cardiology@example.nhs.uk>`,
				DateReceived: date("2024-01-02T09:15:00Z"), Importance: ImportanceHigh,
				MessageClass: ClassNote, ThreadTopic: "Ward round – change of time",
				Preview: "Hi James, The ward round moves to 10:30 tomorrow – please let the team know. Amira",
			},
		},
		{
			name: "html only",
			raw:  msgHTMLOnly,
			want: store.Item{
				Subject: "Staff bulletin", DateReceived: date("2024-01-03T13:00:00Z"), Importance: ImportanceNormal,
				MessageClass: ClassNote, Preview: "Staff bulletin Flu vaccination clinics open Monday. Book here.",
			},
		},
		{
			name: "alternative",
			raw:  msgAlternative,
			want: store.Item{
				FromAddr: "pharmacy@example.nhs.uk", Importance: ImportanceLow, MessageClass: ClassNote,
				Preview: "Apixaban dosing guidance has been updated.",
			},
		},
		{
			name: "attachments with encoded names",
			raw:  msgAttachments,
			want: store.Item{MessageClass: ClassNote, HasAttachments: true, Preview: "Letters attached for signing."},
			atts: []store.Attachment{
				{PartIndex: 2, FileName: "Befund Müller.pdf", ContentType: "application/pdf", Size: int64(len(pdfBytes))},
				{PartIndex: 3, FileName: "résumé clinic.docx", ContentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Size: 10},
			},
		},
		{
			name: "inline image",
			raw:  msgInlineImage,
			want: store.Item{MessageClass: ClassNote, HasAttachments: true, Preview: "See trace:"},
			atts: []store.Attachment{
				{PartIndex: 2, FileName: "image-2.png", ContentType: "image/png", ContentID: "ecg001@example", Size: int64(len(pngBytes)), Inline: true},
			},
		},
		{
			name: "nested message",
			raw:  msgNested,
			want: store.Item{ThreadTopic: "Bed state", MessageClass: ClassNote, HasAttachments: true, Preview: "See below."},
			atts: []store.Attachment{{PartIndex: 2, FileName: "Bed state 18:00.eml", ContentType: "message/rfc822"}},
			check: func(t *testing.T, it *store.Item) {
				// ':' is not allowed in file names on Windows.
				if got := it.Attachments[0].FileName; got != "Bed state 18 00.eml" {
					t.Errorf("nested name = %q", got)
				}
			},
		},
		{
			name: "smime signed",
			raw:  msgSigned,
			want: store.Item{MessageClass: ClassSMIMESigned, Preview: "Referral for Mr A, signed."},
		},
		{
			name: "smime encrypted",
			raw:  msgEncrypted,
			want: store.Item{MessageClass: ClassSMIME, HasAttachments: true},
			atts: []store.Attachment{{PartIndex: 0, FileName: "smime.p7m", ContentType: "application/pkcs7-mime"}},
		},
		{
			name: "meeting request",
			raw:  msgMeeting,
			want: store.Item{MessageClass: ClassMeetingRequest, Preview: "Weekly MDT, Seminar Room 2."},
		},
		{
			name: "meeting reply",
			raw:  msgMeetingReply,
			want: store.Item{MessageClass: ClassMeetingAccepted, ThreadTopic: "Accepted: Cardiology MDT"},
		},
		{
			name: "windows-1252",
			raw:  msgWindows1252,
			want: store.Item{
				Subject: "Café order – 10€", FromAddr: `"Renée Dupré" <renee@example.fr>`,
				MessageClass: ClassNote, Preview: "Café for the team – 10€ total.",
			},
		},
		{
			name: "iso-2022-jp",
			raw:  msgISO2022JP,
			want: store.Item{
				Subject: "会議のお知らせ", DateReceived: date("2024-01-11T01:00:00Z"),
				MessageClass: ClassNote, Preview: "こんにちは、会議の件です",
			},
		},
		{
			name: "reply in thread",
			raw:  msgReply,
			want: store.Item{ThreadTopic: "Ward round – change of time", MessageClass: ClassNote},
			check: func(t *testing.T, it *store.Item) {
				root, err := parseAt(msgPlain, now)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(it.ConversationID, root.ConversationID) {
					t.Errorf("reply ConversationID %x, root %x", it.ConversationID, root.ConversationID)
				}
			},
		},
		{
			name: "date from newest Received",
			raw:  msgNoDate,
			want: store.Item{DateReceived: date("2024-01-12T07:45:00Z"), FromAddr: "x@example.com"},
		},
		{
			name: "no date at all",
			raw:  crlf("From: x@example.com\nSubject: s\n\nb\n"),
			want: store.Item{DateReceived: &now, Subject: "s"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it, err := parseAt(tc.raw, now)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			w := tc.want
			if it.Class != store.ClassEmail || it.Size != int64(len(tc.raw)) {
				t.Errorf("Class %q Size %d", it.Class, it.Size)
			}
			eq := func(field, got, want string) {
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			eq("MessageID", it.MessageID, w.MessageID)
			eq("Subject", it.Subject, w.Subject)
			eq("FromAddr", it.FromAddr, w.FromAddr)
			eq("ToAddrs", it.ToAddrs, w.ToAddrs)
			eq("CcAddrs", it.CcAddrs, w.CcAddrs)
			eq("ReplyTo", it.ReplyTo, w.ReplyTo)
			eq("MessageClass", it.MessageClass, w.MessageClass)
			eq("ThreadTopic", it.ThreadTopic, w.ThreadTopic)
			eq("Preview", it.Preview, w.Preview)
			if w.DateReceived != nil && (it.DateReceived == nil || !it.DateReceived.Equal(*w.DateReceived)) {
				t.Errorf("DateReceived = %v, want %v", it.DateReceived, w.DateReceived)
			}
			if w.Importance != 0 || tc.name == "alternative" {
				if it.Importance != w.Importance {
					t.Errorf("Importance = %d, want %d", it.Importance, w.Importance)
				}
			}
			if it.HasAttachments != w.HasAttachments {
				t.Errorf("HasAttachments = %v, want %v", it.HasAttachments, w.HasAttachments)
			}
			if len(it.ConversationID) != 16 || len(it.ConversationIndex) != 22 {
				t.Errorf("ConversationID %x, ConversationIndex %x", it.ConversationID, it.ConversationIndex)
			}
			if len(it.Attachments) != len(tc.atts) {
				t.Fatalf("attachments = %+v, want %+v", it.Attachments, tc.atts)
			}
			for i, want := range tc.atts {
				got := it.Attachments[i]
				if got.PartIndex != want.PartIndex || got.ContentType != want.ContentType ||
					got.ContentID != want.ContentID || got.Inline != want.Inline ||
					(want.Size != 0 && got.Size != want.Size) ||
					(want.FileName != "" && got.FileName != want.FileName && tc.check == nil) {
					t.Errorf("attachment %d = %+v, want %+v", i, got, want)
				}
			}
			if tc.check != nil {
				tc.check(t, it)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	tests := []struct {
		name, raw, reason string
	}{
		{"empty", "", "empty input"},
		{"blank", "\r\n \r\n", "empty input"},
		{"binary garbage", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"},
		{"nul in header", "From: a@b\x00c\r\nSubject: x\r\n\r\nbody", "binary data"},
		{"no header block", "Hello there,\r\n\r\nthis is just text.\r\n", "no header block"},
		{"leading blank line", "\r\nFrom: a@b\r\n\r\nbody", "no header block"},
		{"continuation first", " folded: x\r\nFrom: a@b\r\n\r\n", "no header block"},
		{"mbox separator", "From alice@example.com Mon Jan  1 00:00:00 2024\nFrom: a@b\n\nx", "no header block"},
		{"only unknown fields", "X-Foo: bar\r\nX-Bar: baz\r\n\r\nbody", "no message header fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.raw))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("Parse error = %v, want ErrMalformed with %q", err, tc.reason)
			}
			if _, _, err := Bodies([]byte(tc.raw)); !errors.Is(err, ErrMalformed) {
				t.Errorf("Bodies error = %v", err)
			}
		})
	}
}

func TestPart(t *testing.T) {
	tests := []struct {
		name      string
		raw       []byte
		index     int
		ct, fname string
		data      []byte
		err       error
	}{
		{"pdf", msgAttachments, 2, "application/pdf", "Befund Müller.pdf", pdfBytes, nil},
		{"inline png", msgInlineImage, 2, "image/png", "image-2.png", pngBytes, nil},
		{"nested text keeps its type", msgNested, 2, "message/rfc822", "Bed state 18 00.eml", nil, nil},
		{"body part refused", msgAttachments, 1, "", "", nil, ErrNoPart},
		{"container refused", msgAttachments, 0, "", "", nil, ErrNoPart},
		{"signature refused", msgSigned, 2, "", "", nil, ErrNoPart},
		{"out of range", msgAttachments, 99, "", "", nil, ErrNoPart},
		{"negative", msgAttachments, -1, "", "", nil, ErrNoPart},
		{"malformed message", []byte("garbage"), 0, "", "", nil, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, name, data, err := Part(tc.raw, tc.index)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ct != tc.ct || name != tc.fname {
				t.Errorf("Part = %q %q, want %q %q", ct, name, tc.ct, tc.fname)
			}
			if tc.data != nil && !bytes.Equal(data, tc.data) {
				t.Errorf("data = %q, want %q", data, tc.data)
			}
			if tc.ct == "message/rfc822" && !bytes.Contains(data, []byte("Subject: Bed state 18:00")) {
				t.Errorf("nested message content = %q", data)
			}
		})
	}
}

// Part and Parse agree: every attachment Parse lists can be fetched with the
// size it announced.
func TestPartMatchesParse(t *testing.T) {
	for _, raw := range [][]byte{msgAttachments, msgInlineImage, msgNested, msgEncrypted} {
		it, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range it.Attachments {
			ct, name, data, err := Part(raw, a.PartIndex)
			if err != nil {
				t.Fatalf("Part(%d): %v", a.PartIndex, err)
			}
			if ct != a.ContentType || name != a.FileName || int64(len(data)) != a.Size {
				t.Errorf("Part(%d) = %q %q %d bytes; Parse said %+v", a.PartIndex, ct, name, len(data), a)
			}
		}
	}
}

func TestBodies(t *testing.T) {
	tests := []struct {
		name             string
		raw              []byte
		text, html       string // substrings
		noText, noHTML   bool
		textExcludesHTML bool
	}{
		{name: "plain", raw: msgPlain, text: "ward round moves to 10:30 tomorrow – please", noHTML: true},
		{name: "html only", raw: msgHTMLOnly, text: "Flu vaccination clinics open Monday.", html: "<b>Monday</b>", textExcludesHTML: true},
		{name: "alternative", raw: msgAlternative, text: "has been updated.", html: "<i>updated</i>"},
		{name: "windows-1252", raw: msgWindows1252, text: "Café for the team – 10€", noHTML: true},
		{name: "iso-2022-jp", raw: msgISO2022JP, text: "こんにちは", noHTML: true},
		{name: "encrypted", raw: msgEncrypted, noText: true, noHTML: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, html, err := Bodies(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text, tc.text) || (tc.noText && text != "") {
				t.Errorf("text = %q, want it to contain %q", text, tc.text)
			}
			if !strings.Contains(html, tc.html) || (tc.noHTML && html != "") {
				t.Errorf("html = %q, want it to contain %q", html, tc.html)
			}
			if tc.textExcludesHTML && (strings.Contains(text, "<") || strings.Contains(text, "**") || strings.Contains(text, "color:red")) {
				t.Errorf("text derived from HTML still has markup: %q", text)
			}
		})
	}
}

func TestThreadTopic(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ward round", "Ward round"},
		{"Re: Ward round", "Ward round"},
		{"RE: FW: Fwd: Ward round", "Ward round"},
		{"AW: WG: Befund", "Befund"},
		{"Re[3]: SV: Møte", "Møte"},
		{"  re:   spaced  ", "spaced"},
		{"Regarding: not a prefix", "Regarding: not a prefix"},
		{"Fwdx: not a prefix", "Fwdx: not a prefix"},
		{"[list] Re: tag stays", "[list] Re: tag stays"},
		{"Re:", ""},
	}
	for _, tc := range tests {
		if got := ThreadTopic(tc.in); got != tc.want {
			t.Errorf("ThreadTopic(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConversationID(t *testing.T) {
	root := ConversationID("", "", "root@x", "topic")
	tests := []struct {
		name                      string
		refs, inReplyTo, id, topc string
		same                      bool
	}{
		{"root itself", "", "", "root@x", "topic", true},
		{"references first id", "<root@x> <mid@x>", "<mid@x>", "leaf@x", "t", true},
		{"references folded, no brackets spacing", "<root@x>\r\n <mid@x>", "", "leaf@x", "t", true},
		{"in-reply-to only", "", "<root@x>", "child@x", "t", true},
		{"unrelated", "", "", "other@x", "topic", false},
		{"no ids groups by topic", "", "", "", "topic", false},
	}
	for _, tc := range tests {
		got := ConversationID(tc.refs, tc.inReplyTo, tc.id, tc.topc)
		if len(got) != 16 || bytes.Equal(got, root) != tc.same {
			t.Errorf("%s: %x vs root %x, want same=%v", tc.name, got, root, tc.same)
		}
	}
	a := ConversationID("", "", "", "Ward round")
	b := ConversationID("", "", "", "ward round")
	if !bytes.Equal(a, b) {
		t.Error("topic grouping should ignore case")
	}
}

func TestConversationIndex(t *testing.T) {
	id, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	got := ConversationIndex(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), id)
	// FILETIME of 2024-01-01T00:00:00Z is 0x01DA3C457689C000; its five high
	// bytes are 01 DA 3C 45 76.
	want := "01" + "01da3c4576" + "00112233445566778899aabbccddeeff"
	if hex.EncodeToString(got) != want {
		t.Errorf("ConversationIndex = %x, want %s", got, want)
	}
}

func TestImportance(t *testing.T) {
	tests := []struct {
		header string
		want   int
	}{
		{"Importance: low", ImportanceLow},
		{"Importance: HIGH", ImportanceHigh},
		{"X-Priority: 1 (Highest)", ImportanceHigh},
		{"X-Priority: 2", ImportanceHigh},
		{"X-Priority: 3", ImportanceNormal},
		{"X-Priority: 4", ImportanceLow},
		{"X-MSMail-Priority: High", ImportanceHigh},
		{"Priority: non-urgent", ImportanceLow},
		{"X-Other: 1", ImportanceNormal},
	}
	for _, tc := range tests {
		it, err := Parse(crlf("From: a@b.c\nSubject: s\n" + tc.header + "\n\nbody\n"))
		if err != nil {
			t.Fatal(err)
		}
		if it.Importance != tc.want {
			t.Errorf("%s: Importance = %d, want %d", tc.header, it.Importance, tc.want)
		}
	}
}

// Strings that reach PostgreSQL must be valid UTF-8 without NUL, whatever
// the message declares.
func TestParseCleansStrings(t *testing.T) {
	raw := []byte("From: a@b.c\r\nSubject: bad \xff\xfe bytes\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nnul \x00 here \xff\r\n")
	it, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{it.Subject, it.Preview} {
		if strings.ContainsRune(s, 0) || strings.Contains(s, "\xff") {
			t.Errorf("unclean string %q", s)
		}
		if !utf8Valid(s) {
			t.Errorf("invalid UTF-8 %q", s)
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

func FuzzParse(f *testing.F) {
	for _, raw := range [][]byte{msgPlain, msgHTMLOnly, msgAlternative, msgAttachments, msgInlineImage, msgNested, msgSigned, msgEncrypted, msgMeeting, msgWindows1252, msgISO2022JP} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		it, err := Parse(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			if strings.Contains(err.Error(), "parser failed") {
				t.Fatalf("parser panicked: %v", err)
			}
			return
		}
		for _, s := range []string{it.Subject, it.FromAddr, it.ToAddrs, it.Preview} {
			if !utf8Valid(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("unclean %q", s)
			}
		}
		for _, a := range it.Attachments {
			if _, _, _, err := Part(raw, a.PartIndex); err != nil {
				t.Fatalf("Part(%d) of a listed attachment: %v", a.PartIndex, err)
			}
		}
	})
}

// A text attachment's type as Part gives it ("text/csv; charset=utf-8")
// is written whole by Compose, not as an empty Content-Type.
func TestComposeTextAttachmentKeepsType(t *testing.T) {
	var h mail.Header
	h.SetSubject("s")
	raw, err := Compose(h, "body", "", []File{{Name: "beds.csv", ContentType: "text/csv; charset=utf-8", Data: []byte("a,b\n")}})
	if err != nil {
		t.Fatal(err)
	}
	it, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(it.Attachments) != 1 || it.Attachments[0].ContentType != "text/csv; charset=utf-8" || it.Attachments[0].FileName != "beds.csv" {
		t.Fatalf("attachments %+v\n%s", it.Attachments, raw)
	}
}
