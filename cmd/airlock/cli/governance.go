package cli

// Health-service rules: service levels and quotas, governance
// roles, break-glass access, delegates, secure domains and held mail, the
// tag line.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"airlock/governance"
	"airlock/internal/password"
	"airlock/store"
)

// govSession opens the store and the governance service; the actor of an
// admin command is the operating-system user, as for device commands.
func govSession(ctx context.Context, db string) (*store.Store, *governance.Service, governance.Actor, error) {
	st, err := openStore(ctx, db)
	if err != nil {
		return nil, nil, governance.Actor{}, err
	}
	host := envOr("AIRLOCK_HOSTNAME", "")
	if host == "" {
		host, _ = os.Hostname()
	}
	return st, &governance.Service{Store: st, Hostname: host}, governance.Actor{Name: cliActor(), IP: "local"}, nil
}

// govCommand parses flags, opens the session and runs fn.
func govCommand(ctx context.Context, e *env, name, synopsis string, args []string, declare func(fs *flag.FlagSet), fn func(st *store.Store, g *governance.Service, a governance.Actor) error) error {
	fs := flags(e, name, synopsis)
	db := dbFlag(fs)
	if declare != nil {
		declare(fs)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	st, g, a, err := govSession(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st, g, a)
}

func userByEmail(ctx context.Context, st *store.Store, email string) (*store.User, error) {
	if email == "" {
		return nil, errors.New("an address is required")
	}
	u, err := st.UserByAddress(ctx, email)
	return u, notFound(err, "user "+email)
}

// Service levels.

func runLevelList(ctx context.Context, e *env, args []string) error {
	return govCommand(ctx, e, "servicelevel list", "servicelevel list [--db DB]", args, nil, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		levels, err := st.ListServiceLevels(ctx)
		if err != nil {
			return err
		}
		users, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		count := map[int64]int{}
		none := 0
		for _, u := range users {
			if u.ServiceLevelID == nil {
				none++
			} else {
				count[*u.ServiceLevelID]++
			}
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LEVEL\tQUOTA\tUSERS")
		for _, l := range levels {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", l.Name, governance.FormatSize(l.QuotaBytes), count[l.ID])
		}
		fmt.Fprintf(tw, "(none)\tunlimited\t%d\n", none)
		return tw.Flush()
	})
}

func runLevelAdd(ctx context.Context, e *env, args []string) error {
	var name, quota string
	return govCommand(ctx, e, "servicelevel add", `servicelevel add --name "Standard" --quota 400MB`, args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "level name (required)")
		fs.StringVar(&quota, "quota", "", "mailbox quota: 400MB, 2GB, unlimited (binary units)")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		q, err := governance.ParseSize(quota)
		if err != nil {
			return err
		}
		l, err := g.AddServiceLevel(ctx, a, name, q)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("service level %q exists", name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added service level %q with quota %s\n", l.Name, governance.FormatSize(l.QuotaBytes))
		return nil
	})
}

func runLevelSetQuota(ctx context.Context, e *env, args []string) error {
	var name, quota string
	return govCommand(ctx, e, "servicelevel set-quota", `servicelevel set-quota --name "Standard" --quota 1GB`, args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "level name (required)")
		fs.StringVar(&quota, "quota", "", "new quota: 400MB, 2GB, unlimited")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		q, err := governance.ParseSize(quota)
		if err != nil {
			return err
		}
		if err := g.SetServiceLevelQuota(ctx, a, name, q); err != nil {
			return notFound(err, "service level "+name)
		}
		fmt.Fprintf(e.stdout, "service level %q: quota %s\n", name, governance.FormatSize(q))
		return nil
	})
}

func runLevelAssign(ctx context.Context, e *env, args []string) error {
	var name, users string
	var unassigned bool
	return govCommand(ctx, e, "servicelevel assign", `servicelevel assign --name "Standard" (--user a@x[,b@x] | --unassigned)`, args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", `level name; "" with --user takes users off any level`)
		fs.StringVar(&users, "user", "", "comma-separated addresses")
		fs.BoolVar(&unassigned, "unassigned", false, "every user without a level")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		if unassigned {
			l, err := st.ServiceLevelByName(ctx, name)
			if err != nil {
				return notFound(err, "service level "+name)
			}
			n, err := st.AssignServiceLevelToUnassigned(ctx, l.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d users put on %q\n", n, l.Name)
			return st.Audit(ctx, &store.AuditEvent{Actor: a.Name, ActorIP: a.IP, Action: "servicelevel.assign", TargetType: "servicelevel", Target: l.Name, Outcome: "success", Detail: fmt.Sprintf("%d unassigned users", n)})
		}
		var list []*store.User
		for _, addr := range strings.Split(users, ",") {
			if addr = strings.TrimSpace(addr); addr == "" {
				continue
			}
			u, err := userByEmail(ctx, st, addr)
			if err != nil {
				return err
			}
			list = append(list, u)
		}
		if len(list) == 0 {
			return errors.New("--user or --unassigned is required")
		}
		if err := g.AssignServiceLevel(ctx, a, name, list); err != nil {
			return notFound(err, "service level "+name)
		}
		fmt.Fprintf(e.stdout, "%d users put on %q\n", len(list), name)
		return nil
	})
}

