package activesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/beevik/etree"

	"airlock/activesync/wbxml"
	"airlock/delivery"
	"airlock/store"
)

// MailSubmitter stores and sends a message a user sends;
// delivery.Service implements it.
type MailSubmitter interface {
	Submit(ctx context.Context, sub delivery.Submission) (*delivery.Result, error)
}

// LastVerbExecuted values (MS-ASEMAIL 2.2.2.45).
const (
	verbReplyToSender = 1
	verbReplyToAll    = 2
	verbForward       = 3
)

// composeRequest is a SendMail, SmartReply or SmartForward request in
// either form: the 14.0+ ComposeMail document or the 12.x MIME body with
// query parameters.
type composeRequest struct {
	ClientID    string
	SaveInSent  bool
	ReplaceMime bool
	MIME        []byte
	// Source of a smart command.
	FolderID, ItemID, LongID, InstanceID string
	// Forwardees (16.0+) when the device sends no MIME.
	Forwardees []string
	BodyText   string
}

// sendMail serves MS-ASCMD 2.2.1.17 SendMail.
func (h *Handler) sendMail(ctx context.Context, r *Request) (*Response, error) {
	return h.compose(ctx, r, "SendMail", 0)
}

// smartReply serves MS-ASCMD 2.2.1.20 SmartReply.
func (h *Handler) smartReply(ctx context.Context, r *Request) (*Response, error) {
	return h.compose(ctx, r, "SmartReply", delivery.SmartReply)
}

// smartForward serves MS-ASCMD 2.2.1.19 SmartForward.
func (h *Handler) smartForward(ctx context.Context, r *Request) (*Response, error) {
	return h.compose(ctx, r, "SmartForward", delivery.SmartForward)
}

// composeError is a failure as the device's version understands it: the
// ComposeMail Status for 14.0+ (MS-ASCMD 2.2.3.177.14, .16, common values
// of 2.2.2), an HTTP status for 12.x.
func composeError(status, legacyHTTP int, reason string, cause error) *Error {
	return statusError(status, legacyHTTP, reason, cause)
}

