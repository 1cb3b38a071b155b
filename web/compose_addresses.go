package web

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"airlock/directory"
	"airlock/message"
	"airlock/store"
)

// Address suggestions for the compose form: the staff directory (the same
// search as the GAL, with its three-character minimum and its privacy
// rules) and the people the user wrote to lately (read from Sent Items).
// compose.js asks /mail/addresses?q= as the user types; without
// JavaScript the recent recipients are a <datalist> on the fields.

// maxSuggestions bounds one answer.
const maxSuggestions = 10

type suggestion struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	// Value is what goes into the field.
	Value string `json:"value"`
	From  string `json:"from"` // "directory" or "recent"
}

func (s *Server) addressSuggestions(c echo.Context) error {
	ctx := c.Request().Context()
	q := strings.TrimSpace(c.QueryParam("q"))
	out := []suggestion{}
	if utf8.RuneCountInString(q) < directory.MinQueryLen {
		return c.JSON(http.StatusOK, out)
	}
	seen := map[string]bool{}
	recent, err := s.recentRecipients(ctx, ident(c).User.ID, 200)
	if err != nil {
		return err
	}
	low := strings.ToLower(q)
	for _, r := range recent {
		if len(out) >= maxSuggestions/2 {
			break
		}
		if strings.Contains(strings.ToLower(r), low) {
			addr := store.NormalizeEmail(senderAddress(r))
			seen[addr] = true
			out = append(out, suggestion{Name: senderName(r), Email: addr, Value: r, From: "recent"})
		}
	}
	users, _, err := directory.Search(ctx, s.store, q, 0, maxSuggestions)
	if err != nil {
		return err
	}
	for _, u := range users {
		if len(out) >= maxSuggestions {
			break
		}
		if seen[u.Email] {
			continue
		}
		seen[u.Email] = true
		out = append(out, suggestion{Name: u.DisplayName, Email: u.Email, Value: message.FormatAddress(u.DisplayName, u.Email), From: "directory"})
	}
	return c.JSON(http.StatusOK, out)
}

// recentRecipients lists the distinct addresses of the user's latest sent
// mail, most recent first, at most n.
func (s *Server) recentRecipients(ctx context.Context, userID int64, n int) ([]string, error) {
	sent, err := s.store.FolderByType(ctx, userID, store.FolderSentItems)
	if err != nil {
		return nil, nil
	}
	items, _, err := s.store.SearchMail(ctx, userID, store.MailQuery{FolderIDs: []int64{sent.ID}, Limit: 100})
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, it := range items {
		for _, a := range append(splitAddrs(it.ToAddrs), splitAddrs(it.CcAddrs)...) {
			k := store.NormalizeEmail(senderAddress(a))
			if k == "" || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, a)
			if len(out) >= n {
				return out, nil
			}
		}
	}
	return out, nil
}
