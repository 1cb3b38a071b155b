package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"airlock/devices"
	"airlock/policies"
	"airlock/store"
)

// Preview bounds: how many stored devices a preview reads, and how many
// matches it lists.
const (
	previewScanLimit = 50000
	previewListLimit = 100
)

// PreviewRow is one device a candidate rule matches.
type PreviewRow struct {
	DevicePK  int64             `json:"id"`
	DeviceID  string            `json:"deviceId"`
	User      string            `json:"user"`
	Model     string            `json:"model"`
	Type      string            `json:"deviceType"`
	OS        string            `json:"os"`
	UserAgent string            `json:"userAgent"`
	Now       store.DeviceState `json:"state"`
	With      store.DeviceState `json:"stateWithRule"`
	Decides   bool              `json:"ruleDecides"` // the new rule is the one that decides
	Changes   bool              `json:"changes"`
	Reason    string            `json:"reason"`
}

// Preview is what a candidate rule would do to the stored devices.
type Preview struct {
	Scanned   int          `json:"scanned"`
	Total     int64        `json:"total"`
	Truncated bool         `json:"truncated"` // more devices exist than were scanned
	Matched   int          `json:"matched"`
	Decides   int          `json:"decides"` // matched and first in order, so the rule decides
	Changes   int          `json:"changes"` // devices whose state would change
	Rows      []PreviewRow `json:"devices"` // at most previewListLimit
}

// previewRule evaluates r over the stored devices (Rule.Matches on
// devices.Facts completed by policies.Enrich, as the decision does) and
// decides each match with and without the rule. Wipe states are sticky and
// shown as unchanged.
func (s *Server) previewRule(ctx context.Context, r policies.Rule) (*Preview, error) {
	in, err := s.decisionInputs(ctx)
	if err != nil {
		return nil, err
	}
	var maxID int64
	for _, x := range in.rules {
		maxID = max(maxID, x.ID)
	}
	r.ID = maxID + 1 // a new rule gets the next id, so it sorts after equal priorities
	r.Enabled = true
	with := append(append([]policies.Rule(nil), in.rules...), r)
	p := &Preview{}
	if p.Total, err = s.store.CountDevices(ctx, store.DeviceFilter{}); err != nil {
		return nil, err
	}
	var after int64
	var matched []store.Device
	var rows []PreviewRow
	for p.Scanned < previewScanLimit {
		ds, err := s.store.ListDevices(ctx, store.DeviceFilter{AfterID: after, Limit: 500})
		if err != nil {
			return nil, err
		}
		for i := range ds {
			dev := &ds[i]
			p.Scanned++
			facts, _ := policies.Enrich(devices.Facts(dev))
			if !r.Matches(facts) {
				continue
			}
			p.Matched++
			row := PreviewRow{DevicePK: dev.ID, DeviceID: dev.DeviceID, Model: dev.Model, Type: dev.DeviceType, OS: dev.OS, UserAgent: dev.UserAgent, Now: dev.State, With: dev.State}
			if dev.State != store.DeviceWipePending && dev.State != store.DeviceWiped {
				before := in.decide(dev, in.rules)
				after := in.decide(dev, with)
				row.With = stateOfDecision(after)
				row.Decides = after.DecidedBy == "rule:"+strconv.FormatInt(r.ID, 10)
				row.Changes = stateOfDecision(before) != row.With
				row.Reason = after.Reason
				if row.Decides {
					// The id is a stand-in until the rule is saved.
					row.Reason = strings.Replace(row.Reason, "rule "+strconv.FormatInt(r.ID, 10), "the new rule", 1)
				}
			} else {
				row.Reason = "Wipe states are not changed by rules."
			}
			if row.Decides {
				p.Decides++
			}
			if row.Changes {
				p.Changes++
			}
			if len(rows) < previewListLimit {
				rows = append(rows, row)
				matched = append(matched, *dev)
			}
		}
		if len(ds) < 500 {
			break
		}
		after = ds[len(ds)-1].ID
	}
	p.Truncated = int64(p.Scanned) < p.Total
	users, err := s.withUsers(ctx, matched)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].User = users[i].UserEmail
	}
	p.Rows = rows
	return p, nil
}

type rulesData struct {
	Rules      []policies.Rule
	Default    policies.Action
	Form       ruleForm
	Errors     []string
	Preview    *Preview
	Actions    []policies.Action
	Fields     []policies.Field
	Matches    []policies.MatchKind
	DefaultMsg string
}

// ruleForm is the add-rule form as typed.
type ruleForm struct {
	Priority, Field, Match, Pattern, Action, Description string
}

