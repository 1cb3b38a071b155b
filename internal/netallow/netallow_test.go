package netallow_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"

	"airlock/internal/netallow"
	"airlock/store"
	"airlock/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestParseList(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.0.0.0/8, 127.0.0.1", want: []string{"10.0.0.0/8", "127.0.0.1/32"}},
		{in: "192.168.1.77/24", want: []string{"192.168.1.0/24"}},   // masked
		{in: "::ffff:10.1.2.3", want: []string{"10.1.2.3/32"}},      // IPv4-mapped: unmapped
		{in: "::ffff:10.0.0.0/104", want: []string{"10.0.0.0/8"}},   // mapped prefix: unmapped
		{in: "fd00::/8,::1", want: []string{"fd00::/8", "::1/128"}}, // IPv6
		{in: " ,10.0.0.0/8,, ", want: []string{"10.0.0.0/8"}},       // empty fields skipped
		{in: "", wantErr: true},                                     // nothing allowed is a mistake
		{in: " , ", wantErr: true},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "intranet", wantErr: true},
		{in: "10.0.0.0/8,nope", wantErr: true},
	} {
		got, err := netallow.ParseList(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("ParseList(%q) error = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("ParseList(%q) = %v, want %v", c.in, got, c.want)
			continue
		}
		for i := range got {
			if got[i].String() != c.want[i] {
				t.Errorf("ParseList(%q)[%d] = %s, want %s", c.in, i, got[i], c.want[i])
			}
		}
	}
}

func TestAllowed(t *testing.T) {
	nets, err := netallow.ParseList("10.0.0.0/8,192.168.5.4,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"10.255.255.255", true},
		{"11.0.0.1", false},
		{"192.168.5.4", true},
		{"192.168.5.5", false},
		{"::ffff:10.1.2.3", true}, // an IPv4 client on a dual-stack socket
		{"::ffff:11.0.0.1", false},
		{"fd12::1", true},
		{"fe80::1", false},
		{"127.0.0.1", false},
	} {
		if got := netallow.Allowed(netip.MustParseAddr(c.addr), nets); got != c.want {
			t.Errorf("Allowed(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
}

// The listener hands on a connection from an allowed network, and closes
// one from elsewhere before a byte is exchanged, counting and reporting it.
func TestListenerRefusesOutsideNetworks(t *testing.T) {
	for _, c := range []struct {
		nets   string
		accept bool
	}{
		{"127.0.0.0/8", true},
		{"10.0.0.0/8", false},
	} {
		t.Run(c.nets, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			refused := make(chan netip.Addr, 1)
			l := &netallow.Listener{Listener: inner, Nets: mustList(t, c.nets), Refused: func(a netip.Addr) { refused <- a }}
			defer l.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				if conn, err := l.Accept(); err == nil {
					accepted <- conn
				}
			}()
			conn, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if c.accept {
				srv := <-accepted
				defer srv.Close()
				if _, err := srv.Write([]byte("+OK\r\n")); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 5)
				if _, err := io.ReadFull(conn, buf); err != nil {
					t.Fatalf("read from an allowed connection: %v", err)
				}
				if n := l.Count.Load(); n != 0 {
					t.Errorf("Count = %d, want 0", n)
				}
				return
			}
			if a := <-refused; a != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("Refused(%s), want 127.0.0.1", a)
			}
			if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Errorf("read from a refused connection = %d, %v; want it closed", n, err)
			}
			if n := l.Count.Load(); n != 1 {
				t.Errorf("Count = %d, want 1", n)
			}
		})
	}
}

func mustList(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	nets, err := netallow.ParseList(s)
	if err != nil {
		t.Fatal(err)
	}
	return nets
}

// The auditor writes one audit event per address per window, however many
// connections that address makes.
func TestAuditorOneEventPerAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		a := netallow.NewAuditor(s, "imap", nil)
		for _, addr := range []string{"198.51.100.7", "198.51.100.7", "203.0.113.9", "198.51.100.7"} {
			a.Refused(netip.MustParseAddr(addr))
		}
		a.Close() // writes the queue before it returns
		events, err := s.ListAudit(context.Background(), store.AuditFilter{Action: "imap.refused"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, e := range events {
			got[e.ActorIP]++
			if e.Outcome != "denied" || e.Target != "imap" {
				t.Errorf("event %+v: want outcome denied, target imap", e)
			}
		}
		if len(events) != 2 || got["198.51.100.7"] != 1 || got["203.0.113.9"] != 1 {
			t.Errorf("audited %v, want one event for each of the two addresses", got)
		}
		if d := a.Dropped.Load(); d != 0 {
			t.Errorf("Dropped = %d, want 0", d)
		}
	})
}
