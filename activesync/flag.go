package activesync

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/beevik/etree"

	"airlock/store"
)

// mailFlag is the whole follow-up flag of a mail, MS-ASEMAIL 2.2.2.34 Flag
// with its children from the Email and Tasks code pages. It is kept as JSON
// in store.Item.Flag (and its Status in FlagStatus, which the older code
// and the queries use), so a flag set on one device reaches the user's
// other devices with its dates, reminder and subject intact.
//
// Dates are kept as normalised EAS dateTime strings: the local-time fields
// (StartDate, DueDate, ReminderTime is UTC) are the device's wall clock
// written as if UTC (MS-ASTASK 2.2.2.8), so they are not converted.
type mailFlag struct {
	Status         int    `json:"status"`
	FlagType       string `json:"flag_type,omitempty"`
	CompleteTime   string `json:"complete_time,omitempty"`
	DateCompleted  string `json:"date_completed,omitempty"`
	StartDate      string `json:"start_date,omitempty"`
	UtcStartDate   string `json:"utc_start_date,omitempty"`
	DueDate        string `json:"due_date,omitempty"`
	UtcDueDate     string `json:"utc_due_date,omitempty"`
	ReminderSet    *bool  `json:"reminder_set,omitempty"`
	ReminderTime   string `json:"reminder_time,omitempty"`
	Subject        string `json:"subject,omitempty"`
	OrdinalDate    string `json:"ordinal_date,omitempty"`
	SubOrdinalDate string `json:"sub_ordinal_date,omitempty"`
}

// flagDates lists the date children of Flag with where each is kept.
func (f *mailFlag) dates() []struct {
	name string
	v    *string
} {
	return []struct {
		name string
		v    *string
	}{
		{"Tasks:DateCompleted", &f.DateCompleted},
		{"Email:CompleteTime", &f.CompleteTime},
		{"Tasks:StartDate", &f.StartDate},
		{"Tasks:DueDate", &f.DueDate},
		{"Tasks:UtcStartDate", &f.UtcStartDate},
		{"Tasks:UtcDueDate", &f.UtcDueDate},
		{"Tasks:ReminderTime", &f.ReminderTime},
		{"Tasks:OrdinalDate", &f.OrdinalDate},
	}
}

// parseFlag reads a device's Flag. An empty Flag (or Status 0) clears it:
// js is then "". A Status out of 0–2 or a date that is not a date is a
// conversion error (Sync Status 6). A completed flag without its
// completion times gets the server's time (MS-ASEMAIL 2.2.2.19
// CompleteTime is required with Status 1).
func parseFlag(el *etree.Element, now time.Time) (status int, js string, err error) {
	f := mailFlag{}
	if s := text(el, "Email:Status"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < flagCleared || n > flagActive {
			return 0, "", errConversion
		}
		f.Status = n
	}
	if f.Status == flagCleared {
		return flagCleared, "", nil
	}
	f.FlagType = text(el, "Email:FlagType")
	f.Subject = text(el, "Tasks:Subject")
	f.SubOrdinalDate = text(el, "Tasks:SubOrdinalDate")
	for _, d := range f.dates() {
		s := text(el, d.name)
		if s == "" {
			continue
		}
		t, ok := parseEASTime(s)
		if !ok {
			return 0, "", errConversion
		}
		*d.v = formatTime(t)
	}
	if s := text(el, "Tasks:ReminderSet"); s != "" {
		if s != "0" && s != "1" {
			return 0, "", errConversion
		}
		b := s == "1"
		f.ReminderSet = &b
	}
	if f.Status == flagComplete {
		if f.CompleteTime == "" {
			f.CompleteTime = formatTime(now)
		}
		if f.DateCompleted == "" {
			f.DateCompleted = f.CompleteTime
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return 0, "", err
	}
	return f.Status, string(b), nil
}

// writeFlag is MS-ASEMAIL 2.2.2.34 Flag. An empty Flag clears it. A flag
// known only by its Status (set by IMAP or before the whole flag was kept)
// goes with the FlagType every client understands.
func writeFlag(app *etree.Element, it *store.Item) {
	el := app.CreateElement("Email:Flag")
	if it.FlagStatus == flagCleared {
		return
	}
	var f mailFlag
	if it.Flag != "" {
		json.Unmarshal([]byte(it.Flag), &f)
	}
	f.Status = it.FlagStatus
	addIf(el, "Tasks:Subject", f.Subject)
	add(el, "Email:Status", itoa(f.Status))
	add(el, "Email:FlagType", firstNonEmpty(f.FlagType, "for Follow Up"))
	for _, d := range f.dates() {
		if d.name == "Tasks:ReminderTime" && f.ReminderSet != nil {
			add(el, "Tasks:ReminderSet", boolText(*f.ReminderSet))
		}
		addIf(el, d.name, *d.v)
	}
	if f.ReminderSet != nil && f.ReminderTime == "" {
		add(el, "Tasks:ReminderSet", boolText(*f.ReminderSet))
	}
	addIf(el, "Tasks:SubOrdinalDate", f.SubOrdinalDate)
}

// flagChange turns a device's Flag into the store's change of it.
func flagChange(el *etree.Element, ch *store.FlagChange) error {
	st, js, err := parseFlag(el, time.Now().UTC())
	if err != nil {
		return err
	}
	ch.FlagStatus, ch.Flag = &st, &js
	return nil
}
