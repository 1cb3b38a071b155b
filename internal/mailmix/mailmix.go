// Package mailmix generates a realistic, deterministic mix of mail for
// benchmarks and the simulator: message i is always the same bytes.
//
// The mix follows what a hospital mailbox receives: 80% plain text, 15%
// text and HTML (multipart/alternative), 5% with an attachment
// (multipart/mixed, a PDF or a picture). Most mail is UTF-8; some is
// ISO-8859-1 or windows-1252 in quoted-printable or base64, and one in a
// hundred carries a broken charset (a label nobody knows, or UTF-8 that is
// not), as real mail does.
package mailmix

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"time"
)

// Kind is the shape of a generated message.
type Kind int

const (
	Plain       Kind = iota // text/plain
	Alternative             // multipart/alternative: text/plain and text/html
	Attachment              // multipart/mixed: a text body and a file
)

// KindOf says which shape message i has: 80% Plain, 15% Alternative, 5%
// Attachment, interleaved so that any run of 20 holds the whole mix.
func KindOf(i int) Kind {
	switch i % 20 {
	case 7:
		return Attachment
	case 2, 9, 15:
		return Alternative
	}
	return Plain
}

// Message returns message i of the mix, addressed to to and dated when.
func Message(i int, to string, when time.Time) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 0x61726c6f636b)) // "arlock"
	cs := charsetOf(i)
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from mx%d.nhs.net ([10.1.%d.%d]) by airlock; %s\r\n", i%3, i%250, r.IntN(250), when.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: \"%s\" <%s@nhs.net>\r\n", senders[i%len(senders)], strings.ToLower(strings.ReplaceAll(senders[i%len(senders)], " ", ".")))
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	fmt.Fprintf(&b, "Subject: %s %d\r\n", subjects[r.IntN(len(subjects))], i)
	fmt.Fprintf(&b, "Date: %s\r\n", when.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <mix%d.%d@example.nhs.uk>\r\n", i, when.Unix())
	b.WriteString("MIME-Version: 1.0\r\n")
	text := paragraphs(r, 400+r.IntN(3600))
	switch KindOf(i) {
	case Plain:
		writeText(&b, cs, text)
	case Alternative:
		boundary := fmt.Sprintf("alt-%d", i)
		fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", boundary)
		fmt.Fprintf(&b, "--%s\r\n", boundary)
		writeText(&b, cs, text)
		fmt.Fprintf(&b, "\r\n--%s\r\n", boundary)
		writeHTML(&b, text)
		fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	case Attachment:
		boundary := fmt.Sprintf("mixed-%d", i)
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", boundary)
		fmt.Fprintf(&b, "--%s\r\n", boundary)
		writeText(&b, cs, text)
		fmt.Fprintf(&b, "\r\n--%s\r\n", boundary)
		writeFile(&b, r, i)
		fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	}
	return []byte(b.String())
}

// charset is how a text part is labelled and encoded.
type charset struct {
	label    string // the charset parameter
	encoding string // Content-Transfer-Encoding
	latin1   bool   // the text is written in ISO-8859-1 bytes
	broken   bool   // the label lies or names nothing
}

// charsetOf: 70% UTF-8 (8bit or quoted-printable), 20% ISO-8859-1 or
// windows-1252, 9% UTF-8 in base64, 1% broken.
func charsetOf(i int) charset {
	switch n := i % 100; {
	case n == 37:
		return charset{label: "x-unknown-8bit", encoding: "8bit", latin1: true, broken: true}
	case n < 50:
		return charset{label: "utf-8", encoding: "8bit"}
	case n < 70:
		return charset{label: "utf-8", encoding: "quoted-printable"}
	case n < 80:
		return charset{label: "iso-8859-1", encoding: "quoted-printable", latin1: true}
	case n < 90:
		return charset{label: "windows-1252", encoding: "8bit", latin1: true}
	case n == 99:
		// Declared UTF-8, written in Latin-1: invalid UTF-8 bytes.
		return charset{label: "utf-8", encoding: "8bit", latin1: true, broken: true}
	}
	return charset{label: "utf-8", encoding: "base64"}
}

