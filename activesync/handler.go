package activesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync/wbxml"
	"airlock/delivery"
	"airlock/devices"
	"airlock/sms"
	"airlock/store"
)

// Request is one authenticated, admitted EAS request as a command sees it.
type Request struct {
	HTTP    *http.Request
	Query   Query
	Version Version
	User    *store.User
	Device  *store.Device
	// Access is the device's current access decision. A quarantined device
	// reaches the commands that serve its limited view (see Command.Quarantine).
	Access devices.Access
	// Doc is the decoded WBXML body, or nil when the body was empty.
	Doc *etree.Document
	// Raw is the undecoded body, for commands whose body is not WBXML
	// (12.x SendMail's MIME).
	Raw []byte
	Log *slog.Logger
	// arrival orders the device's Pings and Syncs, so a newer one ends a
	// held one (ping.go); 0 for the other commands.
	arrival uint64
	// release gives the request's admission slot back (inflight.go).
	release func()
}

// Response is what a command returns: a WBXML document, or raw bytes with
// their content type (attachments, multipart ItemOperations).
type Response struct {
	Doc         *etree.Document
	Body        io.Reader
	ContentType string
	Header      http.Header
	// wait is a Ping that waits before it has its answer (ping.go).
	wait *pingWait
}

// Command describes one EAS command for the dispatcher.
type Command struct {
	Name string
	Run  func(ctx context.Context, r *Request) (*Response, error)
	// NeedsPolicy: without a current policy key the device is sent to
	// Provision first. Only Provision itself (and OPTIONS) go without.
	NeedsPolicy bool
	// MinVersion is the oldest protocol version that has the command.
	MinVersion Version
	// Quarantine: the command serves a quarantined device (with the
	// limited view); other commands refuse it.
	Quarantine bool
	// RawBody: the body is not WBXML (12.x SendMail, SmartReply...), or may
	// be either.
	RawBody bool
	// LargeBody: the command carries mail or attachments and may send up
	// to Limits.MaxBody; the others get Limits.MaxSmallBody.
	LargeBody bool
	// Push: the command may be held as push (Ping, Sync with Wait or
	// HeartbeatInterval). A device has one such request outstanding, so a
	// newer Push request of the device ends the one held (pushState.arrive);
	// other commands (SendMail, ItemOperations...) run beside it and leave
	// it waiting, as Exchange does.
	Push bool
}

// Handler serves /Microsoft-Server-ActiveSync (MS-ASHTTP).
type Handler struct {
	auth     Authenticator
	devices  *devices.Service
	store    *store.Store
	log      *slog.Logger
	commands map[string]*Command
	limits   Limits
	notifier Notifier      // wakes Sync with Wait (and Ping); nil: they just wait
	push     *pushState    // held Pings (ping.go)
	inflight *admission    // requests in flight per device and account (inflight.go)
	mail     MailSubmitter // SendMail, SmartReply, SmartForward (sendmail.go)
	sms      sms.Addresses // the SMS domain, for SMS items' parties (sms.go)
	// PanicsRecovered counts panics caught at the edge; tests fail when it
	// is not zero.
	PanicsRecovered atomic.Int64
}

// Limits bound what one request may cost, and what one device or account
// may have in flight on this node (inflight.go). Zero fields take the
// defaults.
type Limits struct {
	// MaxBody bounds the body of the commands that carry mail and
	// attachments (Command.LargeBody); default 32 MiB.
	MaxBody int64
	// MaxSmallBody bounds every other body, and every body of a device
	// that is not allowed; default 256 KiB.
	MaxSmallBody int64
	// MaxPerDevice and MaxPerUser bound the requests in flight, held
	// Pings and Syncs with Wait not counted; defaults 4 and 8.
	MaxPerDevice, MaxPerUser int
	// MaxUserBody bounds the request bodies one account has in flight, in
	// bytes; default 2 * MaxBody.
	MaxUserBody int64
	// BodyTimeout plus one second per MinBodyRate bytes is how long a
	// body may take to arrive; defaults 30 s and 32 KiB/s.
	BodyTimeout time.Duration
	MinBodyRate int64
	WBXML       wbxml.Limits
}

