package activesync_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/governance"
	"airlock/policies"
	"airlock/sms"
	"airlock/store"
	"airlock/store/storetest"
)

// Tests of the EAS SMS class (sms.go). Names carry an "sms"
// prefix.

const smsDomain = "sms.example.nhs.uk"

// smsWP is a Windows-Phone-like device: 14.1, syncs SMS.
var smsWP = eastest.Profile{Name: "WP81", DeviceType: "WP8", UserAgent: "MSFT-WP/8.10.14219", Version: "14.1", Model: "Lumia 930", OS: "Windows Phone 8.1"}

// smsProvider is an SMS provider on loopback that refuses the numbers set.
type smsProvider struct {
	mu     sync.Mutex
	got    []sms.Message
	refuse map[string]int
}

func (p *smsProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m sms.Message
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, m)
	if code := p.refuse[m.To]; code != 0 {
		http.Error(w, "number not reachable", code)
		return
	}
	w.Write([]byte(`{"id":"ok"}`))
}

type smsEnv struct {
	*scEnv
	gw       *sms.Gateway
	provider *smsProvider
}

// smsNewEnv is a server whose mail goes through the rules and a real SMS
// gateway posting to a loopback provider.
func smsNewEnv(t *testing.T, st *store.Store) *smsEnv {
	t.Helper()
	p := &smsProvider{refuse: map[string]int{"+447700900999": 400}}
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	gw := (&sms.Gateway{Store: st, Provider: &sms.Webhook{URL: hs.URL}, Addresses: sms.Addresses{Domain: smsDomain}, Hostname: "mail.example.nhs.uk"}).Init()
	g := &governance.Service{Store: st, Hostname: "mail.example.nhs.uk"}
	svc := &delivery.Service{Store: st, Hostname: "mail.example.nhs.uk", Rules: &governance.Rules{Service: g, SMS: gw}}
	srv := eastest.StartServerWith(t, st, eastest.ServerOptions{Mail: svc, SMSDomain: smsDomain})
	if err := srv.Devices.SetDefaultAccess(scCtx, eastest.Admin, policies.ActionAllow); err != nil {
		t.Fatal(err)
	}
	u := srv.AddUser(t, "alice@example.nhs.uk", scPassword)
	return &smsEnv{scEnv: &scEnv{t: t, srv: srv, st: st, user: u, email: u.Email}, gw: gw, provider: p}
}

// smsOptions asks for mail and, with withSMS, the SMS class (MS-ASMS).
func smsOptions(withSMS bool) string {
	o := `<AirSync:Options><AirSync:Class>Email</AirSync:Class><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type></AirSyncBase:BodyPreference></AirSync:Options>`
	if withSMS {
		o += `<AirSync:Options><AirSync:Class>SMS</AirSync:Class><AirSyncBase:BodyPreference><AirSyncBase:Type>1</AirSyncBase:Type></AirSyncBase:BodyPreference></AirSync:Options>`
	}
	return o
}

// smsSync runs one Sync of coll and returns the new key and the
// collection element.
func smsSync(t *testing.T, dev *eastest.Device, coll, key, extra string) (string, *etree.Element) {
	t.Helper()
	res := dev.Do("Sync", syncXML(coll, key, 100, extra))
	c := collection(res, coll)
	if c == nil || textOf(c, "Status") != "1" {
		t.Fatalf("Sync %s key %s: %s", coll, key, res.XML())
	}
	return textOf(c, "SyncKey"), c
}

// smsCommands returns the server's commands of a collection: kind, class
// and fields.
type smsCmd struct {
	Kind, Class, ServerID string
	Fields                map[string]string
}

func smsCommands(c *etree.Element) []smsCmd {
	var out []smsCmd
	for _, cmds := range c.ChildElements() {
		if cmds.Tag != "Commands" {
			continue
		}
		for _, cmd := range cmds.ChildElements() {
			x := smsCmd{Kind: cmd.Tag, Class: textOf(cmd, "Class"), ServerID: textOf(cmd, "ServerId"), Fields: fields(cmd)}
			out = append(out, x)
		}
	}
	return out
}

func (e *smsEnv) storeSMS(t *testing.T, f *store.Folder, from, text string) *store.Item {
	t.Helper()
	it, raw := sms.NewItem(sms.Item{UserID: e.user.ID, FolderID: f.ID, From: &mail.Address{Address: from}, To: []*mail.Address{{Address: e.email}}, Text: text, When: time.Now()})
	if err := e.st.AddItem(scCtx, it, raw); err != nil {
		t.Fatal(err)
	}
	return it
}

