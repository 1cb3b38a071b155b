package activesync

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	_ "time/tzdata" // zones must resolve on hosts without a zone database

	"airlock/pim"
)

// TimeZone is the EAS time zone structure (MS-ASDTYPE 2.6.4 TimeZone, used
// by MS-ASCAL 2.2.2.42 Timezone and MS-ASEMAIL 2.2.2.79 TimeZone): Windows'
// TIME_ZONE_INFORMATION, sent base64-encoded. It is 172 bytes, little
// endian:
//
//	offset  0  Bias          int32        minutes; UTC = local time + Bias
//	offset  4  StandardName  [32]uint16   UTF-16, NUL-terminated
//	offset 68  StandardDate  SYSTEMTIME   when daylight time ends
//	offset 84  StandardBias  int32        added to Bias in standard time
//	offset 88  DaylightName  [32]uint16
//	offset 152 DaylightDate  SYSTEMTIME   when daylight time begins
//	offset 168 DaylightBias  int32        added to Bias in daylight time
//
// A zone without daylight time has both dates' Month 0. Transition dates
// come in two forms: Year 0 means "the Day-th DayOfWeek of Month" with Day 5
// meaning the last, every year; a non-zero Year is an absolute date that
// year only. StandardDate is a wall-clock time in daylight time (the moment
// the clocks go back, read on them before they do), DaylightDate one in
// standard time.
type TimeZone struct {
	Bias         int32
	StandardName string
	StandardDate SystemTime
	StandardBias int32
	DaylightName string
	DaylightDate SystemTime
	DaylightBias int32
}

// SystemTime is Windows' SYSTEMTIME (MS-DTYP 2.3.13).
type SystemTime struct {
	Year, Month, DayOfWeek, Day, Hour, Minute, Second, Milliseconds uint16
}

const timeZoneSize = 172

// ErrInvalidTimeZone is matched (errors.Is) by every *TimeZoneError.
var ErrInvalidTimeZone = errors.New("eas: invalid TimeZone")

// TimeZoneError says why a TimeZone value cannot be used. A Sync that
// carries one fails for that item only (Sync Status 6).
type TimeZoneError struct {
	Reason string
}

func (e *TimeZoneError) Error() string     { return "eas: invalid TimeZone: " + e.Reason }
func (e *TimeZoneError) Is(err error) bool { return err == ErrInvalidTimeZone }

func tzErr(format string, args ...any) error {
	return &TimeZoneError{Reason: fmt.Sprintf(format, args...)}
}

// DecodeTimeZone reads the base64 TimeZone value of a request. Whitespace
// is ignored, as is missing base64 padding; anything that is not exactly
// 172 well-formed bytes is a *TimeZoneError.
func DecodeTimeZone(s string) (TimeZone, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil {
		return TimeZone{}, tzErr("not base64")
	}
	if len(raw) != timeZoneSize {
		return TimeZone{}, tzErr("%d bytes, want %d", len(raw), timeZoneSize)
	}
	le := binary.LittleEndian
	tz := TimeZone{
		Bias:         int32(le.Uint32(raw[0:])),
		StandardName: utf16String(raw[4:68]),
		StandardDate: systemTime(raw[68:84]),
		StandardBias: int32(le.Uint32(raw[84:])),
		DaylightName: utf16String(raw[88:152]),
		DaylightDate: systemTime(raw[152:168]),
		DaylightBias: int32(le.Uint32(raw[168:])),
	}
	if err := tz.Validate(); err != nil {
		return TimeZone{}, err
	}
	return tz, nil
}

func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	// At most 31 units: the 32nd is the terminating NUL.
	for i := 0; i+1 < len(b)-2; i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.TrimSpace(string(utf16.Decode(u)))
}

func systemTime(b []byte) SystemTime {
	w := func(i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
	return SystemTime{w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7)}
}

