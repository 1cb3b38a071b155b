package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"airlock/store"
)

// Folder management from the web: create, rename or move, delete. The
// same store functions serve FolderCreate, FolderUpdate and FolderDelete
// for phones, so the hierarchy counter moves and phones see the change at
// their next FolderSync. Default folders (Inbox, Sent Items...) cannot be
// changed, as on a phone.

type folderForm struct {
	Name   string
	Parent int64
	Error  string
}

type mailFoldersData struct {
	mailShell
	Create folderForm
	// Edit holds the submitted values and the error of a folder whose
	// rename or delete failed, by folder id.
	Edit map[int64]folderForm
}

func (s *Server) mailFolders(c echo.Context) error {
	return s.renderFolders(c, http.StatusOK, folderForm{}, nil)
}

func (s *Server) renderFolders(c echo.Context, code int, create folderForm, edit map[int64]folderForm) error {
	tree, err := s.mailTree(c.Request().Context(), ident(c).User.ID, 0)
	if err != nil {
		return err
	}
	if edit == nil {
		edit = map[int64]folderForm{}
	}
	// How much a delete would take, on this rarely used page only.
	for i := range tree {
		if tree[i].UserMade {
			if tree[i].Total, err = s.store.CountItems(c.Request().Context(), ident(c).User.ID, tree[i].ID); err != nil {
				return err
			}
		}
	}
	return s.render(c, code, "mail_folders.html", "Mail folders", &mailFoldersData{mailShell: mailShell{Tree: tree}, Create: create, Edit: edit})
}

// folderName checks a folder name as a phone's FolderCreate would (1 to
// 256 characters), plus what the web needs: no path separator.
func folderName(name string) (string, string) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", "Give the folder a name."
	case utf8.RuneCountInString(name) > 256:
		return "", "The name is too long (256 characters at most)."
	case strings.ContainsAny(name, "/\\") || strings.IndexFunc(name, func(r rune) bool { return r < ' ' }) >= 0:
		return "", "The name cannot contain / or \\."
	}
	return name, ""
}

// siblingTaken reports whether parent already holds a folder called name
// (other than except).
func siblingTaken(tree []folderNode, parent int64, name string, except int64) bool {
	for _, n := range tree {
		if n.Parent == parent && n.ID != except && strings.EqualFold(n.Name, name) {
			return true
		}
	}
	return false
}

// parentOf checks a parent folder id from a form: 0 or one of the user's
// mail folders.
func parentOf(tree []folderNode, v string) (int64, bool) {
	id, err := strconv.ParseInt(v, 10, 64)
	if v == "" || err == nil && id == 0 {
		return 0, true
	}
	for _, n := range tree {
		if n.ID == id {
			return id, true
		}
	}
	return 0, false
}

func (s *Server) mailFolderCreate(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	tree, err := s.mailTree(ctx, me.ID, 0)
	if err != nil {
		return err
	}
	form := folderForm{Name: c.FormValue("name")}
	parent, ok := parentOf(tree, c.FormValue("parent"))
	form.Parent = parent
	name, msg := folderName(form.Name)
	switch {
	case msg != "":
		form.Error = msg
	case !ok:
		form.Error = "Choose a folder to put it in."
	case siblingTaken(tree, parent, name, 0):
		form.Error = "There is already a folder called " + name + " there."
	}
	if form.Error != "" {
		return s.renderFolders(c, http.StatusUnprocessableEntity, form, nil)
	}
	f, err := s.store.CreateFolder(ctx, me.ID, parent, name, store.FolderUserMail)
	if err != nil {
		return err
	}
	s.flash(c, "Folder "+f.Name+" created.")
	return c.Redirect(http.StatusSeeOther, "/mail/folders")
}

// userFolder returns the user-made mail folder named by :id, from tree.
func userFolder(c echo.Context, tree []folderNode) (*folderNode, error) {
	id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
	for i := range tree {
		if tree[i].ID == id {
			if !tree[i].UserMade {
				return nil, echo.NewHTTPError(http.StatusForbidden, tree[i].Name+" is a default folder: it cannot be renamed, moved or deleted.")
			}
			return &tree[i], nil
		}
	}
	return nil, echo.NewHTTPError(http.StatusNotFound, "No such folder.")
}

func (s *Server) mailFolderRename(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	tree, err := s.mailTree(ctx, me.ID, 0)
	if err != nil {
		return err
	}
	f, err := userFolder(c, tree)
	if err != nil {
		return err
	}
	form := folderForm{Name: c.FormValue("name")}
	parent, ok := parentOf(tree, c.FormValue("parent"))
	form.Parent = parent
	name, msg := folderName(form.Name)
	switch {
	case msg != "":
		form.Error = msg
	case !ok:
		form.Error = "Choose a folder to put it in."
	case siblingTaken(tree, parent, name, f.ID):
		form.Error = "There is already a folder called " + name + " there."
	}
	if form.Error == "" {
		_, err = s.store.UpdateFolder(ctx, me.ID, f.ID, parent, name)
		if errors.Is(err, store.ErrConflict) {
			form.Error = "A folder cannot go inside itself."
		} else if err != nil {
			return err
		}
	}
	if form.Error != "" {
		return s.renderFolders(c, http.StatusUnprocessableEntity, folderForm{}, map[int64]folderForm{f.ID: form})
	}
	s.flash(c, "Folder saved as "+name+".")
	return c.Redirect(http.StatusSeeOther, "/mail/folders")
}

func (s *Server) mailFolderDelete(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	tree, err := s.mailTree(ctx, me.ID, 0)
	if err != nil {
		return err
	}
	f, err := userFolder(c, tree)
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "yes" {
		return s.renderFolders(c, http.StatusUnprocessableEntity, folderForm{},
			map[int64]folderForm{f.ID: {Name: f.Name, Parent: f.Parent, Error: "Tick the box to confirm: the folder, its subfolders and their messages are deleted."}})
	}
	if err := s.store.DeleteFolder(ctx, me.ID, f.ID); err != nil {
		return err
	}
	s.flash(c, "Folder "+f.Name+" deleted.")
	return c.Redirect(http.StatusSeeOther, "/mail/folders")
}
