package pim

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-ical"
)

// ResolveTimeZone turns an iCalendar TZID into a location: an IANA name, a
// Windows zone name, or a vendor-prefixed IANA name.
func ResolveTimeZone(tzid string) (*time.Location, error) {
	tzid = strings.Trim(strings.TrimSpace(tzid), `"`)
	if tzid == "" {
		return time.UTC, nil
	}
	if loc, err := time.LoadLocation(tzid); err == nil {
		return loc, nil
	}
	if name, ok := windowsZones[tzid]; ok {
		return time.LoadLocation(name)
	}
	// "/mozilla.org/20050126_1/Europe/London", "/softwarestudio.org/Olson_20011030_5/America/New_York"
	parts := strings.Split(strings.Trim(tzid, "/"), "/")
	for n := 3; n >= 2; n-- {
		if len(parts) > n {
			if loc, err := time.LoadLocation(strings.Join(parts[len(parts)-n:], "/")); err == nil {
				return loc, nil
			}
		}
	}
	return nil, fmt.Errorf("unknown time zone %q", tzid)
}

// vtimezone describes loc for RFC 5545 3.6.5 from its rules in year: one
// STANDARD (and one DAYLIGHT) component with a yearly RRULE by month and
// n-th weekday, the form every client understands. Zones whose rules change
// from year to year are described as they are in that year.
func vtimezone(loc *time.Location, year int) *ical.Component {
	tz := ical.NewComponent(ical.CompTimezone)
	tz.Props.SetText(ical.PropTimezoneID, loc.String())
	t := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	stop := time.Date(year+1, 1, 1, 0, 0, 0, 0, loc)
	var seen int
	for seen < 2 {
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(stop) {
			break
		}
		before := end.Add(-time.Second)
		_, fromOff := before.Zone()
		name, toOff := end.Zone()
		kind := ical.CompTimezoneStandard
		if end.IsDST() {
			kind = ical.CompTimezoneDaylight
		}
		c := ical.NewComponent(kind)
		// DTSTART is the local wall time of the change before it happens.
		local := end.In(time.FixedZone("", fromOff))
		start := ical.NewProp(ical.PropDateTimeStart)
		start.Value = local.Format("20060102T150405")
		c.Props.Set(start)
		setRaw(c.Props, ical.PropTimezoneOffsetFrom, offset(fromOff))
		setRaw(c.Props, ical.PropTimezoneOffsetTo, offset(toOff))
		c.Props.SetText(ical.PropTimezoneName, name)
		week := (local.Day()-1)/7 + 1
		if local.AddDate(0, 0, 7).Month() != local.Month() {
			week = -1
		}
		rule := ical.NewProp(ical.PropRecurrenceRule)
		rule.SetValueType(ical.ValueRecurrence)
		rule.Value = fmt.Sprintf("FREQ=YEARLY;BYMONTH=%d;BYDAY=%d%s", int(local.Month()), week, strings.ToUpper(local.Weekday().String()[:2]))
		c.Props.Set(rule)
		tz.Children = append(tz.Children, c)
		t = end
		seen++
	}
	if seen == 0 {
		name, off := t.Zone()
		c := ical.NewComponent(ical.CompTimezoneStandard)
		start := ical.NewProp(ical.PropDateTimeStart)
		start.Value = "19700101T000000"
		c.Props.Set(start)
		setRaw(c.Props, ical.PropTimezoneOffsetFrom, offset(off))
		setRaw(c.Props, ical.PropTimezoneOffsetTo, offset(off))
		c.Props.SetText(ical.PropTimezoneName, name)
		tz.Children = append(tz.Children, c)
	}
	return tz
}

// offset formats a UTC offset in seconds as RFC 5545 UTC-OFFSET (+hhmm).
func offset(sec int) string {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	s := fmt.Sprintf("%s%02d%02d", sign, sec/3600, sec%3600/60)
	if sec%60 != 0 {
		s += fmt.Sprintf("%02d", sec%60)
	}
	return s
}

// setRaw sets a property whose value needs no escaping and whose type is
// not TEXT (go-ical's SetText would add VALUE=TEXT to it).
func setRaw(props ical.Props, name, value string) {
	p := ical.NewProp(name)
	p.Value = value
	props.Set(p)
}

func init() {
	// CLDR has no entry for the name some Windows builds write for UTC.
	windowsZones["Coordinated Universal Time"] = "Etc/UTC"
}

// WindowsZone returns the IANA zone of a Windows time zone name ("GMT
// Standard Time" is "Europe/London"), canonicalised ("India Standard Time"
// is "Asia/Kolkata", not CLDR's "Asia/Calcutta").
func WindowsZone(name string) (string, bool) {
	z, ok := windowsZones[strings.TrimSpace(name)]
	if !ok {
		return "", false
	}
	return CanonicalZone(z), true
}

// WindowsName returns the Windows time zone name whose principal zone is
// iana (an alias is canonicalised first), or "".
func WindowsName(iana string) string {
	reverseOnce.Do(func() {
		reverseZones = map[string]string{}
		for win, z := range windowsZones {
			z = CanonicalZone(z)
			// Several Windows names can share a zone ("UTC" and
			// "Coordinated Universal Time"): keep the shortest, then the
			// first in order, so the choice is stable.
			if old, ok := reverseZones[z]; !ok || len(win) < len(old) || len(win) == len(old) && win < old {
				reverseZones[z] = win
			}
		}
	})
	return reverseZones[CanonicalZone(iana)]
}

var (
	reverseOnce  sync.Once
	reverseZones map[string]string
)

// CanonicalZone resolves an IANA alias to its zone ("Asia/Calcutta" to
// "Asia/Kolkata"); other names come back unchanged.
func CanonicalZone(name string) string {
	for range 4 { // links do not chain in tzdata, but be safe
		z, ok := zoneLinks[name]
		if !ok {
			break
		}
		name = z
	}
	return name
}

// CanonicalZones lists the canonical IANA zones (zone1970.tab), sorted.
func CanonicalZones() []string { return append([]string(nil), canonicalZones...) }

// WindowsZoneNames lists the known Windows time zone names, sorted.
func WindowsZoneNames() []string {
	out := make([]string, 0, len(windowsZones))
	for n := range windowsZones {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
