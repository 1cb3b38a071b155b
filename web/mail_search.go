package web

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"airlock/store"
)

// Mailbox search: /mail/search?q= finds the user's mail by words of the
// subject, the sender, the recipients and the body, through the store's
// mailbox search that EAS Search and Find use (every word must occur). The
// query travels in the URL, as a search box's does; it is not logged.

// searchLimit bounds the results shown.
const searchLimit = 100

type searchData struct {
	mailShell
	Query    string
	Rows     []searchRow
	Total    int64
	TooShort bool
	More     bool // more match than are shown
}

// searchRow is a list row with the folder the message is in.
type searchRow struct {
	mailRow
	Folder string
}

func (s *Server) mailSearch(c echo.Context) error {
	ctx := c.Request().Context()
	me := ident(c).User
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	tree, err := s.mailTree(ctx, me.ID, 0)
	if err != nil {
		return err
	}
	d := &searchData{mailShell: mailShell{Tree: tree, SearchQuery: q}, Query: q}
	var ids []int64
	names := map[int64]string{}
	for _, n := range tree {
		ids = append(ids, n.ID)
		names[n.ID] = n.Name
	}
	switch {
	case q == "":
	case utf8.RuneCountInString(q) < 2:
		d.TooShort = true
	case len(ids) > 0:
		items, total, err := s.store.SearchMail(ctx, me.ID, store.MailQuery{FolderIDs: ids, Text: q, Limit: searchLimit})
		if err != nil {
			return err
		}
		d.Total, d.More = total, total > int64(len(items))
		for i := range items {
			d.Rows = append(d.Rows, searchRow{rowOf(items[i].FolderID, &items[i]), names[items[i].FolderID]})
		}
	}
	title := "Search mail"
	if q != "" {
		title = "Search: " + q
	}
	return s.render(c, http.StatusOK, "mail_search.html", title, d)
}
