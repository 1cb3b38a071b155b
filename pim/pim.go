package pim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	_ "time/tzdata" // zones must resolve on hosts without a zone database

	"github.com/teambition/rrule-go"

	"airlock/store"
)

// ErrInvalid is wrapped by ToItem errors about an item that cannot be
// stored (no start time, no name...) and FromItem errors about an item of
// the wrong class or with unreadable Props.
var ErrInvalid = errors.New("pim: invalid item")

// Sensitivity (MS-ASCAL 2.2.2.41, MS-ASTASK 2.2.2.21).
const (
	SensitivityNormal       = 0
	SensitivityPersonal     = 1
	SensitivityPrivate      = 2
	SensitivityConfidential = 3
)

// BusyStatus (MS-ASCAL 2.2.2.9).
const (
	BusyFree             = 0
	BusyTentative        = 1
	BusyBusy             = 2
	BusyOutOfOffice      = 3
	BusyWorkingElsewhere = 4
)

// AttendeeType (MS-ASCAL 2.2.2.5).
const (
	AttendeeRequired = 1
	AttendeeOptional = 2
	AttendeeResource = 3
)

// AttendeeStatus (MS-ASCAL 2.2.2.4).
const (
	StatusUnknown      = 0
	StatusTentative    = 2
	StatusAccepted     = 3
	StatusDeclined     = 4
	StatusNotResponded = 5
)

// MeetingStatus (MS-ASCAL 2.2.2.29).
const (
	MeetingNone              = 0 // an appointment, not a meeting
	MeetingOrganizer         = 1 // a meeting the user organises
	MeetingReceived          = 3 // a meeting the user was invited to
	MeetingCanceledOrganizer = 5
	MeetingCanceledReceived  = 7
)

// Importance (MS-ASTASK 2.2.2.13).
const (
	ImportanceLow    = 0
	ImportanceNormal = 1
	ImportanceHigh   = 2
)

// SeriesForever is the EndTime column of a recurring series that never
// ends. 4501-01-01 is the date Outlook and Exchange use for "no end date".
var SeriesForever = time.Date(4501, 1, 1, 0, 0, 0, 0, time.UTC)

// Person is an organizer.
type Person struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Attendee is one invitee of a meeting.
type Attendee struct {
	Name   string `json:"name,omitempty"`
	Email  string `json:"email"`
	Type   int    `json:"type"`             // AttendeeRequired, AttendeeOptional, AttendeeResource
	Status int    `json:"status,omitempty"` // StatusUnknown .. StatusNotResponded
	// ProposedStart and ProposedEnd are a new time the attendee proposed
	// (an iTIP COUNTER, EAS 16.1 MeetingResponse ProposedStartTime); zero
	// when none is pending.
	ProposedStart time.Time `json:"proposedStart,omitzero"`
	ProposedEnd   time.Time `json:"proposedEnd,omitzero"`
}

// Exception is one changed or deleted occurrence of a recurring event
// (MS-ASCAL 2.2.2.20 Exception). Zero fields inherit the master's values.
type Exception struct {
	RecurrenceID time.Time `json:"recurrenceId"` // original start of the occurrence
	Deleted      bool      `json:"deleted,omitempty"`
	Start        time.Time `json:"start,omitzero"`
	End          time.Time `json:"end,omitzero"`
	Summary      string    `json:"summary,omitempty"`
	Location     string    `json:"location,omitempty"`
	// The other fields an EAS Exception can change (MS-ASCAL 2.2.2.21);
	// nil or empty inherits the master's value.
	Description   string     `json:"description,omitempty"`
	BusyStatus    *int       `json:"busyStatus,omitempty"`
	Reminder      *int       `json:"reminder,omitempty"`
	Sensitivity   *int       `json:"sensitivity,omitempty"`
	AllDay        *bool      `json:"allDay,omitempty"`
	Categories    []string   `json:"categories,omitempty"`
	Attendees     []Attendee `json:"attendees,omitempty"`
	MeetingStatus *int       `json:"meetingStatus,omitempty"`
	ResponseType  *int       `json:"responseType,omitempty"`
	// AppointmentReplyTime is when the user answered this occurrence.
	AppointmentReplyTime time.Time `json:"appointmentReplyTime,omitzero"`
	DtStamp              time.Time `json:"dtStamp,omitzero"`
}

