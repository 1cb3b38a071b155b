package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync/wbxml"
)

// Identity is what a device says about itself on every request
// (MS-ASHTTP 2.2.1.1.1.1 query parameters and headers).
type Identity struct {
	User, Password string
	DeviceID       string
	DeviceType     string
	UserAgent      string
	Version        string // MS-ASProtocolVersion
	Model, OS      string
}

// Faults are the client-side faults a device injects.
type Faults struct {
	// Drop is the probability that the response to a state-changing
	// request (Sync, SendMail, MoveItems) is read in full and then thrown
	// away, and the same request sent again: the server must recognise the
	// resend (MS-ASCMD 3.1.5.9 for Sync, ClientId for SendMail).
	Drop float64
	// Cut is the probability that the connection is closed halfway
	// through reading such a response; the request is then sent again.
	Cut float64
}

// Conn is one device's link to the servers. It owns the policy key and
// fails over between server URLs: every request tries the device's home
// server first unless that failed in the last few seconds, then the others
// in turn, so devices move to a surviving node when one dies and return
// when it comes back.
type Conn struct {
	Servers []string // base URLs, e.g. http://127.0.0.1:8080
	HTTP    *http.Client
	ID      Identity
	Stats   *Stats
	Faults  Faults
	// RetryFor bounds how long one request is retried through failures
	// (network errors, 5xx, EAS Status 110/111). Default 3 minutes.
	RetryFor time.Duration
	// OnUnauthorized is called when the server answers 401 to the
	// device's (correct) credentials.
	OnUnauthorized func(cmd string)
	// Trace, when set, receives every request and response as one line
	// of XML each (for investigating a failed check).
	Trace *Tracer

	mu        sync.Mutex
	home      int
	cur       int
	last      int // server of the previous request
	downUntil []time.Time
	policyKey string
	rnd       *rand.Rand
	provMu    sync.Mutex // one Provision at a time
}

// NewConn returns a connection for id with home server index home.
func NewConn(servers []string, home int, client *http.Client, id Identity, st *Stats, f Faults, seed uint64) *Conn {
	c := &Conn{Servers: servers, HTTP: client, ID: id, Stats: st, Faults: f, home: home % len(servers), RetryFor: 3 * time.Minute,
		downUntil: make([]time.Time, len(servers)), rnd: rand.New(rand.NewPCG(seed, 0x5eed))}
	c.cur, c.last = c.home, c.home
	return c
}

// Reply is one response as the device saw it.
type Reply struct {
	HTTP   int
	Header http.Header
	Body   []byte
	Doc    *etree.Document // nil for an empty or non-WBXML body
	Server string
	// Dropped is the first response of a resent request, when the device
	// threw it away (Faults.Drop).
	Dropped *Reply
	// Resent counts the earlier attempts of this request that may have
	// reached the server (cut connections, network errors, 5xx answers).
	Resent int
}

// Root returns the document's root element, or nil.
func (r *Reply) Root() *etree.Element {
	if r == nil || r.Doc == nil {
		return nil
	}
	return r.Doc.Root()
}

// ErrGaveUp is returned when a request kept failing for RetryFor.
var ErrGaveUp = errors.New("sim: request kept failing")

// errCut marks a response the device cut off on purpose.
var errCut = errors.New("connection cut by the simulator")

// droppable reports whether cmd changes state on the server, so that
// losing its response is a meaningful fault.
func droppable(cmd string) bool {
	return cmd == "Sync" || cmd == "SendMail" || cmd == "MoveItems"
}

func (c *Conn) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rnd.Float64() < p
}

// pick returns the server to use: home unless it failed recently, else the
// current one unless that failed recently, else the next.
func (c *Conn) pick() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	j := c.cur
	if now.After(c.downUntil[c.home]) {
		j = c.home
	} else {
		for i := 0; i < len(c.Servers); i++ {
			if k := (c.cur + i) % len(c.Servers); now.After(c.downUntil[k]) {
				j = k
				break
			}
		}
	}
	if j != c.last {
		if j == c.home {
			c.Stats.Event("device back on its home node")
		} else {
			c.Stats.Event("device failed over to another node")
		}
		c.last = j
	}
	c.cur = j
	return j
}