func runLevelScale(ctx context.Context, e *env, args []string) error {
	var factor float64
	return govCommand(ctx, e, "servicelevel scale", "servicelevel scale --factor 2", args, func(fs *flag.FlagSet) {
		fs.Float64Var(&factor, "factor", 0, "multiply every quota by this (2 doubles everyone)")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		n, err := g.ScaleServiceLevels(ctx, a, factor)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d service levels scaled by %v\n", n, factor)
		return nil
	})
}

func runQuotaShow(ctx context.Context, e *env, args []string) error {
	var email string
	return govCommand(ctx, e, "quota show", "quota show --user EMAIL", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "user", "", "address")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		u, err := userByEmail(ctx, st, email)
		if err != nil {
			return err
		}
		q, err := st.QuotaOf(ctx, u.ID)
		if err != nil {
			return err
		}
		level := q.Level
		if level == "" {
			level = "(none)"
		}
		fmt.Fprintf(e.stdout, "%s: %s of %s (%.1f%%), service level %s\n", u.Email, governance.FormatSize(q.Used), governance.FormatSize(q.Limit), q.Percent(), level)
		return nil
	})
}

// Roles.

func roleCommand(revoke bool) func(ctx context.Context, e *env, args []string) error {
	name := "role grant"
	if revoke {
		name = "role revoke"
	}
	return func(ctx context.Context, e *env, args []string) error {
		var email, role string
		return govCommand(ctx, e, name, name+" --user EMAIL --role hr_director|programme_head", args, func(fs *flag.FlagSet) {
			fs.StringVar(&email, "user", "", "address")
			fs.StringVar(&role, "role", "", strings.Join(governance.KnownRoles, " or "))
		}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
			u, err := userByEmail(ctx, st, email)
			if err != nil {
				return err
			}
			if revoke {
				err = g.RevokeRole(ctx, a, u, role)
			} else {
				err = g.GrantRole(ctx, a, u, role)
			}
			switch {
			case errors.Is(err, store.ErrConflict):
				return fmt.Errorf("%s already holds %s", u.Email, role)
			case errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("%s does not hold %s", u.Email, role)
			case err != nil:
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %s %s\n", u.Email, map[bool]string{false: "granted", true: "revoked"}[revoke], role)
			return nil
		})
	}
}

var (
	runRoleGrant  = roleCommand(false)
	runRoleRevoke = roleCommand(true)
)

func runRoleList(ctx context.Context, e *env, args []string) error {
	return govCommand(ctx, e, "role list", "role list", args, nil, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		roles, err := st.ListRoles(ctx)
		if err != nil {
			return err
		}
		ids := make([]int64, len(roles))
		for i, r := range roles {
			ids[i] = r.UserID
		}
		users, err := st.UsersByIDs(ctx, ids)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ROLE\tUSER\tGRANTED BY\tSINCE")
		for _, r := range roles {
			email := fmt.Sprint(r.UserID)
			if u := users[r.UserID]; u != nil {
				email = u.Email
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Role, email, r.GrantedBy, r.GrantedAt.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	})
}

// Break-glass.

// authenticated reads a password from standard input and checks it is
// email's: break-glass steps are taken by people, not by whoever has the
// shell.
func authenticated(ctx context.Context, e *env, st *store.Store, email, step string) (*store.User, error) {
	u, err := userByEmail(ctx, st, email)
	if err != nil {
		return nil, err
	}
	pw, err := readPassword(e)
	if err == nil {
		err = password.Verify(pw, u.PasswordHash)
	}
	if err != nil || u.Disabled {
		st.Audit(ctx, &store.AuditEvent{Actor: u.Email, ActorIP: "local", Action: "breakglass." + step, TargetType: "user", Target: u.Email, Outcome: "failure", Detail: "password not verified at the command line"})
		return nil, fmt.Errorf("%s: password not accepted (it is read from standard input)", u.Email)
	}
	return u, nil
}

func runBGRequest(ctx context.Context, e *env, args []string) error {
	var requester, owner, reason string
	var d time.Duration
	return govCommand(ctx, e, "breakglass request", `breakglass request --requester EMAIL --owner EMAIL --reason "..." --duration 4h < requester's password`, args, func(fs *flag.FlagSet) {
		fs.StringVar(&requester, "requester", "", "who asks for access (their password on standard input)")
		fs.StringVar(&owner, "owner", "", "whose mailbox")
		fs.StringVar(&reason, "reason", "", "why (recorded, and told to the owner afterwards)")
		fs.DurationVar(&d, "duration", 4*time.Hour, "how long the access lasts once approved (at most 72h)")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		r, err := authenticated(ctx, e, st, requester, "request")
		if err != nil {
			return err
		}
		o, err := userByEmail(ctx, st, owner)
		if err != nil {
			return err
		}
		b, err := g.RequestBreakGlass(ctx, r, o, reason, d, "local")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "break-glass request %d filed: %s to %s's mailbox for %v; it needs approval by an %s and a %s\n",
			b.ID, r.Email, o.Email, d, governance.RoleHRDirector, governance.RoleProgrammeHead)
		return nil
	})
}

