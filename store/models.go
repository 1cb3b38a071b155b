package store

import "time"

// Role of a user account.
type Role string

const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// ServiceLevel sets a mailbox quota for the users on it.
type ServiceLevel struct {
	ID         int64
	Name       string
	QuotaBytes int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// User is a member of staff: an account and a directory entry.
type User struct {
	ID             int64
	Email          string // primary SMTP address, lower case
	DisplayName    string
	FirstName      string
	LastName       string
	PasswordHash   string `json:"-"`
	Role           Role
	Disabled       bool
	ServiceLevelID *int64
	JobTitle       string
	Department     string
	Office         string
	Phone          string
	Mobile         string
	Organisation   string
	// HierarchyModseq is the user's folder-hierarchy change counter.
	HierarchyModseq int64
	QuotaUsed       int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// IsAdmin reports whether the user may administer Airlock.
func (u *User) IsAdmin() bool { return u.Role == RoleAdmin }

// UserAlias is an extra address that delivers to a user.
type UserAlias struct {
	ID      int64
	UserID  int64
	Address string
}

// FolderType is the EAS folder type (MS-ASCMD 2.2.3.186.3 Type (FolderSync)).
type FolderType int

const (
	FolderUserGeneric     FolderType = 1
	FolderInbox           FolderType = 2
	FolderDrafts          FolderType = 3
	FolderDeletedItems    FolderType = 4
	FolderSentItems       FolderType = 5
	FolderOutbox          FolderType = 6
	FolderTasks           FolderType = 7
	FolderCalendar        FolderType = 8
	FolderContacts        FolderType = 9
	FolderNotes           FolderType = 10
	FolderJournal         FolderType = 11
	FolderUserMail        FolderType = 12
	FolderUserCalendar    FolderType = 13
	FolderUserContacts    FolderType = 14
	FolderUserTasks       FolderType = 15
	FolderUserJournal     FolderType = 16
	FolderUserNotes       FolderType = 17
	FolderUnknown         FolderType = 18
	FolderRecipientsCache FolderType = 19
)

// Class is the EAS item class a folder holds.
type Class string

const (
	ClassEmail    Class = "Email"
	ClassCalendar Class = "Calendar"
	ClassContacts Class = "Contacts"
	ClassTasks    Class = "Tasks"
	ClassNotes    Class = "Notes"
	ClassSMS      Class = "SMS"
)

// Folder is a mail or PIM folder of one user.
type Folder struct {
	ID       int64
	UserID   int64
	ParentID int64 // 0 for a top-level folder
	Name     string
	Type     FolderType
	Class    Class
	// Modseq is the folder's item change counter: the highest counter any
	// item in it carries.
	Modseq int64
	// HierarchyModseq is the value of the user's hierarchy counter when this
	// folder was last added, renamed, moved or deleted.
	HierarchyModseq int64
	Deleted         bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Blob is raw content stored once (an RFC 5322 message, a picture). At
// rest Data is sealed under the blob's own data key, kept in DEK wrapped
// by the master key (keys.go, blobs.go).
type Blob struct {
	ID int64
	// Digest is HMAC-SHA256 of the content under the dedupe key, in hex:
	// equal content has equal digests, and the database alone cannot
	// confirm a guessed message. (The column is still named sha256.)
	Digest    string `gorm:"column:sha256"`
	Size      int64
	Data      []byte
	DEK       []byte `gorm:"column:dek"`
	CreatedAt time.Time
}

// Item is one item of any class in a folder. Mail keeps its raw message in a
// Blob and a parsed summary here; the other classes keep their structured
// fields as JSON in Props (see Event, Contact, Task, Note).
//
// A deleted item stays as a tombstone (Deleted, with a new Modseq) so that
// "changes since N" reports the deletion.
type Item struct {
	ID       int64
	UserID   int64
	FolderID int64
	Class    Class
	Modseq   int64
	Deleted  bool

	BlobID    *int64
	Size      int64
	MessageID string
	// Subject, ThreadTopic, Preview and Props carry message text: sealed
	// at rest under the Fields key (keys.go).
	Subject  string `gorm:"serializer:sealed"`
	FromAddr string
	ToAddrs  string
	CcAddrs  string
	ReplyTo  string
	// BccAddrs: the Bcc list of a draft or of the sender's own Sent Items
	// copy (never of a received mail).
	BccAddrs string
	// ReceivedAsBcc: the user was not in To or Cc (MS-ASEMAIL 2.2.2.65).
	ReceivedAsBcc bool
	DateReceived  *time.Time
	Read          bool
	FlagStatus    int
	// Flag is the whole follow-up flag (MS-ASEMAIL 2.2.2.34) as JSON, or
	// empty when only FlagStatus is known (see activesync/flag.go).
	Flag              string
	Importance        int
	HasAttachments    bool
	IsDraft           bool
	MessageClass      string
	ThreadTopic       string `gorm:"serializer:sealed"`
	ConversationID    []byte
	ConversationIndex []byte
	Categories        string // JSON array of strings, or empty
	LastVerb          int
	LastVerbAt        *time.Time
	Preview           string `gorm:"serializer:sealed"`

	UID       string // iCalendar or vCard UID
	StartTime *time.Time
	EndTime   *time.Time
	Props     string `gorm:"serializer:sealed"` // JSON of the class's structured fields

	CreatedAt time.Time
	UpdatedAt time.Time

	// Attachments is filled by the calls that say so; it is not a column.
	Attachments []Attachment `gorm:"-"`
	// SearchText is the normalised body text of a new mail item
	// (NormalizeSearchText), stored with its blob for mailbox search
	// (mailsearch.go); it is not a column and is not read back.
	SearchText string `gorm:"-"`
	// Rendered is the body of a mail as readers need it: on a new item,
	// what message.Parse rendered, stored beside its blob (bodies.go); on
	// an item being written to a device, what was stored, or nil when the
	// raw message must be rendered instead. It is not a column.
	Rendered *Rendered `gorm:"-"`
}

// Attachment describes one attachment of a mail item. Its ID is the stable
// reference (EAS FileReference) by which a device fetches it; PartIndex says
// which MIME part of the raw message holds it.
type Attachment struct {
	ID          int64
	ItemID      int64
	PartIndex   int
	FileName    string
	ContentType string
	ContentID   string
	Size        int64
	Inline      bool
}

// DeviceState is where a device stands with the access decision.
type DeviceState string

const (
	DeviceNew         DeviceState = "new"
	DeviceAllowed     DeviceState = "allowed"
	DeviceBlocked     DeviceState = "blocked"
	DeviceQuarantined DeviceState = "quarantined"
	DeviceWipePending DeviceState = "wipe_pending"
	DeviceWiped       DeviceState = "wiped"
)

// Device is one (user, EAS DeviceId) partnership.
type Device struct {
	ID              int64
	UserID          int64
	DeviceID        string
	DeviceType      string
	Model           string
	IMEI            string `gorm:"column:imei"`
	FriendlyName    string
	OS              string `gorm:"column:os"`
	OSLanguage      string `gorm:"column:os_language"`
	PhoneNumber     string
	UserAgent       string
	MobileOperator  string
	ProtocolVersion string

	State           DeviceState
	StateReason     string
	DecidedBy       string
	DecidedAt       *time.Time
	Evidence        string // JSON array of strings
	AdminOverride   string // "", "allow", "block", "quarantine"
	AdminOverrideBy string
	AdminOverrideAt *time.Time

	PolicyID        *int64
	PolicyVersion   int64
	PolicyKey       int64
	PolicyKeyTemp   int64
	PolicyAckStatus int
	ProvisionedAt   *time.Time
	MDMCompliant    *bool `gorm:"column:mdm_compliant"`
	MDMCheckedAt    *time.Time

	WipeType        string // "", "full", "account"
	WipeRequestedAt *time.Time
	WipeRequestedBy string
	WipeAckedAt     *time.Time
	WipeAckStatus   int

	QuarantineNotified bool
	FirstSeen          time.Time
	LastSeen           *time.Time
	LastSync           *time.Time
	LastCommand        string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// SyncState is one generation of a device's sync state for a collection.
type SyncState struct {
	ID         int64
	DevicePK   int64 `gorm:"column:device_pk"`
	Collection string
	SyncKey    int64
	Data       []byte
	CreatedAt  time.Time
}

// Policy is a named EAS provisioning policy. Settings holds the JSON of
// policies.Settings; Version increases on every change so that policy keys
// issued under an older version become stale.
type Policy struct {
	ID        int64
	Name      string
	IsDefault bool
	Version   int64
	Settings  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeviceRule is a stored device access rule (see policies.Rule).
type DeviceRule struct {
	ID          int64
	Priority    int
	Field       string
	Match       string
	Pattern     string
	Action      string
	Description string
	Enabled     bool
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// OrgSetting is one organisation-wide setting. Values are sealed at rest
// under the Settings key (keys.go): several are secrets (the web signing
// key, TOTP secrets, the MDM webhook secret).
type OrgSetting struct {
	Key       string `gorm:"primaryKey"`
	Value     string `gorm:"serializer:secret"`
	UpdatedAt time.Time
}

// AuditEvent records who did what, when, from where.
type AuditEvent struct {
	ID         int64
	At         time.Time
	Actor      string
	ActorIP    string `gorm:"column:actor_ip"`
	Action     string
	TargetType string
	Target     string
	UserID     *int64
	DevicePK   *int64 `gorm:"column:device_pk"`
	Outcome    string
	Detail     string
	PrevHash   string
	Hash       string
}

// AuthFailure counts failed logins for one key.
type AuthFailure struct {
	Key         string `gorm:"primaryKey"`
	Failures    int
	WindowStart time.Time
	LockedUntil *time.Time
}
