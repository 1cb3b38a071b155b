package pim

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/emersion/go-vcard"
)

// Extension fields. Outlook's X-MS-* names are read and written where they
// exist; the MS-ASCNTC fields vCard has no name for travel as X-AIRLOCK-* so
// an export imports back without loss.
const (
	xOffice       = "X-AIRLOCK-OFFICE"
	xCustomerID   = "X-AIRLOCK-CUSTOMERID"
	xGovernmentID = "X-AIRLOCK-GOVERNMENTID"
	xAccountName  = "X-AIRLOCK-ACCOUNT"
	xMMS          = "X-AIRLOCK-MMS"
	xManager      = "X-MS-MANAGER"
	xAssistant    = "X-MS-ASSISTANT"
	xSpouse       = "X-MS-SPOUSE"
	xChild        = "X-MS-CHILD"
	xAnniversary  = "X-MS-ANNIVERSARY"
)

// ParseVCF reads a vCard file (3.0 or 4.0; 2.1 cards are read where they
// follow 3.0 syntax). Malformed cards are returned as *EntryError and
// skipped; the rest are kept. A card without UID gets one derived from its
// text, so importing the same file twice finds the same contacts.
func ParseVCF(r io.Reader) ([]Contact, []error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, []error{&EntryError{Err: err}}
	}
	if len(data) > maxFileSize {
		return nil, []error{&EntryError{Err: fmt.Errorf("file larger than %d MiB", maxFileSize>>20)}}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	blocks, err := splitBlocks(string(data), "", map[string]bool{"VCARD": true})
	if err != nil {
		return nil, []error{&EntryError{Err: err}}
	}
	var (
		out  []Contact
		errs []error
	)
	for _, b := range blocks {
		if b.index == 0 {
			continue
		}
		fail := func(err error) { errs = append(errs, &EntryError{Index: b.index, UID: b.uid(), Err: err}) }
		if b.err != nil {
			fail(b.err)
			continue
		}
		card, err := vcard.NewDecoder(strings.NewReader(b.text)).Decode()
		if err != nil {
			fail(err)
			continue
		}
		c, err := contactFromCard(card, b.text)
		if err != nil {
			fail(err)
			continue
		}
		out = append(out, c)
	}
	return out, errs
}

