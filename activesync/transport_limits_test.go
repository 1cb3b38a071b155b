package activesync_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/activesync/wbxml"
	"airlock/store"
	"airlock/store/storetest"
)

// Attacks on request bodies and connections, played on raw connections so
// that a request's head can be sent without its body.

// rawEAS is one request written by hand on its own connection.
type rawEAS struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// easHead opens a connection and sends the head of an EAS command of dev
// declaring a body of length bytes (-1: chunked); auth false leaves the
// credentials out.
func easHead(t testing.TB, dev *eastest.Device, cmd string, length int64, auth bool) *rawEAS {
	t.Helper()
	u, err := url.Parse(dev.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "POST /Microsoft-Server-ActiveSync?Cmd=%s&User=%s&DeviceId=%s&DeviceType=%s HTTP/1.1\r\nHost: %s\r\n",
		cmd, url.QueryEscape(dev.User), dev.DeviceID, dev.Profile.DeviceType, u.Host)
	fmt.Fprintf(&b, "MS-ASProtocolVersion: %s\r\nContent-Type: application/vnd.ms-sync.wbxml\r\n", dev.Profile.Version)
	if dev.PolicyKey != "" {
		fmt.Fprintf(&b, "X-MS-PolicyKey: %s\r\n", dev.PolicyKey)
	}
	if auth {
		fmt.Fprintf(&b, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(dev.User+":"+dev.Password)))
	}
	if length >= 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", length)
	} else {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	return &rawEAS{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// response reads the answer, failing the test when none comes within
// 10 s (the server is waiting for a body it should not want).
func (r *rawEAS) response() *http.Response {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		r.t.Fatalf("no answer without the body: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closed reports whether the server closes the connection within 10 s
// (anything it still sends is skipped).
func (r *rawEAS) closed() bool {
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, r.br)
	ne, ok := err.(net.Error)
	return err == nil || !(ok && ne.Timeout())
}

func waitInFlight(t testing.TB, h *activesync.Handler, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.RequestsInFlight() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight, want %d", h.RequestsInFlight(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

const body31MB = 31 << 20

// Large bodies per request: a client that is not signed in, a device that
// is not approved, and any device sending a command that carries no mail,
// are refused on the declared length, before one byte of the body is read.
func TestLargeBodiesPerRequestRefusedBeforeTheyAreRead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{})
		fresh := eastest.NewDevice(t, e.srv.URL, pmIPhone, "alice@example.nhs.uk", pmPassword) // never provisioned
		cases := []struct {
			name string
			dev  *eastest.Device
			cmd  string
			auth bool
			want int
		}{
			{"unauthenticated Provision", fresh, "Provision", false, http.StatusUnauthorized},
			{"unauthenticated Sync", e.dev, "Sync", false, http.StatusUnauthorized},
			{"unapproved device's Provision", fresh, "Provision", true, http.StatusRequestEntityTooLarge},
			{"unapproved device's Sync", fresh, "Sync", true, http.StatusOK}, // Status 142: provision first
			{"approved device's Provision", e.dev, "Provision", true, http.StatusRequestEntityTooLarge},
			{"approved device's Ping", e.dev, "Ping", true, http.StatusRequestEntityTooLarge},
			{"approved device's FolderSync", e.dev, "FolderSync", true, http.StatusRequestEntityTooLarge},
			{"approved device's Settings", e.dev, "Settings", true, http.StatusRequestEntityTooLarge},
			{"approved device's FolderCreate", e.dev, "FolderCreate", true, http.StatusRequestEntityTooLarge},
			{"approved device's 40 MB Sync", e.dev, "Sync", true, http.StatusRequestEntityTooLarge},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				n := int64(body31MB)
				if strings.Contains(tc.name, "40 MB") {
					n = 40 << 20
				}
				r := easHead(t, tc.dev, tc.cmd, n, tc.auth)
				if got := r.response().StatusCode; got != tc.want {
					t.Fatalf("HTTP %d, want %d", got, tc.want)
				}
			})
		}
		// Without a declared length the body is read up to the small
		// limit and no further.
		t.Run("unapproved device's chunked Provision", func(t *testing.T) {
			r := easHead(t, fresh, "Provision", -1, true)
			var sent atomic.Int64
			go func() {
				chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, bytes.Repeat([]byte{'x'}, 64<<10))
				for sent.Load() < body31MB {
					if _, err := io.WriteString(r.conn, chunk); err != nil {
						return
					}
					sent.Add(64 << 10)
				}
			}()
			if got := r.response().StatusCode; got != http.StatusRequestEntityTooLarge {
				t.Fatalf("HTTP %d, want 413", got)
			}
			if s := sent.Load(); s >= body31MB {
				t.Fatalf("server took the whole %d bytes", s)
			}
		})
	})
}

