package activesync_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/activesync/wbxml"
	"airlock/store"
	"airlock/store/storetest"
)

// TestHeldPingWaitsOutsideNetHTTP: a held Ping gives its connection's
// net/http goroutine (and with it the buffers, the request and the handler
// stack) back, and waits in a small goroutine of its own; over plain HTTP
// and TLS it keeps every behaviour of a Ping held in the handler
// (PingOptions.KeepInHandler): the wake-up on delivery, the end by a newer
// request of the device, the end at shutdown, and a device that drops the
// connection is noticed and its Ping released.
func TestHeldPingWaitsOutsideNetHTTP(t *testing.T) {
	for _, mode := range []struct {
		name      string
		keep, tls bool
	}{
		{"detached-http", false, false},
		{"detached-tls", false, true},
		{"in-handler-http", true, false},
		{"in-handler-tls", true, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, st *store.Store) {
				e := pmSetup(t, st, eastest.ServerOptions{Ping: activesync.PingOptions{KeepInHandler: mode.keep}})
				if mode.tls {
					mux := http.NewServeMux()
					mux.Handle("/Microsoft-Server-ActiveSync", e.srv.Handler)
					ts := httptest.NewTLSServer(mux)
					t.Cleanup(func() { e.srv.Handler.EndHeldRequests(); ts.Close() })
					e.dev.BaseURL = ts.URL
				}
				addr := smtpListen(t, e.srv.Mail)
				inbox := e.folders["Inbox"]
				// Where a held Ping waits: net/http's connection goroutine
				// running our handler, or our own goroutines.
				wantHTTP, wantOwn := 0, 1
				if runtime.GOOS != "linux" {
					wantOwn = 2 // a reading goroutine per Ping watches its connection
				}
				if mode.keep {
					wantHTTP, wantOwn = 1, 0
				}
				checkGoroutines := func(when string, inHTTP, own int) {
					t.Helper()
					deadline := time.Now().Add(5 * time.Second)
					for {
						h, o := pingGoroutines()
						if h == inHTTP && o == own {
							return
						}
						if time.Now().After(deadline) {
							t.Fatalf("%s: %d goroutines of net/http in the EAS handler and %d of detached Pings, want %d and %d", when, h, o, inHTTP, own)
						}
						time.Sleep(5 * time.Millisecond)
					}
				}

				// Woken by a delivery: Status 2.
				res := pingAsync(e.dev, pingXML(600, inbox))
				e.waitHeld(1)
				checkGoroutines("held", wantHTTP, wantOwn)
				smtpSend(t, addr, "alice@example.nhs.uk", "detached-"+mode.name)
				r := pmResult(t, res, 5*time.Second).Expect(200, "Ping:Status", "2")
				if got := changedFolders(r); len(got) != 1 || got[0] != inbox {
					t.Fatalf("changed %v, want the Inbox %s", got, inbox)
				}
				if got := r.Header.Get("MS-Server-ActiveSync"); got == "" {
					t.Error("the answer lacks MS-Server-ActiveSync")
				}
				e.waitHeld(0)
				checkGoroutines("answered", 0, 0)
				e.inbox.drain(t, e.dev, 100, "")

				// Ended by a newer request of the device.
				res = pingAsync(e.dev, pingXML(600, inbox))
				e.waitHeld(1)
				e.dev.Do("Ping", pingXML(5)).Expect(200, "Ping:Status", "5")
				pmResult(t, res, 2*time.Second).Expect(200, "Ping:Status", "1")
				e.waitHeld(0)

				// The device drops the connection: noticed, released.
				c := rawPingConn(t, e.dev, mode.tls, 600, inbox)
				e.waitHeld(1)
				checkGoroutines("held on a raw connection", wantHTTP, wantOwn)
				c.Close()
				e.waitHeld(0)
				checkGoroutines("after the device went away", 0, 0)

				// The answer on the wire is well-formed HTTP/1.1: a Ping
				// on a connection of its own, ended by a newer request.
				c = rawPingConn(t, e.dev, mode.tls, 600, inbox)
				e.waitHeld(1)
				e.dev.Do("Ping", pingXML(5)).Expect(200, "Ping:Status", "5")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("superseded raw Ping: %v", err)
				}
				body, _ := io.ReadAll(resp.Body)
				if doc, err := wbxml.Unmarshal(body); err != nil || doc.Root() == nil || doc.Root().SelectElement("Status") == nil || doc.Root().SelectElement("Status").Text() != "1" {
					t.Fatalf("superseded raw Ping answered %d %q (%v)", resp.StatusCode, body, err)
				}
				if resp.Close == mode.keep { // a detached answer closes the connection
					t.Errorf("Connection: close is %v", resp.Close)
				}
				c.Close()

				// Shutdown: Status 1 at once, and WaitHeldRequests sees
				// every detached answer written.
				res = pingAsync(e.dev, pingXML(600, inbox))
				e.waitHeld(1)
				e.srv.Handler.EndHeldRequests()
				pmResult(t, res, 2*time.Second).Expect(200, "Ping:Status", "1")
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				if err := e.srv.Handler.WaitHeldRequests(ctx); err != nil {
					t.Fatalf("WaitHeldRequests: %v", err)
				}
				checkGoroutines("after shutdown", 0, 0)
			})
		})
	}
}

// pingGoroutines counts the goroutines of net/http connections that are in
// the EAS handler, and those of Pings waiting outside net/http.
func pingGoroutines() (inHTTP, own int) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case strings.Contains(g, "net/http.(*conn).serve") && strings.Contains(g, "activesync.(*Handler).ServeHTTP"):
			inHTTP++
		case strings.Contains(g, "activesync.(*pingWait).detached"), strings.Contains(g, "activesync.watchByReading"):
			own++
		}
	}
	return inHTTP, own
}

// rawPingConn writes a Ping of dev on a connection of its own and returns
// the connection, unread.
func rawPingConn(t *testing.T, dev *eastest.Device, useTLS bool, heartbeat int, folders ...string) net.Conn {
	t.Helper()
	u, err := url.Parse(dev.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	if useTLS {
		c, err = tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true}) // the test server's own certificate
	} else {
		c, err = net.Dial("tcp", u.Host)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	doc, err := wbxml.ParseXML(strings.NewReader(pingXML(heartbeat, folders...)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := wbxml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /Microsoft-Server-ActiveSync?Cmd=Ping&User=%s&DeviceId=%s&DeviceType=%s HTTP/1.1\r\nHost: %s\r\n"+
		"Authorization: Basic %s\r\nMS-ASProtocolVersion: %s\r\nX-MS-PolicyKey: %s\r\nUser-Agent: %s\r\n"+
		"Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: %d\r\n\r\n%s",
		url.QueryEscape(dev.User), dev.DeviceID, dev.Profile.DeviceType, u.Host,
		base64.StdEncoding.EncodeToString([]byte(dev.User+":"+dev.Password)), dev.Profile.Version, dev.PolicyKey,
		dev.Profile.UserAgent, len(body), body)
	return c
}
