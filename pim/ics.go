package pim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"
)

// EntryError is a malformed entry of an iCalendar or vCard file, which was
// skipped. Index is the entry's 1-based position among the file's events,
// tasks or cards (0: the file as a whole); UID is empty when none could be
// read.
type EntryError struct {
	Index int
	UID   string
	Err   error
}

func (e *EntryError) Error() string {
	switch {
	case e.Index == 0:
		return e.Err.Error()
	case e.UID != "":
		return fmt.Sprintf("entry %d (UID %s): %v", e.Index, e.UID, e.Err)
	}
	return fmt.Sprintf("entry %d: %v", e.Index, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// maxFileSize bounds what ParseICS and ParseVCF read: a personal calendar or
// address book export is a few megabytes, and the entries are held in memory.
const maxFileSize = 256 << 20

// block is one top-level component of a calendar (or one card), as text.
type block struct {
	name  string // VEVENT, VTODO...
	text  string // from BEGIN to END, CRLF lines
	index int    // 1-based among the entries we convert
	err   error  // structural error found while splitting
}

var uidLine = regexp.MustCompile(`(?mi)^UID(?:;[^:\r\n]*)?:([^\r\n]*)`)

func (b *block) uid() string {
	if m := uidLine.FindStringSubmatch(b.text); m != nil {
		return strings.TrimSpace(m[1])
	}
	return ""
}

// splitBlocks cuts a file into its top-level entries inside container
// (VCALENDAR) or, with container "", its top-level components of kind
// (VCARD). Each entry is decoded on its own later, so a malformed line
// costs one entry, not the file; a missing END costs the entry it belongs
// to, and the next BEGIN at that level starts afresh.
func splitBlocks(data string, container string, kinds map[string]bool) (blocks []*block, fileErr error) {
	lines := strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n")
	var (
		inContainer = container == ""
		sawAny      bool
		cur         *block
		depth       int
		buf         strings.Builder
		n           int
	)
	finish := func(err error) {
		cur.text = buf.String()
		cur.err = err
		blocks = append(blocks, cur)
		cur, depth = nil, 0
		buf.Reset()
	}
	for _, line := range lines {
		key, value, _ := strings.Cut(line, ":")
		key = strings.ToUpper(strings.TrimSpace(key))
		value = strings.ToUpper(strings.TrimSpace(value))
		if container != "" && key == "BEGIN" && value == container && cur == nil {
			inContainer, sawAny = true, true
			continue
		}
		if container != "" && key == "END" && value == container {
			if cur != nil {
				finish(fmt.Errorf("%s not closed (no END:%s)", cur.name, cur.name))
			}
			inContainer = false
			continue
		}
		if !inContainer {
			continue
		}
		if cur == nil {
			if key == "BEGIN" {
				if kinds[value] {
					sawAny = true
					n++
					cur = &block{name: value, index: n}
				} else {
					cur = &block{name: value}
				}
				depth = 1
				buf.WriteString(line + "\r\n")
			}
			continue
		}
		switch {
		case key == "BEGIN" && value == cur.name:
			// A second BEGIN at the same level: the previous entry lost its
			// END (a truncated export, two files concatenated badly).
			if depth == 1 {
				finish(fmt.Errorf("%s not closed (no END:%s)", value, value))
				n++
				cur = &block{name: value, index: n}
				depth = 1
				buf.WriteString(line + "\r\n")
				continue
			}
			depth++
		case key == "BEGIN":
			depth++
		case key == "END":
			depth--
		}
		buf.WriteString(line + "\r\n")
		if depth == 0 {
			finish(nil)
		}
	}
	if cur != nil {
		finish(fmt.Errorf("%s not closed (no END:%s)", cur.name, cur.name))
	}
	if !sawAny {
		if container == "" {
			container = "VCARD"
		}
		return nil, fmt.Errorf("not a %s file: no BEGIN:%s", map[string]string{"VCALENDAR": "iCalendar", "VCARD": "vCard"}[container], container)
	}
	return blocks, nil
}

// ParseICS reads an iCalendar file: its VEVENTs as Events (overrides folded
// into their series) and its VTODOs as Tasks. Malformed entries are returned
// as *EntryError and skipped; the rest are kept.
func ParseICS(r io.Reader) ([]Event, []Task, []error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, nil, []error{&EntryError{Err: err}}
	}
	if len(data) > maxFileSize {
		return nil, nil, []error{&EntryError{Err: fmt.Errorf("file larger than %d MiB", maxFileSize>>20)}}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	blocks, err := splitBlocks(string(data), ical.CompCalendar, map[string]bool{ical.CompEvent: true, ical.CompToDo: true})
	if err != nil {
		return nil, nil, []error{&EntryError{Err: err}}
	}
	var (
		events    []Event
		tasks     []Task
		errs      []error
		overrides []override
	)
	for _, b := range blocks {
		if b.index == 0 {
			continue // VTIMEZONE and friends: see the package doc
		}
		fail := func(err error) { errs = append(errs, &EntryError{Index: b.index, UID: b.uid(), Err: err}) }
		if b.err != nil {
			fail(b.err)
			continue
		}
		comp, err := decodeBlock(b.text)
		if err != nil {
			fail(err)
			continue
		}
		switch b.name {
		case ical.CompEvent:
			ev, recID, err := eventFromComponent(comp, b.text)
			if err != nil {
				fail(err)
				continue
			}
			if !recID.IsZero() {
				overrides = append(overrides, override{ev: ev, recurrenceID: recID, index: b.index})
				continue
			}
			events = append(events, ev)
		case ical.CompToDo:
			t, err := taskFromComponent(comp, b.text)
			if err != nil {
				fail(err)
				continue
			}
			tasks = append(tasks, t)
		}
	}
	errs = append(errs, foldOverrides(events, overrides)...)
	return events, tasks, errs
}

type override struct {
	ev           Event
	recurrenceID time.Time
	index        int
}

// foldOverrides turns each RECURRENCE-ID component into an Exception of its
// series (RFC 5545 3.8.4.4), which is how EAS carries it.
func foldOverrides(events []Event, overrides []override) []error {
	var errs []error
	byUID := map[string]int{}
	for i := range events {
		byUID[events[i].UID] = i
	}
	for _, o := range overrides {
		i, ok := byUID[o.ev.UID]
		if !ok || events[i].RRule == "" {
			errs = append(errs, &EntryError{Index: o.index, UID: o.ev.UID, Err: errors.New("RECURRENCE-ID override without its recurring master event")})
			continue
		}
		m := &events[i]
		x := Exception{RecurrenceID: o.recurrenceID, Start: o.ev.Start, End: o.ev.End}
		if o.ev.MeetingStatus == MeetingCanceledReceived {
			x = Exception{RecurrenceID: o.recurrenceID, Deleted: true}
		}
		if !x.Deleted {
			if o.ev.Summary != m.Summary {
				x.Summary = o.ev.Summary
			}
			if o.ev.Location != m.Location {
				x.Location = o.ev.Location
			}
		}
		m.Exceptions = append(m.Exceptions, x)
	}
	for i := range events {
		sort.Slice(events[i].Exceptions, func(a, b int) bool {
			return events[i].Exceptions[a].RecurrenceID.Before(events[i].Exceptions[b].RecurrenceID)
		})
	}
	return errs
}

// decodeBlock parses one component with go-ical by wrapping it in a
// calendar of its own. go-ical panics on some malformed lines (a parameter
// with "=" and nothing after it, found by FuzzParseICS); the panic is
// turned into this entry's error here, at the edge of the library, so one
// bad line costs one entry.
func decodeBlock(text string) (comp *ical.Component, err error) {
	defer func() {
		if r := recover(); r != nil {
			comp, err = nil, fmt.Errorf("malformed content line (%v)", r)
		}
	}()
	wrapped := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airlock//import//EN\r\n" + text + "END:VCALENDAR\r\n"
	cal, err := ical.NewDecoder(strings.NewReader(wrapped)).Decode()
	if err != nil {
		return nil, err
	}
	if len(cal.Children) != 1 {
		return nil, errors.New("malformed component")
	}
	return cal.Children[0], nil
}

// derivedUID stands in for a missing UID: stable for the same text, so a
// re-import finds the same item.
func derivedUID(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:16]) + "@airlock.derived"
}