func (h *Handler) compose(ctx context.Context, r *Request, cmd string, kind delivery.SmartKind) (*Response, error) {
	cr, perr := parseCompose(r, cmd)
	if perr != nil {
		return nil, perr
	}
	raw := cr.MIME
	var orig *store.Item
	if kind != 0 {
		var origRaw []byte
		var err error
		orig, origRaw, err = h.composeSource(ctx, r, cr)
		if err != nil {
			return nil, err
		}
		if len(raw) == 0 && len(cr.Forwardees) > 0 {
			raw = forwardeeMIME(cr, orig, kind)
		}
		raw, err = delivery.ComposeSmart(delivery.Smart{Kind: kind, Device: raw, Original: origRaw, OriginalItem: orig, ReplaceMime: cr.ReplaceMime})
		if err != nil {
			if errors.Is(err, delivery.ErrMalformed) {
				return nil, composeError(StatusInvalidMIME, http.StatusBadRequest, "malformed MIME", err)
			}
			return nil, composeError(StatusMailSubmissionFailed, http.StatusInternalServerError, "message could not be composed", err)
		}
	}
	sub := delivery.Submission{
		User: r.User, ClientID: cr.ClientID, MIME: raw, SaveInSent: cr.SaveInSent,
		Protocol: "HTTPS (ActiveSync " + r.Version.String() + ")", RemoteAddr: clientIP(r.HTTP),
	}
	if cr.ClientID == "" {
		sub.Resend = resendKey(r.Device.ID, cmd, cr)
	}
	res, err := h.mail.Submit(ctx, sub)
	switch {
	case err == nil:
	case errors.Is(err, delivery.ErrResent):
		// The device sent this very message a moment ago and lost our
		// answer (resend.go): it went out then; say so again.
		r.Log.Info(cmd+": resend of a message already sent; not sent again", "window", sub.Resend.Window)
		return &Response{}, nil
	case errors.Is(err, delivery.ErrAlreadySent):
		// MS-ASCMD 2.2.3.28.1: the ClientId identifies a resend after a
		// lost response; nothing goes out twice.
		r.Log.Info(cmd+": ClientId already used", "client_id", cr.ClientID)
		return nil, composeError(StatusMessagePreviouslySent, http.StatusOK, "message already sent", err)
	case errors.Is(err, delivery.ErrMalformed):
		return nil, composeError(StatusInvalidMIME, http.StatusBadRequest, "malformed MIME", err)
	case errors.Is(err, delivery.ErrNoRecipients):
		return nil, composeError(StatusMessageHasNoRecipient, http.StatusBadRequest, "message has no recipient", err)
	case errors.Is(err, delivery.ErrSendQuotaExceeded):
		// Quotas: MS-ASCMD 2.2.2 Status 115 SendQuotaExceeded: the
		// sender's mailbox is full, sending is blocked until they make
		// room. 12.x: HTTP 507 (Insufficient Storage).
		return nil, composeError(StatusSendQuotaExceeded, http.StatusInsufficientStorage, "mailbox over quota: sending blocked", err)
	case errors.Is(err, delivery.ErrSentItemsFull):
		// Quotas: MS-ASCMD 2.2.2 Status 113 MailboxQuotaExceeded: the
		// Sent Items copy does not fit.
		return nil, composeError(StatusMailboxQuotaExceeded, http.StatusInsufficientStorage, "mailbox full", err)
	case errors.Is(err, delivery.ErrTooLarge):
		return nil, composeError(StatusSendQuotaExceeded, http.StatusRequestEntityTooLarge, "message too large", err)
	case errors.Is(err, store.ErrUnavailable):
		return nil, composeError(StatusServerErrorRetryLater, http.StatusServiceUnavailable, "try again later", err)
	default:
		// ErrNoRelay and anything else: the message was not accepted.
		return nil, composeError(StatusMailSubmissionFailed, http.StatusInternalServerError, "mail submission failed", err)
	}
	if orig != nil {
		verb := verbForward
		if kind == delivery.SmartReply {
			verb = verbReplyToSender
			if len(res.Local)+len(res.Remote) > 1 {
				verb = verbReplyToAll
			}
		}
		if _, err := h.store.UpdateItem(ctx, r.User.ID, orig.ID, store.FlagChange{LastVerb: &verb}); err != nil {
			// The mail went out; only the original's icon is stale.
			r.Log.Warn(cmd+": could not mark the original", "err", err)
		}
	}
	r.Log.Info(cmd, "local", len(res.Local), "remote", len(res.Remote))
	// Success: an empty body (MS-ASCMD 2.2.1.17: no XML on success).
	return &Response{}, nil
}