func runBGApprove(ctx context.Context, e *env, args []string) error {
	var id int64
	var approver, as, withhold string
	return govCommand(ctx, e, "breakglass approve", `breakglass approve --id N --approver EMAIL [--as ROLE] [--withhold-notice "why"] < approver's password`, args, func(fs *flag.FlagSet) {
		fs.Int64Var(&id, "id", 0, "request id")
		fs.StringVar(&approver, "approver", "", "who approves (their password on standard input)")
		fs.StringVar(&as, "as", "", "the role approved as, when the approver holds both")
		fs.StringVar(&withhold, "withhold-notice", "", "why the owner should not be told afterwards (withheld only if both approvers say why)")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		u, err := authenticated(ctx, e, st, approver, "approve")
		if err != nil {
			return err
		}
		b, err := g.ApproveBreakGlass(ctx, id, u, as, withhold, "local")
		if err != nil {
			return notFound(err, fmt.Sprintf("break-glass request %d", id))
		}
		if b.State == store.BreakGlassActive {
			fmt.Fprintf(e.stdout, "request %d approved: access in force until %s\n", b.ID, b.ExpiresAt.Format(time.RFC3339))
		} else {
			fmt.Fprintf(e.stdout, "request %d: approval recorded; one more approval in the other role is needed\n", b.ID)
		}
		return nil
	})
}

func runBGRevoke(ctx context.Context, e *env, args []string) error {
	var id int64
	var reason string
	return govCommand(ctx, e, "breakglass revoke", `breakglass revoke --id N [--reason "..."]`, args, func(fs *flag.FlagSet) {
		fs.Int64Var(&id, "id", 0, "request id")
		fs.StringVar(&reason, "reason", "", "why")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		if err := g.RevokeBreakGlass(ctx, a, id, reason); err != nil {
			return notFound(err, fmt.Sprintf("break-glass request %d", id))
		}
		fmt.Fprintf(e.stdout, "request %d revoked\n", id)
		return nil
	})
}

func runBGList(ctx context.Context, e *env, args []string) error {
	var state string
	return govCommand(ctx, e, "breakglass list", "breakglass list [--state pending|active|ended|revoked|lapsed]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&state, "state", "", "only this state")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		if _, err := g.Sweep(ctx); err != nil { // so the states shown are current
			return err
		}
		list, err := st.ListBreakGlass(ctx, store.BreakGlassFilter{State: store.BreakGlassState(state)})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tREQUESTER\tOWNER\tAPPROVALS\tUNTIL\tREASON")
		for _, b := range list {
			_, approvals, err := st.BreakGlassByID(ctx, b.ID)
			if err != nil {
				return err
			}
			ids := []int64{b.RequesterID, b.OwnerID}
			for _, x := range approvals {
				ids = append(ids, x.ApproverID)
			}
			users, err := st.UsersByIDs(ctx, ids)
			if err != nil {
				return err
			}
			name := func(id int64) string {
				if u := users[id]; u != nil {
					return u.Email
				}
				return strconv.FormatInt(id, 10)
			}
			var aps []string
			for _, x := range approvals {
				aps = append(aps, name(x.ApproverID)+" ("+x.Role+")")
			}
			until := "-"
			if b.ExpiresAt != nil {
				until = b.ExpiresAt.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.State, name(b.RequesterID), name(b.OwnerID), strings.Join(aps, ", "), until, b.Reason)
		}
		return tw.Flush()
	})
}

// Delegates.

