package sim

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// User is a mailbox the simulator uses.
type User struct {
	Email    string
	Password string
	Index    int
}

// NewRunID returns a short random id that prefixes every token of a run, so
// a run can tell its own mail from anything already in the mailboxes.
func NewRunID() string {
	return "r" + strings.ToLower(rand.Text()[:6])
}

// NewToken returns a token unique within the run: run-kind+source-seq.
// Tokens are at most 40 characters, so they also serve as a SendMail
// ClientId (MS-ASCMD 2.2.3.28.1).
func NewToken(run, kind, source string, seq int) string {
	t := fmt.Sprintf("%s-%s%s-%d", run, kind, source, seq)
	if len(t) > 40 {
		t = t[len(t)-40:]
	}
	return t
}

var tokenRE = regexp.MustCompile(`\[sim ([A-Za-z0-9._-]+)\]`)

// TokenOf extracts the token from a Subject, or "" for mail the simulator
// did not write.
func TokenOf(subject string) string {
	if m := tokenRE.FindStringSubmatch(subject); m != nil {
		return m[1]
	}
	return ""
}

// RunOf returns the run id of a token.
func RunOf(token string) string {
	r, _, _ := strings.Cut(token, "-")
	return r
}

// Message builds an RFC 5322 message carrying tok in its Subject and
// Message-ID.
func Message(tok, from string, to []string, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: [sim %s] %s\r\n", tok, body)
	fmt.Fprintf(&b, "Message-ID: <%s@sim.airlock.test>\r\n", tok)
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "Simulated message %s.\r\n%s\r\n", tok, body)
	return []byte(b.String())
}

// Outcome is what the sender learnt about a message.
type Outcome int

const (
	Pending  Outcome = iota // sent, no answer yet
	Accepted                // the server said it took the message (SMTP 250, SendMail OK or 118)
	Refused                 // the server said it did not, for now (SMTP 4xx until the sender gave up)
	Unknown                 // no answer (connection lost after the data went out)
	// Bounced: refused for good (SMTP 5xx) although every recipient
	// exists. A real MTA returns such a message to its sender: it is lost.
	Bounced
)

func (o Outcome) String() string {
	return [...]string{"pending", "accepted", "refused", "unknown", "bounced"}[o]
}

// Entry is one message the run sent or seeded.
type Entry struct {
	Token string
	Via   string // SendMail, SMTP, store, seed
	From  *User  // nil for mail from outside
	To    []*User
	// InSent: the sender keeps a copy in Sent Items.
	InSent  bool
	Outcome Outcome
	At      time.Time
}

// Ledger records every message the run sent, to check each is delivered
// exactly once.
type Ledger struct {
	mu      sync.Mutex
	entries map[string]*Entry
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{entries: map[string]*Entry{}} }

// Expect records a message about to be sent.
func (l *Ledger) Expect(tok, via string, from *User, to []*User, inSent bool) *Entry {
	e := &Entry{Token: tok, Via: via, From: from, To: to, InSent: inSent, At: time.Now()}
	l.mu.Lock()
	l.entries[tok] = e
	l.mu.Unlock()
	return e
}

// Settle records what the sender learnt.
func (l *Ledger) Settle(e *Entry, o Outcome) {
	l.mu.Lock()
	e.Outcome = o
	l.mu.Unlock()
}

// Entries returns a copy of every entry.
func (l *Ledger) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Entry, 0, len(l.entries))
	for _, e := range l.entries {
		out = append(out, *e)
	}
	return out
}

// Counts returns how many entries have each outcome.
func (l *Ledger) Counts() map[Outcome]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[Outcome]int{}
	for _, e := range l.entries {
		m[e.Outcome]++
	}
	return m
}

// Recorder collects what devices notice while running: protocol
// anomalies (an Add for a ServerId already held, a Change of an item never
// received), duplicates, and notes.
type Recorder struct {
	mu         sync.Mutex
	anomalies  []string
	duplicates []string
	notes      []string
	nAnom      int
	nDup       int
	nNotes     int
}

const keepDetails = 50

// Anomaly records a protocol anomaly.
func (r *Recorder) Anomaly(d *Device, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nAnom++
	if len(r.anomalies) < keepDetails {
		r.anomalies = append(r.anomalies, d.Name+": "+what)
	}
}

// Duplicate records an item the server sent twice.
func (r *Recorder) Duplicate(d *Device, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nDup++
	if len(r.duplicates) < keepDetails {
		r.duplicates = append(r.duplicates, d.Name+": "+what)
	}
}

// Note records something worth reading that is not an error.
func (r *Recorder) Note(d *Device, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nNotes++
	if len(r.notes) < keepDetails {
		r.notes = append(r.notes, d.Name+": "+what)
	}
}

// Take returns and clears what was recorded since the last call.
func (r *Recorder) Take() (anomalies, duplicates []string, nAnom, nDup int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	anomalies, duplicates, nAnom, nDup = r.anomalies, r.duplicates, r.nAnom, r.nDup
	r.anomalies, r.duplicates, r.nAnom, r.nDup = nil, nil, 0, 0
	return
}

// Notes returns the notes and their count.
func (r *Recorder) Notes() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.notes...), r.nNotes
}