// parseCompose reads the request in the device's form.
func parseCompose(r *Request, cmd string) (*composeRequest, *Error) {
	cr := &composeRequest{}
	if r.Doc == nil {
		// 12.x (or a 14.0+ device sending message/rfc822): the body is the
		// MIME; the rest is in the query (MS-ASHTTP 2.2.1.1.1.2).
		cr.MIME = r.Raw
		cr.SaveInSent = r.Query.SaveInSent
		cr.ItemID, cr.FolderID, cr.LongID = r.Query.ItemID, r.Query.CollectionID, r.Query.LongID
		if len(cr.MIME) == 0 {
			return nil, composeError(StatusInvalidMIME, http.StatusBadRequest, "no message", nil)
		}
		return cr, nil
	}
	el := root(r.Doc, "ComposeMail:"+cmd)
	if el == nil {
		return nil, composeError(StatusInvalidXML, http.StatusBadRequest, cmd+" request without its element", nil)
	}
	cr.ClientID = text(el, "ComposeMail:ClientId")
	if cr.ClientID == "" || len(cr.ClientID) > 40 {
		// MS-ASCMD 2.2.3.28.1: required, at most 40 characters.
		return nil, composeError(StatusInvalidXML, http.StatusBadRequest, "ClientId missing or too long", nil)
	}
	cr.SaveInSent = child(el, "ComposeMail:SaveInSentItems") != nil
	cr.ReplaceMime = child(el, "ComposeMail:ReplaceMime") != nil
	if m := child(el, "ComposeMail:Mime"); m != nil {
		b, err := wbxml.Bytes(m)
		if err != nil {
			return nil, composeError(StatusInvalidMIME, http.StatusBadRequest, "Mime is not readable", err)
		}
		cr.MIME = b
	}
	if src := child(el, "ComposeMail:Source"); src != nil {
		cr.FolderID = text(src, "ComposeMail:FolderId")
		cr.ItemID = text(src, "ComposeMail:ItemId")
		cr.LongID = text(src, "ComposeMail:LongId")
		cr.InstanceID = text(src, "ComposeMail:InstanceId")
	}
	if fw := child(el, "ComposeMail:Forwardees"); fw != nil {
		for _, f := range children(fw, "ComposeMail:Forwardee") {
			addr := text(f, "ComposeMail:Email")
			if name := text(f, "ComposeMail:Name"); name != "" && addr != "" {
				addr = fmt.Sprintf("%q <%s>", name, addr)
			}
			if addr != "" {
				cr.Forwardees = append(cr.Forwardees, addr)
			}
		}
		cr.BodyText = bodyData(el)
	}
	if len(cr.MIME) == 0 && len(cr.Forwardees) == 0 {
		return nil, composeError(StatusInvalidMIME, http.StatusBadRequest, "no Mime", nil)
	}
	if cmd != "SendMail" && cr.ItemID == "" && cr.LongID == "" {
		return nil, composeError(StatusInvalidXML, http.StatusBadRequest, "no Source item", nil)
	}
	return cr, nil
}

func bodyData(el *etree.Element) string {
	if b := child(el, "AirSyncBase:Body"); b != nil {
		return text(b, "AirSyncBase:Data")
	}
	return ""
}

// composeSource finds the original of a smart command: an item of the
// user's (LongId, from Search, is our item id as well), with its raw
// message. InstanceId (one occurrence of a recurring meeting) is not used:
// the whole item is quoted or forwarded.
func (h *Handler) composeSource(ctx context.Context, r *Request, cr *composeRequest) (*store.Item, []byte, error) {
	ref := cr.ItemID
	if ref == "" {
		ref = cr.LongID
	}
	notFound := func(cause error) error {
		return composeError(StatusItemNotFound, http.StatusBadRequest, "original item not found", cause)
	}
	id, ok := parseItemID(ref)
	if !ok {
		return nil, nil, notFound(fmt.Errorf("source %q", ref))
	}
	it, err := h.store.ItemByID(ctx, r.User.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound(err)
	}
	if err != nil {
		return nil, nil, storeFailure(err)
	}
	if cr.FolderID != "" && cr.ItemID != "" {
		if fid, ok := parseItemID(cr.FolderID); !ok || fid != it.FolderID {
			return nil, nil, notFound(fmt.Errorf("item %d is not in folder %q", id, cr.FolderID))
		}
	}
	raw, err := h.store.Blob(ctx, r.User.ID, it.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound(fmt.Errorf("item %d has no message: %w", id, err))
	}
	if err != nil {
		return nil, nil, storeFailure(err)
	}
	return it, raw, nil
}

// forwardeeMIME builds the device's part of a 16.0+ SmartForward that
// names Forwardees and a plain body instead of sending MIME.
func forwardeeMIME(cr *composeRequest, orig *store.Item, kind delivery.SmartKind) []byte {
	var b bytes.Buffer
	prefix := "FW: "
	if kind == delivery.SmartReply {
		prefix = "RE: "
	}
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(cr.Forwardees, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mimeWord(prefix+orig.Subject))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(cr.BodyText, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	return b.Bytes()
}

// mimeWord encodes a header value that is not plain ASCII (RFC 2047).
func mimeWord(s string) string {
	for _, c := range s {
		if c >= 0x80 || c < 0x20 {
			return mimeQ.Encode("utf-8", s)
		}
	}
	return s
}

var mimeQ = mime.QEncoding