func writeText(b *strings.Builder, cs charset, text string) {
	fmt.Fprintf(b, "Content-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: %s\r\n\r\n", cs.label, cs.encoding)
	data := []byte(text)
	if cs.latin1 {
		data = toLatin1(text)
	}
	b.WriteString(encode(cs.encoding, data))
}

func writeHTML(b *strings.Builder, text string) {
	b.WriteString("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	var h strings.Builder
	h.WriteString("<html><head><style>p{font-family:Arial}</style></head><body>")
	for _, p := range strings.Split(text, "\r\n\r\n") {
		h.WriteString("<p>" + strings.ReplaceAll(p, "\r\n", "<br>") + "</p>")
	}
	h.WriteString(`<p style="color:#005eb8">NHS Trust &middot; <a href="https://example.nhs.uk/">intranet</a></p></body></html>`)
	b.WriteString(encode("quoted-printable", []byte(h.String())))
}

// writeFile attaches a PDF (two in three) or a JPEG of 8 to 60 KiB.
func writeFile(b *strings.Builder, r *rand.Rand, i int) {
	data := make([]byte, 8<<10+r.IntN(52<<10))
	for j := range data {
		data[j] = byte(r.Uint32())
	}
	ct, name := "application/pdf", fmt.Sprintf("discharge-summary-%d.pdf", i)
	if i%3 == 0 {
		ct, name = "image/jpeg", fmt.Sprintf("wound-photo-%d.jpg", i)
	}
	fmt.Fprintf(b, "Content-Type: %s; name=%q\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n", ct, name, name)
	b.WriteString(encode("base64", data))
}

func encode(enc string, data []byte) string {
	switch enc {
	case "base64":
		s := base64.StdEncoding.EncodeToString(data)
		var b strings.Builder
		for len(s) > 76 {
			b.WriteString(s[:76] + "\r\n")
			s = s[76:]
		}
		b.WriteString(s + "\r\n")
		return b.String()
	case "quoted-printable":
		var b strings.Builder
		w := quotedprintable.NewWriter(&b)
		w.Write(data)
		w.Close()
		return b.String() + "\r\n"
	}
	return string(data) + "\r\n"
}

// toLatin1 writes text in ISO-8859-1; the generated text has no character
// outside it.
func toLatin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, c := range s {
		if c > 0xff {
			c = '?'
		}
		out = append(out, byte(c))
	}
	return out
}

// paragraphs makes about n bytes of clinical-sounding prose with a few
// accented letters and a pound sign, in paragraphs of CRLF-ended lines.
func paragraphs(r *rand.Rand, n int) string {
	var b strings.Builder
	line := 0
	for b.Len() < n {
		w := words[r.IntN(len(words))]
		if line+len(w) > 72 {
			b.WriteString("\r\n")
			line = 0
			if r.IntN(6) == 0 {
				b.WriteString("\r\n")
			}
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
	return b.String()
}

var words = strings.Fields(`patient bay ward stable obs observations every four hours
	handover discharge summary clinic referral café naïve Zoë Müller £25 pharmacy
	bloods results pending consultant review tomorrow morning please confirm
	the and of to with for on at by from is was be has have will NEWS2 score
	antibiotics IV oral paracetamol allergy penicillin family informed bed
	theatre list rota cover night shift transfer ITU ambulance GP letter`)

var senders = []string{"Ward Seven", "Outpatients Desk", "Dr Amara Okafor", "Pharmacy Team", "Rota Office", "Sister Gráinne Ní Bhriain", "IT Service Desk"}

var subjects = []string{"Handover", "Discharge summary", "Bloods results", "Rota change", "Clinic list", "Referral", "Re: bed state", "Fwd: audit", "Théâtre list"}