func runDelegateGrant(ctx context.Context, e *env, args []string) error {
	var owner, delegate, scope, perm string
	return govCommand(ctx, e, "delegate grant", "delegate grant --owner EMAIL --delegate EMAIL --scope mail|calendar --permission read|send_on_behalf", args, func(fs *flag.FlagSet) {
		fs.StringVar(&owner, "owner", "", "whose mailbox (they are told)")
		fs.StringVar(&delegate, "delegate", "", "who gets access")
		fs.StringVar(&scope, "scope", store.ScopeMail, "mail or calendar")
		fs.StringVar(&perm, "permission", store.PermissionRead, "read, or send_on_behalf (mail: send From the owner; calendar: manage their meetings)")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		o, err := userByEmail(ctx, st, owner)
		if err != nil {
			return err
		}
		d, err := userByEmail(ctx, st, delegate)
		if err != nil {
			return err
		}
		if err := g.GrantDelegate(ctx, a, o, d, scope, perm); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s may %s %s's %s\n", d.Email, strings.ReplaceAll(perm, "_", " "), o.Email, scope)
		return nil
	})
}

func runDelegateRevoke(ctx context.Context, e *env, args []string) error {
	var owner, delegate, scope string
	return govCommand(ctx, e, "delegate revoke", "delegate revoke --owner EMAIL --delegate EMAIL [--scope mail|calendar]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&owner, "owner", "", "whose mailbox")
		fs.StringVar(&delegate, "delegate", "", "whose access ends")
		fs.StringVar(&scope, "scope", "", "mail or calendar; empty: both")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		o, err := userByEmail(ctx, st, owner)
		if err != nil {
			return err
		}
		d, err := userByEmail(ctx, st, delegate)
		if err != nil {
			return err
		}
		if err := g.RevokeDelegate(ctx, a, o, d, scope); err != nil {
			return notFound(err, "such delegation")
		}
		fmt.Fprintf(e.stdout, "%s's delegation to %s revoked\n", o.Email, d.Email)
		return nil
	})
}

func runDelegateList(ctx context.Context, e *env, args []string) error {
	var owner, delegate string
	return govCommand(ctx, e, "delegate list", "delegate list (--owner EMAIL | --delegate EMAIL)", args, func(fs *flag.FlagSet) {
		fs.StringVar(&owner, "owner", "", "list this owner's delegates")
		fs.StringVar(&delegate, "delegate", "", "list the mailboxes this user was given")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		var list []governance.DelegateView
		switch {
		case owner != "":
			u, err := userByEmail(ctx, st, owner)
			if err != nil {
				return err
			}
			if list, err = g.Delegates(ctx, u); err != nil {
				return err
			}
		case delegate != "":
			u, err := userByEmail(ctx, st, delegate)
			if err != nil {
				return err
			}
			if list, err = g.DelegationsTo(ctx, u); err != nil {
				return err
			}
		default:
			return errors.New("--owner or --delegate is required")
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OWNER\tDELEGATE\tSCOPE\tPERMISSION\tGRANTED BY\tSINCE")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.OwnerEmail, d.DelegateEmail, d.Scope, d.Permission, d.GrantedBy, d.GrantedAt.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	})
}

// Secure domains and held mail.

func runDomainAdd(ctx context.Context, e *env, args []string) error {
	var domain, note string
	return govCommand(ctx, e, "domain add", `domain add --domain nhs.net [--note "DCB1596"]   (".nhs.uk" for every subdomain)`, args, func(fs *flag.FlagSet) {
		fs.StringVar(&domain, "domain", "", `domain, or ".domain" / "*.domain" for its subdomains`)
		fs.StringVar(&note, "note", "", "why it is accredited")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		if err := g.AddSecureDomain(ctx, a, domain, note); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("%s is already listed", domain)
			}
			return err
		}
		fmt.Fprintf(e.stdout, "%s accredited for sensitive mail\n", domain)
		return nil
	})
}

func runDomainRemove(ctx context.Context, e *env, args []string) error {
	var domain string
	return govCommand(ctx, e, "domain remove", "domain remove --domain nhs.net", args, func(fs *flag.FlagSet) {
		fs.StringVar(&domain, "domain", "", "domain pattern as listed")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		if err := g.RemoveSecureDomain(ctx, a, domain); err != nil {
			return notFound(err, "listed domain "+domain)
		}
		fmt.Fprintf(e.stdout, "%s no longer accredited\n", domain)
		return nil
	})
}

func runDomainList(ctx context.Context, e *env, args []string) error {
	return govCommand(ctx, e, "domain list", "domain list", args, nil, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		tags, err := g.SensitiveTags(ctx)
		if err != nil {
			return err
		}
		ds, err := st.SecureDomains(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sensitive mail is marked by a subject tag: %s\n", strings.Join(tags, ", "))
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN\tNOTE\tADDED BY\tSINCE")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Domain, d.Note, d.AddedBy, d.AddedAt.Format("2006-01-02"))
		}
		return tw.Flush()
	})
}

