package sim

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"airlock/internal/testpg"
)

// The first sync after a migration, small: a real airlock process on
// PostgreSQL, three devices at once each on its own Inbox of the mailmix,
// seeded before the node (re)starts; every device gets every mail, and the
// figure has the server's CPU and the window latency. The full run (200
// devices x 2,000 mails) is in docs/scale.md.
func TestFirstSyncAfterMigration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and an airlock process")
	}
	if _, err := os.Stat("/usr/lib/postgresql"); err != nil && os.Getenv("CI") == "" {
		t.Skip("PostgreSQL not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	b, err := StartBench(ctx, "", 1, 1024, &out)
	if errors.Is(err, testpg.ErrUnavailable) && testpg.MustSkip(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	defer b.Stop()
	b.CheapHash = true
	r, err := b.FirstSync(ctx, 3, 45, 10, 5120)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	r.Print(&out)
	t.Log("\n" + out.String())
	if r.Incomplete != 0 || r.Errors != 0 {
		t.Fatalf("%d devices incomplete, %d errors", r.Incomplete, r.Errors)
	}
	// 45 mails in windows of 10: the initial key, five windows, each
	// device.
	if r.Requests < 3*6 || r.P95 <= 0 || r.ServerCPU <= 0 || r.PerMail() <= 0 {
		t.Fatalf("figure incomplete: %d requests, p95 %v, server CPU %v", r.Requests, r.P95, r.ServerCPU)
	}
}
