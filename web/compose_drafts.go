package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"airlock/message"
	"airlock/store"
)

// Drafts. The compose form is saved into the Drafts folder as a real MIME
// message through store.CommitSync with the ops a 16.x phone's draft Add
// and Change produce (SyncOpAdd, SyncOpReplace with the new content), so
// the draft's change counter moves in the same transaction and the
// user's phones see it at their next Sync of Drafts. compose.js posts the
// form every 20 seconds and when the page is left, asking for JSON;
// without JavaScript the "Save draft" button posts it.

// draftJSON is the answer to an automatic save.
type draftJSON struct {
	Draft  int64             `json:"draft,omitempty"`
	Saved  string            `json:"saved,omitempty"`
	Files  []draftFileJSON   `json:"files,omitempty"`
	Errors map[string]string `json:"errors,omitempty"`
}

type draftFileJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Size string `json:"size"`
}

func wantsJSON(c echo.Context) bool {
	return c.Request().Header.Get("X-Autosave") == "1"
}

// composeSave stores the form as a draft.
func (s *Server) composeSave(c echo.Context, f composeForm) error {
	ctx := c.Request().Context()
	me := ident(c).User
	if err := s.checkFrom(c, me, f.From); err != nil {
		return err
	}
	raw, errs, err := s.buildMessage(c, me, &f, true)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		if wantsJSON(c) {
			return c.JSON(http.StatusUnprocessableEntity, draftJSON{Errors: errs})
		}
		return s.renderCompose(c, http.StatusUnprocessableEntity, f, errs)
	}
	id, err := s.saveDraft(ctx, me, f.Draft, raw)
	var qe *store.QuotaError
	if errors.As(err, &qe) {
		errs := map[string]string{"attach": "Your mailbox is full: the draft could not be saved. Delete some mail and empty Deleted Items, then try again."}
		if wantsJSON(c) {
			return c.JSON(http.StatusInsufficientStorage, draftJSON{Errors: errs})
		}
		return s.renderCompose(c, http.StatusInsufficientStorage, f, errs)
	}
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		out := draftJSON{Draft: id, Saved: time.Now().In(displayZone).Format("15:04")}
		if it, err := s.store.ItemByID(ctx, me.ID, id); err == nil {
			for _, a := range it.Attachments {
				out.Files = append(out.Files, draftFileJSON{ID: a.ID, Name: nonEmpty(a.FileName, "attachment"), Size: humanBytes(a.Size)})
			}
		}
		return c.JSON(http.StatusOK, out)
	}
	s.flash(c, "Draft saved in Drafts.")
	return c.Redirect(http.StatusSeeOther, composePath+"?draft="+strconv.FormatInt(id, 10))
}

// saveDraft adds raw to Drafts, or replaces the content of draft id (a
// draft deleted meanwhile, on a phone, is added anew). It returns the
// draft's id.
func (s *Server) saveDraft(ctx context.Context, me *store.User, id int64, raw []byte) (int64, error) {
	drafts, err := s.store.FolderByType(ctx, me.ID, store.FolderDrafts)
	if err != nil {
		return 0, err
	}
	it, err := message.Parse(raw)
	if err != nil {
		return 0, err
	}
	it.IsDraft, it.Read = true, true
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		it.BccAddrs = m.Header.Get("Bcc")
	}
	op := store.SyncOp{Kind: store.SyncOpAdd, Item: it, Raw: raw, InFolder: drafts.ID}
	if id != 0 {
		op = store.SyncOp{Kind: store.SyncOpReplace, ItemID: id, Item: it, Raw: raw, InFolder: drafts.ID}
	}
	res, err := s.commitDraft(ctx, me.ID, op)
	if err != nil {
		return 0, err
	}
	if errors.Is(res.Err, store.ErrNotFound) && id != 0 {
		op = store.SyncOp{Kind: store.SyncOpAdd, Item: it, Raw: raw, InFolder: drafts.ID}
		if res, err = s.commitDraft(ctx, me.ID, op); err != nil {
			return 0, err
		}
	}
	if res.Err != nil {
		return 0, res.Err
	}
	return res.ItemID, nil
}

// commitDraft applies one draft op. No sync state is stored: the web is
// not a device; the op's counter is what phones pick up.
func (s *Server) commitDraft(ctx context.Context, userID int64, op store.SyncOp) (store.SyncOpResult, error) {
	res, err := s.store.CommitSync(ctx, &store.SyncCommit{UserID: userID, Collection: "web-drafts:" + strconv.FormatInt(userID, 10),
		Guard: store.SyncStateGuard{Restart: true}, Ops: []store.SyncOp{op}})
	if err != nil {
		return store.SyncOpResult{}, err
	}
	return res[0], nil
}

// loadDraftForm reads a draft of the user's Drafts folder back into the
// form.
func (s *Server) loadDraftForm(ctx context.Context, me *store.User, id int64) (composeForm, error) {
	it, raw, err := s.composeSource(ctx, me.ID, id)
	if err != nil {
		return composeForm{}, err
	}
	drafts, err := s.store.FolderByType(ctx, me.ID, store.FolderDrafts)
	if err != nil {
		return composeForm{}, err
	}
	if it.FolderID != drafts.ID {
		return composeForm{}, echo.NewHTTPError(http.StatusNotFound, "This draft is no longer in Drafts.")
	}
	f := composeForm{Draft: it.ID, ClientID: newClientID(), To: it.ToAddrs, Cc: it.CcAddrs, Bcc: it.BccAddrs, Subject: it.Subject}
	if from := senderAddress(it.FromAddr); from != "" && !strings.EqualFold(from, me.Email) {
		f.From = from
	}
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if v := strings.Fields(m.Header.Get(draftSourceHeader)); len(v) == 2 {
			f.Mode = v[0]
			f.Source, _ = strconv.ParseInt(v[1], 10, 64)
		}
	}
	switch f.Mode {
	case modeReply, modeReplyAll, modeForward, modeForwardAtt:
	default:
		f.Mode, f.Source = modeNew, 0
	}
	text, htm, err := message.Bodies(raw)
	if err == nil {
		f.Text = text
		if htm != "" {
			// A draft written on a phone is anyone's markup: made safe
			// like the editor's before it enters the page.
			f.Format, f.HTML = "html", sanitizeComposed(htm)
		}
	}
	for _, a := range it.Attachments {
		f.Keep = append(f.Keep, a.ID)
	}
	// The forwarded original's files were copied into the draft.
	f.KeepOrig = nil
	return f, nil
}
