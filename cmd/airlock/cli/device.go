package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"airlock/devices"
	"airlock/policies"
	"airlock/store"
)

// adminSession opens the store and the device service for an admin command
// run from the shell; the actor in the audit log is the operating-system
// user, since the shell has no Airlock login.
func adminSession(ctx context.Context, db string) (*store.Store, *devices.Service, devices.Actor, error) {
	st, err := openStore(ctx, db)
	if err != nil {
		return nil, nil, devices.Actor{}, err
	}
	svc := devices.New(st, nil)
	if err := svc.EnsureDefaults(ctx); err != nil {
		st.Close()
		return nil, nil, devices.Actor{}, err
	}
	return st, svc, devices.Actor{Email: cliActor(), Admin: true, IP: "local"}, nil
}

func runDeviceList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "device list", "device list [--db DB] [--state STATE] [--user EMAIL] [--type DEVICETYPE] [--search TEXT] [--limit N]")
	db := dbFlag(fs)
	state := fs.String("state", "", "new, allowed, quarantined, blocked, wipe_pending or wiped")
	userEmail := fs.String("user", "", "only this user's devices")
	dtype := fs.String("type", "", "only this DeviceType")
	search := fs.String("search", "", "text in device id, model, type, user agent or name")
	limit := fs.Int("limit", 100, "at most this many")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	f := store.DeviceFilter{State: store.DeviceState(*state), DeviceType: *dtype, Search: *search, Limit: *limit}
	if *userEmail != "" {
		u, err := st.UserByAddress(ctx, *userEmail)
		if err != nil {
			return fmt.Errorf("no user %s", *userEmail)
		}
		f.UserID = u.ID
	}
	list, err := st.ListDevices(ctx, f)
	if err != nil {
		return err
	}
	emails := map[int64]string{}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tDEVICEID\tTYPE\tMODEL\tOS\tEAS\tSTATE\tLAST SEEN")
	for _, d := range list {
		if _, ok := emails[d.UserID]; !ok {
			if u, err := st.UserByID(ctx, d.UserID); err == nil {
				emails[d.UserID] = u.Email
			}
		}
		seen := "-"
		if d.LastSeen != nil {
			seen = d.LastSeen.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, emails[d.UserID], d.DeviceID, d.DeviceType, d.Model, d.OS, d.ProtocolVersion, d.State, seen)
	}
	return tw.Flush()
}

// deviceFlags parses the flags every single-device command takes: --db and
// the device's numeric id (as listed by device list) as --id or argument.
func deviceFlags(e *env, name string, args []string, extra func(*flag.FlagSet)) (db string, id int64, err error) {
	fs := flags(e, name, name+" [--db DB] ID")
	dbp := dbFlag(fs)
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args); err != nil {
		return "", 0, err
	}
	if fs.NArg() != 1 {
		return "", 0, errors.New("give the device's ID (see airlock device list)")
	}
	id, err = strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("device ID %q is not a number", fs.Arg(0))
	}
	return *dbp, id, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no %s", what)
	}
	return err
}

func runDeviceShow(ctx context.Context, e *env, args []string) error {
	db, id, err := deviceFlags(e, "device show", args, nil)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := st.DeviceByID(ctx, id)
	if err != nil {
		return notFound(err, fmt.Sprintf("device %d", id))
	}
	u, _ := st.UserByID(ctx, d.UserID)
	w := e.stdout
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-18s %s\n", k+":", v)
		}
	}
	row("Device", fmt.Sprintf("%d (%s)", d.ID, d.DeviceID))
	if u != nil {
		row("User", u.Email)
	}
	row("DeviceType", d.DeviceType)
	row("Model", d.Model)
	row("OS", d.OS)
	row("IMEI", d.IMEI)
	row("Friendly name", d.FriendlyName)
	row("User-Agent", d.UserAgent)
	row("EAS version", d.ProtocolVersion)
	row("State", string(d.State))
	row("Reason", d.StateReason)
	row("Decided by", d.DecidedBy)
	row("Admin decision", strings.TrimSpace(d.AdminOverride+" "+d.AdminOverrideBy))
	row("Policy ack", ackText(d.PolicyAckStatus))
	row("Policy key", keyText(d))
	if d.WipeType != "" {
		row("Wipe", fmt.Sprintf("%s, requested by %s, ack status %d", d.WipeType, d.WipeRequestedBy, d.WipeAckStatus))
	}
	var evidence []string
	json.Unmarshal([]byte(d.Evidence), &evidence)
	if len(evidence) > 0 {
		fmt.Fprintln(w, "Evidence:")
		for _, ev := range evidence {
			fmt.Fprintf(w, "  - %s\n", ev)
		}
	}
	events, err := st.ListAudit(ctx, store.AuditFilter{DevicePK: d.ID, Limit: 20})
	if err != nil {
		return err
	}
	if len(events) > 0 {
		fmt.Fprintln(w, "Recent audit events:")
		for _, ev := range events {
			fmt.Fprintf(w, "  %s  %-28s %-12s %s %s\n", ev.At.Format("2006-01-02 15:04:05"), ev.Action, ev.Outcome, ev.Actor, ev.Detail)
		}
	}
	return nil
}

func ackText(s int) string {
	if s == 0 {
		return "none yet"
	}
	return fmt.Sprintf("%d (%s)", s, policies.PolicyAck(s))
}

func keyText(d *store.Device) string {
	if d.PolicyKey == 0 {
		return "none (must provision)"
	}
	return fmt.Sprintf("issued for policy version %d", d.PolicyVersion)
}

