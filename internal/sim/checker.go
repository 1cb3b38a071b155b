package sim

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"airlock/store"
)

// Truth reads a user's folders as the server holds them.
type Truth interface {
	View(ctx context.Context, u *User) (View, error)
}

// StoreTruth reads the ground truth from Airlock's database (the same one
// the servers use). ServerIds are Airlock's: an item's ServerId is its
// row id, a folder's CollectionId the folder's id.
type StoreTruth struct {
	Store *store.Store
}

// View returns the user's Inbox, Sent Items and Deleted Items.
func (s StoreTruth) View(ctx context.Context, u *User) (View, error) {
	su, err := s.Store.UserByAddress(ctx, u.Email)
	if err != nil {
		return nil, fmt.Errorf("truth: user %s: %w", u.Email, err)
	}
	fs, err := s.Store.Folders(ctx, su.ID)
	if err != nil {
		return nil, err
	}
	v := View{}
	for _, f := range fs {
		t := int(f.Type)
		if f.Deleted || (t != TypeInbox && t != TypeSent && t != TypeDeleted) {
			continue
		}
		m := map[string]FP{}
		var after int64
		for {
			items, err := s.Store.ListItems(ctx, su.ID, f.ID, after, 1000)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				m[strconv.FormatInt(it.ID, 10)] = FP{Token: TokenOf(it.Subject), Read: it.Read, Flag: it.FlagStatus}
				after = it.ID
			}
			if len(items) < 1000 {
				break
			}
		}
		v[t] = m
	}
	return v, nil
}

// Verdict is the checker's finding at one checkpoint.
type Verdict struct {
	Label string
	At    time.Duration // since the run started
	// Lost: an item the server holds that a device does not after its
	// final sync, or a message the server accepted that is in no mailbox
	// of a recipient. Duplicated: one message twice in a mailbox, or an
	// Add of a ServerId the device already held. Divergent: a device's
	// copy differs from the server's (read, flag, or an item the server
	// does not have), or the oracle's fresh sync differs from the
	// database. Misdelivered: a message in the mailbox of someone it was
	// not sent to, one refused but stored, or one stored for only some of
	// its recipients. Protocol: other anomalies devices saw (a Change of
	// an item never sent).
	Lost, Duplicated, Divergent, Misdelivered, Protocol int
	Users, Devices, Items                               int
	Messages                                            map[Outcome]int
	Details                                             []string
	nDetails                                            int
}

// OK reports whether nothing was found.
func (v *Verdict) OK() bool {
	return v.Lost == 0 && v.Duplicated == 0 && v.Divergent == 0 && v.Misdelivered == 0 && v.Protocol == 0
}

func (v *Verdict) detail(format string, args ...any) {
	v.nDetails++
	if len(v.Details) < 40 {
		v.Details = append(v.Details, fmt.Sprintf(format, args...))
	}
}

// Print writes the verdict.
func (v *Verdict) Print(w io.Writer) {
	res := "PASS"
	if !v.OK() {
		res = "FAIL"
	}
	fmt.Fprintf(w, "checkpoint %q at %s: %s: lost %d, duplicated %d, divergent %d, misdelivered %d, protocol anomalies %d (%d users, %d devices, %d items; messages: %d accepted, %d unknown outcome, %d refused, %d bounced)\n",
		v.Label, v.At.Round(time.Second), res, v.Lost, v.Duplicated, v.Divergent, v.Misdelivered, v.Protocol, v.Users, v.Devices, v.Items,
		v.Messages[Accepted], v.Messages[Unknown]+v.Messages[Pending], v.Messages[Refused], v.Messages[Bounced])
	for _, d := range v.Details {
		fmt.Fprintf(w, "    %s\n", d)
	}
	if v.nDetails > len(v.Details) {
		fmt.Fprintf(w, "    ... and %d more\n", v.nDetails-len(v.Details))
	}
}

// Checker compares what devices hold with the server's truth and the
// ledger. Call it only while the run is quiescent: nothing being sent and
// every device synced after the last change (Runner.Checkpoint does this).
type Checker struct {
	Run    string
	Users  []*User
	Truth  Truth             // nil: the oracle devices are the truth
	Oracle map[*User]*Device // fresh devices that sync from key 0 at every check; may be nil
	Ledger *Ledger
	Rec    *Recorder
}

// Check compares devs with the truth. The oracles sync first.
func (c *Checker) Check(ctx context.Context, label string, devs []*Device) (*Verdict, error) {
	v := &Verdict{Label: label, Users: len(c.Users), Devices: len(devs), Messages: c.Ledger.Counts()}
	truth := map[*User]View{}
	oracle := map[*User]View{}
	for _, u := range c.Users {
		if o := c.Oracle[u]; o != nil {
			if err := o.Resync(ctx); err != nil {
				return nil, fmt.Errorf("oracle for %s: %w", u.Email, err)
			}
			oracle[u] = o.Snapshot()
		}
		if c.Truth != nil {
			tv, err := c.Truth.View(ctx, u)
			if err != nil {
				return nil, err
			}
			truth[u] = tv
		} else if ov, ok := oracle[u]; ok {
			truth[u] = ov
		} else {
			return nil, fmt.Errorf("checker: no truth for %s (neither a database nor an oracle device)", u.Email)
		}
	}
	for _, u := range c.Users {
		for _, m := range truth[u] {
			v.Items += len(m)
		}
		if ov, ok := oracle[u]; ok && c.Truth != nil {
			compare(v, "oracle of "+u.Email, ov, truth[u])
		}
	}
	for _, d := range devs {
		compare(v, d.Name+" ("+d.User.Email+")", d.Snapshot(), truth[d.User])
	}
	c.checkTokens(v, truth, devs)
	anomalies, dups, nAnom, nDup := c.Rec.Take()
	v.Duplicated += nDup
	for _, s := range dups {
		v.detail("duplicated (seen by the device): %s", s)
	}
	v.Protocol += nAnom
	for _, s := range anomalies {
		v.detail("protocol: %s", s)
	}
	return v, nil
}