// A Windows-Phone-like 14.1 device syncs SMS both ways (server to device,
// device Add, read flag, delete); an Email-only device on the same Inbox
// never sees one; a 12.1 device cannot add one.
func TestSMSClassSyncsBothWaysEmailOnlyNeverSees(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := smsNewEnv(t, st)
		inbox := e.folder(store.FolderInbox)
		coll := itoa64(inbox.ID)
		e.deliver(inbox, 1, "Ward round")
		held := e.storeSMS(t, inbox, "+447700900123@"+smsDomain, "Bleep 2231 when free")

		wp := e.device(smsWP)
		mailOnly := e.device(scIPhone)

		// The WP asks for both classes and gets the mail and the SMS, the
		// SMS marked with Class SMS and its party in the [MOBILE:] form.
		wk, _ := smsSync(t, wp, coll, "0", smsOptions(true))
		wk, c := smsSync(t, wp, coll, wk, smsOptions(true))
		cmds := smsCommands(c)
		if len(cmds) != 2 {
			t.Fatalf("WP got %d commands, want the mail and the SMS: %+v", len(cmds), cmds)
		}
		var gotSMS *smsCmd
		for i := range cmds {
			if cmds[i].Class == "SMS" {
				gotSMS = &cmds[i]
			}
		}
		if gotSMS == nil || gotSMS.Kind != "Add" || gotSMS.ServerID != itoa64(held.ID) {
			t.Fatalf("no SMS Add: %+v", cmds)
		}
		if gotSMS.Fields["From"] != "[MOBILE:+447700900123]" || gotSMS.Fields["MessageClass"] != store.SMSMessageClass || !strings.Contains(gotSMS.Fields["Body"], "Bleep 2231 when free") {
			t.Fatalf("SMS fields: %+v", gotSMS.Fields)
		}

		// The Email-only device sees the mail only.
		mk, _ := smsSync(t, mailOnly, coll, "0", smsOptions(false))
		mk, c = smsSync(t, mailOnly, coll, mk, smsOptions(false))
		if cmds := smsCommands(c); len(cmds) != 1 || cmds[0].Class != "" || cmds[0].Fields["MessageClass"] == store.SMSMessageClass {
			t.Fatalf("Email-only device got: %+v", cmds)
		}

		// The WP adds a text received on the phone.
		add := `<AirSync:Commands><AirSync:Add><AirSync:Class>SMS</AirSync:Class><AirSync:ClientId>c1</AirSync:ClientId><AirSync:ApplicationData>` +
			`<Email:To>[MOBILE:+447700900001]</Email:To><Email:From>"Dr Shah" [MOBILE:+44 7700 900456]</Email:From>` +
			`<Email:DateReceived>2026-03-02T09:15:00.000Z</Email:DateReceived><Email:Read>0</Email:Read>` +
			`<AirSyncBase:Body><AirSyncBase:Type>1</AirSyncBase:Type><AirSyncBase:Data>Running 10 minutes late</AirSyncBase:Data></AirSyncBase:Body>` +
			`</AirSync:ApplicationData></AirSync:Add></AirSync:Commands>`
		res := wp.Do("Sync", syncXML(coll, wk, 100, smsOptions(true)+add))
		c = collection(res, coll)
		if c == nil {
			t.Fatalf("SMS Add: %s", res.XML())
		}
		wk = textOf(c, "SyncKey")
		r := c.FindElement("Responses/Add")
		if c == nil || r == nil || textOf(r, "Status") != "1" || textOf(r, "ServerId") == "" {
			t.Fatalf("SMS Add: %s", res.XML())
		}
		added := textOf(r, "ServerId")
		items, err := st.SMSItems(scCtx, e.user.ID, inbox.ID)
		if err != nil || len(items) != 2 {
			t.Fatalf("SMS items in the Inbox: %d %v", len(items), err)
		}
		got := items[1]
		if itoa64(got.ID) != added || got.Class != store.ClassSMS || !strings.Contains(got.FromAddr, "+447700900456@"+smsDomain) || !strings.Contains(got.FromAddr, "Dr Shah") || got.Read {
			t.Fatalf("stored SMS: %+v", got)
		}
		if raw, err := st.Blob(scCtx, e.user.ID, got.ID); err != nil || !strings.Contains(string(raw), "Running 10 minutes late") {
			t.Fatalf("SMS content: %q %v", raw, err)
		}

		// The Email-only device still sees nothing of it.
		_, c = smsSync(t, mailOnly, coll, mk, smsOptions(false))
		if cmds := smsCommands(c); len(cmds) != 0 {
			t.Fatalf("Email-only device got the device's SMS: %+v", cmds)
		}

		// Read flag and delete from the WP reach the store.
		chg := `<AirSync:Commands><AirSync:Change><AirSync:ServerId>` + itoa64(held.ID) + `</AirSync:ServerId><AirSync:ApplicationData><Email:Read>1</Email:Read></AirSync:ApplicationData></AirSync:Change>` +
			`<AirSync:Delete><AirSync:ServerId>` + added + `</AirSync:ServerId></AirSync:Delete></AirSync:Commands>`
		wk, c = smsSync(t, wp, coll, wk, `<AirSync:DeletesAsMoves>0</AirSync:DeletesAsMoves>`+smsOptions(true)+chg)
		if r := c.FindElement("Responses"); r != nil {
			t.Fatalf("Change/Delete failed: %v", fields(r))
		}
		if it, err := st.ItemByID(scCtx, e.user.ID, held.ID); err != nil || !it.Read {
			t.Fatalf("read flag not stored: %+v %v", it, err)
		}
		if _, err := st.ItemByID(scCtx, e.user.ID, got.ID); err == nil {
			t.Fatal("deleted SMS still live")
		}

		// A 12.1 device cannot add an SMS (the class is 14.0+): Status 6.
		v12 := scIPhone
		v12.Name, v12.Version = "iPhone12", "12.1"
		old := e.device(v12)
		ok, _ := smsSync(t, old, coll, "0", smsOptions(true))
		ok, c = smsSync(t, old, coll, ok, smsOptions(true))
		for _, cmd := range smsCommands(c) {
			if cmd.Class != "" || cmd.Fields["MessageClass"] == store.SMSMessageClass {
				t.Fatalf("12.1 device got an SMS: %+v", cmd)
			}
		}
		// Its SMS Options count for nothing: the same request again is
		// not an options change (no rescan, no new key).
		if res := old.Do("Sync", syncXML(coll, ok, 100, smsOptions(true))); len(res.Raw) != 0 {
			t.Fatalf("12.1 device with SMS Options, nothing new: %s", res.XML())
		}
		res = old.Do("Sync", syncXML(coll, ok, 100, strings.Replace(add, "c1", "c2", 1)))
		if r := collection(res, coll).FindElement("Responses/Add"); r == nil || textOf(r, "Status") != "6" {
			t.Fatalf("12.1 SMS Add: %s", res.XML())
		}
		if items, _ := st.SMSItems(scCtx, e.user.ID, inbox.ID); len(items) != 1 {
			t.Fatalf("%d SMS items after the refused add", len(items))
		}
		_ = wk
	})
}

