package authguard_test

import (
	"io"
	"net/http"
	"net/url"
	"testing"

	"airlock/store"
	"airlock/store/storetest"
)

// Account existence by timing: a User= naming another account used to be
// refused before any verification when the login existed, and after a
// dummy one when it did not. Both paths now do the same work: two account
// lookups, one reservation and one verification. Counted, not timed.
func TestUserParameterSameWorkForKnownAndUnknown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		g := attackGuard(st)
		r := newRig(t, st, g)
		addUser(t, st, "alice@example.nhs.uk", rightPW)
		addUser(t, st, "bob@example.nhs.uk", "bobs-own-password")
		type work struct{ lookups, verified int64 }
		measure := func(login string) (int, work) {
			l0, v0 := g.Lookups(), g.Verifier.Runs()
			q := url.Values{"Cmd": {"FolderSync"}, "DeviceId": {"TIMING1"}, "DeviceType": {"Android"}, "User": {"bob@example.nhs.uk"}}
			req, _ := http.NewRequest("POST", r.http+"/Microsoft-Server-ActiveSync?"+q.Encode(), nil)
			req.Header.Set("MS-ASProtocolVersion", "14.1")
			req.SetBasicAuth(login, rightPW)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, work{g.Lookups() - l0, g.Verifier.Runs() - v0}
		}
		codeKnown, known := measure("alice@example.nhs.uk")
		codeUnknown, unknown := measure("nobody@example.nhs.uk")
		if codeKnown != http.StatusUnauthorized || codeUnknown != http.StatusUnauthorized {
			t.Fatalf("HTTP %d for an existing account, %d for an unknown one; want 401 for both", codeKnown, codeUnknown)
		}
		if known != unknown || known.verified != 1 {
			t.Fatalf("existing account: %+v; unknown: %+v; want the same, with one verification", known, unknown)
		}
	})
}
