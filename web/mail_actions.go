package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"airlock/store"
)

// Actions on one message, posted by plain forms (CSRF-checked) from the
// reading pane. Each goes through the store call ActiveSync uses for the
// same change (UpdateItem for flags, MoveItem for moves and deletes to
// Deleted Items, DeleteItem for a real delete, EmptyFolder), so the change
// counter moves in the same transaction and phones get it at their next
// Sync; held Pings wake through the commit notifications.

// junkNames are the names a Junk folder goes by, the first one used when
// it has to be created.
var junkNames = []string{"Junk Email", "Junk E-mail", "Junk"}

func isJunkName(name string) bool {
	for _, n := range junkNames {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

func (s *Server) mailAction(c echo.Context) error {
	f, it, err := s.mailItem(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	me := ident(c).User
	back := itemURL(f.ID, it.ID)
	list := "/mail/" + strconv.FormatInt(f.ID, 10)
	flag := func(ch store.FlagChange, msg string) error {
		if _, err := s.store.UpdateItem(ctx, me.ID, it.ID, ch); err != nil {
			return err
		}
		s.flash(c, msg)
		return nil
	}
	yes, no, flagged, clear := true, false, 2, 0
	switch c.Param("action") {
	case "flag":
		if err := flag(store.FlagChange{FlagStatus: &flagged}, "Flagged."); err != nil {
			return err
		}
	case "unflag":
		if err := flag(store.FlagChange{FlagStatus: &clear}, "Flag removed."); err != nil {
			return err
		}
	case "read":
		if err := flag(store.FlagChange{Read: &yes}, "Marked as read."); err != nil {
			return err
		}
	case "unread":
		// Back to the list: opening the message again would read it.
		if err := flag(store.FlagChange{Read: &no}, "Marked as unread."); err != nil {
			return err
		}
		back = list
	case "move":
		to, _ := strconv.ParseInt(c.FormValue("to"), 10, 64)
		dst, err := s.store.FolderByID(ctx, me.ID, to)
		if errors.Is(err, store.ErrNotFound) || err == nil && (!isMailFolder(dst) || dst.ID == f.ID) {
			s.flash(c, "Choose another mail folder to move the message to.")
			return c.Redirect(http.StatusSeeOther, back)
		} else if err != nil {
			return err
		}
		if err := s.moveTo(ctx, me.ID, it.ID, dst, "Moved to "+dst.Name+".", c); err != nil {
			return err
		}
		back = list
	case "delete":
		if err := s.deleteMessage(ctx, c, me.ID, f, it); err != nil {
			return err
		}
		back = list
	case "junk":
		junk, err := s.junkFolder(ctx, me.ID)
		if err != nil {
			return err
		}
		if junk.ID == f.ID {
			s.flash(c, "This message is already in "+junk.Name+".")
			return c.Redirect(http.StatusSeeOther, back)
		}
		if err := s.moveTo(ctx, me.ID, it.ID, junk, "Moved to "+junk.Name+".", c); err != nil {
			return err
		}
		back = list
	case "images":
		sender := senderAddress(it.FromAddr)
		if sender == "" {
			return echo.NewHTTPError(http.StatusBadRequest, "This message has no sender address.")
		}
		v, msg := "always", "Pictures from "+sender+" will always be shown."
		if c.FormValue("always") != "1" {
			v, msg = "", "Pictures from "+sender+" will be blocked until you ask."
		}
		if err := s.store.SetSetting(ctx, imagesKey(me.ID, sender), v); err != nil {
			return err
		}
		s.flash(c, msg)
	default:
		return echo.NewHTTPError(http.StatusNotFound, "No such action.")
	}
	return c.Redirect(http.StatusSeeOther, back)
}

func (s *Server) moveTo(ctx context.Context, userID, itemID int64, dst *store.Folder, msg string, c echo.Context) error {
	if _, err := s.store.MoveItem(ctx, userID, itemID, dst.ID); err != nil {
		return err
	}
	s.flash(c, msg)
	return nil
}

// deleteMessage moves a message to Deleted Items, or deletes it for good
// when it is there already (as Outlook and the EAS DeletesAsMoves do).
func (s *Server) deleteMessage(ctx context.Context, c echo.Context, userID int64, f *store.Folder, it *store.Item) error {
	if f.Type != store.FolderDeletedItems {
		trash, err := s.store.FolderByType(ctx, userID, store.FolderDeletedItems)
		if err == nil {
			return s.moveTo(ctx, userID, it.ID, trash, "Moved to "+trash.Name+".", c)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if err := s.store.DeleteItem(ctx, userID, it.ID); err != nil {
		return err
	}
	s.flash(c, "Deleted for good.")
	return nil
}

// junkFolder returns the user's top-level Junk folder, creating it (a
// user mail folder, so phones see it appear) if there is none.
func (s *Server) junkFolder(ctx context.Context, userID int64) (*store.Folder, error) {
	all, err := s.store.Folders(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, name := range junkNames {
		for i := range all {
			if all[i].ParentID == 0 && isMailFolder(&all[i]) && strings.EqualFold(all[i].Name, name) {
				return &all[i], nil
			}
		}
	}
	return s.store.CreateFolder(ctx, userID, 0, junkNames[0], store.FolderUserMail)
}

// mailEmpty deletes every message in Deleted Items (or Junk) for good,
// after the reader ticked the confirmation box.
func (s *Server) mailEmpty(c echo.Context) error {
	f, err := s.mailFolder(c)
	if err != nil {
		return err
	}
	list := "/mail/" + strconv.FormatInt(f.ID, 10)
	if f.Type != store.FolderDeletedItems && !(f.ParentID == 0 && isJunkName(f.Name)) {
		return echo.NewHTTPError(http.StatusBadRequest, "Only Deleted Items and Junk can be emptied.")
	}
	if c.FormValue("confirm") != "yes" {
		s.flash(c, "Nothing was deleted: tick the box to confirm.")
		return c.Redirect(http.StatusSeeOther, list)
	}
	n, err := s.store.EmptyFolder(c.Request().Context(), ident(c).User.ID, f.ID)
	if err != nil {
		return err
	}
	s.flash(c, plural(n, "message")+" deleted for good.")
	return c.Redirect(http.StatusSeeOther, list)
}
