package imapgw_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/delivery/deliverytest"
	"airlock/governance"
	"airlock/imapgw"
	"airlock/internal/netallow"
	"airlock/internal/password"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

const pw = "correct horse battery"

// env is an IMAP server with implicit TLS on 127.0.0.1, open to
// 127.0.0.1/32 only, and an EAS server on the same store.
type env struct {
	st       *store.Store
	g        *governance.Service
	srv      *imapgw.Server
	addr     string
	client   *tls.Config
	eas      *eastest.Server
	auditor  *netallow.Auditor
	listener *netallow.Listener
}

func start(t *testing.T, st *store.Store) *env {
	t.Helper()
	e := &env{st: st, g: &governance.Service{Store: st, Hostname: "mail.example.nhs.uk"}}
	cert, pool := deliverytest.SelfSigned(t)
	e.client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	nets, err := netallow.ParseList("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	e.srv = imapgw.New(imapgw.Config{
		Store: st, Access: e.g, PollInterval: 50 * time.Millisecond,
		Authenticate: func(ctx context.Context, login, p, ip string) (*store.User, error) {
			u, err := st.UserByLogin(ctx, login)
			if err != nil {
				return nil, err
			}
			return u, password.Verify(p, u.PasswordHash)
		},
	})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.auditor = netallow.NewAuditor(st, "imap", nil)
	e.listener = &netallow.Listener{Listener: raw, Nets: nets, Refused: e.auditor.Refused}
	ln := tls.NewListener(e.listener, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	e.addr = raw.Addr().String()
	go e.srv.Serve(ln)
	t.Cleanup(func() {
		e.srv.Close()
		e.auditor.Close()
		if n := e.srv.PanicsRecovered.Load(); n != 0 {
			t.Errorf("%d panics recovered in IMAP sessions", n)
		}
	})
	e.eas = eastest.StartServerWith(t, st, eastest.ServerOptions{Mail: &delivery.Service{Store: st, Hostname: "mail.example.nhs.uk"}})
	return e
}

// dial connects from local (127.0.0.1 or another loopback address).
func (e *env) dial(t *testing.T, local string) (*imapclient.Client, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn, e.client)
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		conn.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	c := imapclient.New(tc, nil)
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func (e *env) login(t *testing.T, user string) *imapclient.Client {
	t.Helper()
	c, err := e.dial(t, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, pw).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func deliver(t *testing.T, st *store.Store, to *store.User, subject string) {
	t.Helper()
	svc := &delivery.Service{Store: st, Hostname: "mx.example.nhs.uk"}
	msg := "From: Lab <lab@pathology.example>\r\nTo: " + to.Email + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", "") + "@lab>\r\nDate: Mon, 02 Mar 2026 09:00:00 +0000\r\n\r\nPotassium 4.1 mmol/L.\r\n"
	if err := svc.DeliverInbound(ctx, delivery.Inbound{From: "lab@pathology.example", Recipients: []*store.User{to}, Data: []byte(msg), Protocol: "ESMTP"}); err != nil {
		t.Fatal(err)
	}
}

// phone is an EAS device that synced the Inbox.
type phone struct {
	dev        *eastest.Device
	inbox, key string
}

func (e *env) phone(t *testing.T, user string) *phone {
	t.Helper()
	p := eastest.Profile{Name: "iPhoneIMAP", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "14.1", Model: "iPhone14,7", OS: "iOS 16.1"}
	d := eastest.NewDevice(t, e.eas.URL, p, user, pw)
	d.CheckWithLibwbxml = false
	if res := d.Provision(1); res.Text("Provision:Policies/Provision:Policy/Provision:Status") != "1" {
		t.Fatalf("provision: %s", res.XML())
	}
	res := d.Do("FolderSync", `<FolderHierarchy:FolderSync><FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey></FolderHierarchy:FolderSync>`)
	ph := &phone{dev: d}
	for _, a := range res.Find("FolderHierarchy:Changes").ChildElements() {
		if a.Tag == "Add" && child(a, "DisplayName") == "Inbox" {
			ph.inbox = child(a, "ServerId")
		}
	}
	res = d.Do("Sync", syncXML("0", ph.inbox, ""))
	ph.key = res.Text("AirSync:Collections/AirSync:Collection/AirSync:SyncKey")
	return ph
}

func child(el *etree.Element, tag string) string {
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return strings.TrimSpace(c.Text())
		}
	}
	return ""
}

