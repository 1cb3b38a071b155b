package imapgw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"airlock/internal/authguard"
	"airlock/message"
	"airlock/store"
)

// LastVerbExecuted values (MS-ASEMAIL 2.2.2.45) that mean "answered".
const (
	verbReplyToSender = 1
	verbReplyToAll    = 2
	flagActive        = 2 // FlagStatus (MS-ASEMAIL 2.2.2.32): active
)

// session is one IMAP connection.
type session struct {
	srv    *Server
	conn   *imapserver.Conn
	remote string
	user   *store.User
	sel    *selection
}

// selection is the selected mailbox: a snapshot of its UIDs in sequence
// order and the change counter it reflects.
type selection struct {
	mb      *mailbox
	uids    []imap.UID
	modseq  int64
	deleted map[imap.UID]bool // \Deleted, until EXPUNGE
	gone    map[imap.UID]bool // deleted elsewhere, EXPUNGE not yet sent
}

var _ imapserver.SessionIMAP4rev2 = (*session)(nil)

func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.srv.ctx, 2*time.Minute)
}

// guard turns a panic in a command into a NO and counts it.
func (s *session) guard(err *error) {
	if p := recover(); p != nil {
		s.srv.PanicsRecovered.Add(1)
		s.srv.cfg.Log.Error("panic in imap session", "panic", p, "stack", string(debug.Stack()))
		*err = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal error"}
	}
}

func (s *session) audit(ctx context.Context, action, targetType, target string, userID int64, outcome, detail string) {
	e := &store.AuditEvent{Actor: "anonymous", ActorIP: s.remote, Action: action, TargetType: targetType, Target: target, Outcome: outcome, Detail: detail}
	if s.user != nil {
		e.Actor = s.user.Email
	}
	if userID != 0 {
		e.UserID = &userID
	}
	if err := s.srv.cfg.Store.Audit(ctx, e); err != nil {
		s.srv.cfg.Log.Error("imap audit", "action", action, "err", err)
	}
}

func (s *session) Close() error { return nil }

// stillAllowed re-checks access to another user's selected mailbox, so a
// revoked delegation or an expired break-glass ends a session that already
// has it open, at its next command.
func (s *session) stillAllowed(ctx context.Context) error {
	if s.sel == nil || s.sel.mb.grant == nil {
		return nil
	}
	if g, ok := s.srv.cfg.Access.MailboxAccess(ctx, s.user.ID, s.sel.mb.owner.ID); ok && g.Mail {
		return nil
	}
	s.audit(ctx, "imap.shared_closed", "mailbox", s.sel.mb.owner.Email, s.sel.mb.owner.ID, "success", "access ended while open")
	s.sel = nil
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm, Text: "Your access to this mailbox has ended"}
}

// Login checks the credentials (TLS is already required by imapserver:
// without it LOGIN is refused and LOGINDISABLED advertised).
func (s *session) Login(username, password string) (err error) {
	defer s.guard(&err)
	ctx, cancel := s.ctx()
	defer cancel()
	u, aerr := s.srv.cfg.Authenticate(ctx, username, password, s.remote)
	if errors.Is(aerr, authguard.ErrBusy) || errors.Is(aerr, store.ErrUnavailable) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Try again later"}
	}
	if aerr != nil || u == nil || u.Disabled {
		// Not audited here: the authenticator audits failures, in summary
		// (a guesser's thousands are a few rows a minute).
		return imapserver.ErrAuthFailed
	}
	s.user = u
	s.srv.Logins.Add(1)
	s.audit(ctx, "imap.login", "user", u.Email, u.ID, "success", "")
	return nil
}

