package activesync

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"airlock/oof"
	"airlock/store"
)

// Settings Status values used by Oof (MS-ASCMD 2.2.3.177.14 Status
// (Settings)).
const (
	settingsOK           = 1
	settingsProtocolErr  = 2
	settingsInvalidArgs  = 5
	settingsConflictArgs = 6
)

// oofAudiences are the three OofMessage kinds (MS-ASCMD 2.2.3.9,
// 2.2.3.10, 2.2.3.11 AppliesTo*), in the order Exchange writes them.
var oofAudiences = []struct {
	tag string
	get func(*oof.Settings) *oof.Message
}{
	{"AppliesToInternal", func(s *oof.Settings) *oof.Message { return &s.Internal }},
	{"AppliesToExternalKnown", func(s *oof.Settings) *oof.Message { return &s.ExternalKnown }},
	{"AppliesToExternalUnknown", func(s *oof.Settings) *oof.Message { return &s.ExternalUnknown }},
}

// settingsOof serves MS-ASCMD 2.2.3.119 Oof: Get returns the state, the
// period and the three messages in the BodyType asked for (Text or HTML);
// Set changes what it carries (a message block it leaves out stays as it
// was). Automatic replies themselves are sent by delivery through package
// oof.
func (h *Handler) settingsOof(ctx context.Context, r *Request, req, out *etree.Element) error {
	status := func(s int) error {
		add(out, "Settings:Status", itoa(s))
		return nil
	}
	cur, _, err := oof.Load(ctx, h.store, r.User.ID)
	if err != nil {
		return storeFailureOr(err)
	}
	if get := child(req, "Settings:Get"); get != nil {
		html := strings.EqualFold(text(get, "Settings:BodyType"), "HTML")
		add(out, "Settings:Status", itoa(settingsOK))
		g := out.CreateElement("Settings:Get")
		add(g, "Settings:OofState", itoa(cur.State))
		if !cur.Start.IsZero() && !cur.End.IsZero() {
			add(g, "Settings:StartTime", formatTime(cur.Start))
			add(g, "Settings:EndTime", formatTime(cur.End))
		}
		for _, a := range oofAudiences {
			m := a.get(&cur)
			el := g.CreateElement("Settings:OofMessage")
			el.CreateElement("Settings:" + a.tag)
			add(el, "Settings:Enabled", boolText(m.Enabled))
			if m.Body != "" {
				body, bt := m.AsText(), "TEXT"
				if html {
					body, bt = m.AsHTML(), "HTML"
				}
				add(el, "Settings:ReplyMessage", body)
				add(el, "Settings:BodyType", bt)
			}
		}
		return nil
	}
	set := child(req, "Settings:Set")
	if set == nil {
		return status(settingsProtocolErr)
	}
	next := cur
	if s := text(set, "Settings:OofState"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < oof.StateDisabled || n > oof.StateTimeBased {
			return status(settingsInvalidArgs)
		}
		next.State = n
	}
	if s := text(set, "Settings:StartTime"); s != "" {
		t, ok := parseEASTime(s)
		if !ok {
			return status(settingsInvalidArgs)
		}
		next.Start = t
	}
	if s := text(set, "Settings:EndTime"); s != "" {
		t, ok := parseEASTime(s)
		if !ok {
			return status(settingsInvalidArgs)
		}
		next.End = t
	}
	for _, el := range children(set, "Settings:OofMessage") {
		var m *oof.Message
		for _, a := range oofAudiences {
			if child(el, "Settings:"+a.tag) != nil {
				m = a.get(&next)
			}
		}
		if m == nil {
			return status(settingsProtocolErr)
		}
		if e := text(el, "Settings:Enabled"); e != "" {
			m.Enabled = e == "1"
		}
		if c := child(el, "Settings:ReplyMessage"); c != nil {
			m.Body = c.Text()
			m.HTML = strings.EqualFold(text(el, "Settings:BodyType"), "HTML")
		}
	}
	if err := oof.Save(ctx, h.store, r.User.ID, next); err != nil {
		if errors.Is(err, oof.ErrInvalid) {
			if next.State == oof.StateTimeBased && !next.Start.IsZero() && !next.End.IsZero() {
				return status(settingsConflictArgs) // the period ends before it starts
			}
			return status(settingsInvalidArgs)
		}
		return storeFailureOr(err)
	}
	r.Log.Info("OOF set", "state", next.State)
	return status(settingsOK)
}

func storeFailureOr(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return errRetryLater(err)
	}
	return errServer(err)
}
