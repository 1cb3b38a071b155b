package activesync_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

// TestOppositeMoveItemsAllSucceed: two devices of one user move mail in
// opposite directions at once (one Inbox to Deleted Items, the other back),
// each MoveItems carrying 8 moves, 4 rounds (opposite moves). On PostgreSQL
// opposite moves deadlocked and one was answered Status 5; every move
// must now get Status 3, and each message end once, where its last move
// put it.
func TestOppositeMoveItemsAllSucceed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := scNewEnv(t, st, "movers@example.nhs.uk")
		inbox, trash := e.folder(store.FolderInbox), e.folder(store.FolderDeletedItems)
		const n, rounds = 8, 4
		type side struct {
			dev      *eastest.Device
			ids      []string // the messages' current ServerIds
			from, to int64
		}
		ids := func(items []*store.Item) []string {
			var out []string
			for _, it := range items {
				out = append(out, strconv.FormatInt(it.ID, 10))
			}
			return out
		}
		sides := []*side{
			{dev: e.device(scIPhone), ids: ids(e.deliver(inbox, n, "in")), from: inbox.ID, to: trash.ID},
			{dev: e.device(scIPhone), ids: ids(e.deliver(trash, n, "out")), from: trash.ID, to: inbox.ID},
		}
		var wg sync.WaitGroup
		for _, s := range sides {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					var b strings.Builder
					b.WriteString("<Move:MoveItems>")
					for _, id := range s.ids {
						fmt.Fprintf(&b, "<Move:Move><Move:SrcMsgId>%s</Move:SrcMsgId><Move:SrcFldId>%d</Move:SrcFldId><Move:DstFldId>%d</Move:DstFldId></Move:Move>", id, s.from, s.to)
					}
					b.WriteString("</Move:MoveItems>")
					res := s.dev.Do("MoveItems", b.String())
					if res.Doc == nil {
						t.Errorf("round %d: %s", r, res.XML())
						return
					}
					var next []string
					for _, m := range res.Doc.Root().SelectElements("Response") {
						status, dst := m.SelectElement("Status"), m.SelectElement("DstMsgId")
						if status == nil || status.Text() != "3" || dst == nil {
							t.Errorf("round %d: a move failed:\n%s", r, res.XML())
							return
						}
						next = append(next, dst.Text())
					}
					if len(next) != n {
						t.Errorf("round %d: %d answers to %d moves", r, len(next), n)
						return
					}
					s.ids, s.from, s.to = next, s.to, s.from
				}
			}()
		}
		wg.Wait()
		// After an even number of rounds every message is back where it
		// started, under its last ServerId, once.
		for _, s := range sides {
			items, err := st.ListItems(scCtx, e.user.ID, s.from, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, it := range items {
				got[strconv.FormatInt(it.ID, 10)] = true
			}
			for _, id := range s.ids {
				if !got[id] {
					t.Errorf("message %s missing from folder %d", id, s.from)
				}
			}
		}
		for _, f := range []*store.Folder{inbox, trash} {
			if c, _ := st.CountItems(scCtx, e.user.ID, f.ID); c != n {
				t.Errorf("folder %s holds %d messages, want %d", f.Name, c, n)
			}
		}
	})
}