func runDomainTags(ctx context.Context, e *env, args []string) error {
	var tags string
	return govCommand(ctx, e, "domain tags", `domain tags --set "[secure],OFFICIAL-SENSITIVE"`, args, func(fs *flag.FlagSet) {
		fs.StringVar(&tags, "set", "", "comma-separated subject tags (case does not matter)")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		if err := g.SetSensitiveTags(ctx, a, strings.Split(tags, ",")); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sensitive-mail tags: %s\n", tags)
		return nil
	})
}

func runHeldList(ctx context.Context, e *env, args []string) error {
	return govCommand(ctx, e, "held list", "held list", args, nil, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		held, err := g.HeldMail(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tHELD\tFROM\tTO\tSUBJECT")
		for _, h := range held {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", h.ID, h.CreatedAt.Format("2006-01-02 15:04"), h.MailFrom, strings.Join(h.Recipients(), ", "), h.Subject)
		}
		return tw.Flush()
	})
}

func runHeldRelease(ctx context.Context, e *env, args []string) error {
	var id int64
	return govCommand(ctx, e, "held release", "held release --id N", args, func(fs *flag.FlagSet) {
		fs.Int64Var(&id, "id", 0, "held mail id")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		if err := g.ReleaseHeld(ctx, a, id); err != nil {
			return notFound(err, fmt.Sprintf("held mail %d", id))
		}
		fmt.Fprintf(e.stdout, "held mail %d released to the relay queue\n", id)
		return nil
	})
}

func runHeldDrop(ctx context.Context, e *env, args []string) error {
	var id int64
	var reason string
	return govCommand(ctx, e, "held drop", `held drop --id N [--reason "..."]`, args, func(fs *flag.FlagSet) {
		fs.Int64Var(&id, "id", 0, "held mail id")
		fs.StringVar(&reason, "reason", "", "told to the sender")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		if err := g.DropHeld(ctx, a, id, reason); err != nil {
			return notFound(err, fmt.Sprintf("held mail %d", id))
		}
		fmt.Fprintf(e.stdout, "held mail %d dropped; the sender was told\n", id)
		return nil
	})
}

// The tag line.

func runTaglineSet(ctx context.Context, e *env, args []string) error {
	var text, textFile, htmlFile string
	return govCommand(ctx, e, "tagline set", `tagline set (--text "..." | --text-file F) [--html-file F]`, args, func(fs *flag.FlagSet) {
		fs.StringVar(&text, "text", "", "plain-text footer (at most 15 lines)")
		fs.StringVar(&textFile, "text-file", "", "file holding the plain-text footer")
		fs.StringVar(&htmlFile, "html-file", "", "file holding the HTML footer (default: made from the text)")
	}, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		t := governance.Tagline{Text: text}
		if textFile != "" {
			b, err := os.ReadFile(textFile)
			if err != nil {
				return err
			}
			t.Text = string(b)
		}
		if htmlFile != "" {
			b, err := os.ReadFile(htmlFile)
			if err != nil {
				return err
			}
			t.HTML = string(b)
		}
		if t.Empty() {
			return errors.New("no footer text: use --text or --text-file (tagline clear removes it)")
		}
		if err := g.SetTagline(ctx, a, t); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "tag line set; it is added once to mail leaving the organisation")
		return nil
	})
}

func runTaglineShow(ctx context.Context, e *env, args []string) error {
	return govCommand(ctx, e, "tagline show", "tagline show", args, nil, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		t, err := g.Tagline(ctx)
		if err != nil {
			return err
		}
		if t.Empty() {
			fmt.Fprintln(e.stdout, "(no tag line)")
			return nil
		}
		fmt.Fprintf(e.stdout, "%s\n", t.Text)
		if t.HTML != "" {
			fmt.Fprintf(e.stdout, "\nHTML:\n%s\n", t.HTML)
		}
		return nil
	})
}

func runTaglineClear(ctx context.Context, e *env, args []string) error {
	return govCommand(ctx, e, "tagline clear", "tagline clear", args, nil, func(st *store.Store, g *governance.Service, a governance.Actor) error {
		if err := g.SetTagline(ctx, a, governance.Tagline{}); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "tag line removed")
		return nil
	})
}
