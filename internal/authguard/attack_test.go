package authguard_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"airlock/internal/authguard"
	"airlock/store"
	"airlock/store/storetest"
)

const rightPW = "correct-horse-battery-staple"

// aliases are the names one account answers to: the address, its upper
// case, "DOMAIN\user", the bare local part and an alias address.
var aliases = []string{"alice@example.nhs.uk", "ALICE@Example.NHS.uk", `EXAMPLE\alice`, "Alice", "a.smith@example.nhs.uk"}

// sources are the client addresses an attacker spreads guesses over.
var sources = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}

func attackGuard(st *store.Store) *authguard.Guard {
	g := &authguard.Guard{Store: st, Verifier: authguard.NewVerifier(4, 30*time.Second),
		// Addresses get room enough that only the account's lock is at
		// work: the test is about the account's counter.
		Policy: authguard.Policy{Window: time.Hour, UserLimit: 10, AddressLimit: 1000, Lockout: time.Hour}}
	g.Init()
	return g
}

// The lockout is keyed on the account, not the login as typed, and the
// failure is reserved before verifying: 200 parallel wrong guesses for one
// account, through every alias, from four addresses, over ActiveSync, the
// web sign-in, the API token endpoint, IMAP and SMTP, verify no more
// passwords than the limit. Then the right password is refused through
// every alias on every entry point.
func TestLockoutAliasesShareOneCounter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g := attackGuard(st)
		r := newRig(t, st, g)
		alice := addUser(t, st, "alice@example.nhs.uk", rightPW)
		if err := st.AddAlias(ctx, alice.ID, "a.smith@example.nhs.uk"); err != nil {
			t.Fatal(err)
		}
		// Before the attack every alias signs in everywhere: a refusal
		// later is the lock's doing.
		for _, e := range entries {
			for _, login := range aliases {
				if o, why := e.try(r, "127.0.0.9", login, rightPW); o != accepted {
					t.Fatalf("%s as %q before the attack: %v (%s)", e.name, login, o, why)
				}
			}
		}
		before := g.Verifier.Runs()
		var wg sync.WaitGroup
		var mu sync.Mutex
		answers := map[outcome]int{}
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := entries[i%len(entries)]
				o, why := e.try(r, sources[i%len(sources)], aliases[(i/len(entries))%len(aliases)], fmt.Sprintf("guess-%d", i))
				mu.Lock()
				answers[o]++
				mu.Unlock()
				if o != refused {
					t.Errorf("%s guess %d: %v (%s)", e.name, i, o, why)
				}
			}()
		}
		wg.Wait()
		limit := int64(g.Policy.UserLimit)
		if n := g.Verifier.Runs() - before; n > limit || n == 0 {
			t.Fatalf("%d wrong passwords verified for one account; the limit is %d (answers %v)", n, limit, answers)
		}
		verified := g.Verifier.Runs()
		if g.Verifier.Peak() > int64(g.Verifier.Slots()) {
			t.Errorf("%d verifications ran at once; the bound is %d", g.Verifier.Peak(), g.Verifier.Slots())
		}
		for _, e := range entries {
			for _, login := range aliases {
				for _, from := range sources[:2] {
					if o, why := e.try(r, from, login, rightPW); o != refused {
						t.Errorf("%s as %q from %s with the right password while locked: %v (%s)", e.name, login, from, o, why)
					}
				}
			}
		}
		if n := g.Verifier.Runs(); n != verified {
			t.Errorf("%d passwords verified while the account was locked", n-verified)
		}
		// The owner's phone, verified before the attack, keeps its mail.
		if o, why := r.tryEAS("127.0.0.9", "alice@example.nhs.uk", rightPW); o != accepted {
			t.Errorf("the owner's known device during the lock: %v (%s)", o, why)
		}
	})
}

// An account locked through ActiveSync is locked for the web sign-in and
// the API too: one lockout for every entry point.
func TestWebRefusesAccountLockedByEAS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g := attackGuard(st)
		r := newRig(t, st, g)
		addUser(t, st, "alice@example.nhs.uk", rightPW)
		if o, why := r.tryWeb("127.0.0.2", "alice@example.nhs.uk", rightPW); o != accepted {
			t.Fatalf("web before the lock: %v (%s)", o, why)
		}
		for i := 0; i < 10; i++ {
			if o, why := r.tryEAS("127.0.0.1", "alice@example.nhs.uk", "wrong"); o != refused {
				t.Fatalf("EAS guess %d: %v %s", i, o, why)
			}
		}
		for _, e := range entries {
			if o, why := e.try(r, "127.0.0.2", "alice@example.nhs.uk", rightPW); o != refused {
				t.Errorf("%s after EAS locked the account: %v (%s)", e.name, o, why)
			}
		}
	})
}
