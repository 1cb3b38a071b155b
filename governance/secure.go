package governance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"airlock/internal/notice"
	"airlock/store"
)

// settingSensitiveTags holds the subject tags that mark sensitive mail,
// comma-separated.
const settingSensitiveTags = "secure.tags"

// DefaultSensitiveTags mark sensitive mail until an admin sets others.
var DefaultSensitiveTags = []string{"[secure]", "OFFICIAL-SENSITIVE"}

// ErrBadDomain: not a domain name or pattern.
var ErrBadDomain = errors.New("governance: bad domain")

// SensitiveTags returns the configured subject tags.
func (s *Service) SensitiveTags(ctx context.Context) ([]string, error) {
	v, err := s.Store.Setting(ctx, settingSensitiveTags, strings.Join(DefaultSensitiveTags, ","))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// SetSensitiveTags replaces the subject tags, audited. At least one is
// required: with none, nothing would ever be held.
func (s *Service) SetSensitiveTags(ctx context.Context, a Actor, tags []string) error {
	var clean []string
	for _, t := range tags {
		if t = strings.TrimSpace(t); t != "" {
			if strings.Contains(t, ",") {
				return fmt.Errorf("tag %q: no commas", t)
			}
			clean = append(clean, t)
		}
	}
	if len(clean) == 0 {
		return errors.New("at least one tag is required")
	}
	if err := s.Store.SetSetting(ctx, settingSensitiveTags, strings.Join(clean, ",")); err != nil {
		return err
	}
	return s.audit(ctx, a, "securemail.tags", "setting", "secure.tags", 0, "success", strings.Join(clean, ", "))
}

// Sensitive reports whether a subject carries one of the tags (case does
// not matter) and which.
func Sensitive(subject string, tags []string) (string, bool) {
	l := strings.ToLower(subject)
	for _, t := range tags {
		if strings.Contains(l, strings.ToLower(t)) {
			return t, true
		}
	}
	return "", false
}

// normalizeDomain accepts "nhs.net", ".nhs.uk" and "*.nhs.uk" (the last two
// mean every subdomain).
func normalizeDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimPrefix(d, "*")
	name := strings.TrimPrefix(d, ".")
	if name == "" || strings.ContainsAny(name, " @/\\,;") || !strings.Contains(name, ".") || strings.HasSuffix(name, ".") {
		return "", fmt.Errorf("%q: %w", d, ErrBadDomain)
	}
	return d, nil
}

// Accredited reports whether addr's domain matches one of the patterns.
func Accredited(addr string, patterns []string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	dom := strings.ToLower(strings.TrimSuffix(addr[at+1:], "."))
	for _, p := range patterns {
		if strings.HasPrefix(p, ".") {
			if strings.HasSuffix(dom, p) {
				return true
			}
		} else if dom == p {
			return true
		}
	}
	return false
}

// AddSecureDomain accredits a domain (or ".domain" for its subdomains),
// audited.
func (s *Service) AddSecureDomain(ctx context.Context, a Actor, domain, note string) error {
	d, err := normalizeDomain(domain)
	if err != nil {
		return err
	}
	if err := s.Store.AddSecureDomain(ctx, d, note, a.Name); err != nil {
		return err
	}
	return s.audit(ctx, a, "securemail.domain_add", "domain", d, 0, "success", note)
}

// RemoveSecureDomain withdraws an accreditation, audited.
func (s *Service) RemoveSecureDomain(ctx context.Context, a Actor, domain string) error {
	d, err := normalizeDomain(domain)
	if err != nil {
		return err
	}
	if err := s.Store.RemoveSecureDomain(ctx, d); err != nil {
		return err
	}
	return s.audit(ctx, a, "securemail.domain_remove", "domain", d, 0, "success", "")
}

func (s *Service) domainPatterns(ctx context.Context) ([]string, error) {
	ds, err := s.Store.SecureDomains(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Domain
	}
	return out, nil
}

// holdDecision splits the remote recipients of a message: those it may go
// to and, if it is sensitive, those outside the secure domains, with the
// reason.
func (s *Service) holdDecision(ctx context.Context, subject string, remote []string) (send, hold []string, reason string, err error) {
	tags, err := s.SensitiveTags(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	tag, sensitive := Sensitive(subject, tags)
	if !sensitive {
		return remote, nil, "", nil
	}
	reason = fmt.Sprintf("marked sensitive (%q) and the recipient's domain is not accredited for sensitive mail", tag)
	if len(remote) == 0 {
		return nil, nil, reason, nil
	}
	patterns, err := s.domainPatterns(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	for _, r := range remote {
		if Accredited(r, patterns) {
			send = append(send, r)
		} else {
			hold = append(hold, r)
		}
	}
	return send, hold, reason, nil
}

// holdNotice tells the sender what was held and why.
func (s *Service) holdNotice(ctx context.Context, sender *store.User, subject string, held []string, reason string) (*store.Delivery, error) {
	body := fmt.Sprintf("Your message %q was not sent to:\n\n  %s\n\nbecause it is %s.\n\n"+
		"It is held. Ask your administrator to release it if these recipients may\n"+
		"receive sensitive information, or send it through an accredited route\n"+
		"(for example an NHSmail address). Any other recipients received it as normal.\n",
		subject, strings.Join(held, "\n  "), reason)
	return notice.Notice{
		Hostname: s.Hostname, To: sender, Kind: "held", Now: s.now(),
		Subject: "Held: " + subject, Body: body,
	}.Delivery(ctx, s.Store)
}

// HeldMail lists held messages (without their content).
func (s *Service) HeldMail(ctx context.Context) ([]store.HeldMail, error) {
	return s.Store.ListHeld(ctx)
}

// ReleaseHeld sends a held message on to its held recipients (through the
// relay queue, with the tag line), audited.
func (s *Service) ReleaseHeld(ctx context.Context, a Actor, id int64) error {
	h, err := s.Store.HeldByID(ctx, id)
	if err != nil {
		return err
	}
	data, err := s.taglineFor(ctx, h.Data)
	if err != nil {
		return err
	}
	out := &store.OutboundMail{UserID: h.UserID, MailFrom: h.MailFrom, RcptTo: h.RcptTo, Data: data}
	if err := s.Store.ReleaseHeld(ctx, id, out); err != nil {
		return err
	}
	return s.audit(ctx, a, "securemail.release", "held_mail", fmt.Sprint(id), derefID(h.UserID), "success",
		fmt.Sprintf("%q to %s", h.Subject, strings.Join(h.Recipients(), ", ")))
}

// DropHeld deletes a held message, telling its sender, audited.
func (s *Service) DropHeld(ctx context.Context, a Actor, id int64, why string) error {
	h, err := s.Store.HeldByID(ctx, id)
	if err != nil {
		return err
	}
	var d *store.Delivery
	if h.UserID != nil {
		if u, err := s.Store.UserByID(ctx, *h.UserID); err == nil {
			body := fmt.Sprintf("Your held message %q to %s will not be sent.\n", h.Subject, strings.Join(h.Recipients(), ", "))
			if why = strings.TrimSpace(why); why != "" {
				body += "\nReason: " + why + "\n"
			}
			if d, err = (notice.Notice{Hostname: s.Hostname, To: u, Kind: "held", Now: s.now(), Subject: "Not sent: " + h.Subject, Body: body}).Delivery(ctx, s.Store); err != nil {
				return err
			}
		}
	}
	if err := s.Store.DropHeld(ctx, id, d); err != nil {
		return err
	}
	return s.audit(ctx, a, "securemail.drop", "held_mail", fmt.Sprint(id), derefID(h.UserID), "success", why)
}

func derefID(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
