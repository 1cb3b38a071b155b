package activesync

import (
	"errors"
	"strconv"

	"github.com/beevik/etree"

	"airlock/pim"
)

// Helpers shared by the class codecs of package pim's classes
// (calendar.go, contacts.go, notes.go, tasks.go).

// pimBody writes a plain-text note or description as AirSyncBase:Body,
// honouring the collection's BodyPreference (MS-ASAIRS 2.2.2.9).

func pimBody(app *etree.Element, body string, o renderOpts) {
	if body == "" {
		return
	}
	opts := o.Options
	if opts == nil {
		opts = &syncOptions{}
	}
	pref, _ := chooseBodyPref(opts, bodyPlain, false)
	data := []byte(body)
	if pref.Type == bodyHTML {
		data = []byte("<html><body><pre>" + htmlEscape(body) + "</pre></body></html>")
	} else {
		pref.Type = bodyPlain
	}
	el := app.CreateElement("AirSyncBase:Body")
	add(el, "AirSyncBase:Type", itoa(pref.Type))
	add(el, "AirSyncBase:EstimatedDataSize", strconv.Itoa(len(data)))
	send, truncated := truncateBody(data, pref, true)
	if truncated {
		add(el, "AirSyncBase:Truncated", "1")
	}
	if send != nil {
		add(el, "AirSyncBase:Data", string(send))
	}
}

// readBody returns the text of an AirSyncBase:Body the device sent.
func readBody(app *etree.Element) string {
	b := child(app, "AirSyncBase:Body")
	if b == nil {
		return ""
	}
	return child0Text(b, "AirSyncBase:Data")
}

func child0Text(el *etree.Element, name string) string {
	if c := child(el, name); c != nil {
		return c.Text()
	}
	return ""
}

func catList(el *etree.Element, page string) []string {
	js := categoriesJSON(el, page)
	if js == nil {
		return nil
	}
	return categoriesOf(*js)
}

func convErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pim.ErrInvalid) {
		return errConversion
	}
	return err
}