func (s *session) Select(name string, options *imap.SelectOptions) (data *imap.SelectData, err error) {
	defer s.guard(&err)
	ctx, cancel := s.ctx()
	defer cancel()
	s.sel = nil
	mb, err := s.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	modseq, err := s.srv.cfg.Store.FolderModseq(ctx, mb.owner.ID, mb.folder.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	sel := &selection{mb: mb, modseq: modseq, deleted: map[imap.UID]bool{}, gone: map[imap.UID]bool{}}
	var firstUnseen uint32
	for after := int64(0); ; {
		items, err := s.srv.cfg.Store.ListItems(ctx, mb.owner.ID, mb.folder.ID, after, 1000)
		if err != nil {
			return nil, storeErr(err)
		}
		for _, it := range items {
			sel.uids = append(sel.uids, imap.UID(it.ID))
			if !it.Read && firstUnseen == 0 {
				firstUnseen = uint32(len(sel.uids))
			}
		}
		if len(items) < 1000 {
			break
		}
		after = items[len(items)-1].ID
	}
	if mb.grant != nil {
		s.auditShared(ctx, mb)
	}
	s.sel = sel
	data = &imap.SelectData{
		Flags:             []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft},
		NumMessages:       uint32(len(sel.uids)),
		FirstUnseenSeqNum: firstUnseen,
		UIDNext:           sel.uidNext(),
		UIDValidity:       uint32(mb.folder.ID),
	}
	if !mb.readOnly() && !options.ReadOnly {
		data.PermanentFlags = []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, imap.FlagDeleted}
	}
	return data, nil
}

func (sel *selection) uidNext() imap.UID {
	if len(sel.uids) == 0 {
		return 1
	}
	return sel.uids[len(sel.uids)-1] + 1
}

func (s *session) Create(name string, _ *imap.CreateOptions) (err error) {
	defer s.guard(&err)
	ctx, cancel := s.ctx()
	defer cancel()
	owner, grant, path, err := s.ownerOf(ctx, name)
	if err != nil {
		return err
	}
	if grant != nil || owner.ID != s.user.ID {
		return errReadOnly
	}
	parentID := int64(0)
	leaf := path
	if i := strings.LastIndexByte(path, delim); i >= 0 {
		p, err := s.resolve(ctx, path[:i])
		if err != nil {
			return err
		}
		parentID, leaf = p.folder.ID, path[i+1:]
	}
	if leaf == "" || strings.EqualFold(path, "INBOX") {
		return errCannot
	}
	_, err = s.srv.cfg.Store.CreateFolder(ctx, s.user.ID, parentID, leaf, store.FolderUserMail)
	if errors.Is(err, store.ErrConflict) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox exists"}
	}
	return storeErr(err)
}

// ownFolder resolves one of the user's own, user-created folders.
func (s *session) ownFolder(ctx context.Context, name string) (*mailbox, error) {
	mb, err := s.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	if mb.readOnly() {
		return nil, errReadOnly
	}
	if mb.folder.Type != store.FolderUserMail {
		return nil, errCannot // the default folders stay
	}
	return mb, nil
}

func (s *session) Delete(name string) (err error) {
	defer s.guard(&err)
	ctx, cancel := s.ctx()
	defer cancel()
	mb, err := s.ownFolder(ctx, name)
	if err != nil {
		return err
	}
	return storeErr(s.srv.cfg.Store.DeleteFolder(ctx, s.user.ID, mb.folder.ID))
}

func (s *session) Rename(name, newName string, _ *imap.RenameOptions) (err error) {
	defer s.guard(&err)
	ctx, cancel := s.ctx()
	defer cancel()
	mb, err := s.ownFolder(ctx, name)
	if err != nil {
		return err
	}
	owner, grant, path, err := s.ownerOf(ctx, newName)
	if err != nil {
		return err
	}
	if grant != nil || owner.ID != s.user.ID {
		return errReadOnly
	}
	parentID, leaf := int64(0), path
	if i := strings.LastIndexByte(path, delim); i >= 0 {
		p, err := s.resolve(ctx, path[:i])
		if err != nil {
			return err
		}
		parentID, leaf = p.folder.ID, path[i+1:]
	}
	_, err = s.srv.cfg.Store.UpdateFolder(ctx, s.user.ID, mb.folder.ID, parentID, leaf)
	return storeErr(err)
}

