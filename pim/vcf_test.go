package pim

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	jpegBytes = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9")
	pngBytes  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
)

var vcfSample = lines(`
BEGIN:VCARD
VERSION:3.0
UID:gp-1@example.nhs.uk
FN:Dr Helen Okafor
N:Okafor;Helen;Adaeze;Dr;MRCGP
ORG:Riverside Medical Practice;Partners
TITLE:GP Partner
EMAIL;TYPE=INTERNET:helen.okafor@nhs.example
EMAIL;TYPE=INTERNET,pref:h.okafor@riverside.example
TEL;TYPE=WORK,VOICE:020 7946 0101
TEL;TYPE=WORK,VOICE:020 7946 0102
TEL;TYPE=CELL:07700 900101
TEL;TYPE=WORK,FAX:020 7946 0199
TEL;TYPE=HOME:020 7946 0555
TEL;TYPE=PAGER:07700 900999
TEL:07700 900222
ADR;TYPE=WORK:;;1 River Lane;London;;SE1 7PB;United Kingdom
ADR;TYPE=HOME:;Flat 2;3 Hill Road;Bromley;Kent;BR1 1AA;UK
BDAY:1975-05-17
X-MS-ANNIVERSARY:2001-09-08
X-MS-SPOUSE:Daniel Okafor
X-MS-CHILD:Ada
X-MS-CHILD:Tobi
X-MS-MANAGER:Dr R Shah
X-MS-ASSISTANT:Jo Clarke
NICKNAME:Nell
URL:https://riverside.example
CATEGORIES:GP,Referrers
NOTE:Prefers referrals by e-RS.\nNo faxes after 6pm.
IMPP:sip:helen.okafor@nhs.example
PHOTO;ENCODING=b;TYPE=JPEG:` + base64.StdEncoding.EncodeToString(jpegBytes) + `
END:VCARD
BEGIN:VCARD
VERSION:4.0
UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1
FN:Cardiac Physiology
ORG:St Example's Hospital;Cardiac Physiology
EMAIL;PREF=1:echo@example.nhs.uk
TEL;VALUE=uri;TYPE="work,voice":tel:+44-20-7946-0300
BDAY:--0229
PHOTO:data:image/png;base64,` + base64.StdEncoding.EncodeToString(pngBytes) + `
END:VCARD
BEGIN:VCARD
VERSION:3.0
UID:broken-photo@example.nhs.uk
FN:Broken Photo
PHOTO;ENCODING=b;TYPE=JPEG:!!!not base64!!!
END:VCARD
BEGIN:VCARD
VERSION:3.0
NOTE:nobody
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Bad Birthday
BDAY:17/05/1975
END:VCARD
BEGIN:VCARD
FN:No Version
END:VCARD
`)

func TestParseVCF(t *testing.T) {
	contacts, errs := ParseVCF(strings.NewReader(vcfSample))
	wantErrs := []struct {
		index  int
		uid    string
		reason string
	}{
		{3, "broken-photo@example.nhs.uk", "PHOTO: bad base64"},
		{4, "", "no name"},
		{5, "", "BDAY: bad date"},
		{6, "", "no VERSION"},
	}
	if len(errs) != len(wantErrs) {
		t.Fatalf("errors = %v", errs)
	}
	for i, w := range wantErrs {
		var ee *EntryError
		if !errors.As(errs[i], &ee) || ee.Index != w.index || ee.UID != w.uid || !strings.Contains(ee.Error(), w.reason) {
			t.Errorf("error %d = %v, want entry %d (%q) with %q", i, errs[i], w.index, w.uid, w.reason)
		}
	}
	if len(contacts) != 2 {
		t.Fatalf("contacts = %d", len(contacts))
	}
	bday := time.Date(1975, 5, 17, 0, 0, 0, 0, time.UTC)
	anniv := time.Date(2001, 9, 8, 0, 0, 0, 0, time.UTC)
	want := Contact{
		UID: "gp-1@example.nhs.uk", FileAs: "Dr Helen Okafor", FirstName: "Helen", MiddleName: "Adaeze", LastName: "Okafor",
		Title: "Dr", Suffix: "MRCGP", CompanyName: "Riverside Medical Practice", Department: "Partners", JobTitle: "GP Partner",
		Email1: "h.okafor@riverside.example", Email2: "helen.okafor@nhs.example",
		BusinessPhone: "020 7946 0101", Business2Phone: "020 7946 0102", MobilePhone: "07700 900101", BusinessFax: "020 7946 0199",
		HomePhone: "020 7946 0555", Pager: "07700 900999", Home2Phone: "07700 900222",
		BusinessAddress: Address{Street: "1 River Lane", City: "London", PostalCode: "SE1 7PB", Country: "United Kingdom"},
		HomeAddress:     Address{Street: "Flat 2\n3 Hill Road", City: "Bromley", State: "Kent", PostalCode: "BR1 1AA", Country: "UK"},
		Birthday:        &bday, Anniversary: &anniv, Spouse: "Daniel Okafor", Children: []string{"Ada", "Tobi"},
		Webpage: "https://riverside.example", Categories: []string{"GP", "Referrers"},
		Notes: "Prefers referrals by e-RS.\nNo faxes after 6pm.", Picture: jpegBytes,
		NickName: "Nell", IMAddress: "sip:helen.okafor@nhs.example", ManagerName: "Dr R Shah", AssistantName: "Jo Clarke",
	}
	if !reflect.DeepEqual(contacts[0], want) {
		t.Errorf("v3 contact\n got %+v\nwant %+v", contacts[0], want)
	}
	v4 := contacts[1]
	leap := time.Date(1604, 2, 29, 0, 0, 0, 0, time.UTC)
	if v4.FileAs != "Cardiac Physiology" || v4.CompanyName != "St Example's Hospital" || v4.Department != "Cardiac Physiology" ||
		v4.Email1 != "echo@example.nhs.uk" || v4.BusinessPhone != "+44-20-7946-0300" ||
		v4.Birthday == nil || !v4.Birthday.Equal(leap) || !bytes.Equal(v4.Picture, pngBytes) {
		t.Errorf("v4 contact = %+v", v4)
	}
}