func syncXML(key, coll, commands string) string {
	x := "<AirSync:Sync><AirSync:Collections><AirSync:Collection><AirSync:SyncKey>" + key + "</AirSync:SyncKey><AirSync:CollectionId>" + coll + "</AirSync:CollectionId>"
	if key != "0" {
		x += "<AirSync:GetChanges>1</AirSync:GetChanges>"
	}
	return x + commands + "</AirSync:Collection></AirSync:Collections></AirSync:Sync>"
}

// sync runs one Sync and returns the Add and Change elements' ServerIds with
// their ApplicationData.
func (p *phone) sync(t *testing.T, commands string) map[string]*etree.Element {
	t.Helper()
	res := p.dev.Do("Sync", syncXML(p.key, p.inbox, commands))
	coll := res.Find("AirSync:Collections/AirSync:Collection")
	if coll == nil {
		t.Fatalf("sync: %s", res.XML())
	}
	p.key = child(coll, "SyncKey")
	out := map[string]*etree.Element{}
	for _, c := range coll.ChildElements() {
		if c.Tag != "Commands" {
			continue
		}
		for _, cmd := range c.ChildElements() {
			for _, x := range cmd.ChildElements() {
				if x.Tag == "ApplicationData" {
					out[child(cmd, "ServerId")] = x
				}
			}
		}
	}
	return out
}

func TestIMAPSeesWhatThePhoneSyncedAndBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := start(t, st)
		alice := e.eas.AddUser(t, "alice@example.nhs.uk", pw)
		ph := e.phone(t, "alice@example.nhs.uk")
		deliver(t, st, alice, "Blood results")
		adds := ph.sync(t, "")
		if len(adds) != 1 {
			t.Fatalf("phone got %d messages", len(adds))
		}
		var serverID string
		for id := range adds {
			serverID = id
		}
		// The phone reads it.
		ph.sync(t, "<AirSync:Commands><AirSync:Change><AirSync:ServerId>"+serverID+"</AirSync:ServerId><AirSync:ApplicationData><Email:Read>1</Email:Read></AirSync:ApplicationData></AirSync:Change></AirSync:Commands>")

		c := e.login(t, "alice@example.nhs.uk")
		boxes, err := c.List("", "*", nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, b := range boxes {
			names = append(names, b.Mailbox)
		}
		for _, want := range []string{"INBOX", "Sent Items", "Drafts", "Deleted Items"} {
			if !slices.Contains(names, want) {
				t.Fatalf("LIST %v lacks %s", names, want)
			}
		}
		if slices.Contains(names, "Calendar") {
			t.Fatalf("LIST shows a calendar: %v", names)
		}
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil || sel.NumMessages != 1 {
			t.Fatalf("SELECT: %+v %v", sel, err)
		}
		body := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Flags: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{body}}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("FETCH: %v %v", msgs, err)
		}
		m := msgs[0]
		raw := string(m.FindBodySection(body))
		if m.Envelope.Subject != "Blood results" || !strings.Contains(raw, "Potassium 4.1") || !strings.HasPrefix(raw, "Received: ") {
			t.Fatalf("message: %+v\n%s", m.Envelope, raw)
		}
		if !slices.Contains(m.Flags, imap.FlagSeen) {
			t.Fatalf("read on the phone, not \\Seen here: %v", m.Flags)
		}
		if uint32(m.UID) == 0 || strings.TrimPrefix(serverID, ph.inbox+":") == "" {
			t.Fatal("no UID")
		}

		// Flag it on the desktop: the phone sees the flag.
		if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		changes := ph.sync(t, "")
		ad := changes[serverID]
		if ad == nil || !strings.Contains(xmlOf(ad), "Flag") || !strings.Contains(xmlOf(ad), ">2<") {
			t.Fatalf("phone did not see the flag: %v", changes)
		}
		// New mail arrives: NOOP shows it.
		deliver(t, st, alice, "Second result")
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if n := c.Mailbox().NumMessages; n != 2 {
			t.Fatalf("after new mail, %d messages", n)
		}
		// Searching and moving.
		found, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "second"}}}, nil).Wait()
		if err != nil || !slices.Equal(found.AllSeqNums(), []uint32{2}) {
			t.Fatalf("SEARCH: %v %v", found, err)
		}
		if _, err := c.Move(imap.SeqSetNum(2), "Deleted Items").Wait(); err != nil {
			t.Fatal(err)
		}
		if n := c.Mailbox().NumMessages; n != 1 {
			t.Fatalf("after MOVE, %d messages", n)
		}
		if f, _ := st.FolderByType(ctx, alice.ID, store.FolderDeletedItems); f != nil {
			if n, _ := st.CountItems(ctx, alice.ID, f.ID); n != 1 {
				t.Fatalf("Deleted Items holds %d", n)
			}
		}
		var logins int
		evs, _ := st.ListAudit(ctx, store.AuditFilter{Action: "imap.login"})
		for _, ev := range evs {
			if ev.Outcome == "success" {
				logins++
			}
		}
		if logins != 1 {
			t.Fatalf("%d login audit events", logins)
		}
	})
}