func (c *Conn) markDown(i int) {
	if len(c.Servers) < 2 {
		return
	}
	c.mu.Lock()
	c.downUntil[i] = time.Now().Add(5 * time.Second)
	c.cur = (i + 1) % len(c.Servers)
	c.mu.Unlock()
}

// Current returns the server the device uses now.
func (c *Conn) Current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Servers[c.cur]
}

// PolicyKey returns the current policy key.
func (c *Conn) PolicyKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.policyKey
}

func (c *Conn) setPolicyKey(k string) {
	c.mu.Lock()
	c.policyKey = k
	c.mu.Unlock()
}

// Do sends a command with doc as its WBXML body (nil: no body), retrying
// through failures, re-provisioning when the server asks, and injecting
// the configured faults.
func (c *Conn) Do(ctx context.Context, cmd string, doc *etree.Document) (*Reply, error) {
	var body []byte
	if doc != nil {
		var err error
		if body, err = wbxml.Marshal(doc); err != nil {
			return nil, fmt.Errorf("%s: encode request: %w", cmd, err)
		}
	}
	rep, err := c.send(ctx, cmd, body, true)
	if err != nil || !droppable(cmd) || !c.roll(c.Faults.Drop) {
		return rep, err
	}
	// The response is lost on its way to the device: send the same bytes
	// again and use what comes back.
	c.Stats.Event("fault: response dropped, " + cmd + " resent")
	rep2, err := c.send(ctx, cmd, body, false)
	if err != nil {
		return nil, err
	}
	rep2.Dropped = rep
	rep2.Resent += rep.Resent + 1
	return rep2, nil
}

// send is Do without the drop fault.
func (c *Conn) send(ctx context.Context, cmd string, body []byte, mayCut bool) (*Reply, error) {
	deadline := time.Now().Add(c.RetryFor)
	backoff := 100 * time.Millisecond
	wait := func() error {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w for %s", cmd, ErrGaveUp, c.RetryFor)
		}
		t := time.NewTimer(backoff)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, 2*time.Second)
		return nil
	}
	reprovisions := 0
	resent := 0
	for ; ; resent++ {
		srv := c.pick()
		cut := mayCut && droppable(cmd) && c.roll(c.Faults.Cut)
		rep, err := c.once(ctx, srv, cmd, body, cut)
		if rep != nil {
			rep.Resent = resent
		}
		switch {
		case errors.Is(err, errCut):
			c.Stats.Event("fault: connection cut, " + cmd + " resent")
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.Stats.Error(cmd, netClass(err))
			c.markDown(srv)
			if err := wait(); err != nil {
				return nil, err
			}
			continue
		}
		status := commonStatus(rep)
		switch {
		case rep.HTTP == 449 || status == 142 || status == 143 || status == 144:
			if cmd == "Provision" || reprovisions >= 3 {
				return rep, nil
			}
			reprovisions++
			c.Stats.Event("re-provision (" + cmd + ")")
			if err := c.Provision(ctx); err != nil {
				return nil, err
			}
			continue
		case rep.HTTP >= 500 || rep.HTTP == 429:
			c.Stats.Error(cmd, "HTTP "+strconv.Itoa(rep.HTTP))
			if err := wait(); err != nil {
				return nil, err
			}
			continue
		case status == 110 || status == 111:
			c.Stats.Error(cmd, "Status "+strconv.Itoa(status))
			if err := wait(); err != nil {
				return nil, err
			}
			continue
		case rep.HTTP == 401:
			// The simulator's credentials are right: a 401 would make a
			// phone ask its user for the password.
			c.Stats.Error(cmd, "HTTP 401 for valid credentials")
			if c.OnUnauthorized != nil {
				c.OnUnauthorized(cmd)
			}
			if err := wait(); err != nil {
				return nil, err
			}
			continue
		case rep.HTTP != 200:
			c.Stats.Error(cmd, "HTTP "+strconv.Itoa(rep.HTTP))
		case status != 0:
			c.Stats.Error(cmd, "Status "+strconv.Itoa(status))
		}
		return rep, nil
	}
}

// commonStatus returns a common status code (MS-ASCMD 2.2.2, values 101
// and up) in the response's top-level Status element, or 0.
func commonStatus(r *Reply) int {
	root := r.Root()
	if root == nil {
		return 0
	}
	n, err := strconv.Atoi(text(root, root.Space+":Status"))
	if err != nil || n < 100 {
		return 0
	}
	return n
}

