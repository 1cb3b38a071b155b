package demo

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

type file struct {
	name, contentType string
	data              []byte
}

// mailSpec is one demo message. A reply names the message it answers; its
// subject, In-Reply-To and References follow from it.
type mailSpec struct {
	key        string
	reply      string
	from       string
	to, cc     []string
	subject    string
	text, html string
	files      []file
	ago        time.Duration
	unread     bool
	flagged    bool
	importance string // "high", "low" or ""
	meeting    bool   // carries the MDT meeting request
}

const (
	hour = time.Hour
	day  = 24 * time.Hour
)

// mails is the demo traffic, oldest first. Amira is in 42 of them: 30 in
// her Inbox and 12 in her Sent Items.
var mails = []mailSpec{
	{key: "rnd", from: "rnd", to: []string{"amira"}, subject: "Research governance: study set-up documents", ago: 27 * day,
		text: "Dear Dr Patel,\n\nPlease find attached the site set-up checklist for the HF-REMOTE study. We need the signed delegation log before the site initiation visit.\n\nKind regards,\nResearch Governance Office", files: []file{pdfFile("HF-REMOTE site set-up checklist.pdf")}},
	{key: "parking", from: "estates", to: []string{"amira"}, subject: "Parking permit renewal", ago: 26 * day, importance: "low",
		text: "Your staff parking permit expires at the end of the month. Renew it on the staff intranet under Estates > Parking."},
	{key: "abstract", from: "amira", to: []string{"sarah"}, subject: "Conference abstract – BCS", ago: 25 * day,
		text: "Sarah,\n\nThe BCS abstract deadline is in three weeks. Could you draft the methods section for the remote monitoring audit?\n\nAmira"},
	{key: "abstract2", reply: "abstract", from: "sarah", to: []string{"amira"}, ago: 24 * day,
		text: "Happy to. I'll have a draft to you by Friday.\n\nSarah"},
	{key: "abstract3", reply: "abstract2", from: "amira", to: []string{"sarah"}, ago: 24*day - 3*hour,
		text: "Perfect, thank you."},
	{key: "jobplan", from: "cd", to: []string{"amira"}, subject: "Job plan review", ago: 22 * day, flagged: true,
		text: "Amira,\n\nYour annual job plan review is due. Could you send me three dates in the next month that suit you?\n\nRajesh"},
	{key: "jobplan2", reply: "jobplan", from: "amira", to: []string{"cd"}, ago: 21 * day,
		text: "Rajesh,\n\nThe 4th, 11th or 18th, any time after 2pm.\n\nAmira"},
	{key: "audit", from: "priya", to: []string{"amira"}, subject: "Audit: heart failure readmissions", ago: 20 * day,
		text: "Amira,\n\nFirst cut of the 30-day readmission audit attached. Readmissions are down from 21% to 16% since the virtual ward started.\n\nPriya", files: []file{pdfFile("HF readmissions audit Q3.pdf")}},
	{key: "audit2", reply: "audit", from: "amira", to: []string{"priya"}, ago: 19 * day,
		text: "Great work, Priya. Can we split it by NYHA class before governance?"},
	{key: "audit3", reply: "audit2", from: "priya", to: []string{"amira"}, ago: 18 * day,
		text: "Will do – updated version by next week."},
	{key: "training", from: "learning", to: []string{"amira"}, subject: "Mandatory training: Basic Life Support due", ago: 17 * day, importance: "high",
		html: `<html><body><p>Dear colleague,</p><p>Your <b>Basic Life Support</b> certification expires in <b>30 days</b>. Please book a session.</p><p>Learning and Development</p></body></html>`},
	{key: "airlock", from: "chris", to: allStaff(), subject: "Setting up your phone for Trust e-mail", ago: 16 * day,
		text: "Hello all,\n\nTrust e-mail, calendar and contacts now sync to your phone. Add an Exchange account with your Trust address and password; accept the security policy when asked.\n\nChris, Digital Services",
		html: `<html><body><p>Hello all,</p><p>Trust e-mail, calendar and contacts now sync to your phone. Add an <b>Exchange</b> account with your Trust address and password; accept the security policy when asked.</p><p>Chris, Digital Services</p></body></html>`},
	{key: "rota", from: "tom", to: []string{"amira", "sarah"}, subject: "Rota: April on-call", ago: 15 * day,
		text: "Hi both,\n\nDraft on-call rota for April attached. Please let me know of any clashes by Friday.\n\nTom", files: []file{pdfFile("Cardiology on-call rota April.pdf")}},
	{key: "rota2", reply: "rota", from: "sarah", to: []string{"tom"}, cc: []string{"amira"}, ago: 14 * day,
		text: "Tom, could I swap the 12th for the 19th? I'm at a course that weekend.\n\nSarah"},
	{key: "rota3", reply: "rota2", from: "amira", to: []string{"tom", "sarah"}, ago: 14*day - 2*hour,
		text: "Fine by me – I can cover the 12th."},
	{key: "mdt", from: "amira", to: []string{"james", "sarah", "priya", "tom"}, subject: "Cardiology MDT", ago: 13 * day, meeting: true,
		text: "Weekly cardiology MDT, Tuesdays 13:00–14:00, Seminar Room 2. Please bring new referrals and echo results."},
	{key: "apixaban", from: "grace", to: []string{"amira", "sarah", "priya"}, subject: "Apixaban dosing – updated guidance", ago: 12 * day,
		text:  "Dear all,\n\nThe Trust guidance on apixaban dose reduction has been updated (attached). Please note the new renal function thresholds.\n\nGrace",
		html:  `<html><body><p>Dear all,</p><p>The Trust guidance on <b>apixaban dose reduction</b> has been updated (attached). Please note the new renal function thresholds.</p><p>Grace</p></body></html>`,
		files: []file{pdfFile("Apixaban dosing guidance v4.pdf")}},
	{key: "apixaban2", reply: "apixaban", from: "sarah", to: []string{"grace", "amira", "priya"}, ago: 12*day - 4*hour,
		text: "Thanks Grace – does this change the advice for patients over 80 with a weight under 60 kg?"},
	{key: "bulletin", from: "comms", to: allStaff(), subject: "Trust bulletin: flu vaccination clinics open", ago: 11 * day,
		html: `<html><body><h1>Staff bulletin</h1><p>Flu vaccination clinics open on <b>Monday</b> in the Education Centre, 08:00–18:00. No appointment needed.</p><p>Please bring your staff ID.</p></body></html>`},
	{key: "teaching", from: "sarah", to: []string{"amira"}, cc: []string{"priya"}, subject: "Teaching: ECG interpretation session", ago: 10 * day,
		text: "Amira,\n\nWould you be able to lead the FY1 ECG teaching on Wednesday 12:30? Priya has offered to do the heart failure half.\n\nSarah"},
	{key: "teaching2", reply: "teaching", from: "amira", to: []string{"sarah"}, cc: []string{"priya"}, ago: 10*day - 5*hour,
		text: "Yes, happy to. I'll bring the usual set of tracings."},
	{key: "shortage", from: "grace", to: []string{"amira", "priya"}, subject: "Pharmacy: stock shortage – bisoprolol 1.25 mg", ago: 9 * day, importance: "high",
		text: "Bisoprolol 1.25 mg tablets are out of stock nationally until next month. Please prescribe 2.5 mg tablets, half a tablet, where appropriate.\n\nGrace"},
	{key: "letters", from: "tom", to: []string{"amira"}, subject: "Clinic letters for signing", ago: 8 * day,
		text: "Hi Amira,\n\nTwelve clinic letters from Monday's clinic are ready for signing (attached as one PDF).\n\nTom", files: []file{pdfFile("Clinic letters for signing.pdf")}},
	{key: "letters2", reply: "letters", from: "amira", to: []string{"tom"}, ago: 7 * day,
		text: "Signed, thanks Tom."},
	{key: "journal", from: "priya", to: cardiology, subject: "Journal club – this Friday", ago: 6 * day,
		text: "Journal club this Friday 08:00, Seminar Room 2: SGLT2 inhibitors in HFpEF. Breakfast provided."},
	{key: "locum", from: "agency", to: []string{"amira"}, subject: "Locum cover for Thursday clinic", ago: 5 * day,
		text: "Dr Patel,\n\nWe can offer a locum registrar for Thursday's clinic. Please confirm by Tuesday.\n\nMark Fielding"},
	{key: "echo", from: "priya", to: []string{"amira"}, subject: "Echo list for Thursday", ago: 4 * day,
		text: "Amira, the echo list for Thursday is overbooked by three. Can any move to the Friday list?"},
	{key: "echo2", reply: "echo", from: "amira", to: []string{"priya"}, ago: 4*day - 2*hour,
		text: "Move the two routine follow-ups; keep the new referrals on Thursday."},
	{key: "echo3", reply: "echo2", from: "priya", to: []string{"amira"}, ago: 4*day - hour,
		text: "Done – updated slot plan attached.", files: []file{pngFile("echo-slot-plan.png")}},
	{key: "discharge", from: "james", to: []string{"amira"}, subject: "Discharge summary template", ago: 3*day + 6*hour,
		text: "Amira, the ward would like the cardiology section of the discharge template to include the follow-up echo date. Could we discuss at the MDT?\n\nJames"},
	{key: "beds", from: "james", to: []string{"amira"}, cc: []string{"sarah"}, subject: "Bed pressures this weekend", ago: 3 * day,
		text: "Amira,\n\nWe're expecting to be full by Saturday. Could cardiology review the two outliers on 7B before the weekend?\n\nJames"},
	{key: "beds2", reply: "beds", from: "amira", to: []string{"james"}, cc: []string{"sarah"}, ago: 3*day - 2*hour,
		text: "Sarah will see both this afternoon."},
	{key: "beds3", reply: "beds2", from: "james", to: []string{"amira"}, cc: []string{"sarah"}, ago: 3*day - 5*hour,
		text: "Thank you."},
	{key: "beds4", reply: "beds3", from: "sarah", to: []string{"james", "amira"}, ago: 2*day + 18*hour,
		text: "Both reviewed: one for discharge tomorrow with clinic follow-up, one to stay for an echo."},
	{key: "warfarin", from: "james", to: []string{"amira"}, subject: "Quick question: warfarin, bed 12", ago: 2 * day,
		text: "Amira, bed 12's INR is 4.1 this morning. Hold tonight's dose?"},
	{key: "warfarin2", reply: "warfarin", from: "amira", to: []string{"james"}, ago: 2*day - hour,
		text: "Yes, hold tonight and recheck in the morning."},
	{key: "huddle", from: "james", to: []string{"amira", "sarah"}, subject: "Ward 7B huddle notes", ago: 36 * hour,
		text: "Huddle notes: 2 expected discharges, 1 side room free, staffing OK for nights."},
	{key: "handover", from: "sarah", to: []string{"amira"}, subject: "Out of hours handover", ago: 20 * hour,
		text: "Quiet night. One new admission with atrial fibrillation, rate controlled, on the list for the morning ward round."},
	{key: "gp", from: "gp", to: []string{"amira"}, subject: "Referral: rapid access chest pain clinic", ago: 18 * hour, flagged: true,
		text: "Dear Dr Patel,\n\nI would be grateful if you could see my patient in the rapid access chest pain clinic this week. Details have been sent through e-RS.\n\nDr Helen Okafor\nRiverside Medical Practice"},
	{key: "gp2", reply: "gp", from: "amira", to: []string{"gp"}, ago: 16 * hour,
		text: "Dear Dr Okafor,\n\nThank you – booked for Thursday morning.\n\nAmira Patel"},
	{key: "cathlab", from: "cathlab", to: []string{"amira"}, subject: "Cath lab list changes tomorrow", ago: 5 * hour, importance: "high", unread: true,
		text: "Lab 2 is closed tomorrow morning for maintenance. Your list moves to Lab 1 from 13:00."},
	{key: "lunch", from: "tom", to: cardiology, subject: "Team lunch Friday", ago: 2 * hour, unread: true,
		text: "Team lunch this Friday at 12:30 in the staff restaurant – all welcome!"},
}

