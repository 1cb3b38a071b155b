package governance_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"airlock/delivery"
	"airlock/delivery/deliverytest"
	"airlock/governance"
	"airlock/store"
	"airlock/store/storetest"
)

var footer = governance.Tagline{Text: "This e-mail is confidential and intended for the addressee only.\nIf you received it in error, tell the sender and delete it.\nExample NHS Trust, registered in England."}

const footerLine = "This e-mail is confidential and intended for the addressee only."

// bodies decodes a message's text and HTML bodies (and attachments).
func bodies(t *testing.T, raw []byte) *enmime.Envelope {
	t.Helper()
	env, err := enmime.ReadEnvelope(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("unreadable result: %v\n%s", err, raw)
	}
	return env
}

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestAddTaglineShapes(t *testing.T) {
	plain := crlf("From: a@example.nhs.uk\nTo: x@partner.example\nSubject: Plain\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCost: =A3120 per visit.\n")
	alt := crlf("From: a@example.nhs.uk\nTo: x@partner.example\nSubject: Alt\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n--inner\nContent-Type: text/plain; charset=utf-8\n\nHello there.\n--inner\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>Hello there.</p></body></html>\n--inner--\n\n--outer\nContent-Type: application/pdf; name=\"letter.pdf\"\nContent-Disposition: attachment; filename=\"letter.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\n--outer--\n")

	out, res := governance.AddTagline(plain, footer)
	if !res.Added {
		t.Fatalf("plain: %+v", res)
	}
	env := bodies(t, out)
	if !strings.Contains(env.Text, "Cost: £120 per visit.") || strings.Count(env.Text, footerLine) != 1 {
		t.Fatalf("plain text (latin-1 kept readable, one footer):\n%s", env.Text)
	}

	out, res = governance.AddTagline(alt, footer)
	if !res.Added {
		t.Fatalf("alternative: %+v", res)
	}
	env = bodies(t, out)
	if strings.Count(env.Text, footerLine) != 1 || strings.Count(env.HTML, "This e-mail is confidential") != 1 || !strings.Contains(env.HTML, "</div></body>") {
		t.Fatalf("alternative:\ntext %q\nhtml %q", env.Text, env.HTML)
	}
	// The attachment's bytes are untouched.
	if !bytes.Contains(out, []byte("Content-Disposition: attachment; filename=\"letter.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n--outer--")) {
		t.Fatalf("attachment changed:\n%s", out)
	}
	if len(env.Attachments) != 1 || env.Attachments[0].FileName != "letter.pdf" {
		t.Fatalf("attachments: %+v", env.Attachments)
	}
	// Applying it again changes nothing: the field marks it.
	if again, res := governance.AddTagline(out, footer); res.Added || !bytes.Equal(again, out) {
		t.Fatalf("added twice: %+v", res)
	}

	// Signed or encrypted: untouched, byte for byte.
	signed := crlf("From: a@example.nhs.uk\nTo: x@partner.example\nSubject: Signed\nMIME-Version: 1.0\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"sig\"\n\n--sig\nContent-Type: text/plain; charset=utf-8\n\nSigned words.\n--sig\nContent-Type: application/pkcs7-signature; name=smime.p7s\nContent-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIIB\n--sig--\n")
	encrypted := crlf("From: a@example.nhs.uk\nTo: x@partner.example\nSubject: Sealed\nMIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\nContent-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHA6CAMIACAQAxggFAMIIBPAIBADAkMBYxFDASBgNVBAMTC0V4YW1wbGUgQ0EC\n")
	mixedSigned := crlf("From: a@example.nhs.uk\nTo: x@partner.example\nSubject: Wrapped\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"m\"\n\n--m\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=\"sig\"\n\n--sig\nContent-Type: text/plain\n\nSigned.\n--sig\nContent-Type: application/pkcs7-signature\n\nAAAA\n--sig--\n--m--\n")
	for name, m := range map[string][]byte{"signed": signed, "encrypted": encrypted, "mixed around signed": mixedSigned} {
		if out, res := governance.AddTagline(m, footer); res.Added || !bytes.Equal(out, m) || res.Skipped != "signed or encrypted" {
			t.Errorf("%s: %+v\n%s", name, res, out)
		}
	}

	// A reply quoting a footered message: the footer is there already.
	reply := crlf("From: a@example.nhs.uk\nTo: x@partner.example\nSubject: Re: Plain\n\nThanks.\n\n> Cost: 120.\n>\n> This e-mail is confidential and intended for the\n> addressee only.\n")
	if _, res := governance.AddTagline(reply, footer); res.Added || res.Skipped != "already present" {
		t.Fatalf("quoted footer: %+v", res)
	}
	htmlReply := crlf("From: a@example.nhs.uk\nSubject: Re\nContent-Type: text/html\n\n<p>Thanks</p><blockquote><!-- airlock-tagline --><div>...</div></blockquote>\n")
	if _, res := governance.AddTagline(htmlReply, footer); res.Added {
		t.Fatal("HTML marker not seen")
	}
	if _, res := governance.AddTagline(plain, governance.Tagline{}); res.Added {
		t.Fatal("empty tag line added")
	}
}

func TestTaglineSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g, _ := newService(st)
		long := governance.Tagline{Text: strings.Repeat("line\n", 16)}
		if err := g.SetTagline(ctx, governance.Actor{Name: "test"}, long); !errors.Is(err, governance.ErrTaglineTooLong) {
			t.Fatalf("16 lines: %v", err)
		}
		if err := g.SetTagline(ctx, governance.Actor{Name: "test"}, footer); err != nil {
			t.Fatal(err)
		}
		got, err := g.Tagline(ctx)
		if err != nil || got.Text != footer.Text {
			t.Fatalf("stored: %+v %v", got, err)
		}
	})
}

// A three-message reply chain with an outside address: the footer goes
// out once, on the first message; internal copies never get it.
func TestTaglineOnceInAReplyChainAndNotInternal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		smarthost := deliverytest.Start(t, deliverytest.Options{})
		relay := delivery.NewRelay(st, delivery.RelayConfig{Addr: smarthost.Addr, DisableStartTLS: true, Hostname: "mx.example.nhs.uk"}, nil)
		e := newMailEnv(t, st, relay)
		alice := addUser(t, st, "alice@example.nhs.uk")
		bob := addUser(t, st, "bob@example.nhs.uk")
		if err := e.g.SetTagline(ctx, governance.Actor{Name: "test"}, footer); err != nil {
			t.Fatal(err)
		}
		send := func(mime string) *delivery.Result {
			t.Helper()
			res, err := e.svc.Submit(ctx, delivery.Submission{User: alice, MIME: crlf(mime), SaveInSent: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := relay.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			return res
		}
		// 1: to a partner and to Bob (internal).
		send("To: gp@surgery.example, bob@example.nhs.uk\nSubject: Referral\nMessage-ID: <m1@example.nhs.uk>\n\nPlease see Mrs Smith this week.\n")
		out := smarthost.Wait(1, 5*time.Second)
		if len(out) != 1 {
			t.Fatalf("relay got %d", len(out))
		}
		if n := strings.Count(bodies(t, out[0].Data).Text, footerLine); n != 1 {
			t.Fatalf("message 1 went out with %d footers:\n%s", n, out[0].Data)
		}
		for _, u := range []*store.User{bob, alice} {
			for _, ft := range []store.FolderType{store.FolderInbox, store.FolderSentItems} {
				f, _ := st.FolderByType(ctx, u.ID, ft)
				its, _ := st.ListItems(ctx, u.ID, f.ID, 0, 10)
				for _, it := range its {
					raw, _ := st.Blob(ctx, u.ID, it.ID)
					if bytes.Contains(raw, []byte("confidential")) {
						t.Fatalf("internal copy (%s) has the footer:\n%s", u.Email, raw)
					}
				}
			}
		}
		// 2: the partner replies, quoting it (with its footer) back to us.
		quoted := quote(bodies(t, out[0].Data).Text)
		if err := e.svc.DeliverInbound(ctx, delivery.Inbound{From: "gp@surgery.example", Recipients: []*store.User{alice},
			Data: crlf("From: gp@surgery.example\nTo: alice@example.nhs.uk\nSubject: Re: Referral\nMessage-ID: <m2@surgery.example>\nIn-Reply-To: <m1@example.nhs.uk>\n\nBooked for Thursday.\n\n" + quoted)}); err != nil {
			t.Fatal(err)
		}
		// 3: Alice replies, quoting the whole chain.
		its := inbox(t, st, alice)
		raw2, _ := st.Blob(ctx, alice.ID, its[len(its)-1].ID)
		send("To: gp@surgery.example\nSubject: Re: Referral\nIn-Reply-To: <m2@surgery.example>\n\nThank you.\n\n" + quote(bodies(t, raw2).Text))
		out = smarthost.Wait(2, 5*time.Second)
		if len(out) != 2 {
			t.Fatalf("relay got %d", len(out))
		}
		if n := strings.Count(normalize(bodies(t, out[1].Data).Text), normalize(footerLine)); n != 1 {
			t.Fatalf("message 3 carries the footer %d times, want 1:\n%s", n, out[1].Data)
		}
		// Mail only between colleagues never gets it.
		res := send("To: bob@example.nhs.uk\nSubject: Internal\n\nCoffee?\n")
		if len(res.Remote) != 0 || len(smarthost.Messages()) != 2 {
			t.Fatal("internal mail reached the relay")
		}
	})
}

func quote(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func normalize(s string) string {
	s = strings.ReplaceAll(s, ">", " ")
	return strings.Join(strings.Fields(s), " ")
}

var _ = io.EOF