// Encode returns the base64 wire form.
func (tz TimeZone) Encode() string {
	raw := make([]byte, timeZoneSize)
	le := binary.LittleEndian
	le.PutUint32(raw[0:], uint32(tz.Bias))
	putUTF16(raw[4:68], tz.StandardName)
	putSystemTime(raw[68:84], tz.StandardDate)
	le.PutUint32(raw[84:], uint32(tz.StandardBias))
	putUTF16(raw[88:152], tz.DaylightName)
	putSystemTime(raw[152:168], tz.DaylightDate)
	le.PutUint32(raw[168:], uint32(tz.DaylightBias))
	return base64.StdEncoding.EncodeToString(raw)
}

// putUTF16 writes at most 31 code units and the terminating NUL.
func putUTF16(dst []byte, s string) {
	u := utf16.Encode([]rune(s))
	if max := len(dst)/2 - 1; len(u) > max {
		u = u[:max]
		if utf16.IsSurrogate(rune(u[max-1])) {
			u = u[:max-1]
		}
	}
	for i, c := range u {
		binary.LittleEndian.PutUint16(dst[2*i:], c)
	}
}

func putSystemTime(dst []byte, st SystemTime) {
	for i, v := range []uint16{st.Year, st.Month, st.DayOfWeek, st.Day, st.Hour, st.Minute, st.Second, st.Milliseconds} {
		binary.LittleEndian.PutUint16(dst[2*i:], v)
	}
}

// HasDST reports whether the zone observes daylight time.
func (tz TimeZone) HasDST() bool { return tz.StandardDate.Month != 0 && tz.DaylightDate.Month != 0 }

// Validate checks the fields for values no real zone has.
func (tz TimeZone) Validate() error {
	// Real offsets lie between UTC-12 and UTC+14; allow some slack.
	if tz.Bias < -16*60 || tz.Bias > 16*60 {
		return tzErr("bias %d minutes out of range", tz.Bias)
	}
	if tz.StandardBias < -180 || tz.StandardBias > 180 || tz.DaylightBias < -180 || tz.DaylightBias > 180 {
		return tzErr("standard or daylight bias out of range")
	}
	if (tz.StandardDate.Month == 0) != (tz.DaylightDate.Month == 0) {
		return tzErr("only one of the daylight transitions is set")
	}
	if !tz.HasDST() {
		return nil
	}
	for _, d := range []struct {
		name string
		st   SystemTime
	}{{"StandardDate", tz.StandardDate}, {"DaylightDate", tz.DaylightDate}} {
		st := d.st
		switch {
		case st.Month > 12:
			return tzErr("%s: month %d", d.name, st.Month)
		case st.Hour > 23 || st.Minute > 59 || st.Second > 59 || st.Milliseconds > 999:
			return tzErr("%s: time %d:%d:%d.%d", d.name, st.Hour, st.Minute, st.Second, st.Milliseconds)
		case st.Year == 0 && (st.DayOfWeek > 6 || st.Day < 1 || st.Day > 5):
			return tzErr("%s: weekday %d, week %d", d.name, st.DayOfWeek, st.Day)
		case st.Year != 0:
			if st.Year < 1601 || st.Year > 30827 || st.Day < 1 ||
				time.Date(int(st.Year), time.Month(st.Month), int(st.Day), 0, 0, 0, 0, time.UTC).Day() != int(st.Day) {
				return tzErr("%s: date %d-%d-%d", d.name, st.Year, st.Month, st.Day)
			}
		}
	}
	if tz.StandardDate.Month == tz.DaylightDate.Month && tz.StandardDate.Day == tz.DaylightDate.Day &&
		tz.StandardDate.DayOfWeek == tz.DaylightDate.DayOfWeek && tz.StandardDate.Year == tz.DaylightDate.Year {
		return tzErr("daylight time begins and ends on the same day")
	}
	return nil
}

// offsets returns the UTC offsets (seconds east) in standard and daylight
// time.
func (tz TimeZone) offsets() (std, dst int) {
	return -int(tz.Bias+tz.StandardBias) * 60, -int(tz.Bias+tz.DaylightBias) * 60
}

