package activesync_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/store"
	"airlock/store/storetest"
)

// Helpers of the Ping and SendMail tests carry a "pm" prefix.

const pmPassword = "correct-horse-push-1"

var pmIPhone = eastest.Profile{Name: "iPhonePush", DeviceType: "iPhone", UserAgent: "Apple-iPhone2C1/705.18", Version: "14.1", Model: "iPhone2,1", OS: "iOS 4.3.3 8J2"}

// pmEnv is a server with alice (who has a provisioned device that has
// synced its folder list and its Inbox) and bob.
type pmEnv struct {
	t          testing.TB
	srv        *eastest.Server
	st         *store.Store
	alice, bob *store.User
	dev        *eastest.Device
	folders    map[string]string // DisplayName -> ServerId
	inbox      *replica
}

func pmSetup(t testing.TB, st *store.Store, o eastest.ServerOptions) *pmEnv {
	t.Helper()
	srv := eastest.StartServerWith(t, st, o)
	e := &pmEnv{t: t, srv: srv, st: st}
	e.alice = srv.AddUser(t, "alice@example.nhs.uk", pmPassword)
	e.bob = srv.AddUser(t, "bob@example.nhs.uk", pmPassword)
	e.dev = e.device(pmIPhone, "alice@example.nhs.uk")
	_, adds, res := scFolderSync(t, e.dev, "0")
	if adds == nil {
		t.Fatalf("FolderSync: %s", res.XML())
	}
	e.folders = map[string]string{}
	for id, name := range adds {
		e.folders[name] = id
	}
	e.inbox = newReplica(e.folders["Inbox"])
	e.inbox.initial(t, e.dev, "")
	e.inbox.drain(t, e.dev, 100, "")
	return e
}

func (e *pmEnv) device(p eastest.Profile, user string) *eastest.Device {
	e.t.Helper()
	dev := eastest.NewDevice(e.t, e.srv.URL, p, user, pmPassword)
	dev.CheckWithLibwbxml = false // Ping and ComposeMail are covered by the codec's own tests
	if res := dev.Provision(1); res.Text("Provision:Policies/Provision:Policy/Provision:Status") != "1" {
		e.t.Fatalf("provision: %s", res.XML())
	}
	return dev
}

func pingXML(heartbeat int, ids ...string) string {
	var b strings.Builder
	b.WriteString("<Ping:Ping>")
	if heartbeat != 0 {
		fmt.Fprintf(&b, "<Ping:HeartbeatInterval>%d</Ping:HeartbeatInterval>", heartbeat)
	}
	if len(ids) > 0 {
		b.WriteString("<Ping:Folders>")
		for _, id := range ids {
			fmt.Fprintf(&b, "<Ping:Folder><Ping:Id>%s</Ping:Id><Ping:Class>Email</Ping:Class></Ping:Folder>", id)
		}
		b.WriteString("</Ping:Folders>")
	}
	b.WriteString("</Ping:Ping>")
	return b.String()
}

// pingAsync sends a Ping in the background ("" body: an empty Ping).
func pingAsync(dev *eastest.Device, body string) <-chan *eastest.Result {
	ch := make(chan *eastest.Result, 1)
	go func() {
		if body == "" {
			ch <- dev.DoRaw("Ping", nil, "", nil)
			return
		}
		ch <- dev.Do("Ping", body)
	}()
	return ch
}

// waitHeld waits until the server holds n Pings.
func (e *pmEnv) waitHeld(n int64) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.Handler.HeldPings() != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("server holds %d Pings, want %d", e.srv.Handler.HeldPings(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func pmResult(t *testing.T, ch <-chan *eastest.Result, within time.Duration) *eastest.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("no Ping response within %v", within)
		return nil
	}
}

func changedFolders(r *eastest.Result) []string {
	var out []string
	if f := r.Find("Ping:Folders"); f != nil {
		for _, c := range f.ChildElements() {
			out = append(out, strings.TrimSpace(c.Text()))
		}
	}
	return out
}

