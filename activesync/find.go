package activesync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"airlock/directory"
	"airlock/store"
)

// Status values of Find (MS-ASCMD 2.2.3.177.2 Status (Find)).
const (
	findOK              = 1
	findInvalid         = 2
	findFolderSyncReq   = 3
	findStartRangeAtOne = 4 // "StartWithRangeZero": the range must begin at 0
)

// find serves MS-ASCMD 2.2.1.2 Find (16.1), the search iOS 16 and later
// use instead of Search: a MailBoxSearchCriterion (FreeText in one
// collection or, with DeepTraversal, below it; or in all mail) or a
// GalSearchCriterion (the staff directory, with Picture; its Query is
// plain text, MS-ASCMD 2.2.3.142.1). Ranges must start at 0.
func (h *Handler) find(ctx context.Context, r *Request) (*Response, error) {
	req := root(r.Doc, "Find:Find")
	doc, resp := newDoc("Find:Find")
	status := func(s int) (*Response, error) {
		add(resp, "Find:Status", itoa(s))
		return &Response{Doc: doc}, nil
	}
	exec := child(req, "Find:ExecuteSearch")
	mailbox := child(exec, "Find:MailBoxSearchCriterion")
	gal := child(exec, "Find:GalSearchCriterion")
	if req == nil || text(req, "Find:SearchId") == "" || (mailbox == nil) == (gal == nil) {
		return status(findInvalid)
	}
	crit := mailbox
	if gal != nil {
		crit = gal
	}
	opts := child(crit, "Find:Options")
	first, last, ok := parseSearchRange(text(opts, "Find:Range"), 100, galMaxResults)
	if !ok {
		return status(findInvalid)
	}
	if first != 0 {
		add(resp, "Find:Status", itoa(findOK))
		add(resp.CreateElement("Find:Response"), "Find:Status", itoa(findStartRangeAtOne))
		return &Response{Doc: doc}, nil
	}
	query := child(crit, "Find:Query")
	q := findQueryText(query, gal != nil)
	if q == "" {
		return status(findInvalid)
	}
	var folders []int64
	if mailbox != nil {
		if c := text(query, "AirSync:Class"); c != "" && c != "Email" {
			return status(findInvalid)
		}
		var colls []string
		if c := text(query, "AirSync:CollectionId"); c != "" {
			colls = []string{c}
		}
		var found bool
		var err error
		folders, found, err = h.resolveSearchFolders(ctx, r, colls, child(opts, "Find:DeepTraversal") != nil)
		if err != nil {
			return nil, findErr(err)
		}
		if !found {
			return status(findFolderSyncReq)
		}
	}
	add(resp, "Find:Status", itoa(findOK))
	out := resp.CreateElement("Find:Response")
	var err error
	if gal != nil {
		add(out, "ItemOperations:Store", "GAL")
		err = h.findGAL(ctx, r, out, q, last+1, parsePictureOpts(child(opts, "Find:Picture"), "Find"))
	} else {
		add(out, "ItemOperations:Store", "Mailbox")
		err = h.findMailbox(ctx, r, out, folders, q, last+1)
	}
	if err != nil {
		return nil, findErr(err)
	}
	return &Response{Doc: doc}, nil
}

// findQueryText reads the search text of a Query. MS-ASCMD 2.2.3.142.1:
// under MailBoxSearchCriterion, Query is a container whose FreeText holds
// the text; under GALSearchCriterion it is a string, the text itself.
// A GAL Query that wraps its text in FreeText, as early clients did, is
// read as well.
func findQueryText(query *etree.Element, gal bool) string {
	if q := text(query, "Find:FreeText"); q != "" || !gal || query == nil {
		return q
	}
	return strings.TrimSpace(query.Text())
}

func findErr(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return errRetryLater(err)
	}
	return errServer(err)
}

func (h *Handler) findGAL(ctx context.Context, r *Request, out *etree.Element, q string, n int, pics *pictureOpts) error {
	users, total, err := directory.Search(ctx, h.store, q, 0, n)
	if err != nil {
		return err
	}
	showMobile, err := directory.ShowMobile(ctx, h.store)
	if err != nil {
		return err
	}
	add(out, "Find:Status", itoa(findOK))
	for i := range users {
		props := out.CreateElement("Find:Result").CreateElement("Find:Properties")
		if err := h.galProperties(ctx, props, &users[i], pics, "Find", r.Version, showMobile); err != nil {
			return err
		}
	}
	writeFindRange(out, len(users), total)
	return nil
}

func writeFindRange(out *etree.Element, n int, total int64) {
	if n > 0 {
		add(out, "Find:Range", fmt.Sprintf("0-%d", n-1))
	}
	add(out, "Find:Total", strconv.FormatInt(total, 10))
}

// findMailbox writes the mail results with the properties of MS-ASCMD
// 2.2.3.139.1 Properties (Find).
func (h *Handler) findMailbox(ctx context.Context, r *Request, out *etree.Element, folders []int64, q string, n int) error {
	items, total, err := h.store.SearchMail(ctx, r.User.ID, store.MailQuery{FolderIDs: folders, Text: q, Limit: n})
	if err != nil {
		return err
	}
	add(out, "Find:Status", itoa(findOK))
	for i := range items {
		it := &items[i]
		res := out.CreateElement("Find:Result")
		add(res, "AirSync:Class", "Email")
		add(res, "AirSync:ServerId", strconv.FormatInt(it.ID, 10))
		add(res, "AirSync:CollectionId", strconv.FormatInt(it.FolderID, 10))
		p := res.CreateElement("Find:Properties")
		add(p, "Email:Subject", it.Subject)
		if it.DateReceived != nil {
			add(p, "Email:DateReceived", formatTime(*it.DateReceived))
		}
		add(p, "Email:DisplayTo", displayNames(it.ToAddrs))
		add(p, "Find:DisplayCc", displayNames(it.CcAddrs))
		add(p, "Find:DisplayBcc", "")
		add(p, "Email:Importance", itoa(it.Importance))
		add(p, "Email:Read", boolText(it.Read))
		add(p, "Email2:IsDraft", boolText(it.IsDraft))
		addIf(p, "Find:Preview", truncateRunes(it.Preview, 255))
		add(p, "Find:HasAttachments", boolText(it.HasAttachments))
		addIf(p, "Email:From", it.FromAddr)
	}
	writeFindRange(out, len(items), total)
	return nil
}
