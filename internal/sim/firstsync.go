package sim

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"airlock/internal/mailmix"
	"airlock/message"
	"airlock/store"
)

// FirstSyncResult is the first sync after a migration: many devices, each
// on its own mailbox of mail the server never read, doing their first Sync
// at once.
type FirstSyncResult struct {
	Devices, Mails, Window, Truncation int
	Seeded                             time.Duration // time to put the mail in
	Total                              time.Duration // from the first request to the last device done
	Requests                           int64
	P50, P95, P99, Max                 time.Duration // per Sync request (one window)
	ServerCPU, PGCPU                   time.Duration
	PeakRSS                            int64
	Errors                             int64
	// Incomplete counts the devices that did not end with every mail of
	// their Inbox.
	Incomplete int
}

// PerMail is the server's CPU per mail delivered to a device.
func (r *FirstSyncResult) PerMail() time.Duration {
	n := int64(r.Devices) * int64(r.Mails)
	if n == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(n)
}

// Print writes the figure.
func (r *FirstSyncResult) Print(w io.Writer) {
	mails := float64(r.Devices) * float64(r.Mails)
	fmt.Fprintf(w, "first sync after migration: %d devices at once, each on its own %d-mail Inbox (mailmix, never read), WindowSize %d, plain text truncated at %d: %s (seeding took %s)\n",
		r.Devices, r.Mails, r.Window, r.Truncation, r.Total.Round(time.Millisecond), r.Seeded.Round(time.Second))
	fmt.Fprintf(w, "  %d Sync requests (windows), p50 %s, p95 %s, p99 %s, max %s; %.0f mails/s; %d errors; %d devices incomplete\n",
		r.Requests, ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max), mails/r.Total.Seconds(), r.Errors, r.Incomplete)
	fmt.Fprintf(w, "  airlock CPU %.1fs = %.3f ms per mail; PostgreSQL CPU %.1fs = %.3f ms per mail; airlock peak RSS %s\n",
		r.ServerCPU.Seconds(), 1000*r.ServerCPU.Seconds()/mails, r.PGCPU.Seconds(), 1000*r.PGCPU.Seconds()/mails, mib(r.PeakRSS))
}

// FirstSync measures the first sync after a migration. Each of devices
// users gets mails messages of the mailmix in the Inbox, stored as the
// import path stores them (parsed, bodies rendered). The node is then
// restarted, so that its process has read none of that mail, and every
// device does its first Sync of the Inbox at once, window by window.
func (b *Bench) FirstSync(ctx context.Context, devices, mails, window, truncation int) (*FirstSyncResult, error) {
	us, err := b.users(ctx, devices)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(b.Out, "seeding %d mailboxes of %d messages\n", devices, mails)
	t0 := time.Now()
	if err := b.seedMix(ctx, us, mails); err != nil {
		return nil, err
	}
	r := &FirstSyncResult{Devices: devices, Mails: mails, Window: window, Truncation: truncation, Seeded: time.Since(t0)}
	node := b.Cluster.Nodes[0]
	if err := b.Cluster.Kill(node); err != nil {
		return nil, err
	}
	if err := b.Cluster.Start(ctx, node); err != nil {
		return nil, err
	}
	client := newHTTPClient(devices)
	devs := make([]*Device, devices)
	fmt.Fprintf(b.Out, "provisioning %d devices\n", devices)
	if err := parallel(ctx, 16, devices, func(i int) error {
		d := b.device(fmt.Sprintf("f%d", i+1), us[i], []string{node.URL}, client, i, TypeInbox)
		d.Window, d.Truncation = window, truncation
		devs[i] = d
		if err := d.Conn.Provision(ctx); err != nil {
			return err
		}
		return d.FolderSync(ctx)
	}); err != nil {
		return nil, err
	}
	b.Stats.Reset()
	w := WatchProcs(func() []int { return []int{node.PID()} })
	cpu0, err := ReadProc(node.PID())
	if err != nil {
		return nil, err
	}
	pg0, err := b.Cluster.PGCPU()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var failed atomic.Int64
	var wg sync.WaitGroup
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.SyncAll(ctx); err != nil {
				failed.Add(1)
				b.Stats.Error("first sync", short(err))
			}
		}()
	}
	wg.Wait()
	r.Total = time.Since(start)
	cpu1, err := ReadProc(node.PID())
	w.Stop()
	if err != nil {
		return nil, err
	}
	pg1, err := b.Cluster.PGCPU()
	if err != nil {
		return nil, err
	}
	r.ServerCPU, r.PGCPU = cpu1.CPU-cpu0.CPU, pg1-pg0
	for _, p := range w.Summary() {
		r.PeakRSS = max(r.PeakRSS, p.Peak)
	}
	sum := b.Stats.Summary()
	for _, c := range sum.Commands {
		if c.Command == "Sync" {
			r.Requests, r.P50, r.P95, r.P99, r.Max = c.Requests, c.P50, c.P95, c.P99, c.Max
		}
	}
	for _, n := range sum.Errors {
		r.Errors += n
	}
	for _, d := range devs {
		if d.inboxSize() != mails {
			r.Incomplete++
		}
	}
	return r, nil
}

// seedMix puts mails messages of the mailmix in each user's Inbox, one
// delivery each, parsed as the import path parses them.
func (b *Bench) seedMix(ctx context.Context, us []*User, mails int) error {
	inboxes := make([]*store.Folder, len(us))
	sus := make([]*store.User, len(us))
	for i, u := range us {
		su, err := b.Store.UserByAddress(ctx, u.Email)
		if err != nil {
			return err
		}
		f, err := b.Store.FolderByType(ctx, su.ID, store.FolderInbox)
		if err != nil {
			return err
		}
		sus[i], inboxes[i] = su, f
	}
	base := time.Now().UTC().Add(-time.Duration(mails) * time.Minute)
	total := len(us) * mails
	var done atomic.Int64
	return parallel(ctx, 6, total, func(k int) error {
		if n := done.Add(1); n%int64(max(total/10, 1)) == 0 {
			fmt.Fprintf(b.Out, "  seeded %d of %d\n", n, total)
		}
		u, i := k%len(us), k/len(us)
		raw := mailmix.Message(i, sus[u].Email, base.Add(time.Duration(i)*time.Minute))
		it, err := message.Parse(raw)
		if err != nil {
			return fmt.Errorf("mailmix message %d: %w", i, err)
		}
		it.UserID, it.FolderID = sus[u].ID, inboxes[u].ID
		return b.Store.Deliver(ctx, store.Delivery{Raw: raw, Items: []*store.Item{it}})
	})
}
