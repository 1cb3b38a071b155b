package activesync

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"airlock/directory"
	"airlock/store"
)

// Status values of ResolveRecipients (MS-ASCMD 2.2.3.177.12).
const (
	rrOK            = 1
	rrAmbiguous     = 2 // several matches, all returned
	rrAmbiguousPart = 3 // more matches than MaxAmbiguousRecipients
	rrNotResolved   = 4
	rrProtocolError = 5
	rrServerError   = 6
	rrNoCertificate = 7 // Certificates: the recipient has no valid S/MIME certificate
)

// Limits of one ResolveRecipients request.
const (
	rrMaxTo               = 100
	rrDefaultAmbiguous    = 19 // MaxAmbiguousRecipients when absent (Exchange's default)
	rrMaxAmbiguousAllowed = 100
)

// resolveRecipients serves MS-ASCMD 2.2.1.15 ResolveRecipients: each To is
// resolved against the staff directory (address, alias or name) and the
// user's contacts (directory.Resolve). Options:
//
//   - CertificateRetrieval 2 or 3 asks for S/MIME certificates; Airlock
//     stores none, so each recipient gets Certificates with Status 7 ("no
//     valid certificate") and counts of 0.
//   - MaxAmbiguousRecipients bounds the suggestions for an ambiguous name
//     (Status 2, or 3 when there were more).
//   - Availability (14.0+) returns each colleague's MergedFreeBusy for
//     StartTime-EndTime in 30-minute digits from their calendar; a contact
//     outside the organisation gets "no data" digits (5).
//   - Picture (14.1+) returns staff photographs within MaxSize and
//     MaxPictures (Status 173 when there is none).
func (h *Handler) resolveRecipients(ctx context.Context, r *Request) (*Response, error) {
	req := root(r.Doc, "ResolveRecipients:ResolveRecipients")
	doc, resp := newDoc("ResolveRecipients:ResolveRecipients")
	fail := func(status int) (*Response, error) {
		doc, resp := newDoc("ResolveRecipients:ResolveRecipients")
		add(resp, "ResolveRecipients:Status", itoa(status))
		return &Response{Doc: doc}, nil
	}
	tos := children(req, "ResolveRecipients:To")
	if req == nil || len(tos) == 0 || len(tos) > rrMaxTo {
		return fail(rrProtocolError)
	}
	opts := child(req, "ResolveRecipients:Options")
	certs, _ := strconv.Atoi(text(opts, "ResolveRecipients:CertificateRetrieval"))
	if certs < 0 || certs > 3 {
		return fail(rrProtocolError)
	}
	maxAmb := rrDefaultAmbiguous
	if s := text(opts, "ResolveRecipients:MaxAmbiguousRecipients"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fail(rrProtocolError)
		}
		maxAmb = min(n, rrMaxAmbiguousAllowed)
	}
	var from, to time.Time
	avail := child(opts, "ResolveRecipients:Availability")
	if avail != nil && r.Version >= V140 {
		var ok1, ok2 bool
		from, ok1 = parseEASTime(text(avail, "ResolveRecipients:StartTime"))
		to, ok2 = parseEASTime(text(avail, "ResolveRecipients:EndTime"))
		if !ok1 || !ok2 || !to.After(from) {
			return fail(rrProtocolError)
		}
	} else {
		avail = nil
	}
	var pics *pictureOpts
	if r.Version >= V141 {
		pics = parsePictureOpts(child(opts, "ResolveRecipients:Picture"), "ResolveRecipients")
	}

	add(resp, "ResolveRecipients:Status", itoa(rrOK))
	for _, toEl := range tos {
		name := strings.TrimSpace(toEl.Text())
		out := resp.CreateElement("ResolveRecipients:Response")
		add(out, "ResolveRecipients:To", name)
		found, total, err := directory.Resolve(ctx, h.store, r.User, name, max(maxAmb, 1))
		if err != nil {
			if errors.Is(err, store.ErrUnavailable) {
				return nil, errRetryLater(err)
			}
			r.Log.Error("resolve recipients", "err", err)
			return fail(rrServerError)
		}
		status := rrOK
		switch {
		case total == 0 || maxAmb == 0 && total > 1:
			status = rrNotResolved
			found = nil
		case total > len(found):
			status = rrAmbiguousPart
		case total > 1:
			status = rrAmbiguous
		}
		add(out, "ResolveRecipients:Status", itoa(status))
		add(out, "ResolveRecipients:RecipientCount", itoa(len(found)))
		for _, rc := range found {
			el := out.CreateElement("ResolveRecipients:Recipient")
			typ := "2" // a contact
			if rc.FromGAL() {
				typ = "1"
			}
			add(el, "ResolveRecipients:Type", typ)
			add(el, "ResolveRecipients:DisplayName", rc.DisplayName)
			add(el, "ResolveRecipients:EmailAddress", rc.Email)
			if avail != nil {
				a := el.CreateElement("ResolveRecipients:Availability")
				fb := directory.NoFreeBusy(from, to)
				if rc.FromGAL() {
					if fb, err = directory.FreeBusy(ctx, h.store, rc.User.ID, from, to); err != nil {
						if errors.Is(err, store.ErrUnavailable) {
							return nil, errRetryLater(err)
						}
						return fail(rrServerError)
					}
				}
				add(a, "ResolveRecipients:Status", itoa(rrOK))
				add(a, "ResolveRecipients:MergedFreeBusy", fb)
			}
			if certs == 2 || certs == 3 {
				c := el.CreateElement("ResolveRecipients:Certificates")
				add(c, "ResolveRecipients:Status", itoa(rrNoCertificate))
				add(c, "ResolveRecipients:CertificateCount", "0")
				add(c, "ResolveRecipients:RecipientCount", "0")
			}
			if pics != nil && rc.FromGAL() {
				if err := h.picture(ctx, el, "ResolveRecipients:Picture", "ResolveRecipients:Status", "ResolveRecipients:Data", rc.User, pics); err != nil {
					return fail(rrServerError)
				}
			}
		}
	}
	return &Response{Doc: doc}, nil
}
