package web

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"

	"airlock/devices"
	"airlock/policies"
	"airlock/store"
)

// The policy editor is generated from policies.Settings by reflection, so a
// setting added there appears here without template work. policyGroups
// only orders and titles them; a field not listed lands in "Other".
var policyGroups = []struct {
	Title  string
	Fields []string
}{
	{"Device password", []string{"DevicePasswordEnabled", "AlphanumericDevicePasswordRequired", "AllowSimpleDevicePassword", "MinDevicePasswordLength", "MinDevicePasswordComplexCharacters", "MaxInactivityTimeDeviceLock", "MaxDevicePasswordFailedAttempts", "DevicePasswordExpiration", "DevicePasswordHistory", "PasswordRecoveryEnabled"}},
	{"Encryption", []string{"RequireDeviceEncryption", "RequireStorageCardEncryption", "AllowNonProvisionableDevices", "DevicePolicyRefreshIntervalHours"}},
	{"Mail and attachments", []string{"AttachmentsEnabled", "MaxAttachmentSize", "AllowHTMLEmail", "MaxEmailAgeFilter", "MaxCalendarAgeFilter", "MaxEmailBodyTruncationSize", "MaxEmailHTMLBodyTruncationSize", "RequireManualSyncWhenRoaming", "AllowConsumerEmail", "AllowPOPIMAPEmail"}},
	{"Device features", []string{"AllowCamera", "AllowBluetooth", "AllowWiFi", "AllowBrowser", "AllowTextMessaging", "AllowInternetSharing", "AllowIrDA", "AllowStorageCard", "AllowDesktopSync", "AllowRemoteDesktop", "AllowUnsignedApplications", "AllowUnsignedInstallationPackages", "ApprovedApplicationList", "UnapprovedInROMApplicationList"}},
	{"S/MIME", []string{"RequireSignedSMIMEMessages", "RequireEncryptedSMIMEMessages", "RequireSignedSMIMEAlgorithm", "RequireEncryptionSMIMEAlgorithm", "AllowSMIMEEncryptionAlgorithmNegotiation", "AllowSMIMESoftCerts"}},
}

// policyChoices lists the allowed values of enumerated integer settings.
var policyChoices = map[string][][2]string{
	"AllowBluetooth": {{"0", "Off"}, {"1", "Hands-free only"}, {"2", "Allowed"}},
	"AllowSMIMEEncryptionAlgorithmNegotiation": {{"0", "Do not negotiate"}, {"1", "Strong algorithms only"}, {"2", "Any algorithm"}},
	"MaxCalendarAgeFilter":                     {{"0", "All"}, {"4", "2 weeks"}, {"5", "1 month"}, {"6", "3 months"}, {"7", "6 months"}},
	"MaxEmailAgeFilter":                        {{"0", "All"}, {"1", "1 day"}, {"2", "3 days"}, {"3", "1 week"}, {"4", "2 weeks"}, {"5", "1 month"}},
	"RequireEncryptionSMIMEAlgorithm":          {{"0", "TripleDES"}, {"1", "DES"}, {"2", "RC2 128-bit"}, {"3", "RC2 64-bit"}, {"4", "RC2 40-bit"}},
	"RequireSignedSMIMEAlgorithm":              {{"0", "SHA-1"}, {"1", "MD5"}},
}

// policyHelp explains the settings whose name is not enough.
var policyHelp = map[string]string{
	"MinDevicePasswordLength":            "1–16 characters; empty for no minimum.",
	"MinDevicePasswordComplexCharacters": "How many of: lower case, upper case, digits, symbols (1–4).",
	"MaxInactivityTimeDeviceLock":        "Seconds; empty for no lock.",
	"MaxDevicePasswordFailedAttempts":    "4–16 attempts before the device wipes itself; empty for no limit.",
	"DevicePasswordExpiration":           "Days; 0 never expires; empty for no policy.",
	"DevicePasswordHistory":              "Passwords remembered (0–50).",
	"MaxAttachmentSize":                  "Bytes; empty for no limit.",
	"MaxEmailBodyTruncationSize":         "-1 no truncation, 0 headers only, otherwise bytes.",
	"MaxEmailHTMLBodyTruncationSize":     "-1 no truncation, 0 headers only, otherwise bytes.",
	"RequireDeviceEncryption":            "Devices the catalogue knows cannot encrypt are blocked.",
	"AllowNonProvisionableDevices":       "Not sent to devices: lets devices that apply only part of the policy sync.",
	"DevicePolicyRefreshIntervalHours":   "Not sent to devices: hours before devices must fetch the policy again; 0 never.",
	"ApprovedApplicationList":            "One application hash per line. When set, devices run only these.",
	"UnapprovedInROMApplicationList":     "One application name per line.",
}

// policyField is one input of the form.
type policyField struct {
	Name    string // Go field name, the name SettingError uses
	Label   string
	Kind    string // bool, int, optint, list, choice
	Value   string
	Checked bool
	Choices [][2]string
	Help    string
	Error   string
}

type policyGroup struct {
	Title  string
	Fields []policyField
}

type policyData struct {
	Policy *store.Policy
	Groups []policyGroup
	Errors []string
}

// labelOf turns a Go field name into words: "AllowHTMLEmail" → "Allow HTML
// Email", "RequireSignedSMIMEMessages" → "Require Signed S/MIME Messages".
func labelOf(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte(' ')
			}
		}
		b.WriteRune(r)
	}
	s := b.String()
	for _, w := range [][2]string{{"SMIME", "S/MIME"}, {"POPIMAP", "POP/IMAP"}, {"Ir DA", "IrDA"}, {"Wi Fi", "Wi-Fi"}, {"In ROM", "in ROM"}} {
		s = strings.ReplaceAll(s, w[0], w[1])
	}
	return s
}