func contactFromCard(card vcard.Card, text string) (Contact, error) {
	var c Contact
	switch v := strings.TrimSpace(card.Value(vcard.FieldVersion)); v {
	case "2.1", "3.0", "4.0":
	case "":
		return c, errors.New("no VERSION")
	default:
		return c, fmt.Errorf("unsupported VERSION %q", v)
	}
	val := func(k string) string { return clean(strings.TrimSpace(card.PreferredValue(k))) }
	c.UID = val(vcard.FieldUID)
	if c.UID == "" {
		c.UID = derivedUID(text)
	}
	c.FileAs = val(vcard.FieldFormattedName)
	if n := card.Name(); n != nil {
		c.LastName, c.FirstName, c.MiddleName = clean(n.FamilyName), clean(n.GivenName), clean(n.AdditionalName)
		c.Title, c.Suffix = clean(n.HonorificPrefix), clean(n.HonorificSuffix)
	}
	if org := val(vcard.FieldOrganization); org != "" {
		parts := strings.SplitN(org, ";", 2)
		c.CompanyName = strings.TrimSpace(parts[0])
		if len(parts) > 1 {
			c.Department = strings.TrimSpace(strings.ReplaceAll(parts[1], ";", ", "))
		}
	}
	c.JobTitle = val(vcard.FieldTitle)
	c.OfficeLocation = val(xOffice)
	c.NickName = val(vcard.FieldNickname)
	c.Webpage = val(vcard.FieldURL)
	c.Notes = val(vcard.FieldNote)
	c.ManagerName = firstNonEmpty(val(xManager), val("X-MANAGER"))
	c.AssistantName = firstNonEmpty(val(xAssistant), val("X-ASSISTANT"))
	c.Spouse = firstNonEmpty(val(xSpouse), val("X-SPOUSE"))
	for _, k := range []string{xChild, "X-CHILDREN"} {
		for _, v := range card.Values(k) {
			for _, ch := range strings.Split(v, ",") {
				if ch = clean(strings.TrimSpace(ch)); ch != "" {
					c.Children = append(c.Children, ch)
				}
			}
		}
	}
	c.CustomerID, c.GovernmentID, c.AccountName, c.MMS = val(xCustomerID), val(xGovernmentID), val(xAccountName), val(xMMS)
	for _, f := range card[vcard.FieldCategories] {
		for _, v := range strings.Split(f.Value, ",") {
			if v = clean(strings.TrimSpace(v)); v != "" {
				c.Categories = append(c.Categories, v)
			}
		}
	}

	emails := ordered(card[vcard.FieldEmail])
	for i, dst := range []*string{&c.Email1, &c.Email2, &c.Email3} {
		if i < len(emails) {
			*dst = clean(strings.TrimSpace(emails[i].Value))
		}
	}
	var ims []string
	for _, f := range ordered(card[vcard.FieldIMPP]) {
		ims = append(ims, f.Value)
	}
	for _, k := range []string{"X-SIP", "X-JABBER", "X-SKYPE", "X-AIM", "X-MSN"} {
		ims = append(ims, card.Values(k)...)
	}
	for i, dst := range []*string{&c.IMAddress, &c.IMAddress2, &c.IMAddress3} {
		if i < len(ims) {
			*dst = clean(strings.TrimSpace(ims[i]))
		}
	}
	for _, f := range ordered(card[vcard.FieldTelephone]) {
		assignPhone(&c, types(f), clean(strings.TrimPrefix(strings.TrimSpace(f.Value), "tel:")))
	}
	for _, a := range card.Addresses() {
		addr := Address{
			Street:     clean(strings.TrimSpace(strings.Join(nonEmpty(a.ExtendedAddress, a.StreetAddress, a.PostOfficeBox), "\n"))),
			City:       clean(strings.TrimSpace(a.Locality)),
			State:      clean(strings.TrimSpace(a.Region)),
			PostalCode: clean(strings.TrimSpace(a.PostalCode)),
			Country:    clean(strings.TrimSpace(a.Country)),
		}
		t := types(a.Field)
		var dst *Address
		switch {
		case has(t, "work"):
			dst = &c.BusinessAddress
		case has(t, "home"):
			dst = &c.HomeAddress
		default:
			dst = &c.OtherAddress
		}
		if dst.IsZero() {
			*dst = addr
		} else if c.OtherAddress.IsZero() {
			c.OtherAddress = addr
		}
	}
	var err error
	if c.Birthday, err = vcardDate(val(vcard.FieldBirthday)); err != nil {
		return c, fmt.Errorf("BDAY: %v", err)
	}
	if c.Anniversary, err = vcardDate(firstNonEmpty(val(vcard.FieldAnniversary), val(xAnniversary), val("X-ANNIVERSARY"))); err != nil {
		return c, fmt.Errorf("ANNIVERSARY: %v", err)
	}
	if f := card.Preferred(vcard.FieldPhoto); f != nil {
		if c.Picture, err = photo(f); err != nil {
			return c, fmt.Errorf("PHOTO: %v", err)
		}
	}
	if c.DisplayName() == "" {
		return c, errors.New("no name, organisation or e-mail address (FN, N, ORG, EMAIL)")
	}
	return c, nil
}

// ordered puts the preferred fields first (TYPE=pref in 3.0, PREF=n in 4.0),
// keeping file order otherwise.
func ordered(fields []*vcard.Field) []*vcard.Field {
	var pref, rest []*vcard.Field
	for _, f := range fields {
		if has(types(f), "pref") || f.Params.Get(vcard.ParamPreferred) == "1" {
			pref = append(pref, f)
		} else {
			rest = append(rest, f)
		}
	}
	return append(pref, rest...)
}

