package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/devices"
	"airlock/internal/metrics"
	"airlock/push"
	"airlock/store"
	"airlock/store/storetest"
)

// newLiveEnv is newEnv with the change notifications wired as airlock
// serve wires them: one push.Broker wakes held Pings and feeds the mail
// pages' live updates.
func newLiveEnv(t *testing.T, st *store.Store) *testEnv {
	t.Helper()
	ctx := context.Background()
	devs := devices.New(st, nil)
	devs.ConfigTTL = 0
	if err := devs.EnsureDefaults(ctx); err != nil {
		t.Fatal(err)
	}
	broker, stop, err := push.Attach(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := &activesync.BasicAuth{Store: st, Audit: devs}
	auth.Lockout = activesync.DefaultLockout
	auth.Lockout.Delay = time.Millisecond
	eas := activesync.New(activesync.Options{Store: st, Devices: devs, Authenticator: auth, Notifier: broker})
	w := NewServer(Deps{Store: st, Devices: devs, EAS: eas, EASAuth: auth, Hostname: "mail.example.nhs.uk", Log: testLogger(t), Changes: broker})
	w.auditRL = newLimiterSet(1000, 1000)
	srv := httptest.NewServer(w)
	env := &testEnv{t: t, URL: srv.URL, Store: st, Web: w, Devs: devs, EAS: eas, panics: counterValue(metrics.PanicsRecovered)}
	t.Cleanup(func() {
		eas.EndHeldRequests()
		srv.CloseClientConnections()
		srv.Close()
		stop()
		if d := counterValue(metrics.PanicsRecovered) - env.panics; d != 0 {
			t.Errorf("%v panics recovered in the web layer", d)
		}
	})
	return env
}

// sse is an open event stream, read event by event.
type sse struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
}

type sseEvent struct{ name, data string }

func (b *browser) events(t *testing.T) *sse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+"/mail/events", nil)
	c := *b.c
	c.Timeout = 0 // a stream
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/mail/events: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{t: t, resp: resp, events: make(chan sseEvent, 16)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

// next returns the next event, or ok false when the stream ended.
func (s *sse) next(within time.Duration) (sseEvent, bool) {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		return ev, ok
	case <-time.After(within):
		s.t.Fatalf("no event within %v", within)
		return sseEvent{}, false
	}
}

// TestLiveEvents: mail delivered into the Inbox reaches an open stream
// within a second with the new unread count; signing out ends the stream,
// and the browser's reconnection is told to go to sign-in; a user's
// streams are bounded.
func TestLiveEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newLiveEnv(t, st)
		const pw = "live-pass-1"
		u := e.addUser("ward@example.nhs.uk", pw, store.RoleUser)
		inbox := folderOf(t, st, u, store.FolderInbox)
		b := e.browser()
		b.login(u.Email, pw)
		stream := b.events(t)

		start := time.Now()
		deliver(t, st, u, inbox.ID, []byte("From: lab@example.nhs.uk\r\nTo: "+u.Email+"\r\nSubject: Bloods\r\n\r\nResults.\r\n"))
		ev, ok := stream.next(2 * time.Second)
		took := time.Since(start)
		if !ok || ev.name != "mail" {
			t.Fatalf("after delivery: %+v (open %v)", ev, ok)
		}
		var got liveEvent
		if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Changed) != 1 || got.Changed[0] != inbox.ID || got.Unread[fmt.Sprint(inbox.ID)] != 1 {
			t.Fatalf("event %s, want the Inbox changed with 1 unread", ev.data)
		}
		if took > time.Second {
			t.Fatalf("the event came %v after delivery, want under 1 s", took)
		}
		if strings.Contains(ev.data, "Bloods") {
			t.Fatal("the event carries the subject")
		}
		t.Logf("event %v after delivery", took)

		// The bound: four streams per user; the fifth is told to wait.
		for range livePerUser - 1 {
			b.events(t)
		}
		if ev, _ := b.events(t).next(2 * time.Second); ev.name != "busy" {
			t.Fatalf("fifth stream: %+v, want busy", ev)
		}

		// Signing out (here from another browser) ends every stream of
		// the user at once.
		other := e.browser()
		other.login(u.Email, pw)
		other.postForm("/mail/folders", "/logout", nil)
		if ev, ok := stream.next(2 * time.Second); ok {
			t.Fatalf("stream after sign-out: %+v", ev)
		}
		waitFor(t, func() bool { return e.Web.live.open() == 0 })
		// The browser reconnects with its now revoked cookie: go to sign-in.
		if ev, _ := b.events(t).next(2 * time.Second); ev.name != "end" {
			t.Fatalf("reconnection after sign-out: %+v, want end", ev)
		}
	})
}