// SendMail to an SMS address keeps an SMS item in the sender's Sent Items
// whose delivery status comes back from the provider: sent, or failed with
// the reason; the WP syncing Sent Items with the SMS class gets it, and
// again when the status changes.
func TestSMSSendGetsDeliveryStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := smsNewEnv(t, st)
		sent := e.folder(store.FolderSentItems)
		coll := itoa64(sent.ID)
		wp := e.device(smsWP)
		wk, _ := smsSync(t, wp, coll, "0", smsOptions(true))

		send := func(id, to, text string) {
			t.Helper()
			mime := "To: " + to + "\r\nSubject: SMS\r\n\r\n" + text + "\r\n"
			x := `<ComposeMail:SendMail><ComposeMail:ClientId>` + id + `</ComposeMail:ClientId><ComposeMail:Mime>` + base64.StdEncoding.EncodeToString([]byte(mime)) + `</ComposeMail:Mime></ComposeMail:SendMail>`
			if res := wp.Do("SendMail", x); res.HTTP != 200 || len(res.Raw) != 0 {
				t.Fatalf("SendMail: %d %s", res.HTTP, res.XML())
			}
		}
		send("s1", "+447700900123@"+smsDomain, "Clinic moved to room 4")
		send("s2", "+447700900999@"+smsDomain, "Please call the ward")

		items, err := st.SMSItems(scCtx, e.user.ID, sent.ID)
		if err != nil || len(items) != 2 {
			t.Fatalf("sent SMS items: %d %v", len(items), err)
		}
		for _, it := range items {
			if p := store.SMSPropsOf(&it); p.Status != store.SMSQueued {
				t.Fatalf("status before the provider answered: %+v", p)
			}
		}
		wk, c := smsSync(t, wp, coll, wk, smsOptions(true))
		if cmds := smsCommands(c); len(cmds) != 2 || cmds[0].Class != "SMS" || cmds[0].Fields["To"] != "[MOBILE:+447700900123]" {
			t.Fatalf("WP Sent Items: %+v", cmds)
		}

		if n, err := e.gw.RunOnce(scCtx); err != nil || n != 2 {
			t.Fatalf("gateway: %d %v", n, err)
		}
		want := map[string]string{"+447700900123": store.SMSSent, "+447700900999": store.SMSFailed}
		items, _ = st.SMSItems(scCtx, e.user.ID, sent.ID)
		for _, it := range items {
			p := store.SMSPropsOf(&it)
			num := ""
			for n := range want {
				if strings.Contains(it.ToAddrs, n) {
					num = n
				}
			}
			if p.Status != want[num] || p.At == nil || (p.Status == store.SMSFailed) != strings.Contains(p.Detail, "400") {
				t.Fatalf("status of the SMS to %s: %+v", num, p)
			}
		}
		// The status change reaches the device as a Change of each SMS.
		_, c = smsSync(t, wp, coll, wk, smsOptions(true))
		if cmds := smsCommands(c); len(cmds) != 2 || cmds[0].Kind != "Change" || cmds[0].Class != "SMS" {
			t.Fatalf("after the provider answered: %+v", cmds)
		}
	})
}