func eventFromComponent(c *ical.Component, text string) (Event, time.Time, error) {
	var ev Event
	ev.UID = propText(c, ical.PropUID)
	if ev.UID == "" {
		ev.UID = derivedUID(text)
	}
	start := c.Props.Get(ical.PropDateTimeStart)
	if start == nil {
		return ev, time.Time{}, errors.New("no DTSTART")
	}
	var err error
	ev.Start, ev.AllDay, ev.TimeZone, err = parseTime(start)
	if err != nil {
		return ev, time.Time{}, fmt.Errorf("DTSTART: %v", err)
	}
	switch {
	case c.Props.Get(ical.PropDateTimeEnd) != nil:
		end, _, _, err := parseTime(c.Props.Get(ical.PropDateTimeEnd))
		if err != nil {
			return ev, time.Time{}, fmt.Errorf("DTEND: %v", err)
		}
		ev.End = end
	case c.Props.Get(ical.PropDuration) != nil:
		d, err := parseDuration(c.Props.Get(ical.PropDuration).Value)
		if err != nil {
			return ev, time.Time{}, fmt.Errorf("DURATION: %v", err)
		}
		ev.End = ev.Start.Add(d)
	case ev.AllDay:
		ev.End = ev.Start.AddDate(0, 0, 1)
	default:
		ev.End = ev.Start
	}
	if ev.End.Before(ev.Start) {
		return ev, time.Time{}, errors.New("DTEND is before DTSTART")
	}
	ev.Summary = propText(c, ical.PropSummary)
	ev.Location = propText(c, ical.PropLocation)
	ev.Description = propText(c, ical.PropDescription)
	ev.Categories = categories(c)
	ev.Sensitivity = sensitivity(propText(c, ical.PropClass))
	if p := c.Props.Get(ical.PropDateTimeStamp); p != nil {
		ev.DtStamp, _, _, _ = parseTime(p)
	}
	if p := c.Props.Get(ical.PropOrganizer); p != nil {
		ev.Organizer = Person{Name: unescape(p.Params.Get(ical.ParamCommonName)), Email: mailto(p.Value)}
	}
	for _, p := range c.Props.Values(ical.PropAttendee) {
		ev.Attendees = append(ev.Attendees, Attendee{
			Name:   unescape(p.Params.Get(ical.ParamCommonName)),
			Email:  mailto(p.Value),
			Type:   attendeeType(p.Params),
			Status: attendeeStatus(p.Params.Get(ical.ParamParticipationStatus)),
		})
	}
	ev.BusyStatus = busyStatus(c)
	status := strings.ToUpper(propText(c, ical.PropStatus))
	switch {
	case status == "CANCELLED":
		ev.MeetingStatus = MeetingCanceledReceived
	case len(ev.Attendees) > 0 || ev.Organizer.Email != "":
		ev.MeetingStatus = MeetingReceived
	}
	if p := c.Props.Get(ical.PropRecurrenceRule); p != nil {
		ev.RRule = strings.TrimSpace(p.Value)
		if _, err := rrule.StrToROption(ev.RRule); err != nil {
			return ev, time.Time{}, fmt.Errorf("RRULE %q: %v", ev.RRule, err)
		}
	}
	for _, p := range c.Props.Values(ical.PropExceptionDates) {
		for _, v := range strings.Split(p.Value, ",") {
			q := p
			q.Value = strings.TrimSpace(v)
			t, _, _, err := parseTime(&q)
			if err != nil {
				return ev, time.Time{}, fmt.Errorf("EXDATE: %v", err)
			}
			ev.ExDates = append(ev.ExDates, t)
		}
	}
	ev.Reminder = reminder(c, ev.Start)
	var recID time.Time
	if p := c.Props.Get(ical.PropRecurrenceID); p != nil {
		if recID, _, _, err = parseTime(p); err != nil {
			return ev, time.Time{}, fmt.Errorf("RECURRENCE-ID: %v", err)
		}
	}
	return ev, recID, nil
}