// Event is a calendar item (MS-ASCAL).
type Event struct {
	UID         string     `json:"uid"`
	Summary     string     `json:"summary,omitempty"`
	Location    string     `json:"location,omitempty"`
	Description string     `json:"description,omitempty"`
	Start       time.Time  `json:"start"`
	End         time.Time  `json:"end"`
	AllDay      bool       `json:"allDay,omitempty"`
	TimeZone    string     `json:"timeZone,omitempty"` // IANA name; "" for floating or all-day
	Organizer   Person     `json:"organizer,omitzero"`
	Attendees   []Attendee `json:"attendees,omitempty"`
	Sensitivity int        `json:"sensitivity,omitempty"`
	BusyStatus  int        `json:"busyStatus"`
	// Reminder is minutes before Start; nil means no reminder (0 is "at
	// start").
	Reminder      *int        `json:"reminder,omitempty"`
	Categories    []string    `json:"categories,omitempty"`
	RRule         string      `json:"rrule,omitempty"` // RFC 5545 RRULE value, e.g. "FREQ=WEEKLY;BYDAY=TU"
	ExDates       []time.Time `json:"exDates,omitempty"`
	Exceptions    []Exception `json:"exceptions,omitempty"`
	MeetingStatus int         `json:"meetingStatus,omitempty"`
	DtStamp       time.Time   `json:"dtStamp,omitzero"`

	// Fields EAS carries (MS-ASCAL 2.2.2) that iCalendar files do not,
	// kept so that what a device wrote reads back the same.
	ResponseRequested       bool      `json:"responseRequested,omitempty"`
	ResponseType            int       `json:"responseType,omitempty"` // ResponseNone..ResponseNotResponded
	AppointmentReplyTime    time.Time `json:"appointmentReplyTime,omitzero"`
	DisallowNewTimeProposal bool      `json:"disallowNewTimeProposal,omitempty"`
	OnlineMeetingConfLink   string    `json:"onlineMeetingConfLink,omitempty"`
	OnlineMeetingLink       string    `json:"onlineMeetingExternalLink,omitempty"`
	ClientUID               string    `json:"clientUid,omitempty"` // 16.0 ClientUid
	// Sequence is the iTIP revision (RFC 5546 SEQUENCE) of a meeting.
	Sequence int `json:"sequence,omitempty"`
	// RecurrenceID marks a meeting message about one occurrence of the
	// series UID (RFC 5545 RECURRENCE-ID): its original start. Only
	// messages carry it; a stored event is a whole series.
	RecurrenceID time.Time `json:"-"`
	// EASTimeZone is the TimeZone blob a device sent with the event,
	// returned as it was while TimeZone is still the zone it stood for.
	EASTimeZone string `json:"easTimeZone,omitempty"`
	// RecurCalendarType and RecurIsLeapMonth are the EAS recurrence
	// fields RFC 5545 has no place for (MS-ASCAL 2.2.2.11, 2.2.2.26).
	RecurCalendarType int  `json:"recurCalendarType,omitempty"`
	RecurIsLeapMonth  bool `json:"recurIsLeapMonth,omitempty"`
}

// ResponseType (MS-ASCAL 2.2.2.38): the user's answer to a meeting.
const (
	ResponseNone         = 0
	ResponseOrganizer    = 1
	ResponseTentative    = 2
	ResponseAccepted     = 3
	ResponseDeclined     = 4
	ResponseNotResponded = 5
)

