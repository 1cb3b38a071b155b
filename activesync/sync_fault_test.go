package activesync_test

import (
	"strconv"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// A database failure in the middle of a Sync answers Status 5 (server
// error) with nothing applied and the key not advanced; once the database
// is back, the device resends the same key and gets everything, once.
func TestSyncServerErrorAppliesNothingAndRecovers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "fault@example.nhs.uk")
		inbox := e.folder(store.FolderInbox)
		e.deliver(inbox, 30, "before")
		dev := e.device(scIPhone)
		coll := strconv.FormatInt(inbox.ID, 10)
		rp := newReplica(coll)
		rp.initial(t, dev, "")
		rp.apply(t, dev.Do("Sync", syncXML(coll, rp.key, 10, "")))
		keyBefore := rp.key

		// The sync state table disappears (a failing disk, a broken
		// replica): the next window cannot be recorded.
		sqlDB, _ := st.SQL()
		if _, err := sqlDB.Exec("ALTER TABLE sync_states RENAME TO sync_states_away"); err != nil {
			t.Fatal(err)
		}
		res := dev.Do("Sync", syncXML(coll, keyBefore, 10, ""))
		if got := res.Text("AirSync:Status"); got != "5" && got != "16" {
			t.Fatalf("Sync during the failure: %s", res.XML())
		}
		if _, err := sqlDB.Exec("ALTER TABLE sync_states_away RENAME TO sync_states"); err != nil {
			t.Fatal(err)
		}
		// Same key again: the failed exchange left nothing behind.
		rp.drain(t, dev, 10, "")
		if len(rp.items) != 30 {
			t.Fatalf("%d items after recovery, want 30", len(rp.items))
		}
		for id, n := range rp.adds {
			if n != 1 {
				t.Fatalf("%s added %d times", id, n)
			}
		}
	})
}
