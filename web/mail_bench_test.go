package web

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"airlock/devices"
	"airlock/store"
	"airlock/store/storetest"
)

// BenchmarkMailList measures the message list of a 50,000-message Inbox
// through the whole handler (session, CSRF, folder tree with counts, the
// page query, template), on SQLite and PostgreSQL, and reports the median
// and 95th percentile per request (target: p95 under 50 ms):
//
//	go test ./web -run '^$' -bench MailList -benchtime 200x
func BenchmarkMailList(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			env := mailBench(b, db)
			for _, bc := range []struct{ name, query string }{
				{"newest", ""},
				{"newest-deep", "?after=" + strconv.FormatInt(env.middle, 10)},
				{"oldest", "?sort=oldest"},
				{"sender", "?sort=sender"},
				{"sender-deep", "?sort=sender&after=" + strconv.FormatInt(env.middle, 10)},
				{"unread", "?unread=1"},
				{"flagged", "?flagged=1"},
				{"flagged-sender", "?flagged=1&sort=sender"},
				{"subject-cached", "?sort=subject"},
			} {
				b.Run(bc.name, func(b *testing.B) {
					env.measure(b, env.inboxURL+bc.query)
				})
			}
			// The first page after each change to the folder (a new
			// message, a phone marking one read): the counts are redone.
			b.Run("newest-after-change", func(b *testing.B) {
				ctx := context.Background()
				var lat []time.Duration
				read := false
				for b.Loop() {
					b.StopTimer()
					read = !read
					if _, err := env.st.UpdateItem(ctx, env.user.ID, env.middle, store.FlagChange{Read: &read}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					lat = append(lat, env.get(b, env.inboxURL))
				}
				report(b, lat)
			})
			// The first subject page after each change to the folder: the
			// change is merged into the cached order.
			b.Run("subject-after-change", func(b *testing.B) {
				ctx := context.Background()
				var lat []time.Duration
				read := false
				for b.Loop() {
					b.StopTimer()
					read = !read
					if _, err := env.st.UpdateItem(ctx, env.user.ID, env.middle, store.FlagChange{Read: &read}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					lat = append(lat, env.get(b, env.inboxURL+"?sort=subject"))
				}
				report(b, lat)
			})
			// The first subject page after a node starts: the order is built
			// from all 50,000 subjects.
			b.Run("subject-cold", func(b *testing.B) {
				var lat []time.Duration
				for b.Loop() {
					env.srv.subjects = subjectCache{}
					lat = append(lat, env.get(b, env.inboxURL+"?sort=subject"))
				}
				report(b, lat)
			})
		})
	}
}

// BenchmarkMailOpen measures opening a message in the 50,000-message Inbox
// (target: under 30 ms): the reading pane (item, raw message, bodies,
// sanitiser for the picture count, tree), the frame document (sanitised
// HTML with the cid: picture inlined), and both for a message still
// unread, which adds the store write that marks it read.
//
//	go test ./web -run '^$' -bench MailOpen -benchtime 200x
func BenchmarkMailOpen(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			env := mailBench(b, db)
			b.Run("pane", func(b *testing.B) { env.measure(b, env.openURL) })
			b.Run("frame", func(b *testing.B) { env.measure(b, env.openURL+"/frame") })
			b.Run("pane-unread", func(b *testing.B) {
				ctx := context.Background()
				no := false
				var lat []time.Duration
				for b.Loop() {
					b.StopTimer()
					if _, err := env.st.UpdateItem(ctx, env.user.ID, env.openID, store.FlagChange{Read: &no}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					lat = append(lat, env.get(b, env.openURL))
				}
				report(b, lat)
			})
		})
	}
}

type mailBenchEnv struct {
	st       *store.Store
	srv      *Server
	cookie   *http.Cookie
	user     *store.User
	inboxURL string
	openURL  string
	openID   int64
	middle   int64 // an item id half way down the newest-first list
}

