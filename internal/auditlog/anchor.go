// Package auditlog keeps the audit chain's head outside the database and
// checks the chain against it.
//
// The store's chain is keyed (an HMAC under a key outside the database), so
// an edited or recomputed event is found by recomputing the chain. What a
// chain cannot show by itself is its own end: deleting the newest events
// leaves a shorter chain that still verifies. So the head (the newest
// event's id and hash) is appended, periodically and at shutdown, to an
// anchor file outside the database and to the log (for syslog or journald
// to keep elsewhere). Verify then requires the database to still hold the
// anchored event with the anchored hash.
//
// # Implementation notes
//
// The anchor file is append-only text, one line per anchor:
// "RFC3339-time id hash". It is created 0600 and synced after each line.
// Only the newest anchor is checked: the chain links every earlier event to
// it. Events newer than the last anchor (at most one interval's worth) can
// still be deleted unnoticed; a shorter interval narrows that window.
package auditlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"airlock/store"
)

// FileName is the anchor file's name in the data directory.
const FileName = "audit-anchor.log"

// Anchor records the chain's head at a moment.
type Anchor struct {
	At   time.Time
	Head store.AuditHead
}

// Append adds an anchor line to the file at path, creating it 0600.
func Append(path string, a Anchor) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s %d %s\n", a.At.UTC().Format(time.RFC3339), a.Head.ID, a.Head.Hash)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	return nil
}

// Last returns the newest anchor in the file; ok is false when the file
// does not exist or holds none. It reads only the file's tail, so the file
// may grow for years.
func Last(path string) (a Anchor, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return a, false, nil
	} else if err != nil {
		return a, false, fmt.Errorf("audit anchor: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return a, false, fmt.Errorf("audit anchor: %w", err)
	}
	const tail = 4096 // many lines: one is under 120 bytes
	off := max(fi.Size()-tail, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return a, false, fmt.Errorf("audit anchor: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return a, false, nil
	}
	if a, err = parse(last); err != nil {
		return a, false, fmt.Errorf("audit anchor %s, last line: %w", path, err)
	}
	return a, true, nil
}

func parse(line string) (Anchor, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return Anchor{}, errors.New("want: time id hash")
	}
	at, err := time.Parse(time.RFC3339, f[0])
	if err != nil {
		return Anchor{}, err
	}
	id, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return Anchor{}, err
	}
	return Anchor{At: at, Head: store.AuditHead{ID: id, Hash: f[2]}}, nil
}

// Result is what Verify found.
type Result struct {
	store.AuditReport
	// Anchor is the newest anchor checked; Anchored is false when there was
	// none.
	Anchor   Anchor
	Anchored bool
	// Problems lists every failure; empty means the log is intact.
	Problems []string
}

// OK reports whether nothing failed.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// Verify recomputes the chain in st and checks it against the newest
// anchor in the file at path. A chain with keyed events but no anchor
// fails: its end cannot be checked.
func Verify(ctx context.Context, st *store.Store, path string) (Result, error) {
	var res Result
	rep, err := st.VerifyAudit(ctx)
	if err != nil {
		return res, err
	}
	res.AuditReport = rep
	if rep.BadID != 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("event %d: %s", rep.BadID, rep.Problem))
	}
	a, ok, err := Last(path)
	if err != nil {
		return res, err
	}
	res.Anchor, res.Anchored = a, ok
	if !ok {
		if rep.FirstKeyedID != 0 {
			res.Problems = append(res.Problems, "no anchor in "+path+": deleting the newest events could not be detected")
		}
		return res, nil
	}
	problem, err := checkAnchored(ctx, st, a)
	if err != nil {
		return res, err
	}
	if problem != "" {
		res.Problems = append(res.Problems, problem)
	}
	return res, nil
}

// CheckAnchor compares the newest anchor in the file at path with the
// database: a cheap check of the end of the chain, not of the whole chain.
// It returns what is wrong, or "".
func CheckAnchor(ctx context.Context, st *store.Store, path string) (string, error) {
	a, ok, err := Last(path)
	if err != nil || !ok {
		return "", err
	}
	return checkAnchored(ctx, st, a)
}

func checkAnchored(ctx context.Context, st *store.Store, a Anchor) (string, error) {
	if a.Head.ID == 0 {
		return "", nil // anchored while the log was empty
	}
	hash, err := st.AuditHashAt(ctx, a.Head.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		head, herr := st.AuditHeadNow(ctx)
		if herr != nil {
			return "", herr
		}
		return fmt.Sprintf("anchored event %d (anchored %s) is missing: the log was truncated (newest event now %d)",
			a.Head.ID, a.At.Format(time.RFC3339), head.ID), nil
	case err != nil:
		return "", err
	case hash != a.Head.Hash:
		return fmt.Sprintf("event %d no longer has the hash anchored at %s: the log was rewritten", a.Head.ID, a.At.Format(time.RFC3339)), nil
	}
	return "", nil
}

// Anchorer appends the chain's head to the anchor file when it moved.
type Anchorer struct {
	Store *store.Store
	Path  string
	Log   *slog.Logger
}

// ErrAnchorMismatch: the database no longer holds the anchored head, so
// anchoring its present head would vouch for a truncated or rewritten log.
var ErrAnchorMismatch = errors.New("audit log does not match its anchor; not anchoring until it is investigated (move the anchor file aside to start afresh)")

// Anchor records the current head if it differs from the last recorded,
// after checking that the last recorded head is still in the database.
func (a *Anchorer) Anchor(ctx context.Context) error {
	prev, ok, err := Last(a.Path)
	if err != nil {
		return err
	}
	head, err := a.Store.AuditHeadNow(ctx)
	if err != nil {
		return err
	}
	if ok && head == prev.Head {
		return nil
	}
	if ok {
		problem, err := checkAnchored(ctx, a.Store, prev)
		if err != nil {
			return err
		}
		if problem != "" {
			return fmt.Errorf("%w: %s", ErrAnchorMismatch, problem)
		}
	}
	if err := Append(a.Path, Anchor{At: time.Now(), Head: head}); err != nil {
		return err
	}
	if a.Log != nil {
		// A second copy outside this machine's disk, through the log.
		a.Log.Info("audit anchor", "id", head.ID, "hash", head.Hash)
	}
	return nil
}

// Run anchors every interval until ctx ends, then once more.
func (a *Anchorer) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			a.warn(a.Anchor(final))
			cancel()
			return
		case <-t.C:
			a.warn(a.Anchor(ctx))
		}
	}
}

func (a *Anchorer) warn(err error) {
	if err != nil && a.Log != nil {
		a.Log.Error("audit anchor", "err", err)
	}
}

// PathIn is the anchor file's path in dataDir.
func PathIn(dataDir string) string { return filepath.Join(dataDir, FileName) }