// compare counts the differences between a device's replica and the truth.
func compare(v *Verdict, who string, have, want View) {
	for _, t := range syncedTypes {
		h, w := have[t], want[t]
		for sid, fp := range w {
			got, ok := h[sid]
			switch {
			case !ok:
				v.Lost++
				v.detail("lost: %s lacks %s %s in %s", who, sid, fp, TypeName(t))
			case got != fp:
				v.Divergent++
				v.detail("divergent: %s holds %s %s in %s, the server %s", who, sid, got, TypeName(t), fp)
			}
		}
		for sid, fp := range h {
			if _, ok := w[sid]; !ok {
				v.Divergent++
				v.detail("divergent: %s holds %s %s in %s, which the server does not have there", who, sid, fp, TypeName(t))
			}
		}
	}
}

type place struct {
	folder int
	sid    string
}

// checkTokens checks each message of the run: once per mailbox, only in
// the mailboxes it was sent to, and in every one of them once the server
// accepted it.
func (c *Checker) checkTokens(v *Verdict, truth map[*User]View, devs []*Device) {
	where := map[string]map[*User][]place{} // token -> user -> places
	for u, view := range truth {
		for t, m := range view {
			for sid, fp := range m {
				if fp.Token == "" || RunOf(fp.Token) != c.Run {
					continue
				}
				if where[fp.Token] == nil {
					where[fp.Token] = map[*User][]place{}
				}
				where[fp.Token][u] = append(where[fp.Token][u], place{t, sid})
			}
		}
	}
	// One message at most once per mailbox.
	toks := make([]string, 0, len(where))
	for tok := range where {
		toks = append(toks, tok)
	}
	sort.Strings(toks)
	for _, tok := range toks {
		for u, ps := range where[tok] {
			if len(ps) > 1 {
				v.Duplicated += len(ps) - 1
				var s []string
				for _, p := range ps {
					s = append(s, TypeName(p.folder)+" "+p.sid)
				}
				v.detail("duplicated: %s is %d times in %s's mailbox (%s)", tok, len(ps), u.Email, strings.Join(s, ", "))
			}
		}
	}
	// A device holding the same message twice when the server does not.
	for _, d := range devs {
		count := map[string]int{}
		for _, m := range d.Snapshot() {
			for _, fp := range m {
				if fp.Token != "" {
					count[fp.Token]++
				}
			}
		}
		for tok, n := range count {
			if want := len(where[tok][d.User]); n > max(want, 1) {
				v.Duplicated += n - max(want, 1)
				v.detail("duplicated: %s holds %s %d times, the server %d", d.Name, tok, n, want)
			}
		}
	}
	// The ledger: every accepted message in every recipient's mailbox.
	known := map[string]bool{}
	for _, e := range c.Ledger.Entries() {
		known[e.Token] = true
		allowed := map[*User]bool{}
		for _, u := range e.To {
			allowed[u] = true
		}
		got := 0
		for _, u := range e.To {
			if len(where[e.Token][u]) > 0 {
				got++
			}
		}
		if e.From != nil && e.InSent {
			allowed[e.From] = true
		}
		switch e.Outcome {
		case Accepted:
			for _, u := range e.To {
				if len(where[e.Token][u]) == 0 {
					v.Lost++
					v.detail("lost: %s (%s, accepted) is not in %s's mailbox", e.Token, e.Via, u.Email)
				}
			}
			if e.From != nil && e.InSent && len(where[e.Token][e.From]) == 0 {
				v.Lost++
				v.detail("lost: %s (%s, accepted) has no copy in the sender %s's Sent Items", e.Token, e.Via, e.From.Email)
			}
		case Bounced:
			v.Lost++
			v.detail("lost: %s (%s) was refused permanently although its recipients exist; an MTA would bounce it", e.Token, e.Via)
			if got > 0 {
				v.Misdelivered++
				v.detail("misdelivered: %s (%s) was refused but %d recipients have it", e.Token, e.Via, got)
			}
		case Refused:
			if got > 0 {
				v.Misdelivered++
				v.detail("misdelivered: %s (%s) was refused but %d recipients have it", e.Token, e.Via, got)
			}
		default: // Unknown, Pending: all recipients or none
			if got != 0 && got != len(e.To) {
				v.Misdelivered++
				v.detail("misdelivered: %s (%s, outcome unknown) reached %d of %d recipients", e.Token, e.Via, got, len(e.To))
			}
		}
		for u := range where[e.Token] {
			if !allowed[u] {
				v.Misdelivered++
				v.detail("misdelivered: %s (%s) is in %s's mailbox", e.Token, e.Via, u.Email)
			}
		}
	}
	for _, tok := range toks {
		if !known[tok] {
			v.Misdelivered++
			v.detail("misdelivered: %s of this run is in a mailbox but was never sent", tok)
		}
	}
}

// Resync drops the device's replicas and syncs every folder from key 0,
// as a device added afresh would.
func (d *Device) Resync(ctx context.Context) error {
	if d.Conn.PolicyKey() == "" {
		if err := d.Start(ctx); err != nil {
			return err
		}
		return nil
	}
	if err := d.FolderSync(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	for _, c := range d.colls {
		c.Key, c.Items = "0", map[string]FP{}
	}
	d.gone = map[string]bool{}
	d.mu.Unlock()
	return d.SyncAll(ctx)
}