// types lists a field's TYPE values lower-cased, whether given as
// TYPE=a,b or TYPE=a;TYPE=b.
func types(f *vcard.Field) []string {
	if f == nil {
		return nil
	}
	var out []string
	for _, t := range f.Params[vcard.ParamType] {
		for _, v := range strings.Split(t, ",") {
			out = append(out, strings.ToLower(strings.TrimSpace(v)))
		}
	}
	return out
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// assignPhone puts a number in the first free MS-ASCNTC slot its types
// allow. An untyped number most likely is a mobile in a personal address
// book, so it tries Mobile first.
func assignPhone(c *Contact, t []string, number string) {
	if number == "" {
		return
	}
	var slots []*string
	switch {
	case has(t, "fax") && has(t, "home"):
		slots = []*string{&c.HomeFax, &c.BusinessFax}
	case has(t, "fax"):
		slots = []*string{&c.BusinessFax, &c.HomeFax}
	case has(t, "pager"):
		slots = []*string{&c.Pager}
	case has(t, "car"):
		slots = []*string{&c.CarPhone}
	case has(t, "x-radio") || has(t, "radio"):
		slots = []*string{&c.RadioPhone}
	case has(t, "x-mms") || has(t, "mms"):
		slots = []*string{&c.MMS}
	case has(t, "x-assistant") || has(t, "assistant"):
		slots = []*string{&c.AssistantPhone}
	case has(t, "main") || has(t, "x-company-main") || has(t, "company"):
		slots = []*string{&c.CompanyMainPhone, &c.BusinessPhone, &c.Business2Phone}
	case has(t, "cell") || has(t, "mobile") || has(t, "iphone"):
		slots = []*string{&c.MobilePhone, &c.Home2Phone, &c.Business2Phone}
	case has(t, "work"):
		slots = []*string{&c.BusinessPhone, &c.Business2Phone}
	case has(t, "home"):
		slots = []*string{&c.HomePhone, &c.Home2Phone}
	default:
		slots = []*string{&c.MobilePhone, &c.HomePhone, &c.BusinessPhone, &c.Home2Phone, &c.Business2Phone}
	}
	for _, s := range slots {
		if *s == "" {
			*s = number
			return
		}
	}
}

// vcardDate reads BDAY/ANNIVERSARY: a date in basic or extended form, maybe
// with a time, or a date without year ("--0517"), which gets year 1604 as
// Apple's clients write it, because EAS dates need a year.
func vcardDate(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if strings.HasPrefix(s, "--") {
		s = "1604" + strings.ReplaceAll(s[2:], "-", "")
	}
	for _, layout := range []string{"2006-01-02", "20060102", time.RFC3339, "2006-01-02T15:04:05", "20060102T150405Z", "20060102T150405"} {
		if t, err := time.Parse(layout, s); err == nil {
			d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			return &d, nil
		}
	}
	return nil, fmt.Errorf("bad date %q", s)
}

// maxPicture bounds a contact picture: EAS devices and the Props column
// have no use for a camera original.
const maxPicture = 1 << 20

// photo decodes an inline PHOTO: base64 with ENCODING=b (3.0) or a data:
// URI (4.0). A picture by reference (http: URI) is not fetched.
func photo(f *vcard.Field) ([]byte, error) {
	v := strings.TrimSpace(f.Value)
	enc := strings.ToLower(f.Params.Get("ENCODING"))
	var b64 string
	switch {
	case strings.HasPrefix(strings.ToLower(v), "data:"):
		meta, data, ok := strings.Cut(v[5:], ",")
		if !ok || !strings.HasSuffix(strings.ToLower(meta), ";base64") {
			return nil, errors.New("data URI is not base64")
		}
		b64 = data
	case enc == "b" || enc == "base64":
		b64 = v
	case strings.Contains(v, "://"):
		return nil, nil
	default:
		return nil, errors.New("neither base64 nor a data URI")
	}
	b64 = strings.Join(strings.Fields(b64), "")
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "=")); err != nil {
			return nil, fmt.Errorf("bad base64: %v", err)
		}
	}
	if len(data) > maxPicture {
		return nil, fmt.Errorf("picture of %d bytes is larger than %d", len(data), maxPicture)
	}
	if ct := http.DetectContentType(data); !strings.HasPrefix(ct, "image/") {
		return nil, fmt.Errorf("not an image (%s)", ct)
	}
	return data, nil
}

// WriteVCF writes contacts as vCard 3.0, the version every address book
// imports.
func WriteVCF(w io.Writer, contacts []Contact) error {
	enc := vcard.NewEncoder(w)
	for i := range contacts {
		if err := enc.Encode(contactCard(&contacts[i])); err != nil {
			return fmt.Errorf("contact %q: %w", contacts[i].UID, err)
		}
	}
	return nil
}