// smtpListen starts the SMTP listener of a delivery service on loopback.
func smtpListen(t testing.TB, svc *delivery.Service) string {
	t.Helper()
	l := delivery.NewListeners(svc, delivery.ListenerConfig{}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go l.ServeSMTP(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func smtpSend(t testing.TB, addr, to, subject string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "From: lab@other-trust.example\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject + "@lab.example>\r\n\r\nResults attached.\r\n"
	if err := c.SendMail("lab@other-trust.example", []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
}

// The headline path: mail arrives over SMTP, the held Ping answers Status 2
// naming the Inbox within a second, the device syncs it, and the next
// (empty, cached) Ping waits again.
func TestPingWakesOnSMTPDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{})
		addr := smtpListen(t, e.srv.Mail)
		inbox, cal := e.folders["Inbox"], e.folders["Calendar"]

		res := pingAsync(e.dev, pingXML(600, inbox, cal))
		e.waitHeld(1)
		start := time.Now()
		smtpSend(t, addr, "alice@example.nhs.uk", "bloods")
		r := pmResult(t, res, 5*time.Second)
		took := time.Since(start)
		r.Expect(200, "Ping:Status", "2")
		if got := changedFolders(r); len(got) != 1 || got[0] != inbox {
			t.Fatalf("changed folders %v, want only the Inbox %s\n%s", got, inbox, r.XML())
		}
		if took > time.Second {
			t.Fatalf("Ping answered %v after the SMTP delivery, want under 1 s", took)
		}
		t.Logf("Ping woke %v after the SMTP transaction began", took)

		e.inbox.drain(t, e.dev, 100, "")
		if len(e.inbox.items) != 1 {
			t.Fatalf("device has %d items after syncing", len(e.inbox.items))
		}
		// Empty Ping: the cached folders and heartbeat; nothing new, so it
		// waits (until a newer request of the device ends it).
		res = pingAsync(e.dev, "")
		e.waitHeld(1)
		e.dev.Do("Ping", pingXML(5)).Expect(200, "Ping:Status", "5") // supersedes the held one
		pmResult(t, res, 2*time.Second).Expect(200, "Ping:Status", "1")
		e.waitHeld(0)
	})
}

// Two nodes on one PostgreSQL database: a Ping held on node 1 wakes when
// mail is delivered through node 2's SMTP listener.
func TestPingWakesAcrossNodes(t *testing.T) {
	node1, node2 := twoNodes(t)
	e := pmSetup(t, node1, eastest.ServerOptions{})
	n2 := eastest.StartServer(t, node2)
	addr := smtpListen(t, n2.Mail)

	res := pingAsync(e.dev, pingXML(600, e.folders["Inbox"]))
	e.waitHeld(1)
	start := time.Now()
	smtpSend(t, addr, "alice@example.nhs.uk", "crossnode")
	r := pmResult(t, res, 5*time.Second)
	r.Expect(200, "Ping:Status", "2")
	if got := changedFolders(r); len(got) != 1 || got[0] != e.folders["Inbox"] {
		t.Fatalf("changed %v", got)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("cross-node wake took %v", took)
	}
}

func TestPingStatuses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{Ping: activesync.PingOptions{MaxFolders: 3}})
		inbox := e.folders["Inbox"]

		// Nothing cached: an empty Ping and a Ping lacking Folders are 3.
		e.dev.DoRaw("Ping", nil, "", nil).Expect(200, "Ping:Status", "3")
		e.dev.Do("Ping", pingXML(300)).Expect(200, "Ping:Status", "3")
		// Protocol errors: 4.
		e.dev.Do("Ping", `<Ping:Ping><Ping:Folders/></Ping:Ping>`).Expect(200, "Ping:Status", "4")
		e.dev.Do("Ping", `<Ping:Ping/>`).Expect(200, "Ping:Status", "4")
		e.dev.Do("Ping", `<Ping:Ping><Ping:HeartbeatInterval>soon</Ping:HeartbeatInterval></Ping:Ping>`).Expect(200, "Ping:Status", "4")
		e.dev.Do("Ping", `<Ping:Ping><Ping:Folders><Ping:Folder><Ping:Class>Email</Ping:Class></Ping:Folder></Ping:Folders></Ping:Ping>`).Expect(200, "Ping:Status", "4")
		e.dev.Do("Ping", `<FolderHierarchy:FolderSync/>`).Expect(200, "Ping:Status", "4")

		// Heartbeat limits (MS S19_TC30-33): 5 with the limit crossed.
		for _, hb := range []int{-100, 59} {
			r := e.dev.Do("Ping", pingXML(hb, inbox)).Expect(200, "Ping:Status", "5")
			if got := r.Text("Ping:HeartbeatInterval"); got != "60" {
				t.Fatalf("heartbeat %d: limit %q, want 60", hb, got)
			}
		}
		r := e.dev.Do("Ping", `<Ping:Ping><Ping:HeartbeatInterval>0</Ping:HeartbeatInterval><Ping:Folders><Ping:Folder><Ping:Id>`+inbox+`</Ping:Id></Ping:Folder></Ping:Folders></Ping:Ping>`)
		r.Expect(200, "Ping:Status", "5")
		for _, hb := range []int{3541, 6000000} {
			r := e.dev.Do("Ping", pingXML(hb, inbox)).Expect(200, "Ping:Status", "5")
			if got := r.Text("Ping:HeartbeatInterval"); got != "3540" {
				t.Fatalf("heartbeat %d: limit %q, want 3540", hb, got)
			}
		}
		// Too many folders: 6 with MaxFolders.
		r = e.dev.Do("Ping", pingXML(300, inbox, e.folders["Calendar"], e.folders["Contacts"], e.folders["Tasks"]))
		r.Expect(200, "Ping:Status", "6")
		if got := r.Text("Ping:MaxFolders"); got != "3" {
			t.Fatalf("MaxFolders %q", got)
		}
		// None of the refused Pings was cached.
		e.dev.DoRaw("Ping", nil, "", nil).Expect(200, "Ping:Status", "3")

		// A folder the device does not know: 7 (sync the hierarchy first).
		e.dev.Do("Ping", pingXML(300, "999999")).Expect(200, "Ping:Status", "7")
		// Another user's folder is just as unknown.
		bobInbox, _ := st.FolderByType(context.Background(), e.bob.ID, store.FolderInbox)
		e.dev.Do("Ping", pingXML(300, fmt.Sprint(bobInbox.ID))).Expect(200, "Ping:Status", "7")

		// The limits themselves are accepted: 60 and 3540 hold (ended by
		// the device's next request, Status 1).
		for _, hb := range []int{60, 3540} {
			res := pingAsync(e.dev, pingXML(hb, inbox))
			e.waitHeld(1)
			e.dev.Do("Ping", pingXML(1)).Expect(200, "Ping:Status", "5")
			pmResult(t, res, 2*time.Second).Expect(200, "Ping:Status", "1")
			e.waitHeld(0)
		}
		// A new folder makes the device's hierarchy stale: 7 at once, and
		// 7 for a held Ping too.
		res := pingAsync(e.dev, pingXML(300, inbox))
		e.waitHeld(1)
		if _, err := st.CreateFolder(context.Background(), e.alice.ID, 0, "Audit", store.FolderUserMail); err != nil {
			t.Fatal(err)
		}
		pmResult(t, res, 2*time.Second).Expect(200, "Ping:Status", "7")
		e.dev.Do("Ping", pingXML(300, inbox)).Expect(200, "Ping:Status", "7")
	})
}

func TestPingExpiresAndReportsUnsyncedChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{Ping: activesync.PingOptions{MinHeartbeat: time.Second}})
		inbox := e.folders["Inbox"]
		start := time.Now()
		e.dev.Do("Ping", pingXML(1, inbox)).Expect(200, "Ping:Status", "1")
		if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
			t.Fatalf("a 1 s heartbeat answered after %v", d)
		}
		// Empty Ping: the cached parameters.
		e.dev.DoRaw("Ping", nil, "", nil).Expect(200, "Ping:Status", "1")

		// Mail that arrived while no Ping was held, and that the device
		// has not synced: the next Ping reports it at once.
		f, _ := st.FolderByType(context.Background(), e.alice.ID, store.FolderInbox)
		if err := st.AddItem(context.Background(), &store.Item{UserID: e.alice.ID, FolderID: f.ID, Subject: "while away"}, rawMail(1, "while away", time.Now())); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		r := e.dev.DoRaw("Ping", nil, "", nil).Expect(200, "Ping:Status", "2")
		if got := changedFolders(r); len(got) != 1 || got[0] != inbox || time.Since(start) > 500*time.Millisecond {
			t.Fatalf("changed %v after %v", got, time.Since(start))
		}
		// Once synced, the Ping waits again.
		e.inbox.drain(t, e.dev, 100, "")
		e.dev.DoRaw("Ping", nil, "", nil).Expect(200, "Ping:Status", "1")
	})
}

func TestPingEndsAtShutdownAndOnSyncFromSameDevice(t *testing.T) {
	st := storetest.OpenSQLite(t)
	e := pmSetup(t, st, eastest.ServerOptions{})
	inbox := e.folders["Inbox"]

	// A Sync from the same device ends the held Ping (MS-ASCMD 3.1.5.8).
	res := pingAsync(e.dev, pingXML(600, inbox))
	e.waitHeld(1)
	e.inbox.apply(t, e.dev.Do("Sync", syncXML(inbox, e.inbox.key, 100, "")))
	pmResult(t, res, 2*time.Second).Expect(200, "Ping:Status", "1")
	e.waitHeld(0)

	// Another device of the same user does not end it.
	other := e.device(eastest.Android4, "alice@example.nhs.uk")
	res = pingAsync(e.dev, pingXML(600, inbox))
	e.waitHeld(1)
	other.Do("Settings", `<Settings:Settings><Settings:UserInformation><Settings:Get/></Settings:UserInformation></Settings:Settings>`)
	select {
	case r := <-res:
		t.Fatalf("another device's request ended the Ping: %s", r.XML())
	case <-time.After(100 * time.Millisecond):
	}

	// Shutdown ends it cleanly with Status 1.
	start := time.Now()
	e.srv.Handler.EndHeldRequests()
	pmResult(t, res, 2*time.Second).Expect(200, "Ping:Status", "1")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("shutdown took %v to end the Ping", d)
	}
	// And a Ping after that returns at once.
	e.dev.Do("Ping", pingXML(600, inbox)).Expect(200, "Ping:Status", "1")
}

// twoNodes opens two stores on one fresh PostgreSQL database: the
// database side of two Airlock nodes behind one load balancer.
func twoNodes(t *testing.T) (node1, node2 *store.Store) {
	t.Helper()
	srv, name := storetest.Postgres(t)
	open := func() *store.Store {
		st, err := store.Open(context.Background(), srv.URL(name), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	return open(), open()
}