func (l *Limits) defaults() {
	if l.MaxBody <= 0 {
		l.MaxBody = 32 << 20
	}
	if l.MaxSmallBody <= 0 {
		l.MaxSmallBody = min(DefaultMaxSmallBody, l.MaxBody)
	}
	if l.MaxPerDevice <= 0 {
		l.MaxPerDevice = DefaultMaxPerDevice
	}
	if l.MaxPerUser <= 0 {
		l.MaxPerUser = DefaultMaxPerUser
	}
	if l.MaxUserBody <= 0 {
		l.MaxUserBody = defaultUserBodyFactor * l.MaxBody
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	if l.MinBodyRate <= 0 {
		l.MinBodyRate = DefaultMinBodyRate
	}
	if l.WBXML == (wbxml.Limits{}) {
		l.WBXML = wbxml.DefaultLimits()
	}
}

// Options configure New.
type Options struct {
	Store         *store.Store
	Devices       *devices.Service
	Authenticator Authenticator
	Log           *slog.Logger
	Limits        Limits
	// Notifier publishes committed folder changes to waiting requests.
	Notifier Notifier
	// Ping bounds Ping requests (heartbeat limits, folder count).
	Ping PingOptions
	// Mail stores and sends what devices send (delivery.Service). Nil
	// delivers to local recipients only.
	Mail MailSubmitter
	// SMSDomain is where numbers are written as mail addresses
	// ("+447700900123@" SMSDomain) in SMS items; default
	// "sms.invalid".
	SMSDomain string
}

// New builds the handler with every command of the table.
func New(o Options) *Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Limits.defaults()
	h := &Handler{auth: o.Authenticator, devices: o.Devices, store: o.Store, log: o.Log, limits: o.Limits, commands: map[string]*Command{}}
	h.inflight = newAdmission(&h.limits)
	h.notifier = o.Notifier
	h.push = newPushState(o.Ping, o.Notifier)
	h.mail = o.Mail
	h.sms = sms.Addresses{Domain: o.SMSDomain}
	if h.sms.Domain == "" {
		h.sms.Domain = "sms.invalid"
	}
	if h.mail == nil {
		h.mail = &delivery.Service{Store: o.Store, Log: o.Log}
	}
	for _, c := range commandTable(h) {
		h.commands[c.Name] = c
	}
	return h
}