// Large bodies per request: sixteen 31 MB Syncs at once from one account
// (four devices, four each). Only two fit the account's body budget; the
// others are refused with 503 and Retry-After before their bodies are read,
// and the server's heap stays bounded while they all send.
func TestLargeBodiesPerRequestInFlightCappedPerAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{})
		devs := []*eastest.Device{e.dev}
		for len(devs) < 4 {
			devs = append(devs, e.device(pmIPhone, "alice@example.nhs.uk"))
		}
		junk := bytes.Repeat([]byte{0x03, 0x01, 0x6a, 0x00}, body31MB/4)

		// Heads first: the budget is taken before any body is read.
		var waiting []*rawEAS
		refused := 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 16 {
			r := easHead(t, devs[i%4], "Sync", body31MB, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				resp, err := http.ReadResponse(r.br, nil)
				mu.Lock()
				defer mu.Unlock()
				if err != nil { // still waiting for its body: admitted
					waiting = append(waiting, r)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
					t.Errorf("HTTP %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
				refused++
			}()
		}
		wg.Wait()
		if refused != 14 || len(waiting) != 2 {
			t.Fatalf("%d refused, %d admitted; want 14 and 2", refused, len(waiting))
		}
		waitInFlight(t, e.srv.Handler, 2)
		for _, r := range waiting {
			r.conn.Close()
		}
		waitInFlight(t, e.srv.Handler, 0)

		// All sixteen at once with their bodies: the heap stays bounded.
		peak := heapGrowthDuring(func() {
			var wg sync.WaitGroup
			var busy atomic.Int64
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					dev := devs[i%4]
					req, _ := http.NewRequest(http.MethodPost, dev.BaseURL+"/Microsoft-Server-ActiveSync?Cmd=Sync&User="+url.QueryEscape(dev.User)+"&DeviceId="+dev.DeviceID+"&DeviceType="+dev.Profile.DeviceType, bytes.NewReader(junk))
					req.SetBasicAuth(dev.User, dev.Password)
					req.Header.Set("MS-ASProtocolVersion", dev.Profile.Version)
					req.Header.Set("X-MS-PolicyKey", dev.PolicyKey)
					resp, err := dev.Client.Do(req)
					if err != nil || resp.StatusCode == http.StatusServiceUnavailable {
						busy.Add(1) // refused: the server closed before taking the body
					}
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
			wg.Wait()
			if busy.Load() == 0 {
				t.Errorf("16 parallel 31 MB Syncs all admitted")
			}
		})
		t.Logf("heap growth with 16 parallel 31 MB Syncs of one account: %d MB", peak>>20)
		if peak > 256<<20 {
			t.Fatalf("heap grew by %d MB, want under 256 MB", peak>>20)
		}
	})
}

// heapGrowthDuring runs f and returns the highest heap in use it saw above
// the level before f, sampled every few milliseconds.
func heapGrowthDuring(f func()) int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	base := int64(m.HeapInuse)
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if g := int64(m.HeapInuse) - base; g > peak.Load() {
				peak.Store(g)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load()
}

// Large bodies per request: a device has at most four requests in flight;
// the fifth is refused. Its held Ping is not one of the four: the device's
// next requests are admitted beside it, and its next Ping ends it.
func TestLargeBodiesPerRequestInFlightCappedPerDeviceHeldPingExempt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := pmSetup(t, st, eastest.ServerOptions{})
		ping := pingAsync(e.dev, pingXML(600, e.folders["Inbox"]))
		e.waitHeld(1)

		body := wbxmlOf(t, folderSync0)
		var heads []*rawEAS
		for i := range activesync.DefaultMaxPerDevice {
			heads = append(heads, easHead(t, e.dev, "FolderSync", int64(len(body)), true))
			waitInFlight(t, e.srv.Handler, i+1)
		}
		fifth := easHead(t, e.dev, "FolderSync", int64(len(body)), true)
		fifth.conn.Write(body) // net/http reads a small refused body to keep the connection
		if resp := fifth.response(); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("fifth request: HTTP %d, want 503", resp.StatusCode)
		}
		for _, r := range heads {
			r.conn.Write(body)
			if resp := r.response(); resp.StatusCode != http.StatusOK {
				t.Fatalf("admitted request: HTTP %d", resp.StatusCode)
			}
		}
		e.dev.Do("Ping", pingXML(5)).Expect(200, "Ping:Status", "5")
		pmResult(t, ping, 5*time.Second).Expect(200, "Ping:Status", "1") // superseded
		waitInFlight(t, e.srv.Handler, 0)
	})
}

func wbxmlOf(t testing.TB, xml string) []byte {
	t.Helper()
	doc, err := wbxml.ParseXML(strings.NewReader(xml))
	if err != nil {
		t.Fatal(err)
	}
	b, err := wbxml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Slow request bodies: a client that sends its body a byte at a time is cut
// off when its body deadline passes, signed in or not, while a held Ping,
// whose body arrived whole, waits on past that deadline.
func TestSlowRequestBodiesAreCutOff(t *testing.T) {
	lim := activesync.Limits{BodyTimeout: 200 * time.Millisecond, MinBodyRate: 1 << 30}
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("KeepInHandler=%v", keep), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, st *store.Store) {
				e := pmSetup(t, st, eastest.ServerOptions{Limits: lim, Ping: activesync.PingOptions{KeepInHandler: keep}})
				ping := pingAsync(e.dev, pingXML(600, e.folders["Inbox"]))
				e.waitHeld(1)

				signedIn := easHead(t, e.dev, "FolderSync", 1000, true)
				signedIn.conn.Write([]byte{0x03})
				if !signedIn.closed() {
					t.Fatal("a signed-in client trickling its body is held past its deadline")
				}
				anonymous := easHead(t, e.dev, "FolderSync", 1000, false)
				anonymous.conn.Write([]byte{0x03})
				if resp := anonymous.response(); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("anonymous: HTTP %d", resp.StatusCode)
				}
				if !anonymous.closed() {
					t.Fatal("an anonymous client trickling its body is held past its deadline")
				}

				for _, body := range []string{"", "empty"} {
					if body == "empty" { // an empty Ping: the cached folders
						ping = pingAsync(e.dev, "")
						e.waitHeld(1)
					}
					time.Sleep(5 * lim.BodyTimeout) // well past any body deadline
					if n := e.srv.Handler.HeldPings(); n != 1 {
						t.Fatalf("held Pings %d after the body deadline, want 1", n)
					}
					e.dev.Do("Ping", pingXML(5)).Expect(200, "Ping:Status", "5") // the device's next Ping
					pmResult(t, ping, 5*time.Second).Expect(200, "Ping:Status", "1")
				}
			})
		})
	}
}
