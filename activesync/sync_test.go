package activesync_test

import (
	"strconv"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// Provision → FolderSync → initial Sync of 1,000 messages in windows of 100:
// every message arrives exactly once, by ServerId and by content.
func TestSyncInitialThousandInWindowsOf100(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "alice@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		e.deliver(inbox, 1000, "handover")
		dev := e.device(scIPhone)
		_, folders, res := scFolderSync(t, dev, "0")
		coll := strconv.FormatInt(inbox.ID, 10)
		if folders[coll] != "Inbox" || len(folders) < 9 {
			t.Fatalf("FolderSync: %v\n%s", folders, res.XML())
		}
		rp := newReplica(coll)
		rp.initial(t, dev, "")
		windows := 0
		for more := true; more; windows++ {
			res := dev.Do("Sync", syncXML(coll, rp.key, 100, `<AirSync:Options><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:TruncationSize>200</AirSyncBase:TruncationSize></AirSyncBase:BodyPreference></AirSync:Options>`))
			before := len(rp.log)
			more = rp.apply(t, res)
			if n := len(rp.log) - before; n > 100 {
				t.Fatalf("window %d carried %d commands", windows, n)
			}
		}
		if windows != 10 {
			t.Errorf("%d windows, want 10", windows)
		}
		for id, n := range rp.adds {
			if n != 1 {
				t.Fatalf("item %s added %d times", id, n)
			}
		}
		rp.sameAsServer(t, e.serverView(inbox))
		subjects := map[string]bool{}
		for _, it := range rp.items {
			if subjects[it["Subject"]] {
				t.Fatalf("content %q twice", it["Subject"])
			}
			subjects[it["Subject"]] = true
			if it["Body"] == "" || it["BodyType"] != "1" || it["DateReceived"] == "" || it["From"] == "" {
				t.Fatalf("item fields: %v", it)
			}
		}
		// Nothing more: the empty response.
		if res := dev.Do("Sync", syncXML(coll, rp.key, 100, "")); res.HTTP != 200 || len(res.Raw) != 0 {
			t.Fatalf("caught-up Sync: %s", res.XML())
		}
	})
}
