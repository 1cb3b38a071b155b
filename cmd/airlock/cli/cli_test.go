package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestCommandTableIsHelpAndDispatch proves that the one table in cli.go is
// what help prints and what Main dispatches: every row is complete, listed
// once in help, and a group name lists exactly its rows.
func TestCommandTableIsHelpAndDispatch(t *testing.T) {
	var help bytes.Buffer
	if code := Main([]string{"help"}, strings.NewReader(""), &help, &bytes.Buffer{}); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	groups := map[string]int{}
	for _, c := range commandTable {
		if c.name == "" || c.summary == "" || c.run == nil {
			t.Errorf("incomplete row %+v", c)
		}
		line := fmt.Sprintf("  %-18s %s\n", c.name, c.summary)
		if n := strings.Count(help.String(), line); n != 1 {
			t.Errorf("help lists %q %d times, want once", c.name, n)
		}
		if group, _, ok := strings.Cut(c.name, " "); ok {
			groups[group]++
		}
	}
	if len(commands) != len(commandTable) {
		t.Errorf("commands has %d entries, table %d", len(commands), len(commandTable))
	}
	for group, n := range groups {
		var errOut bytes.Buffer
		if code := Main([]string{group}, strings.NewReader(""), &bytes.Buffer{}, &errOut); code != 2 {
			t.Errorf("%s alone: exit %d, want 2", group, code)
		}
		if got := strings.Count(errOut.String(), "  airlock "+group+" "); got != n {
			t.Errorf("%s alone lists %d subcommands, want %d:\n%s", group, got, n, errOut.String())
		}
	}
}