func taskFromComponent(c *ical.Component, text string) (Task, error) {
	var t Task
	t.UID = propText(c, ical.PropUID)
	if t.UID == "" {
		t.UID = derivedUID(text)
	}
	t.Subject = propText(c, ical.PropSummary)
	if strings.TrimSpace(t.Subject) == "" {
		return t, errors.New("VTODO has no SUMMARY")
	}
	t.Body = propText(c, ical.PropDescription)
	for name, dst := range map[string]**time.Time{ical.PropDateTimeStart: &t.Start, ical.PropDue: &t.Due, ical.PropCompleted: &t.DateCompleted} {
		if p := c.Props.Get(name); p != nil {
			v, _, _, err := parseTime(p)
			if err != nil {
				return t, fmt.Errorf("%s: %v", name, err)
			}
			*dst = &v
		}
	}
	t.Complete = strings.EqualFold(propText(c, ical.PropStatus), "COMPLETED") || t.DateCompleted != nil
	// RFC 5545 3.8.1.9: 1-4 high, 5 medium, 6-9 low, 0 undefined.
	t.Importance = ImportanceNormal
	if p, err := strconv.Atoi(propText(c, ical.PropPriority)); err == nil {
		switch {
		case p >= 1 && p <= 4:
			t.Importance = ImportanceHigh
		case p >= 6 && p <= 9:
			t.Importance = ImportanceLow
		}
	}
	t.Sensitivity = sensitivity(propText(c, ical.PropClass))
	t.Categories = categories(c)
	if p := c.Props.Get(ical.PropRecurrenceRule); p != nil {
		t.RRule = strings.TrimSpace(p.Value)
		if _, err := rrule.StrToROption(t.RRule); err != nil {
			return t, fmt.Errorf("RRULE %q: %v", t.RRule, err)
		}
	}
	anchor := time.Time{}
	if t.Due != nil {
		anchor = *t.Due
	} else if t.Start != nil {
		anchor = *t.Start
	}
	if m := reminder(c, anchor); m != nil && !anchor.IsZero() {
		r := anchor.Add(-time.Duration(*m) * time.Minute)
		t.Reminder = &r
	} else if at := absoluteTrigger(c); at != nil {
		t.Reminder = at
	}
	return t, nil
}

