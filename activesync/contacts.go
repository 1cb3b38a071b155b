package activesync

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"

	"airlock/pim"
	"airlock/store"
)

// contactsCodec is the Contacts class of Sync (MS-ASCNTC 2.2.2, the
// Contacts and Contacts2 code pages) on top of pim.Contact.
//
// A Change replaces the contact, except for the Body and the Picture,
// which devices leave out when they did not change them (a picture lost on
// every edit is worse than one kept). A Picture longer than 48 KB of
// base64 fails the item with Sync Status 6, as MS-ASCNTC 2.2.2.58 says.
type contactsCodec struct{}

// maxContactPicture is MS-ASCNTC 2.2.2.58's limit on the base64 text.
const maxContactPicture = 48 * 1024

// contactFields maps element names to the pim.Contact string fields.
func contactFields(c *pim.Contact) []struct {
	name string
	p    *string
} {
	return []struct {
		name string
		p    *string
	}{
		{"Contacts:FileAs", &c.FileAs}, {"Contacts:FirstName", &c.FirstName}, {"Contacts:MiddleName", &c.MiddleName},
		{"Contacts:LastName", &c.LastName}, {"Contacts:Title", &c.Title}, {"Contacts:Suffix", &c.Suffix},
		{"Contacts:CompanyName", &c.CompanyName}, {"Contacts:Department", &c.Department}, {"Contacts:JobTitle", &c.JobTitle},
		{"Contacts:OfficeLocation", &c.OfficeLocation}, {"Contacts:Email1Address", &c.Email1}, {"Contacts:Email2Address", &c.Email2},
		{"Contacts:Email3Address", &c.Email3}, {"Contacts:BusinessPhoneNumber", &c.BusinessPhone}, {"Contacts:Business2PhoneNumber", &c.Business2Phone},
		{"Contacts:HomePhoneNumber", &c.HomePhone}, {"Contacts:Home2PhoneNumber", &c.Home2Phone}, {"Contacts:MobilePhoneNumber", &c.MobilePhone},
		{"Contacts:CarPhoneNumber", &c.CarPhone}, {"Contacts:PagerNumber", &c.Pager}, {"Contacts:RadioPhoneNumber", &c.RadioPhone},
		{"Contacts:BusinessFaxNumber", &c.BusinessFax}, {"Contacts:HomeFaxNumber", &c.HomeFax}, {"Contacts:AssistantPhoneNumber", &c.AssistantPhone},
		{"Contacts:BusinessAddressStreet", &c.BusinessAddress.Street}, {"Contacts:BusinessAddressCity", &c.BusinessAddress.City},
		{"Contacts:BusinessAddressState", &c.BusinessAddress.State}, {"Contacts:BusinessAddressPostalCode", &c.BusinessAddress.PostalCode},
		{"Contacts:BusinessAddressCountry", &c.BusinessAddress.Country},
		{"Contacts:HomeAddressStreet", &c.HomeAddress.Street}, {"Contacts:HomeAddressCity", &c.HomeAddress.City},
		{"Contacts:HomeAddressState", &c.HomeAddress.State}, {"Contacts:HomeAddressPostalCode", &c.HomeAddress.PostalCode},
		{"Contacts:HomeAddressCountry", &c.HomeAddress.Country},
		{"Contacts:OtherAddressStreet", &c.OtherAddress.Street}, {"Contacts:OtherAddressCity", &c.OtherAddress.City},
		{"Contacts:OtherAddressState", &c.OtherAddress.State}, {"Contacts:OtherAddressPostalCode", &c.OtherAddress.PostalCode},
		{"Contacts:OtherAddressCountry", &c.OtherAddress.Country},
		{"Contacts:Spouse", &c.Spouse}, {"Contacts:WebPage", &c.Webpage},
		{"Contacts:YomiCompanyName", &c.YomiCompanyName}, {"Contacts:YomiFirstName", &c.YomiFirstName}, {"Contacts:YomiLastName", &c.YomiLastName},
		{"Contacts:AssistantName", &c.AssistantName},
		{"Contacts2:CustomerId", &c.CustomerID}, {"Contacts2:GovernmentId", &c.GovernmentID},
		{"Contacts2:IMAddress", &c.IMAddress}, {"Contacts2:IMAddress2", &c.IMAddress2}, {"Contacts2:IMAddress3", &c.IMAddress3},
		{"Contacts2:ManagerName", &c.ManagerName}, {"Contacts2:CompanyMainPhone", &c.CompanyMainPhone},
		{"Contacts2:AccountName", &c.AccountName}, {"Contacts2:NickName", &c.NickName}, {"Contacts2:MMS", &c.MMS},
	}
}