// Subscriptions are not kept: every mailbox is listed as subscribed.
func (s *session) Subscribe(string) error   { return nil }
func (s *session) Unsubscribe(string) error { return nil }

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) (err error) {
	defer s.guard(&err)
	ctx, cancel := s.ctx()
	defer cancel()
	if len(patterns) == 0 {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	all, err := s.listAll(ctx)
	if err != nil {
		return err
	}
	for i := range all {
		d := &all[i]
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(d.Mailbox, delim, ref, p) {
				match = true
				break
			}
		}
		if !match {
			continue
		}
		if options.SelectSpecialUse && !hasSpecialUse(d.Attrs) {
			continue
		}
		if options.ReturnStatus != nil && !slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) {
			if st, err := s.status(ctx, d.Mailbox, options.ReturnStatus); err == nil {
				d.Status = st
			}
		}
		if err := w.WriteList(d); err != nil {
			return err
		}
	}
	return nil
}

func hasSpecialUse(attrs []imap.MailboxAttr) bool {
	for _, a := range attrs {
		switch a {
		case imap.MailboxAttrDrafts, imap.MailboxAttrSent, imap.MailboxAttrTrash:
			return true
		}
	}
	return false
}

func (s *session) Status(name string, options *imap.StatusOptions) (data *imap.StatusData, err error) {
	defer s.guard(&err)
	ctx, cancel := s.ctx()
	defer cancel()
	return s.status(ctx, name, options)
}

func (s *session) status(ctx context.Context, name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	mb, err := s.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	data := &imap.StatusData{Mailbox: name, UIDValidity: uint32(mb.folder.ID)}
	var n, unseen uint32
	var size int64
	var last imap.UID
	for after := int64(0); ; {
		items, err := s.srv.cfg.Store.ListItems(ctx, mb.owner.ID, mb.folder.ID, after, 1000)
		if err != nil {
			return nil, storeErr(err)
		}
		for _, it := range items {
			n++
			size += it.Size
			if !it.Read {
				unseen++
			}
			last = imap.UID(it.ID)
		}
		if len(items) < 1000 {
			break
		}
		after = items[len(items)-1].ID
	}
	if options.NumMessages {
		data.NumMessages = &n
	}
	if options.NumUnseen {
		data.NumUnseen = &unseen
	}
	if options.UIDNext {
		data.UIDNext = last + 1
	}
	if options.Size {
		data.Size = &size
	}
	if options.NumRecent {
		zero := uint32(0)
		data.NumRecent = &zero
	}
	return data, nil
}

// AppendLimit is the largest message APPEND takes.
func (s *session) AppendLimit() uint32 { return uint32(min(s.srv.cfg.MaxAppend, 1<<31)) }

func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (data *imap.AppendData, err error) {
	defer s.guard(&err)
	ctx, cancel := s.ctx()
	defer cancel()
	mb, err := s.resolve(ctx, name)
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	if mb.readOnly() {
		return nil, errReadOnly
	}
	if r.Size() > s.srv.cfg.MaxAppend {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large"}
	}
	raw, err := io.ReadAll(io.LimitReader(r, s.srv.cfg.MaxAppend+1))
	if err != nil {
		return nil, err
	}
	it, err := message.Parse(raw)
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeParse, Text: "Not a readable message"}
	}
	it.UserID, it.FolderID = s.user.ID, mb.folder.ID
	for _, f := range options.Flags {
		switch canonical(f) {
		case canonical(imap.FlagSeen):
			it.Read = true
		case canonical(imap.FlagFlagged):
			it.FlagStatus = flagActive
		case canonical(imap.FlagDraft):
			it.IsDraft = true
		case canonical(imap.FlagAnswered):
			it.LastVerb = verbReplyToSender
		}
	}
	if !options.Time.IsZero() {
		t := options.Time.UTC()
		it.DateReceived = &t
	}
	if err := s.srv.cfg.Store.AddItemWithinQuota(ctx, it, raw); err != nil {
		return nil, storeErr(err)
	}
	return &imap.AppendData{UID: imap.UID(it.ID), UIDValidity: uint32(mb.folder.ID)}, nil
}

