package governance_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"airlock/activesync/eastest"
	"airlock/delivery"
	"airlock/governance"
	"airlock/store"
	"airlock/store/storetest"
)

const easPassword = "correct horse battery"

var easPhone = eastest.Profile{Name: "iPhoneGov", DeviceType: "iPhone", UserAgent: "Apple-iPhone14C7/2104.100", Version: "14.1", Model: "iPhone14,7", OS: "iOS 16.1"}

func sendMailXML(clientID, mime string) string {
	return "<ComposeMail:SendMail><ComposeMail:ClientId>" + clientID + "</ComposeMail:ClientId><ComposeMail:SaveInSentItems/>" +
		"<ComposeMail:Mime>" + base64.StdEncoding.EncodeToString([]byte(mime)) + "</ComposeMail:Mime></ComposeMail:SendMail>"
}

// easEnv is an EAS server whose delivery service has the rules.
type easEnv struct {
	*mailEnv
	srv *eastest.Server
}

func newEASEnv(t *testing.T, st *store.Store, relay *delivery.Relay) *easEnv {
	e := &easEnv{mailEnv: newMailEnv(t, st, relay)}
	e.srv = eastest.StartServerWith(t, st, eastest.ServerOptions{Mail: e.svc})
	return e
}

func (e *easEnv) phone(t *testing.T, user string) *eastest.Device {
	t.Helper()
	d := eastest.NewDevice(t, e.srv.URL, easPhone, user, easPassword)
	d.CheckWithLibwbxml = false
	if res := d.Provision(1); res.Text("Provision:Policies/Provision:Policy/Provision:Status") != "1" {
		t.Fatalf("provision: %s", res.XML())
	}
	return d
}

func TestSendMailQuotaStatuses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEASEnv(t, st, nil)
		alice := e.srv.AddUser(t, "alice@example.nhs.uk", easPassword)
		bob := e.srv.AddUser(t, "bob@example.nhs.uk", easPassword)
		carol := e.srv.AddUser(t, "carol@example.nhs.uk", easPassword)
		dev := e.phone(t, "alice@example.nhs.uk")
		note := "To: bob@example.nhs.uk, carol@example.nhs.uk\r\nSubject: Handover\r\n\r\nBed 4 needs review.\r\n"

		// Bob's mailbox is full: Carol gets it, Bob does not, Alice gets a
		// report naming Bob; the send itself succeeds.
		setLevel(t, st, e.g, bob, "Tiny", 1000, 1000)
		if res := e.dev(dev, "SendMail", sendMailXML("Q1", note)); res.HTTP != 200 || len(res.Raw) != 0 {
			t.Fatalf("SendMail with one full recipient: %d %s", res.HTTP, res.XML())
		}
		if len(inbox(t, st, bob)) != 0 || len(inbox(t, st, carol)) != 1 {
			t.Fatalf("bob %d, carol %d", len(inbox(t, st, bob)), len(inbox(t, st, carol)))
		}
		rep := inbox(t, st, alice)
		if len(rep) != 1 || !strings.HasPrefix(rep[0].Subject, "Undeliverable") {
			t.Fatalf("alice's report: %+v", rep)
		}
		raw, _ := st.Blob(ctx, alice.ID, rep[0].ID)
		if !strings.Contains(string(raw), "bob@example.nhs.uk") || !strings.Contains(string(raw), "5.2.2") || strings.Contains(string(raw), "carol@example.nhs.uk\r\nAction") {
			t.Fatalf("report:\n%s", raw)
		}

		// Alice's own mailbox is full: sending is blocked, Status 115, and
		// nothing is stored or sent.
		setLevel(t, st, e.g, alice, "Tiny", 1000, 1000)
		e.dev(dev, "SendMail", sendMailXML("Q2", note)).Expect(200, "ComposeMail:Status", "115")
		if len(inbox(t, st, carol)) != 1 {
			t.Fatal("a blocked sender's mail was delivered")
		}
		// Room for nothing more than the copy in Sent Items: Status 113.
		setLevel(t, st, e.g, alice, "Tiny", 0, 900)
		e.dev(dev, "SendMail", sendMailXML("Q3", note)).Expect(200, "ComposeMail:Status", "113")
		if len(inbox(t, st, carol)) != 1 {
			t.Fatal("mail delivered although the sender's copy did not fit")
		}
	})
}

func (e *easEnv) dev(d *eastest.Device, cmd, xml string) *eastest.Result { return d.Do(cmd, xml) }

// A delegate with send on behalf sends From the owner, Sender the delegate;
// without it, From is forced back to the delegate.
func TestSendOnBehalf(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEASEnv(t, st, nil)
		owner := e.srv.AddUser(t, "consultant@example.nhs.uk", easPassword)
		pa := e.srv.AddUser(t, "pa@example.nhs.uk", easPassword)
		bob := e.srv.AddUser(t, "bob@example.nhs.uk", easPassword)
		dev := e.phone(t, "pa@example.nhs.uk")
		note := "From: consultant@example.nhs.uk\r\nTo: bob@example.nhs.uk\r\nSubject: Clinic letter\r\n\r\nSee attached.\r\n"

		self := governance.Actor{UserID: owner.ID, Name: owner.Email}
		if err := e.g.GrantDelegate(ctx, self, owner, pa, store.ScopeMail, store.PermissionRead); err != nil {
			t.Fatal(err)
		}
		e.dev(dev, "SendMail", sendMailXML("B1", note)).Expect(200, "", "")
		got := inbox(t, st, bob)
		raw, _ := st.Blob(ctx, bob.ID, got[0].ID)
		if !strings.Contains(got[0].FromAddr, "pa@example.nhs.uk") || strings.Contains(string(raw), "Sender:") {
			t.Fatalf("read-only delegate sent as the owner: From %q\n%s", got[0].FromAddr, raw)
		}
		if err := e.g.GrantDelegate(ctx, self, owner, pa, store.ScopeMail, store.PermissionSendOnBehalf); err != nil {
			t.Fatal(err)
		}
		e.dev(dev, "SendMail", sendMailXML("B2", note)).Expect(200, "", "")
		got = inbox(t, st, bob)
		raw, _ = st.Blob(ctx, bob.ID, got[1].ID)
		if !strings.Contains(got[1].FromAddr, "consultant@example.nhs.uk") || !strings.Contains(string(raw), "Sender: pa@example.nhs.uk") && !strings.Contains(string(raw), "<pa@example.nhs.uk>") {
			t.Fatalf("on behalf: From %q\n%s", got[1].FromAddr, raw)
		}
		if !strings.Contains(string(raw), "\r\nSender:") {
			t.Fatalf("no Sender field:\n%s", raw)
		}
	})
}