// policyFields renders settings (and per-field errors) as form groups.
func policyFields(set policies.Settings, errs map[string]string, raw map[string]string) []policyGroup {
	v := reflect.ValueOf(set)
	t := v.Type()
	placed := map[string]bool{}
	field := func(name string) (policyField, bool) {
		sf, ok := t.FieldByName(name)
		if !ok {
			return policyField{}, false
		}
		fv := v.FieldByIndex(sf.Index)
		f := policyField{Name: name, Label: labelOf(name), Help: policyHelp[name], Error: errs[name]}
		switch fv.Kind() {
		case reflect.Bool:
			f.Kind, f.Checked = "bool", fv.Bool()
		case reflect.Int:
			f.Kind, f.Value = "int", strconv.FormatInt(fv.Int(), 10)
			if ch, ok := policyChoices[name]; ok {
				f.Kind, f.Choices = "choice", ch
			}
		case reflect.Pointer:
			f.Kind = "optint"
			if !fv.IsNil() {
				f.Value = strconv.FormatInt(fv.Elem().Int(), 10)
			}
		case reflect.Slice:
			f.Kind = "list"
			f.Value = strings.Join(fv.Interface().([]string), "\n")
		default:
			return policyField{}, false
		}
		if r, ok := raw[name]; ok && f.Kind != "bool" {
			f.Value = r // what was typed, when re-showing errors
		}
		return f, true
	}
	var groups []policyGroup
	for _, g := range policyGroups {
		pg := policyGroup{Title: g.Title}
		for _, n := range g.Fields {
			if f, ok := field(n); ok {
				pg.Fields = append(pg.Fields, f)
				placed[n] = true
			}
		}
		groups = append(groups, pg)
	}
	other := policyGroup{Title: "Other"}
	for i := 0; i < t.NumField(); i++ {
		if n := t.Field(i).Name; !placed[n] && t.Field(i).IsExported() {
			if f, ok := field(n); ok {
				other.Fields = append(other.Fields, f)
			}
		}
	}
	if len(other.Fields) > 0 {
		groups = append(groups, other)
	}
	return groups
}

// parsePolicyForm reads the form into Settings. Values that are not
// numbers are reported per field; range checks are Settings.Validate's.
func parsePolicyForm(form func(string) string) (policies.Settings, map[string]string, map[string]string) {
	var set policies.Settings
	v := reflect.ValueOf(&set).Elem()
	t := v.Type()
	errs := map[string]string{}
	raw := map[string]string{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		fv := v.Field(i)
		in := strings.TrimSpace(form(sf.Name))
		raw[sf.Name] = in
		switch fv.Kind() {
		case reflect.Bool:
			fv.SetBool(in == "on" || in == "true")
		case reflect.Int:
			n, err := strconv.Atoi(in)
			if err != nil {
				errs[sf.Name] = "Enter a whole number."
				continue
			}
			fv.SetInt(int64(n))
		case reflect.Pointer:
			if in == "" {
				continue
			}
			n, err := strconv.Atoi(in)
			if err != nil {
				errs[sf.Name] = "Enter a whole number, or leave it empty."
				continue
			}
			fv.Set(reflect.ValueOf(&n))
		case reflect.Slice:
			var list []string
			for _, line := range strings.Split(in, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					list = append(list, line)
				}
			}
			fv.Set(reflect.ValueOf(list))
		}
	}
	return set, errs, raw
}

// settingErrors maps Validate's joined errors to fields.
func settingErrors(err error, into map[string]string) []string {
	var general []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var se *policies.SettingError
		if errors.As(e, &se) {
			into[se.Field] = capitalise(se.Reason) + "."
			general = append(general, fmt.Sprintf("%s: %s.", labelOf(se.Field), se.Reason))
			return
		}
		general = append(general, e.Error())
	}
	walk(err)
	return general
}

func (s *Server) policyPage(c echo.Context) error {
	pol, set, err := s.devs.Policy(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "policy.html", "Security policy", &policyData{Policy: pol, Groups: policyFields(set, nil, nil)})
}

func (s *Server) policySave(c echo.Context) error {
	ctx := c.Request().Context()
	set, errs, raw := parsePolicyForm(c.FormValue)
	pol, _, err := s.devs.Policy(ctx)
	if err != nil {
		return err
	}
	var general []string
	if len(errs) == 0 {
		if err := set.Validate(); err != nil {
			general = settingErrors(err, errs)
		}
	} else {
		for n, e := range errs {
			general = append(general, labelOf(n)+": "+e)
		}
	}
	if len(errs) > 0 || len(general) > 0 {
		return s.render(c, http.StatusUnprocessableEntity, "policy.html", "Security policy", &policyData{Policy: pol, Groups: policyFields(set, errs, raw), Errors: general})
	}
	saved, err := s.devs.SetPolicy(ctx, ident(c).actor(c), set)
	if err != nil {
		if errors.Is(err, devices.ErrForbidden) || errors.Is(err, store.ErrUnavailable) {
			return err
		}
		general = settingErrors(err, errs)
		return s.render(c, http.StatusUnprocessableEntity, "policy.html", "Security policy", &policyData{Policy: pol, Groups: policyFields(set, errs, raw), Errors: general})
	}
	s.flash(c, fmt.Sprintf("Policy saved as version %d. Every device fetches it again on its next request.", saved.Version))
	return c.Redirect(http.StatusSeeOther, "/admin/policy")
}