// TestLiveStreamDoesNotRenewSession: watching the stream and the live
// refresh of the list are not activity; the session expires as if the
// page were left alone.
func TestLiveStreamDoesNotRenewSession(t *testing.T) {
	st := storetest.OpenSQLite(t)
	e := newLiveEnv(t, st)
	now := time.Now()
	e.Web.d.Now = func() time.Time { return now }
	u := e.addUser("idle@example.nhs.uk", "idle-pass-1", store.RoleUser)
	b := e.browser()
	b.login(u.Email, "idle-pass-1")
	now = now.Add(15 * time.Minute) // past half the 20-minute token
	req, _ := http.NewRequest(http.MethodGet, b.base+"/mail", nil)
	req.Header.Set("X-Airlock-Background", "1")
	if r := b.do(req); r.Header.Get("Set-Cookie") != "" {
		t.Fatalf("a background request renewed the session: %s", r.Header.Get("Set-Cookie"))
	}
	if r := b.get("/mail"); !strings.Contains(r.Header.Get("Set-Cookie"), sessionCookie) {
		t.Fatal("a click did not renew the session")
	}
}

// TestBrowserChangeWakesPing: a change made in the browser (marking a
// message read) wakes the phone's held Ping through the same notification
// path as any store change, on both databases.
func TestBrowserChangeWakesPing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newLiveEnv(t, st)
		const pw = "ping-pass-1"
		u := e.addUser("nurse@example.nhs.uk", pw, store.RoleUser)
		inbox := folderOf(t, st, u, store.FolderInbox)
		it := deliver(t, st, u, inbox.ID, []byte("From: lab@example.nhs.uk\r\nTo: "+u.Email+"\r\nSubject: Results\r\n\r\nResults.\r\n"))
		ph := newPhone(t, e.URL, u.Email, pw)
		ph.sync("Inbox")
		inboxSID := ph.folders["Inbox"]
		res := make(chan *eastest.Result, 1)
		go func() {
			res <- ph.d.Do("Ping", `<Ping:Ping><Ping:HeartbeatInterval>600</Ping:HeartbeatInterval><Ping:Folders><Ping:Folder><Ping:Id>`+inboxSID+`</Ping:Id><Ping:Class>Email</Ping:Class></Ping:Folder></Ping:Folders></Ping:Ping>`)
		}()
		waitFor(t, func() bool { return e.EAS.HeldPings() == 1 })

		b := e.browser()
		b.login(u.Email, pw)
		start := time.Now()
		if r := b.postForm(itemURL(inbox.ID, it.ID), itemURL(inbox.ID, it.ID)+"/flag", nil); r.Code != http.StatusSeeOther {
			t.Fatalf("flag: HTTP %d", r.Code)
		}
		select {
		case r := <-res:
			r.Expect(200, "Ping:Status", "2")
			if id := r.Text("Ping:Folders/Ping:Folder"); id != inboxSID {
				t.Fatalf("Ping names %q, want the Inbox %s", id, inboxSID)
			}
			t.Logf("the held Ping answered %v after the click", time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatal("the held Ping did not wake")
		}
		if cmds := ph.sync("Inbox"); count(cmds, "Change") != 1 {
			t.Fatalf("the phone's Sync after the Ping: %d changes", count(cmds, "Change"))
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
