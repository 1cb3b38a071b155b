package store

// Health-service rules: governance roles, break-glass access,
// delegates, secure domains and held mail. The rules themselves (who may
// approve what) live in package governance; this file keeps their state and
// makes each step one transaction.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"airlock/migrations"
)

// UserRole is one governance role held by a user ("hr_director",
// "programme_head"). It is separate from User.Role (dashboard admin): no
// admin power stands in for a governance role.
type UserRole struct {
	UserID    int64  `gorm:"primaryKey"`
	Role      string `gorm:"primaryKey"`
	GrantedBy string
	GrantedAt time.Time
}

// GrantRole gives a user a governance role; ErrConflict if they hold it.
func (s *Store) GrantRole(ctx context.Context, userID int64, role, by string) error {
	r := UserRole{UserID: userID, Role: role, GrantedBy: by, GrantedAt: s.now()}
	return wrap(s.db.WithContext(ctx).Create(&r).Error, "grant role "+role)
}

// RevokeRole takes a governance role away; ErrNotFound if not held.
func (s *Store) RevokeRole(ctx context.Context, userID int64, role string) error {
	res := s.db.WithContext(ctx).Where("user_id = ? AND role = ?", userID, role).Delete(&UserRole{})
	if res.Error != nil {
		return wrap(res.Error, "revoke role")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("revoke role %s: %w", role, ErrNotFound)
	}
	return nil
}

// RolesOf lists a user's governance roles, sorted.
func (s *Store) RolesOf(ctx context.Context, userID int64) ([]string, error) {
	return rolesOf(s.db.WithContext(ctx), userID)
}

func rolesOf(db *gorm.DB, userID int64) ([]string, error) {
	var out []string
	err := db.Model(&UserRole{}).Where("user_id = ?", userID).Order("role").Pluck("role", &out).Error
	return out, wrap(err, "roles")
}

// ListRoles lists every governance role held, by role then user.
func (s *Store) ListRoles(ctx context.Context) ([]UserRole, error) {
	var out []UserRole
	err := s.db.WithContext(ctx).Order("role, user_id").Find(&out).Error
	return out, wrap(err, "list roles")
}

// BreakGlassState is where a break-glass request stands.
type BreakGlassState string

const (
	BreakGlassPending BreakGlassState = "pending" // waiting for approvals
	BreakGlassActive  BreakGlassState = "active"  // approved; access until ExpiresAt
	BreakGlassEnded   BreakGlassState = "ended"   // the access period ran out
	BreakGlassRevoked BreakGlassState = "revoked" // stopped by hand, pending or active
	BreakGlassLapsed  BreakGlassState = "lapsed"  // never approved in time
)

// BreakGlass is a request for access to another user's mailbox without
// their permission.
type BreakGlass struct {
	ID              int64
	RequesterID     int64
	OwnerID         int64
	Reason          string
	DurationSeconds int64
	State           BreakGlassState
	CreatedAt       time.Time
	PendingUntil    time.Time // approvals after this are refused
	ActivatedAt     *time.Time
	ExpiresAt       *time.Time
	EndedAt         *time.Time
	EndedBy         string
	NoticeWithheld  bool
	OwnerNotifiedAt *time.Time
}

// TableName maps BreakGlass to its table.
func (BreakGlass) TableName() string { return "breakglass_requests" }

// Duration is the length of the access once approved.
func (b *BreakGlass) Duration() time.Duration { return time.Duration(b.DurationSeconds) * time.Second }

// BreakGlassApproval is one approver's approval of a request, in one role.
type BreakGlassApproval struct {
	RequestID      int64 `gorm:"primaryKey"`
	ApproverID     int64 `gorm:"primaryKey"`
	Role           string
	WithholdNotice string // why the owner should not be told; empty: tell
	ApprovedAt     time.Time
}

// TableName maps BreakGlassApproval to its table.
func (BreakGlassApproval) TableName() string { return "breakglass_approvals" }

// CreateBreakGlass stores a new pending request; b.ID is set on return.
func (s *Store) CreateBreakGlass(ctx context.Context, b *BreakGlass) error {
	b.ID = 0
	b.State = BreakGlassPending
	if b.CreatedAt.IsZero() {
		b.CreatedAt = s.now()
	}
	return wrap(s.db.WithContext(ctx).Create(b).Error, "create break-glass request")
}

