package authguard_test

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// Audit and log flooding: a 500 KB login is refused before any lookup, log
// or audit row can carry it, on every entry point; and a guesser's many
// failures from one address against one account are summarised in a few
// rows that still add up to every attempt.
func TestLongLoginsAndRepeatedFailuresDoNotFloodTheAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g := attackGuard(st)
		var logs syncBuffer
		g.Log = slog.New(slog.NewTextHandler(&logs, nil))
		r := newRig(t, st, g)
		addUser(t, st, "alice@example.nhs.uk", rightPW)
		huge := strings.Repeat("a", 500<<10) + "@example.nhs.uk"
		lookups := g.Lookups()
		for _, e := range entries {
			login, want := huge, tooLong
			switch e.name {
			case "api":
				login = huge[:7000] // the endpoint reads at most 8 KB of JSON
			case "imap", "smtp":
				// Their own line limits refuse 500 KB before the guard;
				// 1 KB passes them and meets the guard's cap, answered as
				// any failed login (they have no "too long" of their own).
				login, want = huge[:1000], refused
			}
			o, why := e.try(r, "127.0.0.1", login, "pw")
			if o != want {
				t.Errorf("%s with a %d-byte login: %v (%s), want %v", e.name, len(login), o, why, want)
			}
		}
		if g.Lookups() != lookups {
			t.Errorf("%d account lookups for over-long logins", g.Lookups()-lookups)
		}

		// Over-long logins of every length from one address: one kind.
		for i := 0; i < 30; i++ {
			g.Check(ctx, "auth", huge[:400+i], "pw", "127.0.0.4")
		}
		// Fifty wrong passwords for one account from one address.
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.tryEAS("127.0.0.3", "alice@example.nhs.uk", "guess-"+strconv.Itoa(i))
			}()
		}
		wg.Wait()
		g.Flush(ctx)

		evs, err := st.ListAudit(ctx, store.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		size, fromGuesser, attempts, long := 0, 0, 0, 0
		for _, e := range evs {
			size += len(e.Actor) + len(e.Target) + len(e.Detail)
			if e.ActorIP == "127.0.0.4" {
				long++
			}
			if e.ActorIP == "127.0.0.3" && e.Action == "auth" {
				fromGuesser++
				n := 1
				if more, _, ok := strings.Cut(e.Detail, " more from this address"); ok {
					n, _ = strconv.Atoi(more)
				}
				attempts += n
			}
		}
		if size > 8<<10 {
			t.Errorf("the audit holds %d bytes of names and details", size)
		}
		if fromGuesser > 6 || attempts != 50 {
			t.Errorf("50 guesses from one address: %d audit rows adding up to %d attempts; want at most 6 rows adding up to 50", fromGuesser, attempts)
		}
		if long > 2 {
			t.Errorf("30 over-long logins from one address: %d audit rows, want at most 2", long)
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			if len(line) > 2<<10 {
				t.Errorf("a %d-byte log line", len(line))
			}
		}
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
