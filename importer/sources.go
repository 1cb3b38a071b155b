package importer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"airlock/pim"
	"airlock/store"
)

// isMaildir: a directory with cur/ and new/ (tmp/ holds deliveries in
// progress and may be missing from a copy).
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// maildir imports new/ and cur/ in name order, which for the standard
// "time.unique.host" names is delivery order, so ids follow arrival.
func (im *importer) maildir(dir string) error {
	type entry struct {
		path string
		name string
		cur  bool
	}
	var entries []entry
	for _, sub := range []string{"cur", "new"} {
		des, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			im.reportf("%s: %v", filepath.Join(dir, sub), unwrapPathError(err))
			im.sum.Unreadable++
			continue
		}
		for _, de := range des {
			if de.Type().IsRegular() && !strings.HasPrefix(de.Name(), ".") {
				entries = append(entries, entry{filepath.Join(dir, sub, de.Name()), de.Name(), sub == "cur"})
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	for _, e := range entries {
		if err := im.ctx.Err(); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		raw, err := readLimited(e.path)
		if err != nil {
			im.reportf("%s: %v", e.path, unwrapPathError(err))
			im.sum.Unreadable++
			continue
		}
		var fl mailFlags
		if e.cur {
			fl = maildirFlags(e.name)
		}
		if err := im.mail(e.path, "", raw, fl); err != nil {
			return err
		}
	}
	return nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxMessageSize+1))
}

// maildirFlags reads the info part of a Maildir file name: "unique:2,FRS"
// (cr.yp.to/proto/maildir.html). Dovecot on file systems without ':' uses
// ';' or '!' as separator, so those are accepted too.
func maildirFlags(name string) mailFlags {
	var fl mailFlags
	i := strings.LastIndexAny(name, ":;!")
	if i < 0 || !strings.HasPrefix(name[i+1:], "2,") {
		return fl
	}
	for _, c := range name[i+3:] {
		switch c {
		case 'S':
			fl.read = true
		case 'F':
			fl.flagged = true
		case 'R':
			fl.lastVerb = 1
		case 'P':
			if fl.lastVerb == 0 {
				fl.lastVerb = 3
			}
		}
	}
	return fl
}

// fromLine matches an mbox separator: "From " then the envelope sender, then
// a date with a time of day ("From MAILER-DAEMON Fri Jul  8 12:08:34 2011",
// "From - Sat Jan 01 00:00:00 2000"). Requiring the time keeps a body line
// that an mboxo writer left unquoted ("From the ward: ...") from splitting a
// message, when it is not followed by what looks like a date.
var fromLine = regexp.MustCompile(`^From \S+ +\S.*\d{1,2}:\d{2}`)

// mbox splits an mbox file into messages and imports each. It reads
// mboxo and mboxrd alike: a separator is a From_ line at the start or after
// an empty line, and one '>' is removed from every ">From " / ">>From "
// line, which is exact for mboxrd and right for all but originally quoted
// lines in mboxo. The file is streamed; one message at a time is in memory.
func (im *importer) mbox(path string, r *bufio.Reader) error {
	var (
		buf       bytes.Buffer
		n         int
		started   bool
		prevBlank = true
		tooBig    bool
	)
	flush := func() error {
		if !started {
			return nil
		}
		raw := buf.Bytes()
		// The empty line that ends each message belongs to the format.
		if bytes.HasSuffix(raw, []byte("\r\n\r\n")) {
			raw = raw[:len(raw)-2]
		} else if bytes.HasSuffix(raw, []byte("\n\n")) {
			raw = raw[:len(raw)-1]
		}
		entry := fmt.Sprintf("message %d", n)
		var err error
		if tooBig {
			im.reportf("%s: %s: message larger than %d MiB", path, entry, MaxMessageSize>>20)
			im.sum.Failed[store.ClassEmail]++
		} else {
			msg := append([]byte(nil), raw...)
			err = im.mail(path, entry, msg, mboxFlags(msg))
		}
		buf.Reset()
		tooBig = false
		return err
	}
	for {
		if err := im.ctx.Err(); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			trimmed := bytes.TrimRight(line, "\r\n")
			if prevBlank && fromLine.Match(trimmed) {
				if ferr := flush(); ferr != nil {
					return ferr
				}
				n++
				started = true
				prevBlank = false
				continue
			}
			prevBlank = len(trimmed) == 0
			if !started && prevBlank {
				continue
			}
			if !started {
				// Text before the first From_ line: sniff saw "From " but
				// not a separator.
				im.reportf("%s: not an mbox file (first line is not a From_ separator)", path)
				im.sum.Failed[store.ClassEmail]++
				return nil
			}
			if q := bytes.TrimLeft(trimmed, ">"); len(q) < len(trimmed) && bytes.HasPrefix(q, []byte("From ")) {
				line = line[1:]
			}
			if buf.Len()+len(line) > MaxMessageSize {
				tooBig = true
			} else if !tooBig {
				buf.Write(line)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			im.reportf("%s: message %d: %v", path, n, err)
			im.sum.Unreadable++
			return nil
		}
	}
	return flush()
}

