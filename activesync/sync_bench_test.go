package activesync_test

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/internal/mailmix"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// BenchmarkInitialSync drains a 10,000-message Inbox of realistic mail
// (internal/mailmix: 80% plain text, 15% text and HTML, 5% with an
// attachment, assorted and a few broken charsets) in windows of 100, body
// Type 1 truncated at 5,120 bytes, over loopback HTTP, on SQLite and on
// PostgreSQL. One op is a whole initial sync (key 0 and 100 windows):
//
//   - first-device: the first device to read the mailbox, whose bodies no
//     one has read since delivery (the body cache is emptied before each op);
//   - second-device: another device of the same user, after one has read
//     every body.
//
// It reports milliseconds per window and per mail, the process's CPU per
// mail (server and the in-process device together: an upper bound of the
// server's) and SQL statements per window.
//
//	go test ./activesync -run '^$' -bench InitialSync -benchtime 1x
func BenchmarkInitialSync(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(db.name, func(b *testing.B) { benchInitialSync(b, db.open(b)) })
	}
}

func benchInitialSync(b *testing.B, st *store.Store) {
	const messages, window = 10000, 100
	e := scNewEnv(b, st, "bench@example.nhs.uk")
	// Production caches rules and policy for a few seconds; the tests turn
	// that off, the benchmark measures what production does.
	e.srv.Devices.ConfigTTL = 3 * time.Second
	inbox := e.folder(store.FolderInbox)
	deliverMix(b, st, e.user.ID, inbox.ID, messages)
	coll := strconv.FormatInt(inbox.ID, 10)
	opts := `<AirSync:Options><AirSync:FilterType>0</AirSync:FilterType><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:TruncationSize>5120</AirSyncBase:TruncationSize><AirSyncBase:Preview>255</AirSyncBase:Preview></AirSyncBase:BodyPreference></AirSync:Options>`
	drain := func(b *testing.B, dev *eastest.Device) (windows int, worst time.Duration) {
		rp := newReplica(coll)
		rp.initial(b, dev, opts)
		for more := true; more; windows++ {
			t0 := time.Now()
			more = rp.apply(b, dev.Do("Sync", syncXML(coll, rp.key, window, opts)))
			worst = max(worst, time.Since(t0))
		}
		if len(rp.items) != messages {
			b.Fatalf("drained %d of %d", len(rp.items), messages)
		}
		return windows, worst
	}
	newDevice := func() *eastest.Device {
		dev := e.device(scIPhone)
		dev.CheckWithLibwbxml = false // a process per response would dominate
		return dev
	}
	for _, tc := range []struct {
		name  string
		first bool
	}{{"first-device", true}, {"second-device", false}} {
		b.Run(tc.name, func(b *testing.B) {
			activesync.ResetBodyCache()
			if !tc.first {
				drain(b, newDevice()) // the user's first device, not timed
			}
			statements := st.StatementCounter()
			var windows int
			var worst, elapsed, cpu time.Duration
			var queries int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dev := newDevice() // enrolment is not measured
				if tc.first {
					activesync.ResetBodyCache()
				}
				b.StartTimer()
				t0, c0, q0 := time.Now(), processCPU(), statements.Load()
				w, wst := drain(b, dev)
				elapsed += time.Since(t0)
				cpu += processCPU() - c0
				queries += statements.Load() - q0
				windows, worst = windows+w, max(worst, wst)
			}
			b.StopTimer()
			mails := float64(b.N * messages)
			b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(windows), "ms/window")
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms/window")
			b.ReportMetric(float64(elapsed.Microseconds())/1000/mails, "ms/mail")
			b.ReportMetric(float64(cpu.Microseconds())/1000/mails, "cpu-ms/mail")
			b.ReportMetric(float64(queries)/float64(windows), "statements/window")
		})
	}
}

// deliverMix stores messages of the mailmix in a folder, as delivery does
// (parsed, one transaction each).
func deliverMix(b *testing.B, st *store.Store, userID, folderID int64, n int) {
	b.Helper()
	base := time.Now().UTC().Add(-time.Duration(n) * time.Minute)
	for i := 0; i < n; i++ {
		raw := mailmix.Message(i, "bench@example.nhs.uk", base.Add(time.Duration(i)*time.Minute))
		it, err := message.Parse(raw)
		if err != nil {
			b.Fatal(fmt.Errorf("message %d: %w", i, err))
		}
		it.UserID, it.FolderID = userID, folderID
		if err := st.Deliver(scCtx, store.Delivery{Raw: raw, Items: []*store.Item{it}}); err != nil {
			b.Fatal(err)
		}
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
