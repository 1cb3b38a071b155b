package governance_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"airlock/delivery"
	"airlock/governance"
	"airlock/store"
	"airlock/store/storetest"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"400MB": 400 << 20, "1GB": 1 << 30, "1.5 GB": 3 << 29, "2048": 2048, "10KiB": 10 << 10, "unlimited": 0, "0": 0, "1tb": 1 << 40,
	} {
		if got, err := governance.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1MB", "lots", "1XB", "1e30GB"} {
		if _, err := governance.ParseSize(in); !errors.Is(err, governance.ErrBadSize) {
			t.Errorf("ParseSize(%q): %v", in, err)
		}
	}
	if s := governance.FormatSize(400 << 20); s != "400MB" {
		t.Errorf("FormatSize: %s", s)
	}
}

func smtpReply(err error) (int, smtp.EnhancedCode, string) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, se.EnhancedCode, se.Message
	}
	return 0, smtp.EnhancedCode{}, ""
}

// A user at 1 GB - 1 KB receives a 2 KB message: refused with 552 5.2.2,
// nothing half-stored; raising the level lets the next one in.
func TestQuotaRefusesAtDataNothingStoredAndRaisingTheLevelLetsItIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newMailEnv(t, st, nil)
		bob := addUser(t, st, "bob@example.nhs.uk")
		setLevel(t, st, e.g, bob, "Standard", 1<<30, 1<<30-1<<10)
		inboxF, _ := st.FolderByType(ctx, bob.ID, store.FolderInbox)
		before := quotaOf(t, st, bob)
		blobs := countRows(t, st, "blobs")

		err := e.sendSMTP(t, "gp@surgery.example", []string{"bob@example.nhs.uk"}, message("gp@surgery.example", "bob@example.nhs.uk", "Referral one", 2<<10))
		code, enh, msg := smtpReply(err)
		if code != 552 || enh != (smtp.EnhancedCode{5, 2, 2}) || !strings.Contains(msg, "bob@example.nhs.uk") || !strings.Contains(msg, "quota") {
			t.Fatalf("over-quota DATA: %v", err)
		}
		if n := len(inbox(t, st, bob)); n != 0 {
			t.Fatalf("%d items stored", n)
		}
		if after := quotaOf(t, st, bob); after.Used != before.Used {
			t.Fatalf("usage moved: %d -> %d", before.Used, after.Used)
		}
		if n := countRows(t, st, "blobs"); n != blobs {
			t.Fatalf("blobs %d -> %d", blobs, n)
		}
		if m, _ := st.FolderModseq(ctx, bob.ID, inboxF.ID); m != inboxF.Modseq {
			t.Fatalf("Inbox counter moved: %d -> %d (phones would sync for nothing)", inboxF.Modseq, m)
		}

		// Double everyone: the same message now fits.
		if n, err := e.g.ScaleServiceLevels(ctx, governance.Actor{Name: "test"}, 2); err != nil || n != 1 {
			t.Fatalf("scale: %d %v", n, err)
		}
		if q := quotaOf(t, st, bob); q.Limit != 2<<30 {
			t.Fatalf("limit after scaling: %d", q.Limit)
		}
		if err := e.sendSMTP(t, "gp@surgery.example", []string{"bob@example.nhs.uk"}, message("gp@surgery.example", "bob@example.nhs.uk", "Referral two", 2<<10)); err != nil {
			t.Fatalf("after raising the level: %v", err)
		}
		its := inbox(t, st, bob)
		if len(its) != 1 || quotaOf(t, st, bob).Used != before.Used+its[0].Size {
			t.Fatalf("after raising: %d items, usage %d", len(its), quotaOf(t, st, bob).Used)
		}

		// A mailbox already full is refused at RCPT.
		setLevel(t, st, e.g, bob, "Tiny", 1000, 1000)
		_, _, err = smtpRcpt(t, e, "bob@example.nhs.uk")
		if code, enh, _ := smtpReply(err); code != 552 || enh != (smtp.EnhancedCode{5, 2, 2}) {
			t.Fatalf("RCPT to a full mailbox: %v", err)
		}
	})
}