// mboxFlags reads the Status and X-Status headers mail clients keep in mbox
// files: Status "R" read ("O" only: seen by the client, still unread);
// X-Status "F" flagged, "A" answered.
func mboxFlags(raw []byte) mailFlags {
	var fl mailFlags
	head := raw
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		head = raw[:i]
	}
	if i := bytes.Index(head, []byte("\r\n\r\n")); i >= 0 {
		head = head[:i]
	}
	for _, line := range bytes.Split(head, []byte("\n")) {
		name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r"), []byte(":"))
		if !ok {
			continue
		}
		v := string(bytes.TrimSpace(value))
		switch strings.ToLower(string(name)) {
		case "status":
			fl.read = fl.read || strings.Contains(v, "R")
		case "x-status":
			fl.flagged = fl.flagged || strings.Contains(v, "F")
			if strings.Contains(v, "A") {
				fl.lastVerb = 1
			}
		}
	}
	return fl
}

func (im *importer) ics(path string, r io.Reader) error {
	events, tasks, errs := pim.ParseICS(r)
	for _, err := range errs {
		im.reportf("%s: %v", path, err)
		im.sum.Failed[store.ClassCalendar]++
	}
	for i := range events {
		events[i].SetOwner(im.user.Email)
		it, err := events[i].ToItem(im.user.ID, 0)
		if err := im.pim(path, events[i].UID, store.ClassCalendar, it, err); err != nil {
			return err
		}
	}
	for i := range tasks {
		it, err := tasks[i].ToItem(im.user.ID, 0)
		if err := im.pim(path, tasks[i].UID, store.ClassTasks, it, err); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) vcf(path string, r io.Reader) error {
	contacts, errs := pim.ParseVCF(r)
	for _, err := range errs {
		im.reportf("%s: %v", path, err)
		im.sum.Failed[store.ClassContacts]++
	}
	for i := range contacts {
		it, err := contacts[i].ToItem(im.user.ID, 0)
		if err := im.pim(path, contacts[i].UID, store.ClassContacts, it, err); err != nil {
			return err
		}
	}
	return nil
}

// pim stores one event, task or contact that ToItem produced (or refused).
func (im *importer) pim(path, uid string, class store.Class, it *store.Item, toItemErr error) error {
	where := fmt.Sprintf("%s: UID %s", path, uid)
	if toItemErr != nil {
		im.reportf("%s: %v", where, toItemErr)
		im.sum.Failed[class]++
		return nil
	}
	// Tasks are the secondary class of an .ics: they follow the folder path
	// only when it names a Tasks folder.
	t, err := im.target(class, class != store.ClassTasks)
	if err != nil {
		return err
	}
	key := "uid:" + it.UID
	if t.keys[key] {
		im.reportf("%s: duplicate: already in %q", where, t.folder.Name)
		im.sum.Duplicates[class]++
		return nil
	}
	it.FolderID = t.folder.ID
	if err := im.st.AddItemWithinQuota(im.ctx, it, nil); err != nil {
		if qerr := im.quotaStop(where, err); qerr != nil {
			return qerr
		}
		if fatal(err) {
			return fmt.Errorf("import: %s: %w", where, err)
		}
		im.reportf("%s: %v", where, err)
		im.sum.Failed[class]++
		return nil
	}
	t.keys[key] = true
	im.sum.Imported[class]++
	return nil
}
