package activesync_test

import (
	"testing"

	"airlock/activesync/eastest"
	"airlock/store"
	"airlock/store/storetest"
)

// A Nokia E72 whose mail client sends a User-Agent the catalogue does not
// know, and reports its model only through DeviceInformation (Settings at
// 12.1, Provision at 14.1), is recognised from the model: as the catalogue
// says of the Eseries, it is allowed once it has applied the whole policy
// (encryption there is the user's choice) and refused with a partial
// acknowledgement.
func TestNokiaE72RecognisedByDeviceInformationModel(t *testing.T) {
	base := eastest.NokiaE72
	base.UserAgent, base.Model = "MfE-Client/3.0.50", "NokiaE72-1"
	v141 := base
	v141.Name, v141.Version = "NokiaE72-141", "14.1"
	cases := []struct {
		profile eastest.Profile
		ack     int
		allowed bool
	}{
		{base, 1, true},
		{base, 2, false},
		{v141, 1, true},
		{v141, 2, false},
	}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		for _, tc := range cases {
			name := tc.profile.Name + "-model-ack" + string(rune('0'+tc.ack))
			t.Run(name, func(t *testing.T) {
				user := name + "@example.nhs.uk"
				srv.AddUser(t, user, pw)
				dev, res := connect(t, srv, tc.profile, user, tc.ack)
				u, _ := st.UserByAddress(ctx, user)
				rec, err := st.DeviceByEASID(ctx, u.ID, dev.DeviceID)
				if err != nil {
					t.Fatal(err)
				}
				if tc.allowed {
					if res.HTTP != 200 || res.Text("FolderHierarchy:Status") != "1" || rec.State != store.DeviceAllowed {
						t.Fatalf("want allowed; state %s (%s, by %s; %s)\n%s", rec.State, rec.StateReason, rec.DecidedBy, rec.Evidence, res.XML())
					}
					return
				}
				if !refused(tc.profile, res, "139") || rec.State == store.DeviceAllowed {
					t.Fatalf("want refused; state %s (%s, by %s; %s)\n%s", rec.State, rec.StateReason, rec.DecidedBy, rec.Evidence, res.XML())
				}
			})
		}
	})
}

// An installation that stored the shipped Nokia rule when it matched the
// User-Agent only gets the model rule at its next start (EnsureDefaults),
// unless an administrator changed the rule.
func TestNokiaE72ByModelOnInstallationSeededBefore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := eastest.StartServer(t, st)
		old := func(id int64, pattern string) {
			r := store.DeviceRule{ID: id, Priority: int(id), Field: "useragent", Match: "pattern", Pattern: pattern, Action: "allow", Enabled: true}
			if err := st.UpdateRule(ctx, &r); err != nil {
				t.Fatal(err)
			}
		}
		old(60, "re:^NokiaE(52|55|63|66|71|72|75)")
		old(61, "re:^NokiaE[57]-?00x") // changed by an administrator
		if err := srv.Devices.EnsureDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		srv.Devices.Invalidate()
		rules, err := st.ListRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			switch {
			case r.ID == 60 && (r.Field != "model" || r.Pattern != "re:^(Nokia)?E(52|55|63|66|71|72|75)(-?[0-9])?$"):
				t.Fatalf("shipped rule 60 not revised: %+v", r)
			case r.ID == 61 && r.Field != "useragent":
				t.Fatalf("administrator's rule 61 changed: %+v", r)
			}
		}
		p := eastest.NokiaE72
		p.UserAgent, p.Model = "MfE-Client/3.0.50", "NokiaE72-1"
		srv.AddUser(t, "e72@example.nhs.uk", pw)
		if _, res := connect(t, srv, p, "e72@example.nhs.uk", 1); res.HTTP != 200 || res.Text("FolderHierarchy:Status") != "1" {
			t.Fatalf("E72 by model after the revision: %s", res.XML())
		}
	})
}