// BreakGlassByID returns a request with its approvals in order.
func (s *Store) BreakGlassByID(ctx context.Context, id int64) (*BreakGlass, []BreakGlassApproval, error) {
	db := s.db.WithContext(ctx)
	var b BreakGlass
	if err := db.First(&b, id).Error; err != nil {
		return nil, nil, wrap(err, fmt.Sprintf("break-glass request %d", id))
	}
	var as []BreakGlassApproval
	err := db.Where("request_id = ?", id).Order("approved_at, approver_id").Find(&as).Error
	return &b, as, wrap(err, "approvals")
}

// BreakGlassFilter selects requests; zero fields match all.
type BreakGlassFilter struct {
	State       BreakGlassState
	OwnerID     int64
	RequesterID int64
	Limit       int
}

// ListBreakGlass returns requests, newest first.
func (s *Store) ListBreakGlass(ctx context.Context, f BreakGlassFilter) ([]BreakGlass, error) {
	q := s.db.WithContext(ctx).Model(&BreakGlass{})
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if f.OwnerID != 0 {
		q = q.Where("owner_id = ?", f.OwnerID)
	}
	if f.RequesterID != 0 {
		q = q.Where("requester_id = ?", f.RequesterID)
	}
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 200
	}
	var out []BreakGlass
	err := q.Order("id DESC").Limit(f.Limit).Find(&out).Error
	return out, wrap(err, "list break-glass requests")
}

// ApprovalDecider applies the approval rules to a request as it stands
// inside the approving transaction: the request, its approvals so far and
// the approver's governance roles. It returns the approval to record (its
// role chosen), and whether the request becomes active with it; or an error
// that refuses the approval.
type ApprovalDecider func(b *BreakGlass, approvals []BreakGlassApproval, approverRoles []string) (approval *BreakGlassApproval, activate bool, err error)

