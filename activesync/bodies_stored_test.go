package activesync_test

import (
	"strconv"
	"testing"
	"time"

	"airlock/activesync"
	"airlock/internal/mailmix"
	"airlock/message"
	"airlock/store"
	"airlock/store/storetest"
)

// TestFirstSyncServesBodiesRenderedAtDelivery: a device's first Sync
// serves the bodies rendered when the mail was delivered, without parsing
// a message, and they are byte for byte what rendering the raw message
// gives (mail stored before bodies were kept: the same messages without a
// stored rendering), for plain, HTML, attachments and broken charsets, as
// plain text truncated and as HTML.
func TestFirstSyncServesBodiesRenderedAtDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "kept@example.nhs.uk")
		old := e.srv.AddUser(t, "old@example.nhs.uk", scPassword)
		oldInbox, err := st.FolderByType(scCtx, old.ID, store.FolderInbox)
		if err != nil {
			t.Fatal(err)
		}
		inbox := e.folder(store.FolderInbox)
		base := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
		for i := 0; i < 100; i++ { // a whole run of the mix, broken charsets included
			raw := mailmix.Message(i, "kept@example.nhs.uk", base.Add(time.Duration(i)*time.Minute))
			for _, to := range []struct {
				userID, folderID int64
				kept             bool
			}{{e.user.ID, inbox.ID, true}, {old.ID, oldInbox.ID, false}} {
				it, err := message.Parse(raw)
				if err != nil {
					t.Fatal(err)
				}
				if !to.kept {
					it.Rendered = nil // as stored before bodies were kept
				}
				it.UserID, it.FolderID = to.userID, to.folderID
				if err := st.Deliver(scCtx, store.Delivery{Raw: raw, Items: []*store.Item{it}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		oldEnv := &scEnv{t: t, srv: e.srv, st: st, user: old, email: "old@example.nhs.uk"}
		for _, typ := range []string{"1", "2"} {
			opts := `<AirSync:Options><AirSync:FilterType>0</AirSync:FilterType><AirSyncBase:BodyPreference><AirSyncBase:Type>` + typ + `</AirSyncBase:Type><AirSyncBase:TruncationSize>5120</AirSyncBase:TruncationSize></AirSyncBase:BodyPreference></AirSync:Options>`
			bySubject := func(env *scEnv, folderID int64) map[string]map[string]string {
				rp := newReplica(strconv.FormatInt(folderID, 10))
				dev := env.device(scIPhone)
				rp.initial(t, dev, opts)
				rp.drain(t, dev, 25, opts)
				out := map[string]map[string]string{}
				for _, f := range rp.items {
					out[f["Subject"]] = f
				}
				return out
			}
			activesync.ResetBodyCache()
			kept := bySubject(e, inbox.ID)
			if n := activesync.BodyCacheLen(); n != 0 {
				t.Fatalf("type %s: %d messages parsed to serve bodies rendered at delivery", typ, n)
			}
			rendered := bySubject(oldEnv, oldInbox.ID)
			if len(kept) != 100 || len(rendered) != 100 || activesync.BodyCacheLen() == 0 {
				t.Fatalf("type %s: %d and %d messages, %d parsed", typ, len(kept), len(rendered), activesync.BodyCacheLen())
			}
			for subj, k := range kept {
				r := rendered[subj]
				if k["Body"] != r["Body"] || k["BodyType"] != r["BodyType"] || k["Truncated"] != r["Truncated"] || k["NativeBodyType"] != r["NativeBodyType"] || k["Body"] == "" {
					t.Errorf("type %s, %s: stored body %q (%s, %s), rendered %q (%s, %s)", typ, subj, head(k["Body"]), k["BodyType"], k["Truncated"], head(r["Body"]), r["BodyType"], r["Truncated"])
				}
			}
		}
	})
}

func head(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