func TestParseVCFStructure(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		contacts int
		errIdx   []int
		reason   string
	}{
		{"not a vcard", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", 0, []int{0}, "not a vCard file"},
		{"garbage", "\x00\x01\x02", 0, []int{0}, "not a vCard file"},
		{"missing END before next card", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:B\r\nEND:VCARD\r\n", 1, []int{1}, "VCARD not closed"},
		{"truncated", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:B", 1, []int{2}, "not closed"},
		{"folded lines, LF, lower case", "begin:vcard\nversion:3.0\nfn:Long\n  Name\nend:vcard\n", 1, nil, ""},
		{"photo not an image", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nPHOTO;ENCODING=b:" + base64.StdEncoding.EncodeToString([]byte("hello world, not a picture")) + "\r\nEND:VCARD\r\n", 0, []int{1}, "not an image"},
		{"photo by URL is ignored", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nPHOTO:https://example.org/a.jpg\r\nEND:VCARD\r\n", 1, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			contacts, errs := ParseVCF(strings.NewReader(tc.in))
			if len(contacts) != tc.contacts {
				t.Errorf("contacts = %+v, want %d", contacts, tc.contacts)
			}
			if len(errs) != len(tc.errIdx) {
				t.Fatalf("errors = %v, want entries %v", errs, tc.errIdx)
			}
			for i, idx := range tc.errIdx {
				var ee *EntryError
				if !errors.As(errs[i], &ee) || ee.Index != idx || !strings.Contains(ee.Error(), tc.reason) {
					t.Errorf("error %v, want entry %d with %q", errs[i], idx, tc.reason)
				}
			}
		})
	}
	c, _ := ParseVCF(strings.NewReader(tests[4].in))
	if len(c) == 1 && c[0].FileAs != "Long Name" {
		t.Errorf("folded FN = %q", c[0].FileAs)
	}
}

func TestWriteVCFRoundTrip(t *testing.T) {
	contacts, _ := ParseVCF(strings.NewReader(vcfSample))
	full := contacts[0]
	full.OfficeLocation, full.CarPhone, full.RadioPhone, full.HomeFax = "Level 2", "07700 900301", "07700 900302", "020 7946 0198"
	full.AssistantPhone, full.CompanyMainPhone, full.MMS = "020 7946 0103", "020 7946 0100", "07700 900303"
	full.OtherAddress = Address{Street: "PO Box 12", City: "London"}
	full.Email3, full.IMAddress2, full.CustomerID, full.GovernmentID, full.AccountName = "h3@example.org", "xmpp:h@example.org", "C-1", "G-1", "hokafor"
	in := []Contact{full, contacts[1]}
	var buf bytes.Buffer
	if err := WriteVCF(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, errs := ParseVCF(&buf)
	if len(errs) != 0 {
		t.Fatalf("re-parse: %v\n%s", errs, buf.String())
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip\n got %+v\nwant %+v", out, in)
	}
}
