// Package cli implements the airlock subcommands. Each command parses its
// own flags (with defaults from AIRLOCK_* environment variables), does its
// work, and returns an error; Main prints any error as one line on stderr and
// turns it into a non-zero exit status, so scripts can rely on both.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"airlock/policies"
	"airlock/store"
)

// env carries the process's standard streams into commands, so tests can
// run them in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// The command being run, for its audit record (audit.go).
	name string
	args []string
	// dataDir holds the audit key and anchor (--data-dir).
	dataDir string
	// dsn is the database the command opened, if any.
	dsn string
}

// command is one row of the command table: "name" or "group name", the
// one-line summary shown by help, and the function that runs it.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commandTable lists every command in one place, so help and dispatch do
// not depend on the order in which files register themselves.
var commandTable = []command{
	{"serve", "run the server", runServe},
	{"migrate", "apply pending database migrations", runMigrate},
	{"import", "load a user's mail (Maildir, mbox, .eml), calendar (.ics) and contacts (.vcf)", runImport},
	{"export", "write a user's calendar or tasks (.ics) or contacts (.vcf) to standard output", runExport},
	{"key rotate", "re-wrap every data key under a new master key (audited)", runKeyRotate},
	{"audit verify", "check the audit log's keyed hash chain and its anchored head", runAuditVerify},
	{"wbxml decode", "WBXML (stdin, or --hex / --base64 text from a log) to readable XML", runWBXMLDecode},
	{"wbxml encode", "XML (stdin) to WBXML (stdout)", runWBXMLEncode},

	// Users (user.go, photo.go).
	{"user add", "add a user (password on standard input)", runUserAdd},
	{"user list", "list users", runUserList},
	{"user passwd", "set a user's password (on standard input)", runUserPasswd},
	{"user disable", "disable a user", runUserDisable},
	{"user enable", "enable a disabled user", runUserEnable},
	{"user delete", "delete a user and all their data", runUserDelete},
	{"user set-role", "make a user an admin or a plain user", runUserSetRole},
	{"user photo", "set or clear a user's directory photo: user photo set EMAIL FILE | clear EMAIL", runUserPhoto},

	// Devices, policy and access rules (device.go).
	{"device list", "list devices (filters: --state, --user, --type, --search)", runDeviceList},
	{"device show", "show one device with its decision, evidence and audit trail", runDeviceShow},
	{"device allow", "allow a device (admin decision)", deviceAction(policies.ActionAllow)},
	{"device block", "block a device (admin decision)", deviceAction(policies.ActionBlock)},
	{"device quarantine", "quarantine a device (admin decision)", deviceAction(policies.ActionQuarantine)},
	{"device clear", "clear the admin decision so rules decide again", deviceAction("")},
	{"device wipe", "request a remote wipe (--account-only for 16.1 devices)", runDeviceWipe},
	{"device release", "let a wiped device start again", runDeviceRelease},
	{"device remove", "delete a device partnership", runDeviceRemove},
	{"policy show", "print the default policy as JSON", runPolicyShow},
	{"policy set", "replace the policy from JSON (--file or stdin); devices re-provision", runPolicySet},
	{"rule list", "list device access rules in evaluation order", runRuleList},
	{"rule add", "add a device access rule", runRuleAdd},
	{"rule remove", "remove a device access rule", runRuleRemove},

	// Governance (governance.go).
	{"servicelevel list", "list service levels with their quotas", runLevelList},
	{"servicelevel add", "define a service level (--name, --quota 400MB)", runLevelAdd},
	{"servicelevel set-quota", "change a level's quota", runLevelSetQuota},
	{"servicelevel assign", "put users on a level (--user, or --unassigned)", runLevelAssign},
	{"servicelevel scale", "multiply every level's quota at once (--factor 2)", runLevelScale},
	{"quota show", "show a user's mailbox usage against their quota", runQuotaShow},
	{"role grant", "give a user a governance role (hr_director, programme_head)", runRoleGrant},
	{"role revoke", "take a governance role away", runRoleRevoke},
	{"role list", "list governance roles", runRoleList},
	{"breakglass request", "request access to another user's mailbox (requester's password on stdin)", runBGRequest},
	{"breakglass approve", "approve a request (approver's password on stdin)", runBGApprove},
	{"breakglass revoke", "stop a pending or active request", runBGRevoke},
	{"breakglass list", "list break-glass requests with their approvals", runBGList},
	{"delegate grant", "let a colleague read a mailbox or calendar, or send on behalf", runDelegateGrant},
	{"delegate revoke", "end a delegation", runDelegateRevoke},
	{"delegate list", "list an owner's delegates (or a delegate's mailboxes)", runDelegateList},
	{"domain add", "accredit a partner domain for sensitive mail", runDomainAdd},
	{"domain remove", "withdraw a domain's accreditation", runDomainRemove},
	{"domain list", "list accredited domains and the sensitive-mail tags", runDomainList},
	{"domain tags", "set the subject tags that mark mail sensitive", runDomainTags},
	{"held list", "list sensitive mail held back", runHeldList},
	{"held release", "send held mail on to its recipients", runHeldRelease},
	{"held drop", "delete held mail and tell its sender", runHeldDrop},
	{"tagline set", "set the footer on mail leaving the organisation", runTaglineSet},
	{"tagline show", "show the footer", runTaglineShow},
	{"tagline clear", "remove the footer", runTaglineClear},
}