func smtpRcpt(t *testing.T, e *mailEnv, to string) (*smtp.Client, int, error) {
	c, err := smtp.Dial(e.smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Mail("gp@surgery.example", nil); err != nil {
		t.Fatal(err)
	}
	return c, 0, c.Rcpt(to, nil)
}

// Many deliveries at once to a nearly full mailbox: exactly as many as fit
// get in, the rest are refused, and usage never passes the quota.
func TestQuotaConcurrentDeliveriesNeverExceed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newMailEnv(t, st, nil)
		bob := addUser(t, st, "bob@example.nhs.uk")
		msg := message("gp@surgery.example", "bob@example.nhs.uk", "Result", 10<<10)
		// Room for three messages (with their Received field) and a bit.
		setLevel(t, st, e.g, bob, "Small", 3*(int64(len(msg))+400), 0)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.svc.DeliverInbound(ctx, delivery.Inbound{From: "gp@surgery.example", Recipients: []*store.User{bob}, Data: []byte(msg), Protocol: "ESMTP"})
			}()
		}
		wg.Wait()
		ok, full := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, delivery.ErrMailboxFull):
				full++
			default:
				t.Errorf("delivery: %v", err)
			}
		}
		q := quotaOf(t, st, bob)
		stored := 0
		for _, it := range inbox(t, st, bob) {
			if it.Subject == "Result" {
				stored++
			}
		}
		if ok != 3 || full != 5 || stored != 3 || q.Used > q.Limit {
			t.Fatalf("%d delivered, %d refused, %d stored, usage %d of %d", ok, full, stored, q.Used, q.Limit)
		}
	})
}

// The 90% warning comes once per crossing, into the Inbox, audited.
func TestQuotaWarningOncePerCrossing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newMailEnv(t, st, nil)
		bob := addUser(t, st, "bob@example.nhs.uk")
		msg := message("gp@surgery.example", "bob@example.nhs.uk", "Result", 10<<10)
		size := int64(len(msg)) + 300 // with Received
		setLevel(t, st, e.g, bob, "Small", 100<<10, 80<<10)
		deliver := func() {
			t.Helper()
			if err := e.svc.DeliverInbound(ctx, delivery.Inbound{From: "gp@surgery.example", Recipients: []*store.User{bob}, Data: []byte(msg), Protocol: "ESMTP"}); err != nil {
				t.Fatal(err)
			}
		}
		warnings := func() int {
			n := 0
			for _, it := range inbox(t, st, bob) {
				if strings.Contains(it.Subject, "full") {
					n++
				}
			}
			return n
		}
		deliver() // 80 KB + 10 KB: past 90%
		if n := warnings(); n != 1 {
			t.Fatalf("%d warnings after crossing 90%%", n)
		}
		setLevel(t, st, e.g, bob, "Small", 0, 85<<10) // above 90% again, same crossing
		deliver()
		if n := warnings(); n != 1 {
			t.Fatalf("warned twice in one crossing: %d", n)
		}
		// Back below 90% (the user tidied up), then over again: a new warning.
		setLevel(t, st, e.g, bob, "Small", 0, 10<<10)
		deliver()
		setLevel(t, st, e.g, bob, "Small", 0, 100<<10-size-2<<10)
		deliver()
		if q := quotaOf(t, st, bob); q.Used*10 < q.Limit*9 {
			t.Fatalf("test setup: %d of %d is not past 90%%", q.Used, q.Limit)
		}
		if n := warnings(); n != 2 {
			t.Fatalf("%d warnings after a second crossing, want 2", n)
		}
		if n := len(auditActions(t, st, "quota.warning")); n != 2 {
			t.Fatalf("%d warning audit events", n)
		}
	})
}
