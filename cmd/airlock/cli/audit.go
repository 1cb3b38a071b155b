package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"airlock/internal/auditlog"
	"airlock/internal/server"
	"airlock/store"
)

// Every command that opens the database is audited twice: "cli.command"
// with outcome "started" before it does anything (if that cannot be
// written, the command does not run), and with its outcome when it ends.
// What a command changes is audited as well, by the service that changes
// it or by the command (user.*). The actor is the operating-system
// account of the process (its uid, looked up in the user database), never
// $USER, which whoever runs the command can set.

type envKey struct{}

// cliActor names the operating-system account running the command.
func cliActor() string {
	uid := os.Getuid()
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("cli:%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("cli:uid %d", uid)
}

// invocation describes the command line for the audit detail.
func invocation(e *env) string {
	var b strings.Builder
	b.WriteString("airlock " + e.name)
	for _, a := range e.args {
		b.WriteString(" " + strconv.Quote(a))
	}
	if who := os.Getenv("SUDO_USER"); who != "" {
		fmt.Fprintf(&b, "; SUDO_USER=%q (from the environment, unverified)", who)
	}
	d := b.String()
	if len(d) > 2000 {
		d = d[:2000] + "…"
	}
	return d
}

// startAudit records that the command starts; its error stops the command.
func startAudit(ctx context.Context, e *env, st *store.Store, dsn string) error {
	if e.dsn != "" {
		return nil // already recorded (a command that opens twice)
	}
	err := st.Audit(ctx, &store.AuditEvent{Actor: cliActor(), ActorIP: "local", Action: "cli.command", TargetType: "command",
		Target: e.name, Outcome: "started", Detail: invocation(e)})
	if errors.Is(err, store.ErrAuditKeyRequired) {
		return fmt.Errorf("the audit log is keyed and %s holds no audit key: run as the server's user with --data-dir (or $AIRLOCK_DATA_DIR) set as for serve", e.dataDir)
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	e.dsn = dsn
	return nil
}

// finishAudit records how the command ended and anchors the chain's new
// head (best effort: the server anchors it too, within its interval).
func finishAudit(ctx context.Context, e *env, cmdErr error) {
	if e.dsn == "" {
		return
	}
	st, err := openForAudit(ctx, e)
	if err != nil {
		fmt.Fprintf(e.stderr, "airlock %s: audit: %s\n", e.name, oneLine(err))
		return
	}
	defer st.Close()
	outcome, detail := "success", invocation(e)
	if cmdErr != nil && !errors.Is(cmdErr, flag.ErrHelp) {
		outcome, detail = "failure", detail+": "+oneLine(cmdErr)
	}
	ctx = context.WithoutCancel(ctx) // an interrupted command is still recorded
	if err := st.Audit(ctx, &store.AuditEvent{Actor: cliActor(), ActorIP: "local", Action: "cli.command", TargetType: "command",
		Target: e.name, Outcome: outcome, Detail: detail}); err != nil {
		fmt.Fprintf(e.stderr, "airlock %s: audit: %s\n", e.name, oneLine(err))
		return
	}
	if head, err := st.AuditHeadNow(ctx); err == nil && strings.HasPrefix(head.Hash, "hmac-") {
		a := &auditlog.Anchorer{Store: st, Path: auditlog.PathIn(e.dataDir)}
		if err := a.Anchor(ctx); err != nil {
			fmt.Fprintf(e.stderr, "airlock %s: %s\n", e.name, oneLine(err))
		}
	}
}

// auditKeyOf loads the audit key serve created in the data directory; nil
// when there is none yet (the store then refuses to extend a keyed chain).
func auditKeyOf(e *env) ([]byte, error) { return server.AuditKey(e.dataDir, false) }

func openForAudit(ctx context.Context, e *env) (*store.Store, error) {
	key, err := auditKeyOf(e)
	if err != nil {
		return nil, err
	}
	return store.Open(context.WithoutCancel(ctx), e.dsn, store.Options{SkipMigrate: true, AuditKey: key})
}

func runAuditVerify(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "audit verify", "audit verify [--db DB] [--data-dir DIR] [--anchor FILE]")
	db := dbFlag(fs)
	anchor := fs.String("anchor", "", "anchor file (default: audit-anchor.log in --data-dir)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *anchor == "" {
		*anchor = auditlog.PathIn(e.dataDir)
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := auditlog.Verify(ctx, st, *anchor)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d events (%d unkeyed from before the audit key", res.Events, res.LegacyEvents)
	if res.FirstKeyedID != 0 {
		fmt.Fprintf(e.stdout, "; keyed from event %d", res.FirstKeyedID)
	}
	fmt.Fprintf(e.stdout, "); newest event %d\n", res.Head.ID)
	if res.Anchored {
		fmt.Fprintf(e.stdout, "anchor: event %d at %s (%s)\n", res.Anchor.Head.ID, res.Anchor.At.Format("2006-01-02 15:04:05Z07:00"), *anchor)
	} else {
		fmt.Fprintf(e.stdout, "anchor: none in %s\n", *anchor)
	}
	if res.OK() {
		fmt.Fprintln(e.stdout, "the audit log is intact")
		return nil
	}
	for _, p := range res.Problems {
		fmt.Fprintln(e.stdout, "FAIL: "+p)
	}
	return errors.New("the audit log has been tampered with: " + strings.Join(res.Problems, "; "))
}
