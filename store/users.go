package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// NormalizeEmail lower-cases and trims an address; addresses are compared in
// this form everywhere.
func NormalizeEmail(addr string) string {
	return strings.ToLower(strings.TrimSpace(addr))
}

// CreateUser adds a user and the standard folders of a new mailbox in one
// transaction. u.ID is set on return.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	u.Email = NormalizeEmail(u.Email)
	if u.Email == "" || !strings.Contains(u.Email, "@") {
		return fmt.Errorf("create user: %q is not an email address", u.Email)
	}
	if u.Role == "" {
		u.Role = RoleUser
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&UserAlias{}).Where("address = ?", u.Email).Count(&n).Error; err != nil {
			return wrap(err, "create user")
		}
		if n > 0 {
			return fmt.Errorf("create user %s: address is another user's alias: %w", u.Email, ErrConflict)
		}
		if err := tx.Create(u).Error; err != nil {
			return wrap(err, "create user "+u.Email)
		}
		return createDefaultFolders(tx, u.ID)
	})
}

// DefaultFolders lists the folders every mailbox starts with.
var DefaultFolders = []struct {
	Name  string
	Type  FolderType
	Class Class
}{
	{"Inbox", FolderInbox, ClassEmail},
	{"Drafts", FolderDrafts, ClassEmail},
	{"Deleted Items", FolderDeletedItems, ClassEmail},
	{"Sent Items", FolderSentItems, ClassEmail},
	{"Outbox", FolderOutbox, ClassEmail},
	{"Calendar", FolderCalendar, ClassCalendar},
	{"Contacts", FolderContacts, ClassContacts},
	{"Tasks", FolderTasks, ClassTasks},
	{"Notes", FolderNotes, ClassNotes},
}

func createDefaultFolders(tx *gorm.DB, userID int64) error {
	for _, d := range DefaultFolders {
		hm, err := bumpHierarchy(tx, userID)
		if err != nil {
			return err
		}
		f := Folder{UserID: userID, Name: d.Name, Type: d.Type, Class: d.Class, HierarchyModseq: hm}
		if err := tx.Create(&f).Error; err != nil {
			return wrap(err, "create folder "+d.Name)
		}
	}
	return nil
}

// UserByID returns one user.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	var u User
	if err := s.db.WithContext(ctx).First(&u, id).Error; err != nil {
		return nil, wrap(err, fmt.Sprintf("user %d", id))
	}
	return &u, nil
}

// UserByAddress finds a user by primary address or alias.
func (s *Store) UserByAddress(ctx context.Context, addr string) (*User, error) {
	addr = NormalizeEmail(addr)
	var u User
	err := s.db.WithContext(ctx).Where("email = ?", addr).First(&u).Error
	if err == nil {
		return &u, nil
	}
	// Only "no such primary address" may fall through to the aliases: any
	// other failure (a dropped connection) must not turn an existing user
	// into an unknown one (a bounced mail, a false login failure).
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, wrap(err, "user "+addr)
	}
	var a UserAlias
	if err := s.db.WithContext(ctx).Where("address = ?", addr).First(&a).Error; err != nil {
		return nil, wrap(err, "user "+addr)
	}
	return s.UserByID(ctx, a.UserID)
}

// UserByLogin resolves the forms an EAS client sends as its user name:
// "user@domain", "DOMAIN\user" and a bare "user". A bare name matches the
// local part of exactly one primary address.
func (s *Store) UserByLogin(ctx context.Context, login string) (*User, error) {
	login = strings.TrimSpace(login)
	if i := strings.LastIndexByte(login, '\\'); i >= 0 {
		login = login[i+1:]
	}
	if strings.Contains(login, "@") {
		return s.UserByAddress(ctx, login)
	}
	if login == "" {
		return nil, fmt.Errorf("user: empty login: %w", ErrNotFound)
	}
	var users []User
	if err := s.db.WithContext(ctx).Where("email LIKE ? ESCAPE '\\'", escapeLike(strings.ToLower(login))+"@%").Limit(2).Find(&users).Error; err != nil {
		return nil, wrap(err, "user "+login)
	}
	if len(users) != 1 {
		return nil, fmt.Errorf("user %s: %w", login, ErrNotFound)
	}
	return &users[0], nil
}

// ListUsers returns users ordered by address.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	var users []User
	err := s.db.WithContext(ctx).Order("email").Find(&users).Error
	return users, wrap(err, "list users")
}

// SetPasswordHash replaces a user's password hash and, in the same
// transaction, revokes every web session and API token the user holds: a
// password changed because it leaked must also end what it opened.
func (s *Store) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{"password_hash": hash, "updated_at": s.now()})
		if res.Error != nil {
			return wrap(res.Error, "set password")
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("set password of user %d: %w", userID, ErrNotFound)
		}
		return s.bumpSessionGen(tx, userID)
	})
}

// SetUserDisabled disables or enables an account.
func (s *Store) SetUserDisabled(ctx context.Context, userID int64, disabled bool) error {
	return s.updateUser(ctx, userID, map[string]any{"disabled": disabled})
}

// SetUserRole changes a user's role.
func (s *Store) SetUserRole(ctx context.Context, userID int64, role Role) error {
	return s.updateUser(ctx, userID, map[string]any{"role": role})
}

// UpdateDirectory replaces a user's directory fields.
func (s *Store) UpdateDirectory(ctx context.Context, u *User) error {
	return s.updateUser(ctx, u.ID, map[string]any{
		"display_name": u.DisplayName, "first_name": u.FirstName, "last_name": u.LastName,
		"job_title": u.JobTitle, "department": u.Department, "office": u.Office,
		"phone": u.Phone, "mobile": u.Mobile, "organisation": u.Organisation,
	})
}

func (s *Store) updateUser(ctx context.Context, userID int64, fields map[string]any) error {
	fields["updated_at"] = s.now()
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).Updates(fields)
	if res.Error != nil {
		return wrap(res.Error, "update user")
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("update user %d: %w", userID, ErrNotFound)
	}
	return nil
}

// DeleteUser removes a user and, by cascade, their folders, items, devices
// and aliases. Blobs no longer referenced by any item are removed too.
func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Delete(&User{}, userID)
		if res.Error != nil {
			return wrap(res.Error, "delete user")
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("delete user %d: %w", userID, ErrNotFound)
		}
		return deleteOrphanBlobs(tx)
	})
}

// AddAlias adds an extra address for a user.
func (s *Store) AddAlias(ctx context.Context, userID int64, addr string) error {
	addr = NormalizeEmail(addr)
	return s.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&User{}).Where("email = ?", addr).Count(&n).Error; err != nil {
			return wrap(err, "add alias")
		}
		if n > 0 {
			return fmt.Errorf("add alias %s: address belongs to a user: %w", addr, ErrConflict)
		}
		return wrap(tx.Create(&UserAlias{UserID: userID, Address: addr}).Error, "add alias "+addr)
	})
}

// Aliases lists a user's extra addresses.
func (s *Store) Aliases(ctx context.Context, userID int64) ([]string, error) {
	var out []string
	err := s.db.WithContext(ctx).Model(&UserAlias{}).Where("user_id = ?", userID).Order("address").Pluck("address", &out).Error
	return out, wrap(err, "aliases")
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&User{}).Count(&n).Error
	return n, wrap(err, "count users")
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}