// ApproveBreakGlass records an approval in one transaction: the request row
// is locked, decide sees the current approvals, and the approval and any
// activation (ExpiresAt = now + duration; the owner's notice withheld only
// if every approval gave a reason) commit together. The table's keys refuse
// a second approval by the same person or in the same role even if decide
// were wrong.
func (s *Store) ApproveBreakGlass(ctx context.Context, id, approverID int64, now time.Time, decide ApprovalDecider) (*BreakGlass, error) {
	var b BreakGlass
	err := s.tx(ctx, func(tx *gorm.DB) error {
		q := tx
		if s.dialect == migrations.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.First(&b, id).Error; err != nil {
			return wrap(err, fmt.Sprintf("break-glass request %d", id))
		}
		var as []BreakGlassApproval
		if err := tx.Where("request_id = ?", id).Order("approved_at, approver_id").Find(&as).Error; err != nil {
			return wrap(err, "approvals")
		}
		roles, err := rolesOf(tx, approverID)
		if err != nil {
			return err
		}
		a, activate, err := decide(&b, as, roles)
		if err != nil {
			return err
		}
		a.RequestID, a.ApproverID, a.ApprovedAt = id, approverID, now.UTC()
		if err := tx.Create(a).Error; err != nil {
			return wrap(err, "approve")
		}
		if !activate {
			return nil
		}
		withheld := a.WithholdNotice != ""
		for _, x := range as {
			withheld = withheld && x.WithholdNotice != ""
		}
		at := now.UTC()
		exp := at.Add(b.Duration())
		res := tx.Model(&BreakGlass{}).Where("id = ? AND state = ?", id, BreakGlassPending).Updates(map[string]any{
			"state": BreakGlassActive, "activated_at": at, "expires_at": exp, "notice_withheld": withheld,
		})
		if res.Error != nil {
			return wrap(res.Error, "activate")
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("activate break-glass request %d: no longer pending: %w", id, ErrConflict)
		}
		b.State, b.ActivatedAt, b.ExpiresAt, b.NoticeWithheld = BreakGlassActive, &at, &exp, withheld
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// ActiveBreakGlass returns the request that gives actor access to owner's
// mailbox at now, or ErrNotFound.
func (s *Store) ActiveBreakGlass(ctx context.Context, actorID, ownerID int64, now time.Time) (*BreakGlass, error) {
	var b BreakGlass
	err := s.db.WithContext(ctx).Where("requester_id = ? AND owner_id = ? AND state = ? AND expires_at > ?",
		actorID, ownerID, BreakGlassActive, now.UTC()).Order("expires_at DESC").First(&b).Error
	if err != nil {
		return nil, wrap(err, "break-glass access")
	}
	return &b, nil
}

// ActiveBreakGlassFor lists the active, unexpired requests of an actor (the
// mailboxes they may open).
func (s *Store) ActiveBreakGlassFor(ctx context.Context, actorID int64, now time.Time) ([]BreakGlass, error) {
	var out []BreakGlass
	err := s.db.WithContext(ctx).Where("requester_id = ? AND state = ? AND expires_at > ?", actorID, BreakGlassActive, now.UTC()).
		Order("owner_id").Find(&out).Error
	return out, wrap(err, "break-glass access")
}

// DueBreakGlass lists active requests whose access has run out and pending
// ones no longer approvable, at now.
func (s *Store) DueBreakGlass(ctx context.Context, now time.Time) ([]BreakGlass, error) {
	var out []BreakGlass
	err := s.db.WithContext(ctx).Where("(state = ? AND expires_at <= ?) OR (state = ? AND pending_until <= ?)",
		BreakGlassActive, now.UTC(), BreakGlassPending, now.UTC()).Order("id").Find(&out).Error
	return out, wrap(err, "due break-glass requests")
}

// EndBreakGlass moves a request from one of the states in from to state
// to, in one transaction with the owner's notice (when not nil). It reports
// false, and changes nothing, when the request was no longer in one of from
// (another node ended it first), so a notice goes out once.
func (s *Store) EndBreakGlass(ctx context.Context, id int64, from []BreakGlassState, to BreakGlassState, by string, now time.Time, notice *Delivery) (bool, error) {
	done := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		fields := map[string]any{"state": to, "ended_at": now.UTC(), "ended_by": by}
		if notice != nil {
			fields["owner_notified_at"] = now.UTC()
		}
		res := tx.Model(&BreakGlass{}).Where("id = ? AND state IN ?", id, from).Updates(fields)
		if res.Error != nil {
			return wrap(res.Error, "end break-glass request")
		}
		if res.RowsAffected == 0 {
			return nil
		}
		done = true
		if notice != nil {
			return deliverIn(tx, *notice)
		}
		return nil
	})
	return done, err
}

// deliverIn stores one message for its recipients inside tx (one blob).
func deliverIn(tx *gorm.DB, d Delivery) error {
	blobID, err := newMailBlob(tx, d.Raw, d.Items...) // bodies.go
	if err != nil {
		return err
	}
	for _, it := range d.Items {
		it.Size = int64(len(d.Raw))
		if err := addItem(tx, it, nil, blobID); err != nil {
			return err
		}
	}
	return nil
}

// Delegation scopes and permissions.
const (
	ScopeMail     = "mail"
	ScopeCalendar = "calendar"

	PermissionRead         = "read"
	PermissionSendOnBehalf = "send_on_behalf" // implies read; for a calendar: manage the owner's meetings
)

// Delegate is one owner's grant to a colleague.
type Delegate struct {
	OwnerID    int64  `gorm:"primaryKey"`
	DelegateID int64  `gorm:"primaryKey"`
	Scope      string `gorm:"primaryKey"`
	Permission string
	GrantedBy  string
	GrantedAt  time.Time
}

// GrantDelegate stores a grant, replacing the permission of an existing one
// for the same owner, delegate and scope.
func (s *Store) GrantDelegate(ctx context.Context, d *Delegate) error {
	if d.OwnerID == d.DelegateID {
		return fmt.Errorf("grant delegate: owner and delegate are the same user: %w", ErrConflict)
	}
	d.GrantedAt = s.now()
	return wrap(s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "owner_id"}, {Name: "delegate_id"}, {Name: "scope"}},
		DoUpdates: clause.AssignmentColumns([]string{"permission", "granted_by", "granted_at"}),
	}).Create(d).Error, "grant delegate")
}

// RevokeDelegate removes a grant (every scope when scope is empty);
// ErrNotFound when there was none.
func (s *Store) RevokeDelegate(ctx context.Context, ownerID, delegateID int64, scope string) error {
	q := s.db.WithContext(ctx).Where("owner_id = ? AND delegate_id = ?", ownerID, delegateID)
	if scope != "" {
		q = q.Where("scope = ?", scope)
	}
	res := q.Delete(&Delegate{})
	if res.Error != nil {
		return wrap(res.Error, "revoke delegate")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("revoke delegate: %w", ErrNotFound)
	}
	return nil
}

// DelegatesOf lists the grants an owner made.
func (s *Store) DelegatesOf(ctx context.Context, ownerID int64) ([]Delegate, error) {
	var out []Delegate
	err := s.db.WithContext(ctx).Where("owner_id = ?", ownerID).Order("delegate_id, scope").Find(&out).Error
	return out, wrap(err, "delegates")
}

