package delivery_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"airlock/delivery"
	"airlock/internal/mailmix"
	"airlock/store"
	"airlock/store/storetest"
)

// BenchmarkDeliveryThroughput delivers the realistic mail mix
// (internal/mailmix) to one local user through delivery.Service over
// loopback SMTP and LMTP, one connection sending message after message (a
// transaction each), on SQLite and on PostgreSQL. One op is one message;
// it reports messages per second and the process's CPU per message
// (server and client together).
//
//	go test ./delivery -run '^$' -bench DeliveryThroughput -benchtime 2000x
func BenchmarkDeliveryThroughput(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		for _, proto := range []string{"smtp", "lmtp"} {
			b.Run(db.name+"/"+proto, func(b *testing.B) {
				st := db.open(b)
				addUser(b, st, "alice@example.nhs.uk")
				smtpAddr, lmtpAddr, _ := listen(b, &delivery.Service{Store: st, Hostname: "mx.test"}, delivery.ListenerConfig{})
				var c *smtp.Client
				var err error
				if proto == "smtp" {
					c, err = smtp.Dial(smtpAddr)
				} else {
					var conn net.Conn
					if conn, err = net.Dial("tcp", lmtpAddr); err == nil {
						c = smtp.NewClientLMTP(conn)
						err = c.Hello("bench.test")
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				base := time.Now().UTC().Add(-time.Duration(b.N) * time.Minute)
				msgs := make([][]byte, b.N)
				for i := range msgs {
					msgs[i] = mailmix.Message(i, "alice@example.nhs.uk", base.Add(time.Duration(i)*time.Minute))
				}
				b.ReportAllocs()
				b.ResetTimer()
				t0, c0 := time.Now(), processCPU()
				for i := 0; i < b.N; i++ {
					send(b, c, msgs[i])
				}
				elapsed, cpu := time.Since(t0), processCPU()-c0
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/msg")
			})
		}
	}
}

func send(b *testing.B, c *smtp.Client, msg []byte) {
	if err := c.Mail("ward7@elsewhere.example", nil); err != nil {
		b.Fatal(err)
	}
	if err := c.Rcpt("alice@example.nhs.uk", nil); err != nil {
		b.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// processCPU is the CPU time, user and system, the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