// netClass names a network error for the error table.
func netClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "net: connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "net: connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "net: connection closed mid-response"
	case errors.As(err, &ne) && ne.Timeout():
		return "net: timeout"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return "net: " + msg
}

// Query returns the request line of cmd (MS-ASHTTP 2.2.1.1.1.1, plain form).
func (c *Conn) Query(cmd string) string {
	q := url.Values{}
	q.Set("Cmd", cmd)
	q.Set("User", c.ID.User)
	q.Set("DeviceId", c.ID.DeviceID)
	q.Set("DeviceType", c.ID.DeviceType)
	return q.Encode()
}

func (c *Conn) once(ctx context.Context, srv int, cmd string, body []byte, cut bool) (*Reply, error) {
	base := c.Servers[srv]
	method := http.MethodPost
	if cmd == "OPTIONS" {
		method = http.MethodOptions
	}
	u := base + "/Microsoft-Server-ActiveSync"
	if method == http.MethodPost {
		u += "?" + c.Query(cmd)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.ID.User, c.ID.Password)
	req.Header.Set("User-Agent", c.ID.UserAgent)
	req.Header.Set("MS-ASProtocolVersion", c.ID.Version)
	if k := c.PolicyKey(); k != "" {
		req.Header.Set("X-MS-PolicyKey", k)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	}
	c.Stats.Sent(cmd)
	start := time.Now()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.Trace.log(c.ID.DeviceID, base, cmd, body, nil, err)
		return nil, err
	}
	defer resp.Body.Close()
	if cut {
		c.Trace.log(c.ID.DeviceID, base, cmd, body, nil, errCut)
		// Read part of the body, then hang up: the device never sees the
		// whole response. Closing an unread body closes the connection.
		n := resp.ContentLength / 2
		if n <= 0 {
			n = 8
		}
		io.CopyN(io.Discard, resp.Body, n)
		return nil, errCut
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.Trace.log(c.ID.DeviceID, base, cmd, body, nil, err)
		return nil, err
	}
	c.Stats.Request(cmd, time.Since(start))
	rep := &Reply{HTTP: resp.StatusCode, Header: resp.Header, Body: raw, Server: base}
	if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "vnd.ms-sync.wbxml") {
		if rep.Doc, err = wbxml.Unmarshal(raw); err != nil {
			c.Stats.Error(cmd, "undecodable WBXML response")
			return nil, fmt.Errorf("%s: decode response: %w", cmd, err)
		}
	}
	c.Trace.log(c.ID.DeviceID, base, cmd, body, rep, nil)
	return rep, nil
}

// Tracer writes a line per request: time, device, server, command, the
// request and the response as XML.
type Tracer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

// NewTracer traces to w.
func NewTracer(w io.Writer) *Tracer { return &Tracer{w: w, start: time.Now()} }

func (t *Tracer) log(dev, srv, cmd string, body []byte, rep *Reply, err error) {
	if t == nil {
		return
	}
	req := "(no body)"
	if len(body) > 0 {
		if doc, err := wbxml.Unmarshal(body); err == nil {
			req = oneLine(doc)
		}
	}
	res := ""
	switch {
	case err != nil:
		res = "error: " + err.Error()
	case rep.Doc != nil:
		res = fmt.Sprintf("HTTP %d %s", rep.HTTP, oneLine(rep.Doc))
	default:
		res = fmt.Sprintf("HTTP %d (%d bytes)", rep.HTTP, len(rep.Body))
	}
	t.mu.Lock()
	fmt.Fprintf(t.w, "%9.3f %s %s %s\n    > %s\n    < %s\n", time.Since(t.start).Seconds(), dev, srv, cmd, req, res)
	t.mu.Unlock()
}

func oneLine(doc *etree.Document) string {
	d := doc.Copy()
	d.Unindent()
	s, _ := d.WriteToString()
	return s
}