// DelegationsTo lists the grants made to a delegate.
func (s *Store) DelegationsTo(ctx context.Context, delegateID int64) ([]Delegate, error) {
	var out []Delegate
	err := s.db.WithContext(ctx).Where("delegate_id = ?", delegateID).Order("owner_id, scope").Find(&out).Error
	return out, wrap(err, "delegations")
}

// DelegateGrant returns one grant, or ErrNotFound.
func (s *Store) DelegateGrant(ctx context.Context, ownerID, delegateID int64, scope string) (*Delegate, error) {
	var d Delegate
	err := s.db.WithContext(ctx).Where("owner_id = ? AND delegate_id = ? AND scope = ?", ownerID, delegateID, scope).First(&d).Error
	if err != nil {
		return nil, wrap(err, "delegate")
	}
	return &d, nil
}

// SecureDomain is a partner domain accredited for sensitive mail.
type SecureDomain struct {
	Domain  string `gorm:"primaryKey"`
	Note    string
	AddedBy string
	AddedAt time.Time
}

// AddSecureDomain stores a domain pattern ("nhs.net", ".nhs.uk"), lower
// case; ErrConflict if listed.
func (s *Store) AddSecureDomain(ctx context.Context, domain, note, by string) error {
	d := SecureDomain{Domain: strings.ToLower(strings.TrimSpace(domain)), Note: note, AddedBy: by, AddedAt: s.now()}
	return wrap(s.db.WithContext(ctx).Create(&d).Error, "add secure domain "+d.Domain)
}

// RemoveSecureDomain removes a domain pattern; ErrNotFound if not listed.
func (s *Store) RemoveSecureDomain(ctx context.Context, domain string) error {
	res := s.db.WithContext(ctx).Where("domain = ?", strings.ToLower(strings.TrimSpace(domain))).Delete(&SecureDomain{})
	if res.Error != nil {
		return wrap(res.Error, "remove secure domain")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("remove secure domain %s: %w", domain, ErrNotFound)
	}
	return nil
}

// SecureDomains lists the accredited domain patterns.
func (s *Store) SecureDomains(ctx context.Context) ([]SecureDomain, error) {
	var out []SecureDomain
	err := s.db.WithContext(ctx).Order("domain").Find(&out).Error
	return out, wrap(err, "secure domains")
}

// HeldMail is a sensitive message held back from recipients outside the
// secure domains.
type HeldMail struct {
	ID        int64
	UserID    *int64
	MailFrom  string
	RcptTo    string // one per line
	Subject   string `gorm:"serializer:sealed"` // sealed at rest (keys.go)
	Reason    string
	Data      []byte `gorm:"serializer:sealed"`
	CreatedAt time.Time
}

// TableName maps HeldMail to its table.
func (HeldMail) TableName() string { return "held_mail" }

// Recipients returns the held recipients.
func (h *HeldMail) Recipients() []string {
	var out []string
	for _, r := range strings.Split(h.RcptTo, "\n") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// ListHeld lists held mail (without data), oldest first.
func (s *Store) ListHeld(ctx context.Context) ([]HeldMail, error) {
	var out []HeldMail
	err := s.db.WithContext(ctx).Omit("data").Order("id").Find(&out).Error
	return out, wrap(err, "held mail")
}

// HeldByID returns one held message with its data.
func (s *Store) HeldByID(ctx context.Context, id int64) (*HeldMail, error) {
	var h HeldMail
	if err := s.db.WithContext(ctx).First(&h, id).Error; err != nil {
		return nil, wrap(err, fmt.Sprintf("held mail %d", id))
	}
	return &h, nil
}

// ReleaseHeld moves a held message into the relay queue as out, in one
// transaction; ErrNotFound if it was released or dropped meanwhile.
func (s *Store) ReleaseHeld(ctx context.Context, id int64, out *OutboundMail) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Delete(&HeldMail{}, id)
		if res.Error != nil {
			return wrap(res.Error, "release held mail")
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("held mail %d: %w", id, ErrNotFound)
		}
		return enqueue(tx, out, s.now())
	})
}

// DropHeld deletes a held message, with an optional notice to its sender in
// the same transaction; ErrNotFound if it is gone.
func (s *Store) DropHeld(ctx context.Context, id int64, notice *Delivery) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Delete(&HeldMail{}, id)
		if res.Error != nil {
			return wrap(res.Error, "drop held mail")
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("held mail %d: %w", id, ErrNotFound)
		}
		if notice != nil {
			return deliverIn(tx, *notice)
		}
		return nil
	})
}
