package importer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"airlock/message"
	"airlock/store"
)

// MaxMessageSize bounds one message read into memory; larger ones are
// reported and skipped. EAS servers commonly cap mail at a few tens of MB.
const MaxMessageSize = 150 << 20

// Summary counts what an import did, by item class.
type Summary struct {
	Imported   map[store.Class]int // stored
	Duplicates map[store.Class]int // skipped: already in the target folder
	Failed     map[store.Class]int // skipped: malformed or refused, reported
	// Unreadable counts paths that could not be read at all (missing,
	// permission denied); they are reported too.
	Unreadable int
}

func newSummary() Summary {
	return Summary{Imported: map[store.Class]int{}, Duplicates: map[store.Class]int{}, Failed: map[store.Class]int{}}
}

func total(m map[store.Class]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TotalImported is the number of items stored.
func (s Summary) TotalImported() int { return total(s.Imported) }

// TotalSkipped is the number of items and paths not stored, for any reason.
func (s Summary) TotalSkipped() int {
	return total(s.Duplicates) + total(s.Failed) + s.Unreadable
}

// String gives a one-line account: "imported 12 (Email 10, Calendar 2);
// skipped 3 (1 duplicate, 2 failed, 0 unreadable)".
func (s Summary) String() string {
	var classes []string
	for c, n := range s.Imported {
		if n > 0 {
			classes = append(classes, fmt.Sprintf("%s %d", c, n))
		}
	}
	sort.Strings(classes)
	detail := ""
	if len(classes) > 0 {
		detail = " (" + strings.Join(classes, ", ") + ")"
	}
	return fmt.Sprintf("imported %d%s; skipped %d (%d duplicate, %d failed, %d unreadable)",
		s.TotalImported(), detail, s.TotalSkipped(), total(s.Duplicates), total(s.Failed), s.Unreadable)
}

// Import loads the data at paths into the mailbox of userEmail, into
// folderPath or the default folders (see the package doc), writing one line
// per skipped item to report (which may be nil).
func Import(ctx context.Context, st *store.Store, userEmail, folderPath string, paths []string, report io.Writer) (Summary, error) {
	if report == nil {
		report = io.Discard
	}
	user, err := st.UserByAddress(ctx, userEmail)
	if err != nil {
		return newSummary(), fmt.Errorf("import: %w", err)
	}
	im := &importer{
		ctx: ctx, st: st, user: user, folderPath: strings.Trim(strings.TrimSpace(folderPath), "/"),
		report: report, sum: newSummary(), folders: map[folderKey]*target{},
	}
	for _, p := range paths {
		if err := im.path(p); err != nil {
			return im.sum, err
		}
	}
	return im.sum, nil
}

type importer struct {
	ctx        context.Context
	st         *store.Store
	user       *store.User
	folderPath string
	report     io.Writer
	sum        Summary
	folders    map[folderKey]*target
}

func (im *importer) reportf(format string, args ...any) {
	fmt.Fprintf(im.report, format+"\n", args...)
}

// fatal reports whether a store error must end the import rather than skip
// one item: the database is gone or the caller gave up.
func fatal(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Every error the methods below return ends the import; problems with one
// item or one path are reported and counted instead.

func (im *importer) path(p string) error {
	if err := im.ctx.Err(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	info, err := os.Stat(p)
	if err != nil {
		im.reportf("%s: %v", p, unwrapPathError(err))
		im.sum.Unreadable++
		return nil
	}
	if !info.IsDir() {
		return im.file(p)
	}
	if isMaildir(p) {
		return im.maildir(p)
	}
	var files []string
	err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			im.reportf("%s: %v", q, unwrapPathError(err))
			im.sum.Unreadable++
			return nil
		}
		if q != p && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() && q != p && isMaildir(q) {
			files = append(files, q) // imported as a Maildir, below
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			files = append(files, q)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		if err := im.ctx.Err(); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		var err error
		if isMaildir(f) {
			err = im.maildir(f)
		} else {
			err = im.file(f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type format int

const (
	formatMessage format = iota
	formatMbox
	formatICS
	formatVCF
)

// sniff tells a file's format from its first non-blank line.
func sniff(head []byte) format {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	line, _, _ := bytes.Cut(head, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	upper := bytes.ToUpper(bytes.TrimSpace(line))
	switch {
	case bytes.HasPrefix(line, []byte("From ")):
		return formatMbox
	case bytes.HasPrefix(upper, []byte("BEGIN:VCALENDAR")):
		return formatICS
	case bytes.HasPrefix(upper, []byte("BEGIN:VCARD")):
		return formatVCF
	}
	return formatMessage
}

func (im *importer) file(p string) error {
	f, err := os.Open(p)
	if err != nil {
		im.reportf("%s: %v", p, unwrapPathError(err))
		im.sum.Unreadable++
		return nil
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(4096)
	switch sniff(head) {
	case formatMbox:
		return im.mbox(p, br)
	case formatICS:
		return im.ics(p, br)
	case formatVCF:
		return im.vcf(p, br)
	}
	raw, err := io.ReadAll(io.LimitReader(br, MaxMessageSize+1))
	if err != nil {
		im.reportf("%s: %v", p, err)
		im.sum.Unreadable++
		return nil
	}
	return im.mail(p, "", raw, mailFlags{})
}

// mailFlags are the mailbox states a source format records.
type mailFlags struct {
	read     bool
	flagged  bool
	lastVerb int // MS-ASEMAIL 2.2.2.47 LastVerbExecuted: 1 reply to sender, 3 forward
}

// mail stores one message. where names it in reports (the path, plus the
// entry within an mbox).
func (im *importer) mail(path, entry string, raw []byte, fl mailFlags) error {
	where := path
	if entry != "" {
		where += ": " + entry
	}
	if len(raw) > MaxMessageSize {
		im.reportf("%s: message larger than %d MiB", where, MaxMessageSize>>20)
		im.sum.Failed[store.ClassEmail]++
		return nil
	}
	it, err := message.Parse(raw)
	if err != nil {
		im.reportf("%s: %v", where, err)
		im.sum.Failed[store.ClassEmail]++
		return nil
	}
	t, err := im.target(store.ClassEmail, true)
	if err != nil {
		return err
	}
	key := mailKey(it.MessageID, raw)
	if t.keys[key] {
		im.reportf("%s: duplicate: %s already in %q", where, describeKey(key), t.folder.Name)
		im.sum.Duplicates[store.ClassEmail]++
		return nil
	}
	it.UserID, it.FolderID = im.user.ID, t.folder.ID
	it.Read = fl.read
	if fl.flagged {
		it.FlagStatus = 2 // MS-ASEMAIL 2.2.2.33 FlagStatus: 2 = active
	}
	it.LastVerb = fl.lastVerb
	if err := im.st.AddItemWithinQuota(im.ctx, it, raw); err != nil {
		if qerr := im.quotaStop(where, err); qerr != nil {
			return qerr
		}
		if fatal(err) {
			return fmt.Errorf("import: %s: %w", where, err)
		}
		im.reportf("%s: %v", where, err)
		im.sum.Failed[store.ClassEmail]++
		return nil
	}
	t.keys[key] = true
	im.sum.Imported[store.ClassEmail]++
	return nil
}

func mailKey(messageID string, raw []byte) string {
	if messageID != "" {
		return "id:" + messageID
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func describeKey(key string) string {
	switch {
	case strings.HasPrefix(key, "id:"):
		return "Message-ID <" + key[3:] + ">"
	case strings.HasPrefix(key, "uid:"):
		return "UID " + key[4:]
	}
	return "identical message"
}