func xmlOf(el *etree.Element) string {
	d := etree.NewDocument()
	d.SetRoot(el.Copy())
	s, _ := d.WriteToString()
	return s
}

func TestIMAPRefusesOutsideTheInternalNetworks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := start(t, st)
		e.eas.AddUser(t, "alice@example.nhs.uk", pw)
		c, err := e.dial(t, "127.0.0.2")
		if err == nil {
			err = c.Login("alice@example.nhs.uk", pw).Wait()
		}
		if err == nil {
			t.Fatal("a client outside 127.0.0.1/32 logged in")
		}
		if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "closed") {
			t.Logf("refused with %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			evs, err := st.ListAudit(ctx, store.AuditFilter{Action: "imap.refused"})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 1 && evs[0].ActorIP == "127.0.0.2" && evs[0].Outcome == "denied" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("refusal not audited: %+v", evs)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if e.listener.Count.Load() != 1 {
			t.Fatalf("%d refused", e.listener.Count.Load())
		}
		// The allowed address still gets in.
		e.login(t, "alice@example.nhs.uk")
		if netallow.Allowed(netip.MustParseAddr("127.0.0.2"), e.listener.Nets) {
			t.Fatal("127.0.0.2 allowed")
		}
	})
}

func TestIMAPSharedMailboxesReadOnlyAndAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := start(t, st)
		owner := e.eas.AddUser(t, "consultant@example.nhs.uk", pw)
		pa := e.eas.AddUser(t, "pa@example.nhs.uk", pw)
		e.eas.AddUser(t, "other@example.nhs.uk", pw)
		deliver(t, st, owner, "Clinic list")

		box := "Other Users/consultant@example.nhs.uk/INBOX"
		other := e.login(t, "other@example.nhs.uk")
		if _, err := other.Select(box, nil).Wait(); err == nil {
			t.Fatal("a stranger opened the consultant's Inbox")
		}
		if err := e.g.GrantDelegate(ctx, governance.Actor{UserID: owner.ID, Name: owner.Email}, owner, pa, store.ScopeMail, store.PermissionRead); err != nil {
			t.Fatal(err)
		}
		c := e.login(t, "pa@example.nhs.uk")
		boxes, _ := c.List("", "*", nil).Collect()
		var names []string
		for _, b := range boxes {
			names = append(names, b.Mailbox)
		}
		if !slices.Contains(names, box) {
			t.Fatalf("LIST %v lacks %s", names, box)
		}
		if _, err := c.Select(box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		body := &imap.FetchItemBodySection{} // not PEEK: would set \Seen on one's own mail
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}}).Collect()
		if err != nil || len(msgs) != 1 || !strings.Contains(string(msgs[0].FindBodySection(body)), "Potassium") {
			t.Fatalf("delegate FETCH: %v %v", msgs, err)
		}
		if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err == nil {
			t.Fatal("a read-only delegate changed flags")
		}
		its, _ := st.ListItems(ctx, owner.ID, mustInbox(t, st, owner), 0, 10)
		if len(its) != 1 || its[0].Read {
			t.Fatalf("the delegate's reading marked the owner's mail read: %+v", its)
		}
		evs, _ := st.ListAudit(ctx, store.AuditFilter{Action: "imap.shared_open"})
		if len(evs) != 1 || evs[0].Actor != "pa@example.nhs.uk" || *evs[0].UserID != owner.ID {
			t.Fatalf("shared open audit: %+v", evs)
		}
		// Revoked: gone at once.
		if err := e.g.RevokeDelegate(ctx, governance.Actor{UserID: owner.ID, Name: owner.Email}, owner, pa, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select(box, nil).Wait(); err == nil {
			t.Fatal("opened after revocation")
		}
	})
}

