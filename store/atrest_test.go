package store_test

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock/internal/keyring"
	"airlock/message"
	"airlock/pim"
	"airlock/store"
	"airlock/store/storetest"
)

// Known plaintexts written through the store's real write paths; none may
// appear in the database's files or columns.
const (
	knownSubject    = "Zebrafish referral for Mrs Quigley"
	knownBody       = "haemoglobin fell to seventy-three overnight"
	knownLocation   = "Quince Ward side room nine"
	knownSessionKey = "5e55104b3e7c0ffee5e55104b3e7c0ffee5e55104b3e7c0ffee5e55104b3e7c0f"
	knownTOTP       = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	knownWebhook    = "mdm-webhook-secret-quartzite"
	knownOOF        = "Away for knee surgery until March"
)

var plaintexts = []string{knownSubject, knownBody, knownLocation, knownSessionKey, knownTOTP, knownWebhook, knownOOF,
	strings.ToLower(knownBody), "Zebrafish", "seventy-three"}

// writeKnownSecretsAndMail stores the known secrets as the web does
// (org settings), a received mail as delivery does (parsed, with its
// search text), a sent copy with a remote recipient queued for the relay,
// and a calendar event as a device sync does.
func writeKnownSecretsAndMail(t *testing.T, s *store.Store) (*store.User, *store.Item, *store.Item) {
	t.Helper()
	u := newUser(t, s, "ann.lee@example.nhs.uk")
	for k, v := range map[string]string{
		"web_session_key":                         knownSessionKey,
		fmt.Sprintf("totp:%d", u.ID):              knownTOTP,
		fmt.Sprintf("totp_pending:%d", u.ID):      "otpauth://totp/Airlock?secret=" + knownTOTP,
		"mdm_webhook_secret":                      knownWebhook,
		"tagline_text":                            "not secret, sealed all the same",
		fmt.Sprintf("web_session_gen:%d", u.ID+1): "3",
	} {
		if err := s.SetSetting(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	raw := []byte("From: lab@other.example\r\nTo: ann.lee@example.nhs.uk\r\nSubject: " + knownSubject +
		"\r\nMessage-ID: <q1@other.example>\r\nDate: Mon, 2 Nov 2026 09:00:00 +0000\r\n\r\nThe " + knownBody + "; please review.\r\n")
	mail, err := message.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	mail.UserID, mail.FolderID = u.ID, inbox(t, s, u).ID
	mail.SearchText = store.NormalizeSearchText(message.SearchText(raw))
	if err := s.Deliver(ctx, store.Delivery{Raw: raw, Items: []*store.Item{mail}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetOof(ctx, u.ID, `{"state":1,"internal":"`+knownOOF+`"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetOof(ctx, u.ID, `{"state":1,"internal":"`+knownOOF+`."}`); err != nil { // the update path
		t.Fatal(err)
	}
	sent, _ := s.FolderByType(ctx, u.ID, store.FolderSentItems)
	reply := []byte("From: ann.lee@example.nhs.uk\r\nTo: far@other.example\r\nSubject: Re: " + knownSubject + "\r\n\r\nYes, the " + knownBody + ".\r\n")
	copyItem, _ := message.Parse(reply)
	copyItem.UserID, copyItem.FolderID = u.ID, sent.ID
	uid := u.ID
	if err := s.Submit(ctx, store.Submission{UserID: u.ID, Raw: reply, Items: []*store.Item{copyItem},
		Outbound: &store.OutboundMail{UserID: &uid, MailFrom: u.Email, RcptTo: "far@other.example", Data: reply}}); err != nil {
		t.Fatal(err)
	}
	cal, _ := s.FolderByType(ctx, u.ID, store.FolderCalendar)
	start := time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC)
	ev := &pim.Event{Summary: knownSubject, Location: knownLocation, Description: "Discuss: " + knownBody, Start: start, End: start.Add(time.Hour)}
	event, err := ev.ToItem(u.ID, cal.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddItem(ctx, event, nil); err != nil {
		t.Fatal(err)
	}
	return u, mail, event
}

// rawDatabase returns everything an attacker holding a copy of the
// database sees: the SQLite files' bytes (main file, -wal, -shm), or
// every text and bytea value of every PostgreSQL table.
func rawDatabase(t *testing.T, s *store.Store, sqlitePath string) []byte {
	t.Helper()
	var out bytes.Buffer
	if s.Dialect() == "sqlite" {
		files, _ := filepath.Glob(sqlitePath + "*")
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			out.Write(b)
		}
		return out.Bytes()
	}
	db, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'character varying', 'json', 'jsonb')`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, name, typ string }
	var cols []col
	for rows.Next() {
		var c col
		rows.Scan(&c.table, &c.name, &c.typ)
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) < 50 {
		t.Fatalf("only %d text columns found", len(cols))
	}
	for _, c := range cols {
		r, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %q FROM %q`, c.name, c.table))
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var v sql.RawBytes
			if err := r.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out.Write(v)
			out.WriteByte(0)
		}
		r.Close()
	}
	return out.Bytes()
}

func assertNoPlaintext(t *testing.T, raw []byte) {
	t.Helper()
	if len(raw) == 0 {
		t.Fatal("nothing read from the database")
	}
	for _, p := range plaintexts {
		if bytes.Contains(raw, []byte(p)) {
			t.Errorf("%q is in the database in clear", p)
		}
	}
}

// A database copied off the machine reveals no secret and no message
// text: the org settings that hold the web signing key, TOTP secrets and
// the MDM webhook secret; the subject, body, preview and search text of
// mail, queued outgoing mail, and a calendar event's fields. Everything
// still reads back, and mailbox search still finds words in the body.
func TestSecretsAndMailNotInClearOnDisk(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			dsn := storetest.DSN(t, dialect)
			s, err := store.Open(ctx, dsn, storetest.Options())
			if err != nil {
				t.Fatal(err)
			}
			u, mail, event := writeKnownSecretsAndMail(t, s)
			assertNoPlaintext(t, rawDatabase(t, s, dsn)) // with the write-ahead log
			if v, _ := s.Setting(ctx, fmt.Sprintf("totp:%d", u.ID), ""); v != knownTOTP {
				t.Errorf("TOTP secret reads back as %q", v)
			}
			if r, err := s.Oof(ctx, u.ID); err != nil || !strings.Contains(r.Settings, knownOOF+".") {
				t.Errorf("out-of-office reads back as %+v, %v", r, err)
			}
			got, err := s.ItemByID(ctx, u.ID, mail.ID)
			if err != nil || got.Subject != knownSubject || !strings.Contains(got.Preview, knownBody) {
				t.Fatalf("mail reads back as %+v, %v", got, err)
			}
			if raw, err := s.Blob(ctx, u.ID, mail.ID); err != nil || !bytes.Contains(raw, []byte(knownBody)) {
				t.Fatalf("blob: %v", err)
			}
			if ev, err := s.ItemByID(ctx, u.ID, event.ID); err != nil || !strings.Contains(ev.Props, knownLocation) {
				t.Fatalf("event: %v", err)
			}
			for _, q := range []string{"fell to seventy", "zebrafish", "QUIGLEY haemoglobin"} {
				if _, n, err := s.SearchMail(ctx, u.ID, store.MailQuery{Text: q}); err != nil || n != 2 {
					t.Errorf("search %q: %d %v", q, n, err)
				}
			}
			if _, n, _ := s.SearchMail(ctx, u.ID, store.MailQuery{Text: "haemoglobin rose"}); n != 0 {
				t.Errorf("search for an absent word found %d", n)
			}
			s.Close()
			assertNoPlaintext(t, rawDatabase(t, reopen(t, dsn, storetest.Options()), dsn))
		})
	}
}

func reopen(t *testing.T, dsn string, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The dedupe hash kept with each blob is keyed: it is not the SHA-256 of
// the content, and two databases keep different hashes of one message.
func TestSecretsAndMailNotInClearOnDiskDedupeHashIsKeyed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		u := newUser(t, s, "a@example.nhs.uk")
		raw := []byte("Subject: x\r\n\r\nsame message\r\n")
		if err := s.AddItem(ctx, &store.Item{UserID: u.ID, FolderID: inbox(t, s, u).ID}, raw); err != nil {
			t.Fatal(err)
		}
		db, _ := s.SQL()
		var digest string
		if err := db.QueryRow("SELECT sha256 FROM blobs").Scan(&digest); err != nil {
			t.Fatal(err)
		}
		if digest != s.BlobDigest(raw) {
			t.Fatalf("stored %s, store says %s", digest, s.BlobDigest(raw))
		}
		other, err := store.Open(ctx, filepath.Join(t.TempDir(), "other.db"), store.Options{MasterKey: keyring.Source{Key: keyring.GenerateKey().Bytes()}})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if unkeyed := fmt.Sprintf("%x", sha256.Sum256(raw)); digest == unkeyed || other.BlobDigest(raw) == digest {
			t.Fatal("the dedupe hash is not keyed per database")
		}
	})
}

// A lost or wrong master key stops Open with a clear error naming the key
// the database needs; no new key is made for a database that has one,
// and nothing is lost: the right key still opens it.
func TestSecretsAndMailNotInClearOnDiskWrongKeyRefused(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			dsn := storetest.DSN(t, dialect)
			s := reopen(t, dsn, storetest.Options())
			u, mail, _ := writeKnownSecretsAndMail(t, s)
			s.Close()
			wrong := keyring.GenerateKey()
			missing := filepath.Join(t.TempDir(), "lost.key")
			for name, src := range map[string]keyring.Source{
				"wrong key":        {Key: wrong.Bytes()},
				"wrong key in env": {Base64: keyring.Encode(wrong)},
				"lost key file":    {File: missing},
			} {
				_, err := store.Open(ctx, dsn, store.Options{MasterKey: src})
				if !errors.Is(err, store.ErrMasterKey) {
					t.Fatalf("%s: %v", name, err)
				}
				right, _ := keyring.NewKey(storetest.MasterKey)
				if !strings.Contains(err.Error(), right.ID()) {
					t.Errorf("%s: the error does not name the key the database needs: %v", name, err)
				}
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a new key file was made for a database that has a key")
			}
			s = reopen(t, dsn, storetest.Options())
			if got, err := s.ItemByID(ctx, u.ID, mail.ID); err != nil || got.Subject != knownSubject {
				t.Fatalf("after the refusals: %v", err)
			}
		})
	}
}

// Rotation re-wraps every key under the new master key in one go: after
// it the new key opens everything, the old key is refused, and a process
// still holding the old key may read but not store new content.
func TestSecretsAndMailNotInClearOnDiskRotate(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			dsn := storetest.DSN(t, dialect)
			s := reopen(t, dsn, storetest.Options())
			stale := reopen(t, dsn, storetest.Options())
			u, mail, event := writeKnownSecretsAndMail(t, s)
			auditBefore := s.Keys().Key(keyring.AuditChain)
			next := keyring.GenerateKey()
			n, err := s.RotateMasterKey(ctx, next)
			if err != nil || n != 2 {
				t.Fatalf("rotate: %d data keys, %v", n, err)
			}
			if _, err := s.RotateMasterKey(ctx, next); err == nil {
				t.Error("rotating to the same key again succeeded")
			}
			if err := stale.AddItem(ctx, &store.Item{UserID: u.ID, FolderID: inbox(t, s, u).ID}, []byte("Subject: late\r\n\r\nx\r\n")); !errors.Is(err, store.ErrKeyRotated) {
				t.Errorf("a process with the old key stored a blob: %v", err)
			}
			s.Close()
			stale.Close()
			if _, err := store.Open(ctx, dsn, storetest.Options()); !errors.Is(err, store.ErrMasterKey) {
				t.Fatalf("the old key still opens the database: %v", err)
			}
			s = reopen(t, dsn, store.Options{MasterKey: keyring.Source{Key: next.Bytes()}})
			if v, err := s.Setting(ctx, fmt.Sprintf("totp:%d", u.ID), ""); err != nil || v != knownTOTP {
				t.Fatalf("setting after rotation: %q %v", v, err)
			}
			for _, it := range []*store.Item{mail, event} {
				got, err := s.ItemByID(ctx, u.ID, it.ID)
				if err != nil || got.Subject != knownSubject {
					t.Fatalf("item after rotation: %v", err)
				}
			}
			if raw, err := s.Blob(ctx, u.ID, mail.ID); err != nil || !bytes.Contains(raw, []byte(knownBody)) {
				t.Fatalf("blob after rotation: %v", err)
			}
			if _, n, err := s.SearchMail(ctx, u.ID, store.MailQuery{Text: "seventy-three"}); err != nil || n != 2 {
				t.Fatalf("search after rotation: %d %v", n, err)
			}
			if !bytes.Equal(s.Keys().Key(keyring.AuditChain), auditBefore) {
				t.Error("the audit-chain key changed with the master key")
			}
		})
	}
}

// A database written in clear by an older release is sealed at start
// (SealExisting, then Compact): afterwards the files hold no plaintext,
// and everything reads as before.
func TestSecretsAndMailNotInClearOnDiskOldDataSealed(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			dsn := storetest.DSN(t, dialect)
			s := reopen(t, dsn, storetest.Options())
			u := newUser(t, s, "old@example.nhs.uk")
			f := inbox(t, s, u)
			db, _ := s.SQL()
			raw := "Subject: " + knownSubject + "\r\n\r\nThe " + knownBody + ".\r\n"
			q := func(sql string, args ...any) {
				t.Helper()
				if s.Dialect() == "postgres" {
					for i := 1; strings.Contains(sql, "?"); i++ {
						sql = strings.Replace(sql, "?", fmt.Sprintf("$%d", i), 1)
					}
				}
				if _, err := db.ExecContext(ctx, sql, args...); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
			}
			// As the release before encryption at rest wrote them.
			q("INSERT INTO blobs (id, sha256, size, data) VALUES (900, 'abc', ?, ?)", len(raw), []byte(raw))
			q("INSERT INTO blob_texts (blob_id, body) VALUES (900, ?)", strings.ToLower("the "+knownBody))
			q("INSERT INTO items (id, user_id, folder_id, class, modseq, blob_id, subject, preview, thread_topic, date_received) VALUES (900, ?, ?, 'Email', 1, 900, ?, ?, ?, ?)",
				u.ID, f.ID, knownSubject, "The "+knownBody, knownSubject, time.Now().UTC())
			q("INSERT INTO org_settings (key, value, updated_at) VALUES ('mdm_webhook_secret', ?, ?)", knownWebhook, time.Now().UTC())
			q("INSERT INTO outbound_queue (mail_from, rcpt_to, data, next_attempt) VALUES ('a@x', 'b@y', ?, ?)", []byte(raw), time.Now().UTC())

			if v, _ := s.Setting(ctx, "mdm_webhook_secret", ""); v != knownWebhook {
				t.Fatalf("old setting reads as %q before sealing", v)
			}
			total := 0
			for {
				n, err := s.SealExisting(ctx, 2)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				total += n
			}
			if total != 6 {
				t.Errorf("sealed %d values, want 6 (the blob with its text, 3 item fields, the setting, the queued mail)", total)
			}
			if err := s.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			assertNoPlaintext(t, rawDatabase(t, s, dsn))
			got, err := s.ItemByID(ctx, u.ID, 900)
			if err != nil || got.Subject != knownSubject || got.ThreadTopic != knownSubject {
				t.Fatalf("old item after sealing: %+v %v", got, err)
			}
			if b, err := s.Blob(ctx, u.ID, 900); err != nil || string(b) != raw {
				t.Fatalf("old blob after sealing: %v", err)
			}
			if _, n, _ := s.SearchMail(ctx, u.ID, store.MailQuery{Text: "fell to"}); n != 1 {
				t.Errorf("old text not found after sealing: %d", n)
			}
			if v, _ := s.Setting(ctx, "mdm_webhook_secret", ""); v != knownWebhook {
				t.Errorf("old setting reads as %q", v)
			}
		})
	}
}
