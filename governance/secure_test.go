package governance_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"airlock/delivery"
	"airlock/delivery/deliverytest"
	"airlock/governance"
	"airlock/store"
	"airlock/store/storetest"
)

func TestAccredited(t *testing.T) {
	p := []string{"nhs.net", ".nhs.uk"}
	for addr, want := range map[string]bool{
		"a@nhs.net": true, "a@NHS.NET": true, "a@mail.nhs.net": false, "a@trust.nhs.uk": true, "a@nhs.uk": false,
		"a@evilnhs.uk": false, "a@gmail.com": false, "nobody": false,
	} {
		if got := governance.Accredited(addr, p); got != want {
			t.Errorf("Accredited(%q) = %v", addr, got)
		}
	}
	if _, ok := governance.Sensitive("RE: [SECURE] results", governance.DefaultSensitiveTags); !ok {
		t.Error("tag case")
	}
	if _, ok := governance.Sensitive("Results", governance.DefaultSensitiveTags); ok {
		t.Error("untagged subject is sensitive")
	}
}

func TestSecureDomainsHoldReleaseDrop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		smarthost := deliverytest.Start(t, deliverytest.Options{})
		relay := delivery.NewRelay(st, delivery.RelayConfig{Addr: smarthost.Addr, DisableStartTLS: true, Hostname: "mx.example.nhs.uk"}, nil)
		e := newMailEnv(t, st, relay)
		alice := addUser(t, st, "alice@example.nhs.uk")
		bob := addUser(t, st, "bob@example.nhs.uk")
		admin := governance.Actor{Name: "cli:root"}
		for _, d := range []string{"nhs.net", "*.nhs.uk"} {
			if err := e.g.AddSecureDomain(ctx, admin, d, "DCB1596"); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.g.AddSecureDomain(ctx, admin, "not a domain", ""); !errors.Is(err, governance.ErrBadDomain) {
			t.Fatalf("bad domain: %v", err)
		}
		if err := e.g.SetTagline(ctx, admin, footer); err != nil {
			t.Fatal(err)
		}
		send := func(subject string, to ...string) *delivery.Result {
			t.Helper()
			res, err := e.svc.Submit(ctx, delivery.Submission{User: alice, MIME: crlf("To: " + strings.Join(to, ", ") + "\nSubject: " + subject + "\n\nResults attached.\n")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := relay.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			return res
		}
		res := send("[secure] Blood results", "gp@nhs.net", "lab@trust.nhs.uk", "patient@gmail.example", "bob@example.nhs.uk")
		if !slices.Equal(res.Held, []string{"patient@gmail.example"}) || len(res.Remote) != 2 {
			t.Fatalf("result: %+v", res)
		}
		got := smarthost.Wait(1, 5*time.Second)
		if len(got) != 1 || !slices.Equal(got[0].To, []string{"gp@nhs.net", "lab@trust.nhs.uk"}) {
			t.Fatalf("relay: %+v", got)
		}
		if len(inbox(t, st, bob)) != 1 {
			t.Fatal("the internal recipient did not get it")
		}
		notes := inbox(t, st, alice)
		if len(notes) != 1 || !strings.HasPrefix(notes[0].Subject, "Held: ") {
			t.Fatalf("sender not told: %+v", notes)
		}
		raw, _ := st.Blob(ctx, alice.ID, notes[0].ID)
		if !strings.Contains(string(raw), "patient@gmail.example") || !strings.Contains(string(raw), "not accredited") {
			t.Fatalf("notice:\n%s", raw)
		}
		held, err := e.g.HeldMail(ctx)
		if err != nil || len(held) != 1 || held[0].RcptTo != "patient@gmail.example" || held[0].Subject != "[secure] Blood results" {
			t.Fatalf("held: %+v %v", held, err)
		}
		// Not sensitive: goes anywhere.
		if res := send("Clinic times", "patient@gmail.example"); len(res.Held) != 0 || len(res.Remote) != 1 {
			t.Fatalf("ordinary mail held: %+v", res)
		}
		smarthost.Wait(2, 5*time.Second)

		// Release: it goes out, with the tag line, to the held recipient.
		if err := e.g.ReleaseHeld(ctx, admin, held[0].ID); err != nil {
			t.Fatal(err)
		}
		relay.RunOnce(ctx)
		got = smarthost.Wait(3, 5*time.Second)
		if len(got) != 3 || !slices.Equal(got[2].To, []string{"patient@gmail.example"}) || !strings.Contains(string(got[2].Data), "X-Airlock-Tagline") {
			t.Fatalf("after release: %+v", got)
		}
		if err := e.g.ReleaseHeld(ctx, admin, held[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("released twice: %v", err)
		}
		// Drop: the sender hears, nothing goes out.
		send("OFFICIAL-SENSITIVE: staff list", "hr@agency.example")
		held, _ = e.g.HeldMail(ctx)
		if len(held) != 1 {
			t.Fatalf("held: %+v", held)
		}
		if err := e.g.DropHeld(ctx, admin, held[0].ID, "agency not cleared"); err != nil {
			t.Fatal(err)
		}
		relay.RunOnce(ctx)
		if n := len(smarthost.Messages()); n != 3 {
			t.Fatalf("relay got %d after a drop", n)
		}
		last := inbox(t, st, alice)
		if !strings.HasPrefix(last[len(last)-1].Subject, "Not sent: ") {
			t.Fatalf("no drop notice: %+v", last)
		}
		var acts []string
		for _, ev := range auditActions(t, st, "securemail.") {
			acts = append(acts, ev.Action)
		}
		want := []string{"securemail.domain_add", "securemail.domain_add", "securemail.hold", "securemail.release", "securemail.hold", "securemail.drop"}
		if !slices.Equal(acts, want) {
			t.Fatalf("audit: %v", acts)
		}
	})
}
