package imapgw

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"

	"airlock/governance"
	"airlock/store"
)

const (
	delim       = '/'
	otherPrefix = "Other Users"
)

// mailbox is a resolved mailbox name.
type mailbox struct {
	owner  *store.User
	folder store.Folder
	grant  *governance.Grant // nil for the user's own mailbox
}

func (m *mailbox) readOnly() bool { return m.grant != nil }

// breakGlass: the mailbox is open under break-glass access, which is for
// reading in place only. Nothing may leave it (a COPY into the reader's
// own mailbox would outlive the grant) and every message read is audited.
func (m *mailbox) breakGlass() bool { return m.grant != nil && m.grant.Kind == "breakglass" }

var (
	errNoSuchMailbox = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	errReadOnly      = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm, Text: "This mailbox is read-only for you"}
	errUnavailable   = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Try again later"}
	errOverQuota     = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Mailbox is over its quota"}
	errNotSelected   = &imap.Error{Type: imap.StatusResponseTypeBad, Text: "No mailbox selected"}
	errCannot        = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Not possible on this mailbox"}
	// errBreakGlassReadOnly refuses COPY out of a break-glass mailbox.
	errBreakGlassReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm, Text: "Break-glass access is read-only: messages cannot be copied out"}
)

// storeErr turns a store failure into an IMAP answer.
func storeErr(err error) error {
	var ie *imap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return err
	case errors.Is(err, store.ErrNotFound):
		return errNoSuchMailbox
	case errors.Is(err, store.ErrQuotaExceeded):
		return errOverQuota
	case errors.Is(err, store.ErrUnavailable):
		return errUnavailable
	}
	return err
}

// folderPaths names each mail folder of a user by its path.
func folderPaths(folders []store.Folder) map[int64]string {
	byID := map[int64]store.Folder{}
	for _, f := range folders {
		byID[f.ID] = f
	}
	out := map[int64]string{}
	var path func(f store.Folder, depth int) string
	path = func(f store.Folder, depth int) string {
		name := strings.ReplaceAll(f.Name, string(delim), "_")
		if f.Type == store.FolderInbox && f.ParentID == 0 {
			name = "INBOX"
		}
		if p, ok := byID[f.ParentID]; ok && depth < 32 {
			return path(p, depth+1) + string(delim) + name
		}
		return name
	}
	for _, f := range folders {
		if f.Class == store.ClassEmail {
			out[f.ID] = path(f, 0)
		}
	}
	return out
}

func specialUse(t store.FolderType) []imap.MailboxAttr {
	switch t {
	case store.FolderDrafts:
		return []imap.MailboxAttr{imap.MailboxAttrDrafts}
	case store.FolderDeletedItems:
		return []imap.MailboxAttr{imap.MailboxAttrTrash}
	case store.FolderSentItems:
		return []imap.MailboxAttr{imap.MailboxAttrSent}
	}
	return nil
}