func (contactsCodec) write(app *etree.Element, it *store.Item, _ []byte, _ bool, o renderOpts) {
	var c pim.Contact
	if err := c.FromItem(it); err != nil {
		c = pim.Contact{FileAs: it.Subject}
	}
	pimBody(app, c.Notes, o)
	for _, f := range contactFields(&c) {
		addIf(app, f.name, *f.p)
	}
	if c.Birthday != nil {
		add(app, "Contacts:Birthday", formatTime(*c.Birthday))
	}
	if c.Anniversary != nil {
		add(app, "Contacts:Anniversary", formatTime(*c.Anniversary))
	}
	if len(c.Children) > 0 {
		ch := app.CreateElement("Contacts:Children")
		for _, k := range c.Children {
			add(ch, "Contacts:Child", k)
		}
	}
	cats := app.CreateElement("Contacts:Categories")
	for _, k := range c.Categories {
		add(cats, "Contacts:Category", k)
	}
	if len(c.Picture) > 0 {
		if p := base64.StdEncoding.EncodeToString(c.Picture); len(p) <= maxContactPicture {
			add(app, "Contacts:Picture", p)
		}
	}
}

// parse reads a device's contact; cur (for a Change) lends the Body and
// Picture when the device left them out.
func (contactsCodec) parse(app *etree.Element, cur *pim.Contact) (*pim.Contact, error) {
	c := &pim.Contact{Categories: catList(child(app, "Contacts:Categories"), "Contacts")}
	for _, f := range contactFields(c) {
		*f.p = text(app, f.name)
	}
	switch {
	case has(app, "AirSyncBase:Body"):
		c.Notes = readBody(app)
	case has(app, "Contacts:Body"): // 2.5-style body some devices still send
		c.Notes = child0Text(app, "Contacts:Body")
	case cur != nil:
		c.Notes = cur.Notes
	}
	var err error
	if c.Birthday, err = optTime(app, "Contacts:Birthday"); err != nil {
		return nil, err
	}
	if c.Anniversary, err = optTime(app, "Contacts:Anniversary"); err != nil {
		return nil, err
	}
	for _, k := range children(child(app, "Contacts:Children"), "Contacts:Child") {
		if s := strings.TrimSpace(k.Text()); s != "" {
			c.Children = append(c.Children, s)
		}
	}
	if pe := child(app, "Contacts:Picture"); pe != nil {
		p := strings.Join(strings.Fields(pe.Text()), "")
		if len(p) > maxContactPicture {
			return nil, fmt.Errorf("%w: Picture of %d bytes of base64, over the 48 KB of MS-ASCNTC 2.2.2.58", errConversion, len(p))
		}
		if p != "" {
			if c.Picture, err = base64.StdEncoding.DecodeString(p); err != nil {
				return nil, fmt.Errorf("%w: Picture is not base64", errConversion)
			}
		}
	} else if cur != nil {
		c.Picture = cur.Picture
	}
	return c, nil
}

// optTime reads an optional EAS date-time; a malformed one is an error.
func optTime(el *etree.Element, name string) (*time.Time, error) {
	t, ok, err := calTimeOf(el, name)
	if err != nil || !ok {
		return nil, err
	}
	return &t, nil
}

func (k contactsCodec) parseAdd(app *etree.Element, o renderOpts) (*store.Item, []byte, error) {
	c, err := k.parse(app, nil)
	if err != nil {
		return nil, nil, err
	}
	it, err := c.ToItem(0, 0)
	return it, nil, convErr(err)
}

func (k contactsCodec) parseChange(app *etree.Element, cur *store.Item, o renderOpts) (store.FlagChange, *store.Item, error) {
	var old pim.Contact
	_ = old.FromItem(cur)
	c, err := k.parse(app, &old)
	if err != nil {
		return store.FlagChange{}, nil, err
	}
	c.UID = cur.UID
	it, err := c.ToItem(cur.UserID, cur.FolderID)
	return store.FlagChange{}, it, convErr(err)
}