func deviceAction(a policies.Action) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		name := "device " + string(a)
		if a == "" {
			name = "device clear"
		}
		db, id, err := deviceFlags(e, name, args, nil)
		if err != nil {
			return err
		}
		st, svc, actor, err := adminSession(ctx, db)
		if err != nil {
			return err
		}
		defer st.Close()
		d, err := svc.SetAccess(ctx, actor, id, a)
		if err != nil {
			return notFound(err, fmt.Sprintf("device %d", id))
		}
		fmt.Fprintf(e.stdout, "device %d (%s) is now %s: %s\n", d.ID, d.DeviceID, d.State, d.StateReason)
		return nil
	}
}

func runDeviceWipe(ctx context.Context, e *env, args []string) error {
	var accountOnly *bool
	db, id, err := deviceFlags(e, "device wipe", args, func(fs *flag.FlagSet) {
		accountOnly = fs.Bool("account-only", false, "remove only this account's data (EAS 16.1 devices)")
	})
	if err != nil {
		return err
	}
	st, svc, actor, err := adminSession(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := svc.RequestWipe(ctx, actor, id, *accountOnly)
	if err != nil {
		return notFound(err, fmt.Sprintf("device %d", id))
	}
	fmt.Fprintf(e.stdout, "wipe (%s) requested for device %d (%s); it is delivered on the device's next request\n", d.WipeType, d.ID, d.DeviceID)
	return nil
}

func runDeviceRelease(ctx context.Context, e *env, args []string) error {
	return simpleDeviceCommand(ctx, e, args, "device release", "released", func(svc *devices.Service, a devices.Actor, id int64) error {
		return svc.Release(ctx, a, id)
	})
}

func runDeviceRemove(ctx context.Context, e *env, args []string) error {
	return simpleDeviceCommand(ctx, e, args, "device remove", "removed", func(svc *devices.Service, a devices.Actor, id int64) error {
		return svc.Remove(ctx, a, id)
	})
}

func simpleDeviceCommand(ctx context.Context, e *env, args []string, name, done string, fn func(*devices.Service, devices.Actor, int64) error) error {
	db, id, err := deviceFlags(e, name, args, nil)
	if err != nil {
		return err
	}
	st, svc, actor, err := adminSession(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := fn(svc, actor, id); err != nil {
		return notFound(err, fmt.Sprintf("device %d", id))
	}
	fmt.Fprintf(e.stdout, "device %d %s\n", id, done)
	return nil
}

func runPolicyShow(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "policy show", "policy show [--db DB]")
	db := dbFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	st, svc, _, err := adminSession(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	p, settings, err := svc.Policy(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "policy %q, version %d\n", p.Name, p.Version)
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(settings)
}

func runPolicySet(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "policy set", "policy set [--db DB] [--file policy.json]   (JSON as printed by policy show; stdin without --file)")
	db := dbFlag(fs)
	file := fs.String("file", "", "JSON file (default: standard input)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var r io.Reader = e.stdin
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var settings policies.Settings
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&settings); err != nil {
		return fmt.Errorf("policy JSON: %v", err)
	}
	st, svc, actor, err := adminSession(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := svc.SetPolicy(ctx, actor, settings)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "policy %q is now version %d; every device re-provisions on its next request\n", p.Name, p.Version)
	return nil
}

func runRuleList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "rule list", "rule list [--db DB]")
	db := dbFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	st, svc, _, err := adminSession(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	rules, err := svc.Rules(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPRIORITY\tFIELD\tMATCH\tPATTERN\tACTION\tENABLED\tDESCRIPTION")
	for _, r := range rules {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%v\t%s\n", r.ID, r.Priority, r.Field, r.Match, r.Pattern, r.Action, r.Enabled, r.Description)
	}
	return tw.Flush()
}

func runRuleAdd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "rule add", "rule add [--db DB] --field model|type|os|useragent --match exact|prefix|pattern --pattern P --action allow|block|quarantine [--priority N] [--description TEXT]")
	db := dbFlag(fs)
	var r policies.Rule
	field := fs.String("field", "", "what the rule looks at: model, type, os or useragent")
	match := fs.String("match", "exact", "exact, prefix or pattern (glob with * and ?, or re:REGEXP)")
	fs.StringVar(&r.Pattern, "pattern", "", "the value or pattern to match")
	action := fs.String("action", "", "allow, block or quarantine")
	fs.IntVar(&r.Priority, "priority", 100, "lower runs first; the first matching rule decides")
	fs.StringVar(&r.Description, "description", "", "why the rule exists")
	if err := parse(fs, args); err != nil {
		return err
	}
	r.Field, r.Match, r.Action, r.Enabled = policies.Field(*field), policies.MatchKind(*match), policies.Action(*action), true
	st, svc, actor, err := adminSession(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	sr, err := svc.AddRule(ctx, actor, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rule %d added: %s %s %q -> %s\n", sr.ID, sr.Field, sr.Match, sr.Pattern, sr.Action)
	return nil
}

func runRuleRemove(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "rule remove", "rule remove [--db DB] ID")
	db := dbFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("give the rule's ID (see airlock rule list)")
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil {
		return fmt.Errorf("rule ID %q is not a number", fs.Arg(0))
	}
	st, svc, actor, err := adminSession(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := svc.RemoveRule(ctx, actor, id); err != nil {
		return notFound(err, fmt.Sprintf("rule %d", id))
	}
	fmt.Fprintf(e.stdout, "rule %d removed\n", id)
	return nil
}
