package activesync_test

import (
	"strconv"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/activesync/eastest"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// BenchmarkBodyWindows drains a 1,000-message Inbox in windows of 100,
// with an HTML BodyPreference (the messages are plain text), on SQLite:
// "first-device" is a user's first device to fetch the mail (nothing
// rendered before), "second-device" the next device of the same user,
// which finds the bodies already parsed. One op is a whole initial sync
// (10 windows); B/op and allocs/op divided by 10 are per window.
//
//	go test ./activesync -run '^$' -bench BodyWindows -benchmem
func BenchmarkBodyWindows(b *testing.B) {
	const messages, window = 1000, 100
	st := storetest.OpenSQLite(b)
	e := scNewEnv(b, st, "bodies@example.nhs.uk")
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
	coll := strconv.FormatInt(inbox.ID, 10)
	opts := `<AirSync:Options><AirSync:FilterType>0</AirSync:FilterType><AirSyncBase:BodyPreference><AirSyncBase:Type>2</AirSyncBase:Type><AirSyncBase:TruncationSize>5120</AirSyncBase:TruncationSize><AirSyncBase:Preview>255</AirSyncBase:Preview></AirSyncBase:BodyPreference></AirSync:Options>`
	newDevice := func() *eastest.Device {
		dev := e.device(scIPhone)
		dev.CheckWithLibwbxml = false
		return dev
	}
	drain := func(b *testing.B, dev *eastest.Device) {
		rp := newReplica(coll)
		rp.initial(b, dev, opts)
		for more := true; more; {
			more = rp.apply(b, dev.Do("Sync", syncXML(coll, rp.key, window, opts)))
		}
		if len(rp.items) != messages {
			b.Fatalf("drained %d of %d", len(rp.items), messages)
		}
	}
	for _, tc := range []struct {
		name  string
		first bool // the cache is emptied before each sync
	}{{"first-device", true}, {"second-device", false}} {
		b.Run(tc.name, func(b *testing.B) {
			activesync.ResetBodyCache()
			if !tc.first {
				drain(b, newDevice()) // the user's first device, not timed
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dev := newDevice() // enrolment is not timed
				if tc.first {
					activesync.ResetBodyCache()
				}
				b.StartTimer()
				drain(b, dev)
			}
		})
	}
}
