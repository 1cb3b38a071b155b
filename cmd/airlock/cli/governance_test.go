package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs one command in-process.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut strings.Builder
	code := Main(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestGovernanceCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "airlock.db")
	ok := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, stdin, append(args, "--db", db)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	fails := func(stdin, want string, args ...string) {
		t.Helper()
		_, errOut, code := runCLI(t, stdin, append(args, "--db", db)...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("%v: exit %d, stderr %q; want an error with %q", args, code, errOut, want)
		}
	}
	for _, u := range []string{"manager", "owner", "hr", "head"} {
		ok(u+"-password\n", "user", "add", "--email", u+"@example.nhs.uk", "--name", u)
	}
	ok("", "role", "grant", "--user", "hr@example.nhs.uk", "--role", "hr_director")
	ok("", "role", "grant", "--user", "head@example.nhs.uk", "--role", "programme_head")
	fails("", "unknown role", "role", "grant", "--user", "head@example.nhs.uk", "--role", "god")
	if out := ok("", "role", "list"); !strings.Contains(out, "hr_director") || !strings.Contains(out, "head@example.nhs.uk") {
		t.Fatalf("role list:\n%s", out)
	}

	out := ok("manager-password\n", "breakglass", "request", "--requester", "manager@example.nhs.uk", "--owner", "owner@example.nhs.uk", "--reason", "Referrals waiting in an absent clinician's inbox", "--duration", "2h")
	if !strings.Contains(out, "request 1 filed") {
		t.Fatalf("request: %s", out)
	}
	fails("wrong-password\n", "password not accepted", "breakglass", "approve", "--id", "1", "--approver", "hr@example.nhs.uk")
	fails("manager-password\n", "cannot approve their own", "breakglass", "approve", "--id", "1", "--approver", "manager@example.nhs.uk")
	if out := ok("hr-password\n", "breakglass", "approve", "--id", "1", "--approver", "hr@example.nhs.uk"); !strings.Contains(out, "one more approval") {
		t.Fatalf("first approval: %s", out)
	}
	fails("hr-password\n", "already approved", "breakglass", "approve", "--id", "1", "--approver", "hr@example.nhs.uk")
	if out := ok("head-password\n", "breakglass", "approve", "--id", "1", "--approver", "head@example.nhs.uk"); !strings.Contains(out, "access in force until") {
		t.Fatalf("second approval: %s", out)
	}
	if out := ok("", "breakglass", "list"); !strings.Contains(out, "active") || !strings.Contains(out, "hr@example.nhs.uk (hr_director)") {
		t.Fatalf("breakglass list:\n%s", out)
	}
	ok("", "breakglass", "revoke", "--id", "1", "--reason", "done")

	ok("", "servicelevel", "add", "--name", "Standard", "--quota", "400MB")
	fails("", "exists", "servicelevel", "add", "--name", "standard", "--quota", "1GB")
	ok("", "servicelevel", "assign", "--name", "Standard", "--unassigned")
	ok("", "servicelevel", "scale", "--factor", "2")
	if out := ok("", "servicelevel", "list"); !strings.Contains(out, "800MB") || !strings.Contains(out, "Standard") {
		t.Fatalf("servicelevel list:\n%s", out)
	}
	ok("", "servicelevel", "set-quota", "--name", "Standard", "--quota", "1GB")
	if out := ok("", "quota", "show", "--user", "owner@example.nhs.uk"); !strings.Contains(out, "of 1GB") {
		t.Fatalf("quota show: %s", out)
	}

	ok("", "delegate", "grant", "--owner", "owner@example.nhs.uk", "--delegate", "manager@example.nhs.uk", "--permission", "send_on_behalf")
	fails("", "unknown delegation", "delegate", "grant", "--owner", "owner@example.nhs.uk", "--delegate", "hr@example.nhs.uk", "--scope", "calendar", "--permission", "write")
	if out := ok("", "delegate", "list", "--owner", "owner@example.nhs.uk"); !strings.Contains(out, "manager@example.nhs.uk") || !strings.Contains(out, "send_on_behalf") {
		t.Fatalf("delegate list:\n%s", out)
	}
	ok("", "delegate", "revoke", "--owner", "owner@example.nhs.uk", "--delegate", "manager@example.nhs.uk")

	ok("", "domain", "add", "--domain", "nhs.net", "--note", "NHSmail")
	ok("", "domain", "tags", "--set", "[secure],OFFICIAL-SENSITIVE,[confidential]")
	if out := ok("", "domain", "list"); !strings.Contains(out, "nhs.net") || !strings.Contains(out, "[confidential]") {
		t.Fatalf("domain list:\n%s", out)
	}
	ok("", "held", "list")
	fails("", "no held mail 7", "held", "release", "--id", "7")

	ok("", "tagline", "set", "--text", "Confidential: for the addressee only.")
	if out := ok("", "tagline", "show"); !strings.Contains(out, "addressee only") {
		t.Fatalf("tagline show: %s", out)
	}
	ok("", "tagline", "clear")
	if out := ok("", "tagline", "show"); !strings.Contains(out, "no tag line") {
		t.Fatalf("after clear: %s", out)
	}
}