// in resolves a SYSTEMTIME rule to the wall-clock date and time of its
// transition in year.
func (st SystemTime) in(year int) time.Time {
	clock := func(d time.Time) time.Time {
		return d.Add(time.Duration(st.Hour)*time.Hour + time.Duration(st.Minute)*time.Minute + time.Duration(st.Second)*time.Second)
	}
	if st.Year != 0 {
		return clock(time.Date(int(st.Year), time.Month(st.Month), int(st.Day), 0, 0, 0, 0, time.UTC))
	}
	first := time.Date(year, time.Month(st.Month), 1, 0, 0, 0, 0, time.UTC)
	d := first.AddDate(0, 0, (int(st.DayOfWeek)-int(first.Weekday())+7)%7+7*(int(st.Day)-1))
	for d.Month() != first.Month() { // Day 5 (or a 5th that does not exist): the last
		d = d.AddDate(0, 0, -7)
	}
	return clock(d)
}

// ruleFromTransition writes a transition's wall-clock time as a yearly rule
// (Year 0, the n-th weekday of the month, 5 for the last).
func ruleFromTransition(local time.Time) SystemTime {
	week := (local.Day()-1)/7 + 1
	if local.AddDate(0, 0, 7).Month() != local.Month() {
		week = 5
	}
	return SystemTime{
		Month: uint16(local.Month()), DayOfWeek: uint16(local.Weekday()), Day: uint16(week),
		Hour: uint16(local.Hour()), Minute: uint16(local.Minute()), Second: uint16(local.Second()),
	}
}

// zoneTransitions lists loc's offset changes during year.
func zoneTransitions(loc *time.Location, year int) []time.Time {
	t := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	stop := time.Date(year+1, 1, 1, 0, 0, 0, 0, loc)
	var out []time.Time
	for len(out) < 8 {
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(stop) {
			break
		}
		out = append(out, end)
		t = end
	}
	return out
}

// TimeZoneFor describes loc with its rules in year. A zone with two changes
// of offset in the year becomes a daylight-time zone (the lower offset is
// standard time, as Windows has it, whatever tzdata calls DST: Dublin's
// winter time is "negative DST" there); a zone with none a fixed one. A
// zone that changed its rules that year (one change, or more than two) is
// described with the next year's rules, or else the previous year's, or
// else as fixed at the offset it ends the year with.
func TimeZoneFor(loc *time.Location, year int) TimeZone {
	if loc == nil {
		loc = time.UTC
	}
	name := loc.String()
	if name == "Local" {
		name = ""
	}
	winStd := pim.WindowsName(name)
	stdName, dstName := winStd, strings.Replace(winStd, "Standard", "Daylight", 1)
	if winStd == "" {
		stdName, dstName = pim.CanonicalZone(name), pim.CanonicalZone(name)
	}
	for _, y := range []int{year, year + 1, year - 1} {
		tr := zoneTransitions(loc, y)
		if len(tr) != 2 {
			continue
		}
		_, off0 := tr[0].Zone()
		_, off1 := tr[1].Zone()
		if off0 == off1 {
			continue // a change of name only
		}
		toStd, toDst := tr[0], tr[1]
		stdOff, dstOff := off0, off1
		if off0 > off1 {
			toStd, toDst = tr[1], tr[0]
			stdOff, dstOff = off1, off0
		}
		return TimeZone{
			Bias:         int32(-stdOff / 60),
			StandardName: stdName,
			StandardDate: ruleFromTransition(toStd.In(time.FixedZone("", dstOff))),
			DaylightName: dstName,
			DaylightDate: ruleFromTransition(toDst.In(time.FixedZone("", stdOff))),
			DaylightBias: int32(-(dstOff - stdOff) / 60),
		}
	}
	_, off := time.Date(year, 12, 31, 23, 0, 0, 0, loc).Zone()
	return TimeZone{Bias: int32(-off / 60), StandardName: stdName, DaylightName: dstName}
}