// messageID gives each demo message a stable id within the domain.
func messageID(key, domain string) string { return "demo-" + key + "@" + domain }

// buildMail renders a spec as an RFC 5322 message with go-message.
func buildMail(m mailSpec, root mailSpec, refs []string, domain string, at time.Time, ics []byte) ([]byte, error) {
	var h mail.Header
	h.SetDate(at)
	h.SetMessageID(messageID(m.key, domain))
	h.SetAddressList("From", addresses([]string{m.from}, domain))
	h.SetAddressList("To", addresses(m.to, domain))
	if len(m.cc) > 0 {
		h.SetAddressList("Cc", addresses(m.cc, domain))
	}
	subject := m.subject
	if m.reply != "" {
		subject = "RE: " + root.subject
		h.SetMsgIDList("In-Reply-To", refs[len(refs)-1:])
		h.SetMsgIDList("References", refs)
	}
	h.SetSubject(subject)
	h.Set("MIME-Version", "1.0")
	if m.importance != "" {
		h.Set("Importance", m.importance)
	}
	var buf bytes.Buffer
	err := writeBody(&buf, h, m, ics)
	return buf.Bytes(), err
}

func addresses(keys []string, domain string) []*mail.Address {
	var out []*mail.Address
	for _, k := range keys {
		p := lookup(k)
		out = append(out, &mail.Address{Name: p.name(), Address: p.email(domain)})
	}
	return out
}