// Commands lists the commands in the table, for tests that prove every one
// passes the gate.
func (h *Handler) Commands() []Command {
	out := make([]Command, 0, len(h.commands))
	for _, c := range h.commands {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (h *Handler) commandNames() string {
	names := make([]string, 0, len(h.commands))
	for n := range h.commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func versionList() string {
	vs := make([]string, len(SupportedVersions))
	for i, v := range SupportedVersions {
		vs[i] = v.String()
	}
	return strings.Join(vs, ",")
}

// ServeHTTP implements MS-ASHTTP: OPTIONS for discovery, POST for commands.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	log := h.log.With("remote", clientIP(r))
	defer func() {
		if p := recover(); p != nil {
			h.PanicsRecovered.Add(1)
			log.Error("panic in EAS request", "panic", p, "stack", string(debug.Stack()))
			http.Error(w, "server error", http.StatusInternalServerError)
		}
	}()
	w.Header().Set("MS-Server-ActiveSync", ServerVersion)
	switch r.Method {
	case http.MethodOptions:
		h.options(w)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "OPTIONS, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Nothing reads the body before the gate; this bounds what net/http
	// reads (and discards) of a refused request's body. A request without
	// a body gets no deadline: net/http already watches its connection,
	// and a deadline there would end the request.
	if r.ContentLength != 0 {
		http.NewResponseController(w).SetReadDeadline(h.bodyDeadline(h.limits.MaxSmallBody))
	}
	req, err := h.admit(w, r, log)
	if err == nil {
		defer req.leaveInFlight()
		log = req.Log
		cmd := h.commands[req.Query.Cmd]
		detached := false
		if cmd.Push {
			req.arrival = h.push.arrive(req.Device.ID) // ends a Ping or Sync the device holds
			defer func() {
				if !detached { // a detached Ping leaves when its wait ends
					h.push.leave(req.Device.ID, req.arrival)
				}
			}()
		}
		var resp *Response
		resp, err = cmd.Run(r.Context(), req)
		if err == nil && resp != nil && resp.wait != nil {
			req.leaveInFlight() // a held Ping does not count (inflight.go)
			if detached = h.detach(w, r, resp.wait); detached {
				return // the Ping waits on its own; ping_detach.go
			}
			resp = resp.wait.run(r.Context(), r.Context().Done())
		}
		if err == nil && cmd.Name == "Sync" && req.Access.State == store.DeviceAllowed {
			h.devices.SyncCompleted(r.Context(), req.Device)
		}
		if err == nil {
			h.writeResponse(w, resp, log)
			log.Debug("eas request", "status", 200, "took", time.Since(start))
			return
		}
	}
	h.writeError(w, r, err, log)
}

// options answers discovery (MS-ASHTTP 2.2.3 / 2.2.4).
func (h *Handler) options(w http.ResponseWriter) {
	w.Header().Set("MS-ASProtocolVersions", versionList())
	w.Header().Set("MS-ASProtocolCommands", h.commandNames())
	w.Header().Set("Allow", "OPTIONS, POST")
	w.Header().Set("Public", "OPTIONS, POST")
	w.WriteHeader(http.StatusOK)
}

// admit runs the gate every command goes through, in one place: parse the
// request line, authenticate, check the version and the command, register
// the device and apply its access decision and policy key, take an
// admission slot (inflight.go). Only then is the body read and decoded,
// within the command's limit.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, log *slog.Logger) (*Request, error) {
	q, err := ParseQuery(r)
	if err != nil {
		return nil, httpError(http.StatusBadRequest, "malformed request line", err)
	}
	cmd, known := h.commands[q.Cmd]
	if !known {
		return nil, httpError(http.StatusNotImplemented, "command not supported", fmt.Errorf("command %q", q.Cmd))
	}
	log = log.With("cmd", q.Cmd, "device", q.DeviceID, "version", q.ProtocolVersion.String())

	user, authErr := h.auth.Authenticate(r.Context(), r, q)
	if authErr != nil {
		var pe *Error
		if errors.As(authErr, &pe) && pe.HTTP == http.StatusUnauthorized {
			return nil, pe
		}
		// A disabled account may still finish a pending remote wipe.
		if !(errors.Is(authErr, ErrAccountDisabled) && user != nil && q.Cmd == "Provision") {
			return nil, authErr
		}
	}
	log = log.With("user", user.Email)

	v := q.ProtocolVersion
	if v == 0 {
		v = V121 // MS-ASHTTP: a request without the header speaks the oldest version we know
		if r.Header.Get("MS-ASProtocolVersion") != "" {
			return nil, &Error{HTTP: http.StatusBadRequest, Status: StatusVersionNotSupported, Reason: "protocol version not supported"}
		}
	}
	if !supported(v) {
		return nil, &Error{HTTP: http.StatusBadRequest, Status: StatusVersionNotSupported, Reason: "protocol version not supported", Cause: fmt.Errorf("version %s", v)}
	}
	if v < cmd.MinVersion {
		return nil, statusError(StatusCommandNotSupported, http.StatusNotImplemented, "command not supported in this protocol version", nil)
	}
	if !validDeviceID(q.DeviceID) {
		return nil, &Error{HTTP: http.StatusBadRequest, Status: StatusDeviceIDMissing, Reason: "DeviceId missing or invalid"}
	}
	if !validDeviceType(q.DeviceType) {
		return nil, &Error{HTTP: http.StatusBadRequest, Status: StatusDeviceTypeMissing, Reason: "DeviceType missing or invalid"}
	}

	policyKey := r.Header.Get("X-MS-PolicyKey")
	if q.PolicyKey != "" {
		policyKey = q.PolicyKey
	}
	seen := devices.Seen{
		DeviceID:        q.DeviceID,
		DeviceType:      q.DeviceType,
		UserAgent:       r.Header.Get("User-Agent"),
		ProtocolVersion: v.String(),
		RemoteAddr:      clientIP(r),
		Command:         q.Cmd,
	}
	dev, access, err := h.devices.Admit(r.Context(), user, seen)
	if err != nil {
		return nil, err
	}
	req := &Request{HTTP: r, Query: q, Version: v, User: user, Device: dev, Access: access, Log: log}

	if authErr != nil { // disabled user: only the wipe may pass
		if !access.WipePending {
			return nil, authErr
		}
	}
	if err := h.gate(req, cmd, policyKey); err != nil {
		return nil, err
	}
	limit := h.bodyLimit(req, cmd)
	if r.ContentLength > limit {
		return nil, errTooLarge(nil)
	}
	bound := limit
	if r.ContentLength >= 0 {
		bound = r.ContentLength
	}
	if req.release = h.inflight.acquire(user.ID, dev.ID, bound); req.release == nil {
		return nil, errTooManyInFlight("too many requests in flight")
	}
	if err := h.readBody(w, req, cmd, limit, bound); err != nil {
		req.leaveInFlight()
		return nil, err
	}
	return req, nil
}

func errTooLarge(cause error) *Error {
	return httpError(http.StatusRequestEntityTooLarge, "request too large", cause)
}

// gate applies the device decision and the policy key (MS-ASPROV 3.2.5.1).
func (h *Handler) gate(req *Request, cmd *Command, policyKey string) error {
	a := req.Access
	if a.TooManyDevices {
		return statusError(StatusMaximumDevicesReached, http.StatusForbidden, "maximum number of devices reached", nil)
	}
	blocked := a.State == store.DeviceBlocked || a.State == store.DeviceWiped
	if cmd.Name == "Provision" {
		// Provision carries the wipe and the policy. A device refused only
		// for how it applied the policy may provision again; a blocked one
		// may not even fetch the policy.
		if blocked && !a.NotProvisionable {
			return blockedError(a)
		}
		return nil
	}
	if a.WipePending {
		return statusError(StatusRemoteWipeRequested, 449, "remote wipe requested", nil)
	}
	if blocked {
		switch {
		case a.NotProvisionable && a.External:
			return statusError(StatusExternallyManaged, http.StatusForbidden, "externally managed devices not allowed", errors.New(a.Reason))
		case a.NotProvisionable:
			return statusError(StatusDeviceNotFullyProvision, http.StatusForbidden, "device cannot fully apply the policy", errors.New(a.Reason))
		}
		return blockedError(a)
	}
	if cmd.NeedsPolicy {
		switch err := h.devices.CheckPolicyKey(req.HTTP.Context(), req.Device, policyKey); {
		case errors.Is(err, devices.ErrNoPolicyKey):
			return errNeedsProvision(err)
		case errors.Is(err, devices.ErrStalePolicyKey):
			return errInvalidPolicyKey(err)
		case errors.Is(err, devices.ErrPolicyNotApplied):
			return statusError(StatusDeviceNotFullyProvision, http.StatusForbidden, "device cannot fully apply the policy", err)
		case err != nil:
			return err
		}
	}
	if a.State == store.DeviceQuarantined && !cmd.Quarantine {
		return statusError(StatusDeviceBlocked, http.StatusForbidden, "device quarantined: awaiting approval", nil)
	}
	return nil
}

func blockedError(a devices.Access) *Error {
	return statusError(StatusDeviceBlocked, http.StatusForbidden, "device blocked", errors.New(a.Reason))
}

// readBody reads the request body, at most limit bytes (bound when its
// length is declared), before a deadline sized by that bound, and decodes
// it.
func (h *Handler) readBody(w http.ResponseWriter, req *Request, cmd *Command, limit, bound int64) error {
	r := req.HTTP
	if r.ContentLength == 0 {
		return nil
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(h.bodyDeadline(bound))
	body, err := readLimited(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errTooLarge(err)
	case err != nil:
		return httpError(http.StatusBadRequest, "request body unreadable", err)
	}
	// The body is in: a held request's wait is not bound by the deadline.
	rc.SetReadDeadline(time.Time{})
	req.Raw = body
	if len(body) == 0 {
		return nil
	}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if cmd.RawBody && strings.HasPrefix(ct, "message/rfc822") {
		return nil
	}
	doc, err := wbxml.UnmarshalLimits(body, h.limits.WBXML)
	if err != nil {
		return errBadWBXML(err)
	}
	req.Doc = doc
	return nil
}

// readLimited reads the whole body: into a buffer of exactly the declared
// length when there is one (no doubling growth for large bodies), else as
// it comes.
func readLimited(r io.Reader, declared int64) ([]byte, error) {
	if declared < 0 {
		return io.ReadAll(r)
	}
	body := make([]byte, declared)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

func (h *Handler) writeResponse(w http.ResponseWriter, resp *Response, log *slog.Logger) {
	if resp == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if resp.Doc != nil {
		data, err := wbxml.Marshal(resp.Doc)
		if err != nil {
			log.Error("encode response", "err", err)
			http.Error(w, "server error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.ms-sync.wbxml")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data)
		return
	}
	if resp.Body != nil {
		if resp.ContentType != "" {
			w.Header().Set("Content-Type", resp.ContentType)
		}
		w.WriteHeader(http.StatusOK)
		io.Copy(w, resp.Body)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// writeError turns any error into the response the device's version
// understands: 14.0+ gets the command element with the EAS Status, 12.x the
// HTTP status; details go to the log only.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	pe := asError(err)
	level := slog.LevelInfo
	if pe.HTTP >= 500 || pe.Status == StatusServerError {
		level = slog.LevelError
	}
	log.Log(r.Context(), level, "eas request refused", "http", pe.HTTP, "status", pe.Status, "reason", pe.Reason, "err", pe.Cause)
	if pe.HTTP == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="ActiveSync"`)
	}
	if pe.RetryAfter != "" {
		w.Header().Set("Retry-After", pe.RetryAfter)
	}
	q, _ := ParseQuery(r)
	v := ParseVersion(r.Header.Get("MS-ASProtocolVersion"))
	if q.ProtocolVersion != 0 {
		v = q.ProtocolVersion
	}
	useStatus := pe.Status != 0 && v >= V140 && h.commands[q.Cmd] != nil
	if pe.Status != 0 && !useStatus {
		code := pe.Legacy
		if code == 0 {
			code = pe.HTTP
		}
		if code == 0 || code == http.StatusOK {
			code = http.StatusBadRequest
		}
		if code == 449 {
			// 12.x: "Retry after sending a PROVISION command".
			w.WriteHeader(449)
			return
		}
		http.Error(w, pe.Reason, code)
		return
	}
	if useStatus {
		doc := statusDocument(q.Cmd, pe.Status)
		data, err := wbxml.Marshal(doc)
		if err == nil {
			code := pe.HTTP
			if code == 0 {
				code = http.StatusOK
			}
			w.Header().Set("Content-Type", "application/vnd.ms-sync.wbxml")
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(code)
			w.Write(data)
			return
		}
	}
	code := pe.HTTP
	if code == 0 || code == http.StatusOK {
		code = http.StatusInternalServerError
	}
	http.Error(w, pe.Reason, code)
}

// commandElements names the top-level response element of each command
// (MS-ASCMD 2.2.1), for error responses that carry only a Status.
var commandElements = map[string]string{
	"Sync": "AirSync:Sync", "FolderSync": "FolderHierarchy:FolderSync", "FolderCreate": "FolderHierarchy:FolderCreate",
	"FolderDelete": "FolderHierarchy:FolderDelete", "FolderUpdate": "FolderHierarchy:FolderUpdate",
	"GetItemEstimate": "GetItemEstimate:GetItemEstimate", "ItemOperations": "ItemOperations:ItemOperations",
	"MeetingResponse": "MeetingResponse:MeetingResponse", "MoveItems": "Move:MoveItems", "Ping": "Ping:Ping",
	"Provision": "Provision:Provision", "ResolveRecipients": "ResolveRecipients:ResolveRecipients",
	"Search": "Search:Search", "Settings": "Settings:Settings", "ValidateCert": "ValidateCert:ValidateCert",
	"SendMail": "ComposeMail:SendMail", "SmartForward": "ComposeMail:SmartForward", "SmartReply": "ComposeMail:SmartReply",
	"Find": "Find:Find",
}

func statusDocument(cmd string, status int) *etree.Document {
	name, ok := commandElements[cmd]
	if !ok {
		name = "FolderHierarchy:FolderSync"
	}
	doc := etree.NewDocument()
	root := doc.CreateElement(name)
	root.CreateElement(statusElementFor(name)).SetText(strconv.Itoa(status))
	return doc
}

// statusElementFor returns the Status element in the command's own page:
// names carry their page, and Status exists on many.
func statusElementFor(root string) string {
	space, _, _ := strings.Cut(root, ":")
	return space + ":Status"
}

// clientIP is the peer address without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// newDoc starts a response document with its root element.
func newDoc(root string) (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	return doc, doc.CreateElement(root)
}

// add appends a child element with text.
func add(parent *etree.Element, name, text string) *etree.Element {
	el := parent.CreateElement(name)
	if text != "" {
		el.SetText(text)
	}
	return el
}

// child finds a direct child by its full name ("AirSync:SyncKey").
func child(el *etree.Element, name string) *etree.Element {
	if el == nil {
		return nil
	}
	space, local, _ := strings.Cut(name, ":")
	for _, c := range el.ChildElements() {
		if c.Space == space && c.Tag == local {
			return c
		}
	}
	return nil
}

// children finds every direct child with the full name.
func children(el *etree.Element, name string) []*etree.Element {
	if el == nil {
		return nil
	}
	space, local, _ := strings.Cut(name, ":")
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Space == space && c.Tag == local {
			out = append(out, c)
		}
	}
	return out
}

// text returns the trimmed text of a direct child, or "".
func text(el *etree.Element, name string) string {
	if c := child(el, name); c != nil {
		return strings.TrimSpace(c.Text())
	}
	return ""
}

// root returns the document's root element if it has the expected name.
func root(doc *etree.Document, name string) *etree.Element {
	if doc == nil {
		return nil
	}
	r := doc.Root()
	if r == nil {
		return nil
	}
	space, local, _ := strings.Cut(name, ":")
	if r.Space != space || r.Tag != local {
		return nil
	}
	return r
}