// commands maps "name" or "group name" to its row of commandTable.
var commands = indexCommands(commandTable)

// indexCommands maps each command's name to it, refusing a name listed
// twice so that one row cannot silently replace another.
func indexCommands(table []command) map[string]command {
	m := make(map[string]command, len(table))
	for _, c := range table {
		if _, dup := m[c.name]; dup {
			panic("airlock: command listed twice: " + c.name)
		}
		m[c.name] = c
	}
	return m
}

// errUsage means the arguments were wrong; the command already printed why.
var errUsage = errors.New("usage")

// Main runs the command named by args and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		usage(stdout)
		return 0
	}
	name, rest := args[0], args[1:]
	cmd, ok := commands[name]
	if !ok && len(rest) > 0 {
		name = args[0] + " " + args[1]
		cmd, ok = commands[name]
		rest = args[2:]
	}
	if !ok {
		if group := groupUsage(args[0]); group != "" {
			fmt.Fprint(stderr, group)
			return 2
		}
		fmt.Fprintf(stderr, "airlock: unknown command %q (try 'airlock help')\n", strings.Join(args[:min(2, len(args))], " "))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e.name, e.args = name, rest
	ctx = context.WithValue(ctx, envKey{}, e)
	err := cmd.run(ctx, e, rest)
	finishAudit(ctx, e, err) // audit.go
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "airlock %s: %s\n", name, oneLine(err))
	return 1
}

func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "airlock: a secure mobile-mail gateway (Exchange ActiveSync with device control)")
	fmt.Fprintln(w, "\nUsage: airlock COMMAND [flags]   (airlock COMMAND --help for its flags)")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --db (default $AIRLOCK_DB or data/airlock.db) and --data-dir (default\n$AIRLOCK_DATA_DIR or data: where serve keeps the audit key). Every command that opens the\ndatabase is audited with the operating-system user running it.")
}

func groupUsage(group string) string {
	var b strings.Builder
	names := make([]string, 0, len(commands))
	for n := range commands {
		if strings.HasPrefix(n, group+" ") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  airlock %-18s %s\n", n, commands[n].summary)
	}
	if b.Len() == 0 {
		return ""
	}
	return "airlock " + group + ": choose a subcommand:\n" + b.String()
}

// flags returns a flag set that prints its usage to e.stderr and reports
// errors without exiting.
func flags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if name != "serve" { // serve declares its own
		fs.StringVar(&e.dataDir, "data-dir", envOr("AIRLOCK_DATA_DIR", "data"), "directory holding the audit key and anchor, as given to serve ($AIRLOCK_DATA_DIR)")
	}
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: airlock %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, mapping a parse failure to errUsage (already printed).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", envOr("AIRLOCK_DB", "data/airlock.db"), "database: a SQLite file path or a postgres:// URL ($AIRLOCK_DB)")
}

// openStore opens the database with the audit key, and records the
// command in the audit log before it does anything (audit.go).
func openStore(ctx context.Context, dsn string) (*store.Store, error) {
	e, _ := ctx.Value(envKey{}).(*env)
	if e == nil {
		return nil, errors.New("openStore outside Main")
	}
	key, err := auditKeyOf(e)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dsn, store.Options{Logger: slog.New(slog.DiscardHandler), AuditKey: key, MasterKey: masterKeySource(dsn)})
	if err != nil {
		return nil, err
	}
	if err := startAudit(ctx, e, st, dsn); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