func canonical(f imap.Flag) string { return strings.ToLower(string(f)) }

// Poll reports what changed in the selected mailbox since the snapshot.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) (err error) {
	defer s.guard(&err)
	if s.sel == nil {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.stillAllowed(ctx); err != nil {
		return err
	}
	return s.poll(ctx, w, allowExpunge)
}

func (s *session) poll(ctx context.Context, w *imapserver.UpdateWriter, allowExpunge bool) error {
	sel := s.sel
	type flagUpdate struct {
		uid   imap.UID
		flags []imap.Flag
	}
	var updates []flagUpdate
	added := false
	for {
		changes, err := s.srv.cfg.Store.ChangesSince(ctx, sel.mb.owner.ID, sel.mb.folder.ID, sel.modseq, 500)
		if err != nil {
			return storeErr(err)
		}
		for _, it := range changes {
			uid := imap.UID(it.ID)
			_, known := sel.seq(uid)
			switch {
			case it.Deleted && known:
				sel.gone[uid] = true
			case it.Deleted:
			case known:
				updates = append(updates, flagUpdate{uid, sel.flags(&it)})
			case len(sel.uids) == 0 || uid > sel.uids[len(sel.uids)-1]:
				sel.uids = append(sel.uids, uid)
				added = true
			}
			sel.modseq = max(sel.modseq, it.Modseq)
		}
		if len(changes) < 500 {
			break
		}
	}
	if allowExpunge && len(sel.gone) > 0 {
		if err := s.expungeGone(func(seq uint32) error { return w.WriteExpunge(seq) }); err != nil {
			return err
		}
	}
	if added {
		if err := w.WriteNumMessages(uint32(len(sel.uids))); err != nil {
			return err
		}
	}
	for _, u := range updates {
		if seq, ok := sel.seq(u.uid); ok {
			if err := w.WriteMessageFlags(seq, u.uid, u.flags); err != nil {
				return err
			}
		}
	}
	return nil
}

// expungeGone removes the UIDs in sel.gone from the snapshot, reporting
// each sequence number (highest first, so the others stay valid).
func (s *session) expungeGone(write func(seq uint32) error) error {
	sel := s.sel
	for i := len(sel.uids) - 1; i >= 0; i-- {
		uid := sel.uids[i]
		if !sel.gone[uid] {
			continue
		}
		if err := write(uint32(i + 1)); err != nil {
			return err
		}
		sel.uids = slices.Delete(sel.uids, i, i+1)
		delete(sel.gone, uid)
		delete(sel.deleted, uid)
	}
	return nil
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) (err error) {
	defer s.guard(&err)
	t := time.NewTicker(s.srv.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-s.srv.ctx.Done():
			return nil
		case <-t.C:
			if s.sel == nil {
				continue
			}
			ctx, cancel := s.ctx()
			err := s.stillAllowed(ctx)
			if err == nil {
				err = s.poll(ctx, w, true)
			}
			cancel()
			if err != nil {
				return err
			}
		}
	}
}

func (s *session) Unselect() error {
	s.sel = nil
	return nil
}

// seq returns the sequence number of a UID in the snapshot.
func (sel *selection) seq(uid imap.UID) (uint32, bool) {
	i, ok := slices.BinarySearch(sel.uids, uid)
	return uint32(i + 1), ok
}

// flags are an item's IMAP flags.
func (sel *selection) flags(it *store.Item) []imap.Flag {
	var f []imap.Flag
	if it.Read {
		f = append(f, imap.FlagSeen)
	}
	if it.FlagStatus == flagActive {
		f = append(f, imap.FlagFlagged)
	}
	if it.LastVerb == verbReplyToSender || it.LastVerb == verbReplyToAll {
		f = append(f, imap.FlagAnswered)
	}
	if it.IsDraft {
		f = append(f, imap.FlagDraft)
	}
	if sel.deleted[imap.UID(it.ID)] {
		f = append(f, imap.FlagDeleted)
	}
	return f
}