// resolve finds a mailbox by name for the session's user, checking access
// to another user's.
func (s *session) resolve(ctx context.Context, name string) (*mailbox, error) {
	owner, grant, rest, err := s.ownerOf(ctx, name)
	if err != nil {
		return nil, err
	}
	folders, err := s.srv.cfg.Store.Folders(ctx, owner.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	paths := folderPaths(folders)
	for _, f := range folders {
		if p, ok := paths[f.ID]; ok && strings.EqualFold(p, rest) {
			return &mailbox{owner: owner, folder: f, grant: grant}, nil
		}
	}
	return nil, errNoSuchMailbox
}

// ownerOf splits "Other Users/<address>/<path>" (access checked now) from
// the user's own "<path>".
func (s *session) ownerOf(ctx context.Context, name string) (*store.User, *governance.Grant, string, error) {
	prefix := otherPrefix + string(delim)
	if !strings.HasPrefix(strings.ToLower(name), strings.ToLower(prefix)) {
		if strings.EqualFold(name, "INBOX") {
			name = "INBOX"
		}
		return s.user, nil, name, nil
	}
	addr, rest, ok := strings.Cut(name[len(prefix):], string(delim))
	if !ok || s.srv.cfg.Access == nil {
		return nil, nil, "", errNoSuchMailbox
	}
	owner, err := s.srv.cfg.Store.UserByAddress(ctx, addr)
	if err != nil {
		return nil, nil, "", storeErr(err)
	}
	g, ok := s.srv.cfg.Access.MailboxAccess(ctx, s.user.ID, owner.ID)
	if !ok || !g.Mail {
		// Not "no permission": whether the mailbox exists is not for
		// them to learn.
		return nil, nil, "", errNoSuchMailbox
	}
	return owner, &g, rest, nil
}

// listAll lists every mailbox name the user sees, with attributes.
func (s *session) listAll(ctx context.Context) ([]imap.ListData, error) {
	var out []imap.ListData
	add := func(owner *store.User, prefix string) error {
		folders, err := s.srv.cfg.Store.Folders(ctx, owner.ID)
		if err != nil {
			return storeErr(err)
		}
		paths := folderPaths(folders)
		hasChildren := map[int64]bool{}
		for _, f := range folders {
			hasChildren[f.ParentID] = true
		}
		for _, f := range folders {
			p, ok := paths[f.ID]
			if !ok {
				continue
			}
			d := imap.ListData{Mailbox: prefix + p, Delim: delim, Attrs: []imap.MailboxAttr{imap.MailboxAttrSubscribed}}
			if hasChildren[f.ID] {
				d.Attrs = append(d.Attrs, imap.MailboxAttrHasChildren)
			} else {
				d.Attrs = append(d.Attrs, imap.MailboxAttrHasNoChildren)
			}
			d.Attrs = append(d.Attrs, specialUse(f.Type)...)
			out = append(out, d)
		}
		return nil
	}
	if err := add(s.user, ""); err != nil {
		return nil, err
	}
	if s.srv.cfg.Access == nil {
		return out, nil
	}
	grants, err := s.srv.cfg.Access.SharedMailboxes(ctx, s.user.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	if len(grants) == 0 {
		return out, nil
	}
	ids := make([]int64, len(grants))
	for i, g := range grants {
		ids[i] = g.OwnerID
	}
	owners, err := s.srv.cfg.Store.UsersByIDs(ctx, ids)
	if err != nil {
		return nil, storeErr(err)
	}
	out = append(out, imap.ListData{Mailbox: otherPrefix, Delim: delim, Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect, imap.MailboxAttrHasChildren}})
	for _, g := range grants {
		o := owners[g.OwnerID]
		if o == nil {
			continue
		}
		base := otherPrefix + string(delim) + o.Email
		out = append(out, imap.ListData{Mailbox: base, Delim: delim, Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect, imap.MailboxAttrHasChildren}})
		if err := add(o, base+string(delim)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// auditShared records the opening of another user's mailbox.
func (s *session) auditShared(ctx context.Context, m *mailbox) {
	detail := fmt.Sprintf("%s opened %q", m.grant.Kind, m.folder.Name)
	if m.grant.Kind == "breakglass" {
		detail += fmt.Sprintf(" under break-glass request %d", m.grant.RequestID)
	}
	s.audit(ctx, "imap.shared_open", "mailbox", m.owner.Email, m.owner.ID, "success", detail)
}

// auditBreakGlassRead records one message read under break-glass access:
// which message (by id and folder, not its subject, which may itself be
// clinical), so the owner and auditors can see exactly what was read.
func (s *session) auditBreakGlassRead(ctx context.Context, it *store.Item) {
	m := s.sel.mb
	s.audit(ctx, "breakglass.message_read", "mailbox", m.owner.Email, m.owner.ID, "success",
		fmt.Sprintf("message %d in %q read under break-glass request %d", it.ID, m.folder.Name, m.grant.RequestID))
}