// parseTime reads a DATE or DATE-TIME property: UTC, with TZID, or
// floating (read as UTC). It returns the instant, whether it was a DATE,
// and the IANA zone name ("UTC" for a Z time, "" for dates and floating).
func parseTime(p *ical.Prop) (t time.Time, date bool, zone string, err error) {
	v := strings.TrimSpace(p.Value)
	if strings.EqualFold(p.Params.Get(ical.ParamValue), "DATE") || len(v) == 8 {
		t, err = time.ParseInLocation("20060102", v, time.UTC)
		return t, true, "", err
	}
	if strings.HasSuffix(v, "Z") {
		t, err = time.ParseInLocation("20060102T150405Z", v, time.UTC)
		return t, false, "UTC", err
	}
	loc := time.UTC
	if tzid := p.Params.Get(ical.ParamTimezoneID); tzid != "" {
		if loc, err = ResolveTimeZone(tzid); err != nil {
			return time.Time{}, false, "", err
		}
		zone = loc.String()
	}
	t, err = time.ParseInLocation("20060102T150405", v, loc)
	if err != nil {
		return time.Time{}, false, "", fmt.Errorf("bad date-time %q", v)
	}
	return t.UTC(), false, zone, nil
}

var durationRe = regexp.MustCompile(`^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseDuration reads an RFC 5545 3.3.6 duration ("PT1H30M", "-P1D", "P2W").
func parseDuration(s string) (time.Duration, error) {
	m := durationRe.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	unit := []time.Duration{0, 0, 7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i := 2; i <= 6; i++ {
		if m[i] != "" {
			n, _ := strconv.Atoi(m[i])
			d += time.Duration(n) * unit[i]
		}
	}
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}

// reminder returns the minutes before anchor of the first VALARM.
func reminder(c *ical.Component, anchor time.Time) *int {
	for _, a := range c.Children {
		if a.Name != ical.CompAlarm {
			continue
		}
		p := a.Props.Get(ical.PropTrigger)
		if p == nil {
			continue
		}
		var before time.Duration
		if strings.EqualFold(p.Params.Get(ical.ParamValue), "DATE-TIME") {
			at, _, _, err := parseTime(p)
			if err != nil || anchor.IsZero() {
				continue
			}
			before = anchor.Sub(at)
		} else {
			d, err := parseDuration(p.Value)
			if err != nil {
				continue
			}
			before = -d
		}
		if before < 0 {
			before = 0
		}
		m := int(before / time.Minute)
		return &m
	}
	return nil
}

func absoluteTrigger(c *ical.Component) *time.Time {
	for _, a := range c.Children {
		if p := a.Props.Get(ical.PropTrigger); a.Name == ical.CompAlarm && p != nil && strings.EqualFold(p.Params.Get(ical.ParamValue), "DATE-TIME") {
			if at, _, _, err := parseTime(p); err == nil {
				return &at
			}
		}
	}
	return nil
}

func sensitivity(class string) int {
	switch strings.ToUpper(class) {
	case "PRIVATE":
		return SensitivityPrivate
	case "CONFIDENTIAL":
		return SensitivityConfidential
	}
	return SensitivityNormal
}

func busyStatus(c *ical.Component) int {
	switch strings.ToUpper(propText(c, "X-MICROSOFT-CDO-BUSYSTATUS")) {
	case "FREE":
		return BusyFree
	case "TENTATIVE":
		return BusyTentative
	case "BUSY":
		return BusyBusy
	case "OOF":
		return BusyOutOfOffice
	case "WORKINGELSEWHERE":
		return BusyWorkingElsewhere
	}
	if strings.EqualFold(propText(c, ical.PropTransparency), "TRANSPARENT") {
		return BusyFree
	}
	if strings.EqualFold(propText(c, ical.PropStatus), "TENTATIVE") {
		return BusyTentative
	}
	return BusyBusy
}

func attendeeType(p ical.Params) int {
	switch strings.ToUpper(p.Get(ical.ParamCalendarUserType)) {
	case "RESOURCE", "ROOM":
		return AttendeeResource
	}
	switch strings.ToUpper(p.Get(ical.ParamRole)) {
	case "OPT-PARTICIPANT", "NON-PARTICIPANT":
		return AttendeeOptional
	}
	return AttendeeRequired
}

func attendeeStatus(partstat string) int {
	switch strings.ToUpper(partstat) {
	case "ACCEPTED":
		return StatusAccepted
	case "DECLINED":
		return StatusDeclined
	case "TENTATIVE":
		return StatusTentative
	case "NEEDS-ACTION":
		return StatusNotResponded
	}
	return StatusUnknown
}

func categories(c *ical.Component) []string {
	var out []string
	for _, p := range c.Props.Values(ical.PropCategories) {
		for _, v := range splitEscaped(p.Value, ',') {
			if v = strings.TrimSpace(unescape(v)); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

func mailto(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 7 && strings.EqualFold(v[:7], "mailto:") {
		v = v[7:]
	}
	return v
}

// propText returns a TEXT property unescaped. It is lenient where go-ical
// is strict: an unknown escape ("\:" from some Outlook versions) keeps the
// character instead of failing the whole entry.
func propText(c *ical.Component, name string) string {
	p := c.Props.Get(name)
	if p == nil {
		return ""
	}
	return clean(unescape(p.Value))
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == 'n' || s[i] == 'N' {
				b.WriteByte('\n')
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// splitEscaped splits on sep except where it is escaped with a backslash.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// WriteICS writes events and tasks as one iCalendar file, with a VTIMEZONE
// for every zone the events use, exceptions as RECURRENCE-ID components and
// deleted occurrences as EXDATE.
func WriteICS(w io.Writer, events []Event, tasks []Task) error {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//Airlock//Airlock//EN")
	now := time.Now().UTC()
	zones := map[string]bool{}
	var comps []*ical.Component
	for i := range events {
		e := &events[i]
		loc := time.UTC
		if !e.AllDay && e.TimeZone != "" && e.TimeZone != "UTC" {
			var err error
			if loc, err = ResolveTimeZone(e.TimeZone); err != nil {
				return fmt.Errorf("event %q: %v", e.UID, err)
			}
			if !zones[loc.String()] {
				zones[loc.String()] = true
				cal.Children = append(cal.Children, vtimezone(loc, e.Start.In(loc).Year()))
			}
		}
		comps = append(comps, eventComponent(e, loc, now))
		for _, x := range e.Exceptions {
			if x.Deleted {
				continue
			}
			comps = append(comps, exceptionComponent(e, x, loc, now))
		}
	}
	for i := range tasks {
		comps = append(comps, taskComponent(&tasks[i], now))
	}
	cal.Children = append(cal.Children, comps...)
	if len(cal.Children) == 0 {
		return errors.New("write ics: nothing to write")
	}
	return ical.NewEncoder(w).Encode(cal)
}

func setTime(props ical.Props, name string, t time.Time, allDay bool, loc *time.Location) {
	p := ical.NewProp(name)
	switch {
	case allDay:
		p.SetDate(t.UTC())
	case loc == time.UTC:
		p.SetDateTime(t.UTC())
	default:
		p.SetDateTime(t.In(loc))
	}
	props.Set(p)
}

func eventComponent(e *Event, loc *time.Location, now time.Time) *ical.Component {
	c := ical.NewComponent(ical.CompEvent)
	c.Props.SetText(ical.PropUID, e.UID)
	stamp := e.DtStamp
	if stamp.IsZero() {
		stamp = now
	}
	c.Props.SetDateTime(ical.PropDateTimeStamp, stamp.UTC())
	setTime(c.Props, ical.PropDateTimeStart, e.Start, e.AllDay, loc)
	setTime(c.Props, ical.PropDateTimeEnd, e.End, e.AllDay, loc)
	setCommon(c.Props, e.Summary, e.Location, e.Description, e.Sensitivity, e.Categories)
	if e.Organizer.Email != "" {
		p := ical.NewProp(ical.PropOrganizer)
		p.Value = "mailto:" + e.Organizer.Email
		if e.Organizer.Name != "" {
			p.Params.Set(ical.ParamCommonName, paramSafe(e.Organizer.Name))
		}
		c.Props.Set(p)
	}
	for _, a := range e.Attendees {
		p := ical.NewProp(ical.PropAttendee)
		p.Value = "mailto:" + a.Email
		if a.Name != "" {
			p.Params.Set(ical.ParamCommonName, paramSafe(a.Name))
		}
		switch a.Type {
		case AttendeeOptional:
			p.Params.Set(ical.ParamRole, "OPT-PARTICIPANT")
		case AttendeeResource:
			p.Params.Set(ical.ParamCalendarUserType, "RESOURCE")
			p.Params.Set(ical.ParamRole, "NON-PARTICIPANT")
		default:
			p.Params.Set(ical.ParamRole, "REQ-PARTICIPANT")
		}
		if ps := map[int]string{StatusAccepted: "ACCEPTED", StatusDeclined: "DECLINED", StatusTentative: "TENTATIVE", StatusNotResponded: "NEEDS-ACTION"}[a.Status]; ps != "" {
			p.Params.Set(ical.ParamParticipationStatus, ps)
		}
		c.Props.Add(p)
	}
	if e.BusyStatus == BusyFree {
		c.Props.SetText(ical.PropTransparency, "TRANSPARENT")
	} else {
		c.Props.SetText(ical.PropTransparency, "OPAQUE")
	}
	setRaw(c.Props, "X-MICROSOFT-CDO-BUSYSTATUS", map[int]string{BusyFree: "FREE", BusyTentative: "TENTATIVE", BusyBusy: "BUSY", BusyOutOfOffice: "OOF", BusyWorkingElsewhere: "WORKINGELSEWHERE"}[e.BusyStatus])
	if e.MeetingStatus == MeetingCanceledOrganizer || e.MeetingStatus == MeetingCanceledReceived {
		c.Props.SetText(ical.PropStatus, "CANCELLED")
	}
	if e.RRule != "" {
		p := ical.NewProp(ical.PropRecurrenceRule)
		p.SetValueType(ical.ValueRecurrence)
		p.Value = e.RRule
		c.Props.Set(p)
	}
	exdates := append([]time.Time(nil), e.ExDates...)
	for _, x := range e.Exceptions {
		if x.Deleted {
			exdates = append(exdates, x.RecurrenceID)
		}
	}
	for _, t := range exdates {
		p := ical.NewProp(ical.PropExceptionDates)
		switch {
		case e.AllDay:
			p.SetDate(t.UTC())
		case loc == time.UTC:
			p.SetDateTime(t.UTC())
		default:
			p.SetDateTime(t.In(loc))
		}
		c.Props.Add(p)
	}
	if e.Reminder != nil {
		c.Children = append(c.Children, alarm(fmt.Sprintf("-PT%dM", *e.Reminder), false))
	}
	return c
}

func exceptionComponent(e *Event, x Exception, loc *time.Location, now time.Time) *ical.Component {
	c := ical.NewComponent(ical.CompEvent)
	c.Props.SetText(ical.PropUID, e.UID)
	c.Props.SetDateTime(ical.PropDateTimeStamp, now)
	setTime(c.Props, ical.PropRecurrenceID, x.RecurrenceID, e.AllDay, loc)
	start, end := x.Start, x.End
	if start.IsZero() {
		start = x.RecurrenceID
	}
	if end.IsZero() {
		end = start.Add(e.End.Sub(e.Start))
	}
	setTime(c.Props, ical.PropDateTimeStart, start, e.AllDay, loc)
	setTime(c.Props, ical.PropDateTimeEnd, end, e.AllDay, loc)
	summary, location := x.Summary, x.Location
	if summary == "" {
		summary = e.Summary
	}
	if location == "" {
		location = e.Location
	}
	setCommon(c.Props, summary, location, "", e.Sensitivity, nil)
	return c
}

func taskComponent(t *Task, now time.Time) *ical.Component {
	c := ical.NewComponent(ical.CompToDo)
	c.Props.SetText(ical.PropUID, t.UID)
	c.Props.SetDateTime(ical.PropDateTimeStamp, now)
	setCommon(c.Props, t.Subject, "", t.Body, t.Sensitivity, t.Categories)
	if t.Start != nil {
		c.Props.SetDateTime(ical.PropDateTimeStart, t.Start.UTC())
	}
	if t.Due != nil {
		c.Props.SetDateTime(ical.PropDue, t.Due.UTC())
	}
	if t.DateCompleted != nil {
		c.Props.SetDateTime(ical.PropCompleted, t.DateCompleted.UTC())
	}
	if t.Complete {
		c.Props.SetText(ical.PropStatus, "COMPLETED")
	} else {
		c.Props.SetText(ical.PropStatus, "NEEDS-ACTION")
	}
	c.Props.SetText(ical.PropPriority, map[int]string{ImportanceHigh: "1", ImportanceNormal: "5", ImportanceLow: "9"}[t.Importance])
	if t.RRule != "" {
		p := ical.NewProp(ical.PropRecurrenceRule)
		p.SetValueType(ical.ValueRecurrence)
		p.Value = t.RRule
		c.Props.Set(p)
	}
	if t.Reminder != nil {
		c.Children = append(c.Children, alarm(t.Reminder.UTC().Format("20060102T150405Z"), true))
	}
	return c
}

func setCommon(props ical.Props, summary, location, description string, sens int, cats []string) {
	if summary != "" {
		props.SetText(ical.PropSummary, summary)
	}
	if location != "" {
		props.SetText(ical.PropLocation, location)
	}
	if description != "" {
		props.SetText(ical.PropDescription, description)
	}
	switch sens {
	case SensitivityPrivate, SensitivityPersonal:
		props.SetText(ical.PropClass, "PRIVATE")
	case SensitivityConfidential:
		props.SetText(ical.PropClass, "CONFIDENTIAL")
	}
	if len(cats) > 0 {
		p := ical.NewProp(ical.PropCategories)
		p.SetTextList(cats)
		props.Set(p)
	}
}

func alarm(trigger string, absolute bool) *ical.Component {
	a := ical.NewComponent(ical.CompAlarm)
	a.Props.SetText(ical.PropAction, "DISPLAY")
	a.Props.SetText(ical.PropDescription, "Reminder")
	p := ical.NewProp(ical.PropTrigger)
	p.Value = trigger
	if absolute {
		p.Params.Set(ical.ParamValue, "DATE-TIME")
	}
	a.Props.Set(p)
	return a
}

// paramSafe drops the characters a parameter value cannot carry (RFC 5545
// 3.1: no DQUOTE; go-ical quotes values with ':' ';' ',').
func paramSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r < 0x20 {
			return -1
		}
		return r
	}, s)
}