// resolveSet lists (sequence number, UID) of the snapshot's messages in
// numSet, in sequence order. "*" is the last message (or highest UID).
func (sel *selection) resolveSet(numSet imap.NumSet) []numPair {
	var out []numPair
	switch set := numSet.(type) {
	case imap.SeqSet:
		n := uint32(len(sel.uids))
		for i, uid := range sel.uids {
			seq := uint32(i + 1)
			for _, r := range set {
				start, stop := staticRange(r.Start, r.Stop, n)
				if seq >= start && seq <= stop {
					out = append(out, numPair{seq, uid})
					break
				}
			}
		}
	case imap.UIDSet:
		var maxUID uint32
		if len(sel.uids) > 0 {
			maxUID = uint32(sel.uids[len(sel.uids)-1])
		}
		for i, uid := range sel.uids {
			for _, r := range set {
				start, stop := staticRange(uint32(r.Start), uint32(r.Stop), maxUID)
				if uint32(uid) >= start && uint32(uid) <= stop {
					out = append(out, numPair{uint32(i + 1), uid})
					break
				}
			}
		}
	}
	return out
}

type numPair struct {
	seq uint32
	uid imap.UID
}

// staticRange replaces "*" (0) by max and orders the bounds.
func staticRange(start, stop, max uint32) (uint32, uint32) {
	if start == 0 {
		start = max
	}
	if stop == 0 {
		stop = max
	}
	if start > stop {
		start, stop = stop, start
	}
	return start, stop
}

// items loads the snapshot's items for pairs, keyed by UID; items deleted
// since are absent.
func (s *session) items(ctx context.Context, pairs []numPair) (map[imap.UID]*store.Item, error) {
	out := map[imap.UID]*store.Item{}
	for i := 0; i < len(pairs); i += 500 {
		chunk := pairs[i:min(i+500, len(pairs))]
		ids := make([]int64, len(chunk))
		for j, p := range chunk {
			ids[j] = int64(p.uid)
		}
		its, err := s.srv.cfg.Store.ItemsByIDs(ctx, s.sel.mb.owner.ID, ids)
		if err != nil {
			return nil, storeErr(err)
		}
		for j := range its {
			if its[j].FolderID == s.sel.mb.folder.ID {
				out[imap.UID(its[j].ID)] = &its[j]
			}
		}
	}
	return out, nil
}

func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) (err error) {
	defer s.guard(&err)
	if s.sel == nil {
		return errNotSelected
	}
	if s.sel.mb.readOnly() {
		return errReadOnly
	}
	ctx, cancel := s.ctx()
	defer cancel()
	for _, uid := range s.sel.uids {
		if !s.sel.deleted[uid] || (uids != nil && !uids.Contains(uid)) {
			continue
		}
		if err := s.srv.cfg.Store.DeleteItem(ctx, s.user.ID, int64(uid)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeErr(err)
		}
		s.sel.gone[uid] = true
	}
	return s.expungeGone(w.WriteExpunge)
}