// Options sends OPTIONS (MS-ASHTTP 2.2.3) and returns the protocol versions
// and commands the server advertises.
func (c *Conn) Options(ctx context.Context) (versions, commands []string, err error) {
	rep, err := c.send(ctx, "OPTIONS", nil, false)
	if err != nil {
		return nil, nil, err
	}
	if rep.HTTP != 200 {
		return nil, nil, fmt.Errorf("OPTIONS: HTTP %d", rep.HTTP)
	}
	split := func(s string) []string {
		var out []string
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	return split(rep.Header.Get("MS-ASProtocolVersions")), split(rep.Header.Get("MS-ASProtocolCommands")), nil
}

// Provision runs both phases of MS-ASPROV 3.1.5.1: download the policy
// (getting a temporary key), then acknowledge it (Status 1, fully applied)
// and keep the final key.
func (c *Conn) Provision(ctx context.Context) error {
	c.provMu.Lock()
	defer c.provMu.Unlock()
	doc, root := newDoc("Provision:Provision")
	if c.ID.Version >= "14.1" {
		// MS-ASPROV 2.2.2.52: 14.1+ sends DeviceInformation with Provision.
		set := root.CreateElement("Settings:DeviceInformation").CreateElement("Settings:Set")
		add(set, "Settings:Model", c.ID.Model)
		add(set, "Settings:FriendlyName", c.ID.DeviceID)
		add(set, "Settings:OS", c.ID.OS)
		add(set, "Settings:OSLanguage", "en-GB")
		add(set, "Settings:UserAgent", c.ID.UserAgent)
	}
	pol := root.CreateElement("Provision:Policies").CreateElement("Provision:Policy")
	add(pol, "Provision:PolicyType", "MS-EAS-Provisioning-WBXML")
	c.setPolicyKey("")
	rep, err := c.Do(ctx, "Provision", doc)
	if err != nil {
		return err
	}
	p := find(rep.Root(), "Provision:Policies", "Provision:Policy")
	if rep.HTTP != 200 || text(rep.Root(), "Provision:Status") != "1" || p == nil || text(p, "Provision:PolicyKey") == "" {
		return fmt.Errorf("Provision (download): HTTP %d, status %q", rep.HTTP, text(rep.Root(), "Provision:Status"))
	}
	c.setPolicyKey(text(p, "Provision:PolicyKey"))

	doc, root = newDoc("Provision:Provision")
	pol = root.CreateElement("Provision:Policies").CreateElement("Provision:Policy")
	add(pol, "Provision:PolicyType", "MS-EAS-Provisioning-WBXML")
	add(pol, "Provision:PolicyKey", c.PolicyKey())
	add(pol, "Provision:Status", "1")
	rep, err = c.Do(ctx, "Provision", doc)
	if err != nil {
		return err
	}
	p = find(rep.Root(), "Provision:Policies", "Provision:Policy")
	if rep.HTTP != 200 || text(rep.Root(), "Provision:Status") != "1" || p == nil || text(p, "Provision:Status") != "1" || text(p, "Provision:PolicyKey") == "" {
		return fmt.Errorf("Provision (acknowledge): HTTP %d, status %q/%q", rep.HTTP, text(rep.Root(), "Provision:Status"), text(p, "Provision:Status"))
	}
	c.setPolicyKey(text(p, "Provision:PolicyKey"))
	return nil
}

// Helpers over the codec's etree form: names always carry their page.

func newDoc(root string) (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	return doc, doc.CreateElement(root)
}

func add(parent *etree.Element, name, value string) *etree.Element {
	el := parent.CreateElement(name)
	el.SetText(value)
	return el
}

// child returns the first child named "Page:Tag", or nil.
func child(el *etree.Element, name string) *etree.Element {
	if el == nil {
		return nil
	}
	space, tag, _ := strings.Cut(name, ":")
	for _, c := range el.ChildElements() {
		if c.Space == space && c.Tag == tag {
			return c
		}
	}
	return nil
}

func children(el *etree.Element, name string) []*etree.Element {
	if el == nil {
		return nil
	}
	space, tag, _ := strings.Cut(name, ":")
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Space == space && c.Tag == tag {
			out = append(out, c)
		}
	}
	return out
}

// find walks a path of child names.
func find(el *etree.Element, path ...string) *etree.Element {
	for _, p := range path {
		el = child(el, p)
	}
	return el
}

func text(el *etree.Element, name string) string {
	c := child(el, name)
	if c == nil {
		return ""
	}
	return strings.TrimSpace(c.Text())
}