func contactCard(c *Contact) vcard.Card {
	card := vcard.Card{}
	card.SetValue(vcard.FieldVersion, "3.0")
	card.SetValue(vcard.FieldUID, c.UID)
	card.SetValue(vcard.FieldFormattedName, c.DisplayName())
	card.SetName(&vcard.Name{FamilyName: c.LastName, GivenName: c.FirstName, AdditionalName: c.MiddleName, HonorificPrefix: c.Title, HonorificSuffix: c.Suffix})
	set := func(k, v string) {
		if v != "" {
			card.Add(k, &vcard.Field{Value: v})
		}
	}
	if c.CompanyName != "" || c.Department != "" {
		set(vcard.FieldOrganization, strings.TrimSuffix(c.CompanyName+";"+c.Department, ";"))
	}
	set(vcard.FieldTitle, c.JobTitle)
	set(xOffice, c.OfficeLocation)
	set(vcard.FieldNickname, c.NickName)
	set(vcard.FieldURL, c.Webpage)
	set(vcard.FieldNote, c.Notes)
	set(xManager, c.ManagerName)
	set(xAssistant, c.AssistantName)
	set(xSpouse, c.Spouse)
	for _, ch := range c.Children {
		set(xChild, ch)
	}
	set(xCustomerID, c.CustomerID)
	set(xGovernmentID, c.GovernmentID)
	set(xAccountName, c.AccountName)
	set(xMMS, c.MMS)
	for i, e := range []string{c.Email1, c.Email2, c.Email3} {
		if e == "" {
			continue
		}
		f := &vcard.Field{Value: e, Params: vcard.Params{vcard.ParamType: {"INTERNET"}}}
		if i == 0 {
			f.Params.Add(vcard.ParamType, "pref")
		}
		card.Add(vcard.FieldEmail, f)
	}
	for _, im := range []string{c.IMAddress, c.IMAddress2, c.IMAddress3} {
		set(vcard.FieldIMPP, im)
	}
	for _, p := range []struct {
		number string
		types  []string
	}{
		{c.BusinessPhone, []string{"WORK", "VOICE"}}, {c.Business2Phone, []string{"WORK", "VOICE"}},
		{c.HomePhone, []string{"HOME", "VOICE"}}, {c.Home2Phone, []string{"HOME", "VOICE"}},
		{c.MobilePhone, []string{"CELL"}}, {c.CarPhone, []string{"CAR"}}, {c.Pager, []string{"PAGER"}},
		{c.RadioPhone, []string{"X-RADIO"}}, {c.BusinessFax, []string{"WORK", "FAX"}}, {c.HomeFax, []string{"HOME", "FAX"}},
		{c.AssistantPhone, []string{"X-ASSISTANT"}}, {c.CompanyMainPhone, []string{"X-COMPANY-MAIN"}},
	} {
		if p.number != "" {
			card.Add(vcard.FieldTelephone, &vcard.Field{Value: p.number, Params: vcard.Params{vcard.ParamType: p.types}})
		}
	}
	for _, a := range []struct {
		addr Address
		typ  string
	}{{c.BusinessAddress, "WORK"}, {c.HomeAddress, "HOME"}, {c.OtherAddress, "OTHER"}} {
		if a.addr.IsZero() {
			continue
		}
		card.AddAddress(&vcard.Address{
			Field:         &vcard.Field{Params: vcard.Params{vcard.ParamType: {a.typ}}},
			StreetAddress: a.addr.Street, Locality: a.addr.City,
			Region: a.addr.State, PostalCode: a.addr.PostalCode, Country: a.addr.Country,
		})
	}
	if c.Birthday != nil {
		set(vcard.FieldBirthday, c.Birthday.Format("2006-01-02"))
	}
	if c.Anniversary != nil {
		set(xAnniversary, c.Anniversary.Format("2006-01-02"))
	}
	if len(c.Categories) > 0 {
		card.SetCategories(c.Categories)
	}
	if len(c.Picture) > 0 {
		typ := strings.ToUpper(strings.TrimPrefix(http.DetectContentType(c.Picture), "image/"))
		card.Add(vcard.FieldPhoto, &vcard.Field{
			Value:  base64.StdEncoding.EncodeToString(c.Picture),
			Params: vcard.Params{"ENCODING": {"b"}, vcard.ParamType: {typ}},
		})
	}
	return card
}