func (f ruleForm) rule() (policies.Rule, []string) {
	var errs []string
	prio, err := strconv.Atoi(strings.TrimSpace(f.Priority))
	if err != nil {
		errs = append(errs, "Priority must be a whole number.")
	}
	r := policies.Rule{Priority: prio, Field: policies.Field(f.Field), Match: policies.MatchKind(f.Match), Pattern: strings.TrimSpace(f.Pattern),
		Action: policies.Action(f.Action), Description: strings.TrimSpace(f.Description), Enabled: true}
	if err := r.Validate(); err != nil {
		errs = append(errs, ruleErrors(err)...)
	}
	return r, errs
}

// ruleErrors flattens a joined validation error into sentences.
func ruleErrors(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var re *policies.RuleError
		if errors.As(e, &re) {
			out = append(out, re.Field+" "+re.Reason+".")
			return
		}
		out = append(out, e.Error())
	}
	walk(err)
	return out
}

func (s *Server) rulesData(ctx context.Context) (*rulesData, error) {
	rules, err := s.devs.Rules(ctx)
	if err != nil {
		return nil, err
	}
	def, err := s.store.Setting(ctx, devices.SettingDefaultAccess, string(policies.DefaultOrgAction))
	if err != nil {
		return nil, err
	}
	next := 100
	for _, r := range rules {
		next = max(next, r.Priority+10)
	}
	return &rulesData{
		Rules: policies.SortRules(rules), Default: policies.Action(def),
		Form:    ruleForm{Priority: strconv.Itoa(next), Field: string(policies.FieldModel), Match: string(policies.MatchExact), Action: string(policies.ActionAllow)},
		Actions: []policies.Action{policies.ActionAllow, policies.ActionQuarantine, policies.ActionBlock},
		Fields:  []policies.Field{policies.FieldModel, policies.FieldType, policies.FieldOS, policies.FieldUserAgent},
		Matches: []policies.MatchKind{policies.MatchExact, policies.MatchPrefix, policies.MatchPattern},
	}, nil
}

func (s *Server) rulesPage(c echo.Context) error {
	d, err := s.rulesData(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "rules.html", "Device rules", d)
}

func formRule(c echo.Context) ruleForm {
	return ruleForm{Priority: c.FormValue("priority"), Field: c.FormValue("field"), Match: c.FormValue("match"), Pattern: c.FormValue("pattern"), Action: c.FormValue("action"), Description: c.FormValue("description")}
}

// rulePreview shows what the rule in the form would match, without saving.
func (s *Server) rulePreview(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.rulesData(ctx)
	if err != nil {
		return err
	}
	d.Form = formRule(c)
	r, errs := d.Form.rule()
	d.Errors = errs
	if len(errs) == 0 {
		if d.Preview, err = s.previewRule(ctx, r); err != nil {
			return err
		}
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		return s.renderFragment(c, http.StatusOK, "rules.html", "preview", map[string]any{"Data": d, "Fragment": true})
	}
	return s.render(c, http.StatusOK, "rules.html", "Device rules", d)
}

func (s *Server) ruleAdd(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.rulesData(ctx)
	if err != nil {
		return err
	}
	d.Form = formRule(c)
	r, errs := d.Form.rule()
	if len(errs) > 0 {
		d.Errors = errs
		return s.render(c, http.StatusUnprocessableEntity, "rules.html", "Device rules", d)
	}
	saved, err := s.devs.AddRule(ctx, ident(c).actor(c), r)
	if err != nil {
		if errors.Is(err, devices.ErrForbidden) || errors.Is(err, store.ErrUnavailable) {
			return err
		}
		d.Errors = ruleErrors(err)
		return s.render(c, http.StatusUnprocessableEntity, "rules.html", "Device rules", d)
	}
	s.flash(c, "Rule "+strconv.FormatInt(saved.ID, 10)+" added. Devices are decided again on their next request.")
	return c.Redirect(http.StatusSeeOther, "/admin/rules")
}

func (s *Server) ruleDelete(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "No such rule.")
	}
	if err := s.devs.RemoveRule(c.Request().Context(), ident(c).actor(c), id); err != nil {
		return err
	}
	s.flash(c, "Rule "+strconv.FormatInt(id, 10)+" removed.")
	return c.Redirect(http.StatusSeeOther, "/admin/rules")
}

func (s *Server) defaultAccess(c echo.Context) error {
	a := policies.Action(c.FormValue("default"))
	if err := s.devs.SetDefaultAccess(c.Request().Context(), ident(c).actor(c), a); err != nil {
		if errors.Is(err, devices.ErrForbidden) {
			return err
		}
		s.flash(c, "Not changed: "+err.Error())
		return c.Redirect(http.StatusSeeOther, "/admin/rules")
	}
	s.flash(c, "Devices no rule matches are now: "+string(a)+".")
	return c.Redirect(http.StatusSeeOther, "/admin/rules")
}