// location returns the event's zone: TimeZone, or UTC.
func (e *Event) location() *time.Location {
	if e.TimeZone != "" {
		if loc, err := ResolveTimeZone(e.TimeZone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// SetOwner fixes MeetingStatus for the mailbox the event is stored in:
// a meeting organised by owner is the organizer's copy, any other meeting a
// received one. Files do not say whose calendar they came from, so the
// importer calls this with the user's address.
func (e *Event) SetOwner(owner string) {
	if len(e.Attendees) == 0 && e.Organizer.Email == "" {
		return
	}
	mine := strings.EqualFold(strings.TrimSpace(e.Organizer.Email), strings.TrimSpace(owner))
	cancelled := e.MeetingStatus == MeetingCanceledOrganizer || e.MeetingStatus == MeetingCanceledReceived
	switch {
	case mine && cancelled:
		e.MeetingStatus = MeetingCanceledOrganizer
	case mine:
		e.MeetingStatus = MeetingOrganizer
	case cancelled:
		e.MeetingStatus = MeetingCanceledReceived
	default:
		e.MeetingStatus = MeetingReceived
	}
}

// ToItem validates the event and returns it as a store item of class
// Calendar. An event without a UID gets a new random one.
func (e *Event) ToItem(userID, folderID int64) (*store.Item, error) {
	if e.Start.IsZero() {
		return nil, fmt.Errorf("%w: event %q has no start time", ErrInvalid, e.UID)
	}
	if e.End.IsZero() {
		e.End = e.Start
	}
	if e.End.Before(e.Start) {
		return nil, fmt.Errorf("%w: event %q ends before it starts", ErrInvalid, e.UID)
	}
	end, err := e.seriesEnd()
	if err != nil {
		return nil, err
	}
	if e.UID == "" {
		e.UID = newUID()
	}
	start := e.Start.UTC()
	it := &store.Item{
		UserID: userID, FolderID: folderID, Class: store.ClassCalendar,
		UID: clean(e.UID), Subject: clean(e.Summary), StartTime: &start, EndTime: &end,
		Categories: categoriesJSON(e.Categories),
	}
	return it, setProps(it, e)
}

// FromItem reads an event from a store item of class Calendar.
func (e *Event) FromItem(it *store.Item) error {
	if err := getProps(it, store.ClassCalendar, e); err != nil {
		return err
	}
	if e.UID == "" {
		e.UID = it.UID
	}
	return nil
}

// seriesEnd is the end of the last occurrence: End for a single event, the
// last occurrence's end for a bounded series, SeriesForever otherwise.
// Exceptions moved past the series end extend it.
func (e *Event) seriesEnd() (time.Time, error) {
	end := e.End.UTC()
	if e.RRule != "" {
		opt, err := rrule.StrToROption(e.RRule)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: event %q: RRULE %q: %v", ErrInvalid, e.UID, e.RRule, err)
		}
		dur := e.End.Sub(e.Start)
		switch {
		case !opt.Until.IsZero():
			// The last occurrence starts at or before UNTIL; expanding a
			// MINUTELY rule over years to find it exactly is not worth it.
			end = opt.Until.Add(dur).UTC()
		case opt.Count > 0 && opt.Count <= 5000:
			opt.Dtstart = e.Start.In(e.location())
			r, err := rrule.NewRRule(*opt)
			if err != nil {
				return time.Time{}, fmt.Errorf("%w: event %q: RRULE %q: %v", ErrInvalid, e.UID, e.RRule, err)
			}
			if all := r.All(); len(all) > 0 {
				end = all[len(all)-1].Add(dur).UTC()
			}
		default:
			end = SeriesForever
		}
	}
	for _, x := range e.Exceptions {
		if x.End.After(end) {
			end = x.End.UTC()
		}
	}
	return end, nil
}

// Address is a postal address of a contact (MS-ASCNTC 2.2.2: Business*, Home*, Other* fields).
type Address struct {
	Street     string `json:"street,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	Country    string `json:"country,omitempty"`
}

// IsZero reports an empty address.
func (a Address) IsZero() bool { return a == Address{} }

// Contact is a contact (MS-ASCNTC, Contacts and Contacts2 namespaces).
type Contact struct {
	UID            string `json:"uid"`
	FileAs         string `json:"fileAs,omitempty"`
	FirstName      string `json:"firstName,omitempty"`
	MiddleName     string `json:"middleName,omitempty"`
	LastName       string `json:"lastName,omitempty"`
	Title          string `json:"title,omitempty"` // "Dr", "Mrs"
	Suffix         string `json:"suffix,omitempty"`
	CompanyName    string `json:"companyName,omitempty"`
	Department     string `json:"department,omitempty"`
	JobTitle       string `json:"jobTitle,omitempty"`
	OfficeLocation string `json:"officeLocation,omitempty"`

	Email1 string `json:"email1,omitempty"`
	Email2 string `json:"email2,omitempty"`
	Email3 string `json:"email3,omitempty"`

	BusinessPhone    string `json:"businessPhone,omitempty"`
	Business2Phone   string `json:"business2Phone,omitempty"`
	HomePhone        string `json:"homePhone,omitempty"`
	Home2Phone       string `json:"home2Phone,omitempty"`
	MobilePhone      string `json:"mobilePhone,omitempty"`
	CarPhone         string `json:"carPhone,omitempty"`
	Pager            string `json:"pager,omitempty"`
	RadioPhone       string `json:"radioPhone,omitempty"`
	BusinessFax      string `json:"businessFax,omitempty"`
	HomeFax          string `json:"homeFax,omitempty"`
	AssistantPhone   string `json:"assistantPhone,omitempty"`
	CompanyMainPhone string `json:"companyMainPhone,omitempty"` // Contacts2

	BusinessAddress Address `json:"businessAddress,omitzero"`
	HomeAddress     Address `json:"homeAddress,omitzero"`
	OtherAddress    Address `json:"otherAddress,omitzero"`

	Birthday    *time.Time `json:"birthday,omitempty"` // a date: midnight UTC
	Anniversary *time.Time `json:"anniversary,omitempty"`
	Spouse      string     `json:"spouse,omitempty"`
	Children    []string   `json:"children,omitempty"`
	Webpage     string     `json:"webpage,omitempty"`
	Categories  []string   `json:"categories,omitempty"`
	Notes       string     `json:"notes,omitempty"`
	Picture     []byte     `json:"picture,omitempty"` // JPEG or PNG bytes

	// Contacts2 namespace.
	NickName      string `json:"nickName,omitempty"`
	IMAddress     string `json:"imAddress,omitempty"`
	IMAddress2    string `json:"imAddress2,omitempty"`
	IMAddress3    string `json:"imAddress3,omitempty"`
	ManagerName   string `json:"managerName,omitempty"`
	AssistantName string `json:"assistantName,omitempty"`
	CustomerID    string `json:"customerId,omitempty"`
	GovernmentID  string `json:"governmentId,omitempty"`
	AccountName   string `json:"accountName,omitempty"`
	MMS           string `json:"mms,omitempty"`

	// Phonetic names (MS-ASCNTC 2.2.2.73-75 Yomi*).
	YomiFirstName   string `json:"yomiFirstName,omitempty"`
	YomiLastName    string `json:"yomiLastName,omitempty"`
	YomiCompanyName string `json:"yomiCompanyName,omitempty"`
}

// DisplayName is the name shown for the contact: FileAs, else the name,
// else the company, else the first e-mail address.
func (c *Contact) DisplayName() string {
	if c.FileAs != "" {
		return c.FileAs
	}
	if n := strings.Join(nonEmpty(c.Title, c.FirstName, c.MiddleName, c.LastName, c.Suffix), " "); n != "" {
		return n
	}
	if c.CompanyName != "" {
		return c.CompanyName
	}
	return firstNonEmpty(c.Email1, c.Email2, c.Email3)
}

// ToItem validates the contact and returns it as a store item of class
// Contacts. The Subject column holds DisplayName, by which lists sort.
func (c *Contact) ToItem(userID, folderID int64) (*store.Item, error) {
	name := c.DisplayName()
	if name == "" {
		return nil, fmt.Errorf("%w: contact %q has no name, company or e-mail address", ErrInvalid, c.UID)
	}
	if c.UID == "" {
		c.UID = newUID()
	}
	it := &store.Item{
		UserID: userID, FolderID: folderID, Class: store.ClassContacts,
		UID: clean(c.UID), Subject: clean(name), Categories: categoriesJSON(c.Categories),
	}
	return it, setProps(it, c)
}

// FromItem reads a contact from a store item of class Contacts.
func (c *Contact) FromItem(it *store.Item) error {
	if err := getProps(it, store.ClassContacts, c); err != nil {
		return err
	}
	if c.UID == "" {
		c.UID = it.UID
	}
	return nil
}

// Task is a task (MS-ASTASK).
type Task struct {
	UID           string     `json:"uid"`
	Subject       string     `json:"subject"`
	Body          string     `json:"body,omitempty"`
	Start         *time.Time `json:"start,omitempty"`
	Due           *time.Time `json:"due,omitempty"`
	Complete      bool       `json:"complete,omitempty"`
	DateCompleted *time.Time `json:"dateCompleted,omitempty"`
	Importance    int        `json:"importance"`
	Sensitivity   int        `json:"sensitivity,omitempty"`
	Reminder      *time.Time `json:"reminder,omitempty"` // absolute reminder time
	Categories    []string   `json:"categories,omitempty"`
	RRule         string     `json:"rrule,omitempty"`
	// EAS task recurrence fields (MS-ASTASK 2.2.2.18) RRULE has no place
	// for: a regenerating task recurs from its completion, DeadOccur says
	// the series has ended.
	RecurRegenerate bool `json:"recurRegenerate,omitempty"`
	RecurDeadOccur  bool `json:"recurDeadOccur,omitempty"`
	// LocalStart and LocalDue are the start and due dates as wall-clock
	// times of the device's zone, which EAS sends beside the UTC ones
	// (MS-ASTASK 2.2.2.23 StartDate, 2.2.2.11 DueDate); kept so they read
	// back as written.
	LocalStart *time.Time `json:"localStart,omitempty"`
	LocalDue   *time.Time `json:"localDue,omitempty"`
}

// ToItem validates the task and returns it as a store item of class Tasks;
// StartTime and EndTime hold the start and due dates.
func (t *Task) ToItem(userID, folderID int64) (*store.Item, error) {
	if strings.TrimSpace(t.Subject) == "" {
		return nil, fmt.Errorf("%w: task %q has no subject", ErrInvalid, t.UID)
	}
	if t.Start != nil && t.Due != nil && t.Due.Before(*t.Start) {
		return nil, fmt.Errorf("%w: task %q is due before it starts", ErrInvalid, t.UID)
	}
	if t.RRule != "" {
		if _, err := rrule.StrToROption(t.RRule); err != nil {
			return nil, fmt.Errorf("%w: task %q: RRULE %q: %v", ErrInvalid, t.UID, t.RRule, err)
		}
	}
	if t.UID == "" {
		t.UID = newUID()
	}
	it := &store.Item{
		UserID: userID, FolderID: folderID, Class: store.ClassTasks,
		UID: clean(t.UID), Subject: clean(t.Subject), StartTime: utcPtr(t.Start), EndTime: utcPtr(t.Due),
		Categories: categoriesJSON(t.Categories), Importance: t.Importance,
	}
	return it, setProps(it, t)
}

// FromItem reads a task from a store item of class Tasks.
func (t *Task) FromItem(it *store.Item) error {
	if err := getProps(it, store.ClassTasks, t); err != nil {
		return err
	}
	if t.UID == "" {
		t.UID = it.UID
	}
	return nil
}

// Note is a note (MS-ASNOTE).
type Note struct {
	UID          string    `json:"uid,omitempty"`
	Subject      string    `json:"subject"`
	Body         string    `json:"body,omitempty"`
	Categories   []string  `json:"categories,omitempty"`
	LastModified time.Time `json:"lastModified,omitzero"`
	MessageClass string    `json:"messageClass,omitempty"` // "IPM.StickyNote" when empty
}

// ToItem validates the note and returns it as a store item of class Notes.
// A note without a subject takes its body's first line, as Outlook does.
func (n *Note) ToItem(userID, folderID int64) (*store.Item, error) {
	if strings.TrimSpace(n.Subject) == "" {
		line, _, _ := strings.Cut(strings.TrimSpace(n.Body), "\n")
		n.Subject = strings.TrimSpace(line)
	}
	if n.Subject == "" {
		return nil, fmt.Errorf("%w: note has neither subject nor body", ErrInvalid)
	}
	if n.MessageClass == "" {
		n.MessageClass = "IPM.StickyNote"
	}
	if n.UID == "" {
		n.UID = newUID()
	}
	it := &store.Item{
		UserID: userID, FolderID: folderID, Class: store.ClassNotes,
		UID: clean(n.UID), Subject: clean(n.Subject), MessageClass: n.MessageClass,
		Categories: categoriesJSON(n.Categories), Preview: preview(n.Body),
	}
	return it, setProps(it, n)
}

// FromItem reads a note from a store item of class Notes.
func (n *Note) FromItem(it *store.Item) error {
	if err := getProps(it, store.ClassNotes, n); err != nil {
		return err
	}
	if n.UID == "" {
		n.UID = it.UID
	}
	return nil
}

func setProps(it *store.Item, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	it.Props = string(b)
	return nil
}

func getProps(it *store.Item, class store.Class, v any) error {
	if it == nil {
		return fmt.Errorf("%w: no item", ErrInvalid)
	}
	if it.Class != class {
		return fmt.Errorf("%w: item %d is %s, not %s", ErrInvalid, it.ID, it.Class, class)
	}
	if it.Props == "" {
		return fmt.Errorf("%w: item %d has no properties", ErrInvalid, it.ID)
	}
	if err := json.Unmarshal([]byte(it.Props), v); err != nil {
		return fmt.Errorf("%w: item %d: %v", ErrInvalid, it.ID, err)
	}
	return nil
}

// categoriesJSON is the store's Categories column: a JSON array, or "".
func categoriesJSON(c []string) string {
	if len(c) == 0 {
		return ""
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// newUID returns a random UID for an item that came without one.
func newUID() string { return strings.ToLower(rand.Text()) + "@airlock" }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func preview(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 255 {
		s = string([]rune(s)[:255])
	}
	return clean(s)
}

// clean makes a column value storable in PostgreSQL: valid UTF-8, no NUL.
// (Props needs no cleaning: encoding/json escapes both.)
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	if l := nonEmpty(ss...); len(l) > 0 {
		return l[0]
	}
	return ""
}