// writeBody picks the MIME structure a mail client would: a single part
// for plain text or HTML alone, multipart/alternative for text with HTML or
// a meeting request, multipart/mixed around that when files are attached.
func writeBody(w io.Writer, h mail.Header, m mailSpec, ics []byte) error {
	type part struct {
		ct     string
		params map[string]string
		body   string
	}
	var parts []part
	if m.text != "" {
		parts = append(parts, part{"text/plain", map[string]string{"charset": "utf-8"}, m.text + "\n"})
	}
	if m.html != "" {
		parts = append(parts, part{"text/html", map[string]string{"charset": "utf-8"}, m.html})
	}
	if m.meeting {
		parts = append(parts, part{"text/calendar", map[string]string{"charset": "utf-8", "method": "REQUEST"}, string(ics)})
	}
	writePart := func(pw io.WriteCloser, body string) error {
		if _, err := io.WriteString(pw, body); err != nil {
			return err
		}
		return pw.Close()
	}
	if len(parts) == 1 && len(m.files) == 0 {
		h.SetContentType(parts[0].ct, parts[0].params)
		pw, err := mail.CreateSingleInlineWriter(w, h)
		if err != nil {
			return err
		}
		return writePart(pw, parts[0].body)
	}
	var (
		iw  *mail.InlineWriter
		mw  *mail.Writer
		err error
	)
	switch {
	case len(m.files) == 0:
		iw, err = mail.CreateInlineWriter(w, h)
	case len(parts) == 1:
		// One body part goes straight into multipart/mixed.
		if mw, err = mail.CreateWriter(w, h); err == nil {
			var ph mail.InlineHeader
			ph.SetContentType(parts[0].ct, parts[0].params)
			pw, err := mw.CreateSingleInline(ph)
			if err != nil {
				return err
			}
			if err := writePart(pw, parts[0].body); err != nil {
				return err
			}
			parts = nil
		}
	default:
		if mw, err = mail.CreateWriter(w, h); err == nil {
			iw, err = mw.CreateInline()
		}
	}
	if err != nil {
		return err
	}
	for _, p := range parts {
		var ph mail.InlineHeader
		ph.SetContentType(p.ct, p.params)
		pw, err := iw.CreatePart(ph)
		if err != nil {
			return err
		}
		if err := writePart(pw, p.body); err != nil {
			return err
		}
	}
	if iw != nil {
		if err := iw.Close(); err != nil {
			return err
		}
	}
	if mw == nil {
		return nil
	}
	for _, f := range m.files {
		var ah mail.AttachmentHeader
		ah.SetContentType(f.contentType, nil)
		ah.SetFilename(f.name)
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return err
		}
		if _, err := aw.Write(f.data); err != nil {
			return err
		}
		if err := aw.Close(); err != nil {
			return err
		}
	}
	return mw.Close()
}

// pdfFile is a small, well-formed one-page PDF whose page shows the title.
func pdfFile(name string) file {
	title := strings.TrimSuffix(name, ".pdf")
	stream := fmt.Sprintf("BT /F1 18 Tf 72 720 Td (%s) Tj ET", strings.NewReplacer(`(`, `\(`, `)`, `\)`, `–`, `-`).Replace(title))
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return file{name: name, contentType: "application/pdf", data: b.Bytes()}
}

// pngFile is a small chart-like PNG: NHS-blue bars on white.
func pngFile(name string) file {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	blue := color.RGBA{0x00, 0x5e, 0xb8, 0xff}
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.White)
			bar := x / 8
			if x%8 >= 2 && 48-y <= 8+bar*5 {
				img.Set(x, y, blue)
			}
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img) // writing to memory cannot fail
	return file{name: name, contentType: "image/png", data: b.Bytes()}
}