// ZoneMatch is the IANA zone a TimeZone value stands for.
type ZoneMatch struct {
	Name     string         // IANA name, canonical ("Asia/Kolkata")
	Location *time.Location // loaded
	// Exact: in the year asked about, the zone has the value's offsets
	// and changes them on the same days. When false the zone is the best
	// guess: a known Windows name with other rules, the same offsets
	// with other transition dates (outdated rules on the device), or a
	// fixed offset.
	Exact bool
}

// Resolve finds the IANA zone a TimeZone value describes, for the rules of
// year (the value's own year when it uses absolute dates):
//
//  1. a StandardName that is a Windows zone name ("GMT Standard Time") or an
//     IANA name, when that zone's standard offset is the value's;
//  2. else the first candidate zone whose offsets and transitions in the
//     year equal the value's, to the minute, then to the day (some devices
//     write the transition hour in another zone's terms), then with the
//     same offsets and changes less than five weeks apart, the nearest (a
//     device with outdated rules);
//  3. else a fixed-offset zone (Etc/GMT-5 is UTC+5) or, for a fractional
//     offset, the first candidate without daylight time that has it.
//
// Candidates are tried in a fixed order: the zones our users mostly live in
// first (so GMT/BST rules give Europe/London, not Europe/Lisbon), then the
// principal zone of each Windows zone, then every canonical IANA zone.
func (tz TimeZone) Resolve(year int) ZoneMatch {
	if tz.HasDST() && tz.StandardDate.Year != 0 {
		year = int(tz.StandardDate.Year)
	}
	std, _ := tz.offsets()
	for _, n := range []string{tz.StandardName, tz.DaylightName} {
		name, ok := pim.WindowsZone(n)
		if !ok && strings.Contains(n, "/") {
			name, ok = pim.CanonicalZone(n), true
		}
		if !ok {
			continue
		}
		loc, err := time.LoadLocation(name)
		if err != nil {
			continue
		}
		cand := TimeZoneFor(loc, year)
		cstd, _ := cand.offsets()
		if cstd != std {
			continue
		}
		return ZoneMatch{Name: name, Location: loc, Exact: tz.sameRules(cand, year, matchMinute)}
	}
	cands := candidatesFor(year)
	for _, level := range []matchLevel{matchMinute, matchDay} {
		for _, c := range cands {
			if tz.sameRules(c.tz, year, level) {
				return ZoneMatch{Name: c.name, Location: c.loc, Exact: true}
			}
		}
	}
	// Same offsets, other dates: the candidate whose changes are nearest.
	var best *candidate
	var bestDist time.Duration
	for i, c := range cands {
		if !tz.sameRules(c.tz, year, matchOffsets) {
			continue
		}
		d := absDur(tz.StandardDate.in(year).Sub(c.tz.StandardDate.in(year))) + absDur(tz.DaylightDate.in(year).Sub(c.tz.DaylightDate.in(year)))
		if best == nil || d < bestDist {
			best, bestDist = &cands[i], d
		}
	}
	if best != nil {
		return ZoneMatch{Name: best.name, Location: best.loc}
	}
	if std%3600 == 0 {
		name := "Etc/UTC"
		if h := std / 3600; h != 0 {
			// POSIX signs: Etc/GMT-5 is five hours east of Greenwich.
			name = fmt.Sprintf("Etc/GMT%+d", -h)
		}
		if loc, err := time.LoadLocation(name); err == nil {
			return ZoneMatch{Name: name, Location: loc, Exact: !tz.HasDST()}
		}
	}
	for _, c := range cands {
		cstd, _ := c.tz.offsets()
		if !c.tz.HasDST() && cstd == std {
			return ZoneMatch{Name: c.name, Location: c.loc, Exact: !tz.HasDST()}
		}
	}
	return ZoneMatch{Name: "Etc/UTC", Location: time.UTC}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

type matchLevel int

const (
	matchMinute matchLevel = iota
	matchDay
	matchOffsets
)

// sameRules compares two values' offsets and, unless level is
// matchOffsets, their transition times in year.
func (tz TimeZone) sameRules(o TimeZone, year int, level matchLevel) bool {
	if tz.HasDST() != o.HasDST() {
		return false
	}
	a1, a2 := tz.offsets()
	b1, b2 := o.offsets()
	if !tz.HasDST() {
		return a1 == b1
	}
	if a1 != b1 || a2 != b2 {
		return false
	}
	if level == matchOffsets {
		// Outdated rules move a change by weeks (the US moved from April
		// to March in 2007), not by months: anything further is another
		// zone, or the guess would be wrong for half the year.
		near := func(x, y SystemTime) bool {
			d := x.in(year).Sub(y.in(year))
			return d < 35*24*time.Hour && d > -35*24*time.Hour
		}
		return near(tz.StandardDate, o.StandardDate) && near(tz.DaylightDate, o.DaylightDate)
	}
	same := func(x, y SystemTime) bool {
		tx, ty := x.in(year), y.in(year)
		if level == matchDay {
			return tx.YearDay() == ty.YearDay()
		}
		return tx.Equal(ty)
	}
	return same(tz.StandardDate, o.StandardDate) && same(tz.DaylightDate, o.DaylightDate)
}

type candidate struct {
	name string
	loc  *time.Location
	tz   TimeZone
}

// preferredZones come first among the candidates, in this order.
var preferredZones = []string{
	"Europe/London", "Etc/UTC", "Europe/Berlin", "Europe/Paris", "Europe/Dublin",
	"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
	"America/Anchorage", "Pacific/Honolulu", "America/Halifax", "America/St_Johns", "America/Sao_Paulo",
	"Asia/Kolkata", "Asia/Dubai", "Asia/Karachi", "Asia/Dhaka", "Asia/Shanghai", "Asia/Hong_Kong",
	"Asia/Singapore", "Asia/Tokyo", "Asia/Seoul", "Australia/Sydney", "Australia/Brisbane",
	"Australia/Adelaide", "Australia/Darwin", "Australia/Perth", "Pacific/Auckland",
	"Africa/Johannesburg", "Africa/Lagos", "Africa/Cairo", "Africa/Nairobi", "Europe/Athens",
	"Europe/Helsinki", "Europe/Istanbul", "Europe/Moscow", "Asia/Jerusalem", "Asia/Riyadh",
	"Asia/Tehran", "Asia/Kathmandu", "America/Mexico_City", "America/Bogota",
	"America/Argentina/Buenos_Aires", "America/Santiago", "Atlantic/Reykjavik",
}

var (
	candMu    sync.Mutex
	candCache = map[int][]candidate{}
)

// candidatesFor lists every candidate zone with its rules in year, built
// once per year.
func candidatesFor(year int) []candidate {
	candMu.Lock()
	defer candMu.Unlock()
	if c, ok := candCache[year]; ok {
		return c
	}
	seen := map[string]bool{}
	var names []string
	addName := func(n string) {
		n = pim.CanonicalZone(n)
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range preferredZones {
		addName(n)
	}
	var win []string
	for _, w := range pim.WindowsZoneNames() {
		if z, ok := pim.WindowsZone(w); ok && !strings.HasPrefix(z, "Etc/") {
			win = append(win, z)
		}
	}
	sort.Strings(win)
	for _, n := range win {
		addName(n)
	}
	for _, n := range pim.CanonicalZones() {
		addName(n)
	}
	var out []candidate
	for _, n := range names {
		loc, err := time.LoadLocation(n)
		if err != nil {
			continue
		}
		out = append(out, candidate{name: n, loc: loc, tz: TimeZoneFor(loc, year)})
	}
	if len(candCache) > 16 { // years asked about are few; bound it anyway
		clear(candCache)
	}
	candCache[year] = out
	return out
}