// mailBench seeds a user whose Inbox holds 50,000 messages from 300
// senders over two years, 30% unread and 5% flagged, plus one HTML
// message with an inline picture and attachments to open.
func mailBench(b *testing.B, db string) *mailBenchEnv {
	b.Helper()
	ctx := context.Background()
	var st *store.Store
	if db == "sqlite" {
		st = storetest.OpenSQLite(b)
	} else {
		st = storetest.OpenPostgres(b)
	}
	u := &store.User{Email: "busy@example.nhs.uk", DisplayName: "Busy Person"}
	if err := st.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	inbox, err := st.FolderByType(ctx, u.ID, store.FolderInbox)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	r := rand.New(rand.NewPCG(7, 8))
	words := []string{"rota", "handover", "clinic", "audit", "pharmacy", "training", "theatre", "estates", "budget", "discharge", "referral", "meeting", "ward", "review", "incident"}
	now := time.Now().UTC()
	const n = 50000
	items := make([]store.Item, n)
	for i := range items {
		d := now.Add(-time.Duration(r.Int64N(int64(730 * 24 * time.Hour))))
		s := r.IntN(300)
		items[i] = store.Item{
			Subject:  fmt.Sprintf("%s %s %d", words[r.IntN(len(words))], words[r.IntN(len(words))], i),
			FromAddr: fmt.Sprintf(`"Sender %03d" <sender%03d@example.nhs.uk>`, s, s), ToAddrs: u.Email,
			DateReceived: &d, Read: r.IntN(10) >= 3, Preview: "A line of the message body as a phone would show it in the list.",
			MessageClass: "IPM.Note", Importance: 1,
		}
		if r.IntN(20) == 0 {
			items[i].FlagStatus = 2
		}
	}
	raw := []byte("From: sender001@example.nhs.uk\r\nSubject: seeded\r\n\r\nA line of the message body as a phone would show it in the list.\r\n")
	if err := st.BulkInsertMail(ctx, u.ID, inbox.ID, items, raw); err != nil {
		b.Fatal(err)
	}
	if c, _ := st.CountItems(ctx, u.ID, inbox.ID); c != n {
		b.Fatalf("%d messages seeded", c)
	}
	open := deliver(b, st, u, inbox.ID, hostileMail(`"Figures Team" <figures@example.nhs.uk>`, u.Email, "https://tracker.example"))
	b.Logf("%s: seeded %d messages in %v", db, n, time.Since(start).Round(time.Millisecond))
	// A cursor half way down the newest-first list.
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, c store.Item) int { return c.DateReceived.Compare(*a.DateReceived) })
	mid := sorted[n/2]
	devs := devices.New(st, nil)
	if err := devs.EnsureDefaults(ctx); err != nil {
		b.Fatal(err)
	}
	s := NewServer(Deps{Store: st, Devices: devs, Hostname: "mail.example.nhs.uk"})
	tok, _, err := s.issue(ctx, u, audienceDashboard, true, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return &mailBenchEnv{st: st, srv: s, cookie: &http.Cookie{Name: sessionCookie, Value: tok}, user: u,
		inboxURL: "/mail/" + strconv.FormatInt(inbox.ID, 10), openURL: itemURL(inbox.ID, open.ID), openID: open.ID, middle: mid.ID}
}

func (e *mailBenchEnv) get(b *testing.B, path string) time.Duration {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.AddCookie(e.cookie)
	w := httptest.NewRecorder()
	t0 := time.Now()
	e.srv.ServeHTTP(w, req)
	d := time.Since(t0)
	if w.Code != http.StatusOK {
		b.Fatalf("%s: HTTP %d", path, w.Code)
	}
	return d
}

func (e *mailBenchEnv) measure(b *testing.B, path string) {
	b.ReportAllocs()
	var lat []time.Duration
	for b.Loop() {
		lat = append(lat, e.get(b, path))
	}
	report(b, lat)
}

// report adds the median and 95th percentile per request.
func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := min(len(lat)-1, int(float64(len(lat))*p))
		return float64(lat[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
}
