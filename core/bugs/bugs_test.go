//go:build shoalbugs

package bugs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	s, err := Parse("forget-vote, skip-sync")
	if err != nil || !s.Has(ForgetVote) || !s.Has(SkipSync) || s.Has(ForgetDedup) {
		t.Fatalf("Parse = %b, %v", s, err)
	}
	if _, err := Parse("forget-votes"); err == nil || !strings.Contains(err.Error(), "forget-vote") {
		t.Fatalf("a misspelt bug: %v, want an error listing the bugs", err)
	}
	if len(Names()) != int(numBugs)-1 {
		t.Fatalf("%d names for %d bugs", len(Names()), numBugs-1)
	}
}

// TestNormalBuildHasNoBugs builds the shoal command without the tag and
// requires that no planted bug's name is in it; built with the tag, every
// name is.
func TestNormalBuildHasNoBugs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		tags []string
		want bool
	}{{nil, false}, {[]string{"-tags", "shoalbugs"}, true}} {
		bin := filepath.Join(dir, "shoal")
		args := append([]string{"build", "-o", bin}, tc.tags...)
		cmd := exec.Command("go", append(args, "github.com/shoaldb/shoal/cmd/shoal")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range Names() {
			if got := bytes.Contains(b, []byte(name)); got != tc.want {
				t.Errorf("built with %v: contains %q: %v", tc.tags, name, got)
			}
		}
	}
}