func mustInbox(t *testing.T, st *store.Store, u *store.User) int64 {
	f, err := st.FolderByType(ctx, u.ID, store.FolderInbox)
	if err != nil {
		t.Fatal(err)
	}
	return f.ID
}

// On a plain port, LOGIN is disabled until STARTTLS.
func TestIMAPLoginNeedsTLS(t *testing.T) {
	st := storetest.OpenSQLite(t)
	cert, pool := deliverytest.SelfSigned(t)
	h, _ := password.Hash(pw, password.Default)
	if err := st.CreateUser(ctx, &store.User{Email: "alice@example.nhs.uk", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	srv := imapgw.New(imapgw.Config{Store: st, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		Authenticate: func(ctx context.Context, login, p, ip string) (*store.User, error) {
			u, err := st.UserByLogin(ctx, login)
			if err != nil {
				return nil, err
			}
			return u, password.Verify(p, u.PasswordHash)
		}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := imapclient.DialInsecure(ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Caps().Has(imap.CapLoginDisabled) || !c.Caps().Has(imap.CapStartTLS) {
		t.Fatalf("capabilities before TLS: %v", c.Caps())
	}
	if err := c.Login("alice@example.nhs.uk", pw).Wait(); err == nil {
		t.Fatal("LOGIN in the clear accepted")
	}
	c2, err := imapclient.DialStartTLS(ln.Addr().String(), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login("alice@example.nhs.uk", pw).Wait(); err != nil {
		t.Fatalf("LOGIN after STARTTLS: %v", err)
	}
}

// Break-glass access opens the owner's mailbox read-only once both
// approvals are in, and the opening names the request in the audit log.
func TestIMAPBreakGlass(t *testing.T) {
	st := storetest.OpenSQLite(t)
	e := start(t, st)
	owner := e.eas.AddUser(t, "absent@example.nhs.uk", pw)
	manager := e.eas.AddUser(t, "manager@example.nhs.uk", pw)
	hr := e.eas.AddUser(t, "hr@example.nhs.uk", pw)
	head := e.eas.AddUser(t, "head@example.nhs.uk", pw)
	op := governance.Actor{Name: "cli:root"}
	e.g.GrantRole(ctx, op, hr, governance.RoleHRDirector)
	e.g.GrantRole(ctx, op, head, governance.RoleProgrammeHead)
	deliver(t, st, owner, "Urgent referral")
	req, err := e.g.RequestBreakGlass(ctx, manager, owner, "Referrals waiting while the owner is on leave", time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	c := e.login(t, "manager@example.nhs.uk")
	box := "Other Users/absent@example.nhs.uk/INBOX"
	if _, err := e.g.ApproveBreakGlass(ctx, req.ID, hr, "", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(box, nil).Wait(); err == nil {
		t.Fatal("opened with one approval")
	}
	if _, err := e.g.ApproveBreakGlass(ctx, req.ID, head, "", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(box, nil).Wait(); err != nil {
		t.Fatalf("with two approvals: %v", err)
	}
	body := &imap.FetchItemBodySection{}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v", err)
	}
	evs, _ := st.ListAudit(ctx, store.AuditFilter{Action: "imap.shared_open"})
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "break-glass request") {
		t.Fatalf("audit: %+v", evs)
	}
	if err := e.g.RevokeBreakGlass(ctx, op, req.ID, "done"); err != nil {
		t.Fatal(err)
	}
	// The session that has it open loses it at its next command.
	if _, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}}).Collect(); err == nil {
		t.Fatal("fetched after revocation")
	}
	if _, err := c.Select(box, nil).Wait(); err == nil {
		t.Fatal("opened after revocation")
	}
}
