package activesync

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"

	"github.com/beevik/etree"

	"airlock/message"
	"airlock/pim"
	"airlock/scheduling"
	"airlock/store"
)

// isMeetingMessage reports the message classes that carry a meeting the
// user can answer or that changed their calendar (MS-ASEMAIL 2.2.2.48:
// requests and cancellations carry MeetingRequest).
func isMeetingMessage(class string) bool {
	return class == message.ClassMeetingRequest || class == message.ClassMeetingCanceled
}

// writeMeetingRequest renders MS-ASEMAIL 2.2.2.48 MeetingRequest for a
// meeting request or cancellation: the meeting's times, place, organizer,
// recurrence, time zone and GlobalObjId, read from the message's
// text/calendar part. Nothing is written when there is no readable
// calendar part.
//
// A new time proposal (a response carrying an iTIP COUNTER) gets it too
// from 16.1, with the proposal as ProposedStartTime/EndTime (MS-ASCMD
// 2.2.3.141) beside the meeting's own times.
func writeMeetingRequest(app *etree.Element, it *store.Item, raw []byte, o renderOpts) {
	counter := o.Version >= V161 && strings.HasPrefix(it.MessageClass, "IPM.Schedule.Meeting.Resp.")
	if raw == nil || !(isMeetingMessage(it.MessageClass) || counter) {
		return
	}
	ics := scheduling.CalendarPart(raw)
	if ics == nil {
		return
	}
	method, e, err := pim.ParseITIP(ics)
	if err != nil || (counter && (method != pim.MethodCounter || len(e.Attendees) != 1)) {
		return
	}
	if !e.RecurrenceID.IsZero() && method != pim.MethodCounter {
		return // one occurrence alone (InstanceType 2/3): not produced
	}
	v := o.Version
	loc := eventZone(e)
	start, end := wireTimes(e.Start, e.End, e.AllDay, loc)
	mr := app.CreateElement("Email:MeetingRequest")
	add(mr, "Email:AllDayEvent", boolText(e.AllDay))
	add(mr, "Email:StartTime", formatTime(start))
	stamp := e.DtStamp
	if stamp.IsZero() {
		stamp = it.CreatedAt
	}
	add(mr, "Email:DtStamp", formatTime(stamp))
	add(mr, "Email:EndTime", formatTime(end))
	instanceType := "0" // a single appointment
	if e.RRule != "" {
		instanceType = "1" // a recurring master
	}
	add(mr, "Email:InstanceType", instanceType)
	if e.Location != "" {
		if v >= V160 {
			add(mr.CreateElement("AirSyncBase:Location"), "AirSyncBase:DisplayName", e.Location)
		} else {
			add(mr, "Email:Location", e.Location)
		}
	}
	if e.Organizer.Email != "" {
		add(mr, "Email:Organizer", message.FormatAddress(e.Organizer.Name, e.Organizer.Email))
	}
	if e.Reminder != nil {
		add(mr, "Email:Reminder", itoa(*e.Reminder*60)) // seconds (MS-ASEMAIL 2.2.2.63)
	}
	add(mr, "Email:ResponseRequested", boolText(method == pim.MethodRequest))
	if e.RRule != "" {
		if r, err := RecurrenceFromRRule(e.RRule, e.Start, e.Zone()); err == nil {
			r.CalendarType, r.IsLeapMonth = e.RecurCalendarType, e.RecurIsLeapMonth
			r.write(mr.CreateElement("Email:Recurrences"), "Email", v)
		}
	}
	add(mr, "Email:Sensitivity", itoa(e.Sensitivity))
	busy := e.BusyStatus
	if method == pim.MethodRequest && busy == pim.BusyBusy {
		busy = pim.BusyTentative // until answered
	}
	add(mr, "Email:BusyStatus", itoa(busy))
	add(mr, "Email:TimeZone", timeZoneBlob(e, loc))
	add(mr, "Email:GlobalObjId", globalObjectID(e.UID, time.Time{}))
	if v >= V140 && e.DisallowNewTimeProposal {
		add(mr, "Email:DisallowNewTimeProposal", "1")
	}
	if v >= V141 && method != pim.MethodCounter {
		mt := "1" // initial request
		if e.Sequence > 0 {
			mt = "2" // full update
		}
		if method == pim.MethodCancel {
			mt = "0"
		}
		add(mr, "Email2:MeetingMessageType", mt)
	}
	if method == pim.MethodCounter {
		p := e.Attendees[0]
		add(mr, "MeetingResponse:ProposedStartTime", compact(p.ProposedStart))
		add(mr, "MeetingResponse:ProposedEndTime", compact(p.ProposedEnd))
	}
}

// outlookGOIDPrefix is the fixed "Byte Array ID" of PidLidGlobalObjectId
// (MS-OXOCAL 2.2.1.27).
var outlookGOIDPrefix = []byte{0x04, 0x00, 0x00, 0x00, 0x82, 0x00, 0xE0, 0x00, 0x74, 0xC5, 0xB7, 0x10, 0x1A, 0x82, 0xE0, 0x08}

// globalObjectID is MS-ASEMAIL 2.2.2.37 GlobalObjId: the base64 of a
// PidLidGlobalObjectId (MS-OXOCAL 2.2.1.27). An Outlook UID (the hex of
// such an id) is used as it is; any other UID is wrapped the way Outlook
// wraps iCalendar UIDs ("vCal-Uid", version 1, the UID, NUL). instance is
// the occurrence date for one instance, zero for the series.
func globalObjectID(uid string, instance time.Time) string {
	if b, err := hex.DecodeString(uid); err == nil && len(b) >= 40 && string(b[:16]) == string(outlookGOIDPrefix) {
		return base64.StdEncoding.EncodeToString(b)
	}
	data := append([]byte("vCal-Uid\x01\x00\x00\x00"), []byte(uid)...)
	data = append(data, 0)
	b := make([]byte, 0, 40+len(data))
	b = append(b, outlookGOIDPrefix...)
	if instance.IsZero() {
		b = append(b, 0, 0, 0, 0)
	} else {
		y := instance.UTC().Year()
		b = append(b, byte(y>>8), byte(y), byte(instance.UTC().Month()), byte(instance.UTC().Day()))
	}
	b = append(b, make([]byte, 16)...) // creation time and reserved
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	return base64.StdEncoding.EncodeToString(b)
}
