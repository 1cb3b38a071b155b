package activesync_test

import (
	"strconv"
	"testing"
	"time"

	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// BenchmarkInitialSync drains a 10,000-message Inbox in windows of 100
// over loopback HTTP on SQLite: one op is a whole initial sync (key 0 and
// 100 windows). It reports milliseconds and SQL statements per window.
//
//	go test ./activesync -run '^$' -bench InitialSync -benchmem
func BenchmarkInitialSync(b *testing.B) {
	const messages, window = 10000, 100
	st := storetest.OpenSQLite(b)
	e := scNewEnv(b, st, "bench@example.nhs.uk")
	// Production caches rules and policy for a few seconds; the tests turn
	// that off, the benchmark measures what production does.
	e.srv.Devices.ConfigTTL = 3 * time.Second
	inbox := e.folder(store.FolderInbox)
	base := time.Now().UTC().Add(-messages * time.Minute)
	for i := 0; i < messages; i++ {
		raw := rawMail(i, "handover "+strconv.Itoa(i), base.Add(time.Duration(i)*time.Minute))
		it, err := message.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		it.UserID, it.FolderID = e.user.ID, inbox.ID
		if err := st.Deliver(scCtx, store.Delivery{Raw: raw, Items: []*store.Item{it}}); err != nil {
			b.Fatal(err)
		}
	}
	dev := e.device(scIPhone)
	dev.CheckWithLibwbxml = false // a process per response would dominate
	coll := strconv.FormatInt(inbox.ID, 10)
	opts := `<AirSync:Options><AirSync:FilterType>0</AirSync:FilterType><AirSyncBase:BodyPreference><AirSyncBase:Type>2</AirSyncBase:Type><AirSyncBase:TruncationSize>5120</AirSyncBase:TruncationSize><AirSyncBase:Preview>255</AirSyncBase:Preview></AirSyncBase:BodyPreference></AirSync:Options>`
	statements := st.StatementCounter()
	var windows int
	var worst time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	start, q0 := time.Now(), statements.Load()
	for i := 0; i < b.N; i++ {
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
	}
	elapsed, queries := time.Since(start), statements.Load()-q0
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(windows), "ms/window")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms/window")
	b.ReportMetric(float64(queries)/float64(windows), "statements/window")
	b.ReportMetric(float64(windows)/float64(b.N), "windows/op")
}
