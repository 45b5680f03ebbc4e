//go:build shoalbugs

package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
)

// With ack-before-commit a leader answers writes that only it holds; the
// scenario then cuts the leader off and SIGKILLs it. On real processes
// the checkers must find the lost or reordered writes within a bounded
// number of runs.
func TestLiveRunFindsAckBeforeCommit(t *testing.T) {
	const runs = 3
	for seed := 1; seed <= runs; seed++ {
		code, out, _, results := liveRun(t, killLeader, "--seed", fmt.Sprint(seed), "--bug", "ack-before-commit")
		if code != exitInvalid {
			t.Logf("run %d (seed %d) did not find the bug:\n%s", seed, seed, out)
			continue
		}
		if !strings.Contains(out, "planted bugs: ack-before-commit") {
			t.Errorf("the output does not name the planted bug:\n%s", out)
		}
		for _, c := range results.Checkers {
			if c.Verdict == checker.Invalid && c.Checker != "linearizable" && c.Checker != "durability" {
				t.Errorf("%s says invalid, which ack-before-commit should not make it: %s", c.Checker, c.Explanation)
			}
		}
		t.Logf("found in run %d of at most %d", seed, runs)
		return
	}
	t.Fatalf("ack-before-commit was not found in %d live runs", runs)
}