func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) (err error) {
	defer s.guard(&err)
	if s.sel == nil {
		return errNotSelected
	}
	if s.sel.mb.readOnly() {
		return errReadOnly
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pairs := s.sel.resolveSet(numSet)
	items, err := s.items(ctx, pairs)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, f := range flags.Flags {
		want[canonical(f)] = true
	}
	for _, p := range pairs {
		it := items[p.uid]
		if it == nil {
			continue
		}
		set := func(flag imap.Flag, cur bool) (bool, bool) { // new value, changed
			has := want[canonical(flag)]
			var v bool
			switch flags.Op {
			case imap.StoreFlagsSet:
				v = has
			case imap.StoreFlagsAdd:
				v = cur || has
			case imap.StoreFlagsDel:
				v = cur && !has
			}
			return v, v != cur
		}
		var ch store.FlagChange
		changed := false
		if v, c := set(imap.FlagSeen, it.Read); c {
			ch.Read, changed = &v, true
		}
		if v, c := set(imap.FlagFlagged, it.FlagStatus == flagActive); c {
			fs := 0
			if v {
				fs = flagActive
			}
			ch.FlagStatus, changed = &fs, true
		}
		answered := it.LastVerb == verbReplyToSender || it.LastVerb == verbReplyToAll
		if v, c := set(imap.FlagAnswered, answered); c {
			lv := 0
			if v {
				lv = verbReplyToSender
			}
			ch.LastVerb, changed = &lv, true
		}
		if v, _ := set(imap.FlagDeleted, s.sel.deleted[p.uid]); v {
			s.sel.deleted[p.uid] = true
		} else {
			delete(s.sel.deleted, p.uid)
		}
		if changed {
			nit, err := s.srv.cfg.Store.UpdateItem(ctx, s.user.ID, it.ID, ch)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return storeErr(err)
			}
			if nit != nil {
				items[p.uid] = nit
			}
		}
	}
	if flags.Silent {
		return nil
	}
	for _, p := range pairs {
		if it := items[p.uid]; it != nil {
			rw := w.CreateMessage(p.seq)
			rw.WriteUID(p.uid)
			rw.WriteFlags(s.sel.flags(it))
			if err := rw.Close(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *session) Copy(numSet imap.NumSet, dest string) (data *imap.CopyData, err error) {
	defer s.guard(&err)
	if s.sel == nil {
		return nil, errNotSelected
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.stillAllowed(ctx); err != nil {
		return nil, err
	}
	if s.sel.mb.breakGlass() {
		s.audit(ctx, "breakglass.copy_refused", "mailbox", s.sel.mb.owner.Email, s.sel.mb.owner.ID, "refused",
			fmt.Sprintf("COPY from %q to %q under break-glass request %d", s.sel.mb.folder.Name, dest, s.sel.mb.grant.RequestID))
		return nil, errBreakGlassReadOnly
	}
	dst, err := s.resolve(ctx, dest)
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	if dst.readOnly() {
		return nil, errReadOnly
	}
	pairs := s.sel.resolveSet(numSet)
	items, err := s.items(ctx, pairs)
	if err != nil {
		return nil, err
	}
	data = &imap.CopyData{UIDValidity: uint32(dst.folder.ID)}
	for _, p := range pairs {
		it := items[p.uid]
		if it == nil {
			continue
		}
		raw, err := s.srv.cfg.Store.Blob(ctx, s.sel.mb.owner.ID, it.ID)
		if err != nil {
			return nil, storeErr(err)
		}
		cp, err := message.Parse(raw)
		if err != nil {
			return nil, storeErr(err)
		}
		cp.UserID, cp.FolderID = s.user.ID, dst.folder.ID
		cp.Read, cp.FlagStatus, cp.LastVerb, cp.IsDraft = it.Read, it.FlagStatus, it.LastVerb, it.IsDraft
		cp.DateReceived = it.DateReceived
		if err := s.srv.cfg.Store.AddItemWithinQuota(ctx, cp, raw); err != nil {
			return nil, storeErr(err)
		}
		data.SourceUIDs.AddNum(p.uid)
		data.DestUIDs.AddNum(imap.UID(cp.ID))
	}
	return data, nil
}

func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) (err error) {
	defer s.guard(&err)
	if s.sel == nil {
		return errNotSelected
	}
	if s.sel.mb.readOnly() {
		return errReadOnly
	}
	ctx, cancel := s.ctx()
	defer cancel()
	dst, err := s.resolve(ctx, dest)
	if err != nil {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	if dst.readOnly() || dst.owner.ID != s.user.ID {
		return errReadOnly
	}
	if dst.folder.ID == s.sel.mb.folder.ID {
		return errCannot
	}
	data := &imap.CopyData{UIDValidity: uint32(dst.folder.ID)}
	for _, p := range s.sel.resolveSet(numSet) {
		moved, err := s.srv.cfg.Store.MoveItem(ctx, s.user.ID, int64(p.uid), dst.folder.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return storeErr(err)
		}
		data.SourceUIDs.AddNum(p.uid)
		data.DestUIDs.AddNum(imap.UID(moved.ID))
		s.sel.gone[p.uid] = true
	}
	if err := w.WriteCopyData(data); err != nil {
		return err
	}
	return s.expungeGone(w.WriteExpunge)
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}},
		Other:    []imap.NamespaceDescriptor{{Prefix: otherPrefix + string(delim), Delim: delim}},
	}, nil
}

func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) (err error) {
	defer s.guard(&err)
	if s.sel == nil {
		return errNotSelected
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.stillAllowed(ctx); err != nil {
		return err
	}
	pairs := s.sel.resolveSet(numSet)
	items, err := s.items(ctx, pairs)
	if err != nil {
		return err
	}
	needBlob := options.Envelope || options.BodyStructure != nil || len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	markSeen := false
	for _, bs := range options.BodySection {
		markSeen = markSeen || !bs.Peek
	}
	// Reading another user's mailbox never marks their mail read.
	markSeen = markSeen && !s.sel.mb.readOnly()
	for _, p := range pairs {
		it := items[p.uid]
		if it == nil {
			continue // deleted since the snapshot; EXPUNGE comes with the next poll
		}
		var raw []byte
		if needBlob {
			if raw, err = s.srv.cfg.Store.Blob(ctx, s.sel.mb.owner.ID, it.ID); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				return storeErr(err)
			}
		}
		if needBlob && s.sel.mb.breakGlass() {
			s.auditBreakGlassRead(ctx, it)
		}
		if markSeen && !it.Read {
			read := true
			if nit, err := s.srv.cfg.Store.UpdateItem(ctx, s.user.ID, it.ID, store.FlagChange{Read: &read}); err == nil {
				it = nit
			} else if !errors.Is(err, store.ErrNotFound) {
				return storeErr(err)
			}
		}
		if err := s.fetchOne(w.CreateMessage(p.seq), p.uid, it, raw, options); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) fetchOne(w *imapserver.FetchResponseWriter, uid imap.UID, it *store.Item, raw []byte, options *imap.FetchOptions) error {
	w.WriteUID(uid)
	if options.Flags {
		w.WriteFlags(s.sel.flags(it))
	}
	if options.InternalDate {
		t := it.CreatedAt
		if it.DateReceived != nil {
			t = *it.DateReceived
		}
		w.WriteInternalDate(t)
	}
	if options.RFC822Size {
		size := it.Size
		if raw != nil {
			size = int64(len(raw))
		}
		w.WriteRFC822Size(size)
	}
	if options.Envelope {
		w.WriteEnvelope(envelope(raw))
	}
	if options.BodyStructure != nil {
		w.WriteBodyStructure(imapserver.ExtractBodyStructure(bytes.NewReader(raw)))
	}
	for _, bs := range options.BodySection {
		buf := imapserver.ExtractBodySection(bytes.NewReader(raw), bs)
		wc := w.WriteBodySection(bs, int64(len(buf)))
		_, werr := wc.Write(buf)
		if cerr := wc.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return werr
		}
	}
	for _, bs := range options.BinarySection {
		buf := imapserver.ExtractBinarySection(bytes.NewReader(raw), bs)
		wc := w.WriteBinarySection(bs, int64(len(buf)))
		_, werr := wc.Write(buf)
		if cerr := wc.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return werr
		}
	}
	for _, bss := range options.BinarySectionSize {
		w.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(raw), bss))
	}
	return w.Close()
}

func (s *session) String() string {
	if s.user == nil {
		return "imap session from " + s.remote
	}
	return fmt.Sprintf("imap session of %s from %s", s.user.Email, s.remote)
}
