//go:build shoalbugs

package library

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/scenarios/runner"
)

var (
	fullMatrix   = flag.Bool("matrix", false, "run every planted bug against every built-in scenario and compare the table with scenarios/README.md")
	matrixSeeds  = flag.Int("matrix-seeds", 3, "seeds 1..N per cell of the bug matrix")
	updateMatrix = flag.Bool("update-matrix", false, "with -matrix, rewrite the table in scenarios/README.md")
	readmePath   = "../README.md"
	matrixBegin  = "<!-- bug matrix: begin (go test -tags shoalbugs ./scenarios/library -run TestBugMatrix -matrix -update-matrix) -->"
	matrixEnd    = "<!-- bug matrix: end -->"
)

// catchers names, for each planted bug, the checkers that should catch it
// (core/README.md, "Planted bugs", says what each does wrong).
var catchers = map[string][]string{
	"ack-before-commit":     {"linearizable", "durability"},
	"stale-local-read":      {"linearizable"},
	"skip-sync":             {"durability", "linearizable", "raft-safety", "progress"},
	"forget-dedup":          {"linearizable"},
	"lease-read-under-skew": {"linearizable"},
	"forget-vote":           {"raft-safety"},
	"config-local-ack":      {"quorum"},
	"skip-apply-on-restart": {"convergence", "linearizable"},
	"ack-before-enqueue":    {"delivery"},
	"commit-on-fetch":       {"delivery"},
	"last-arrival-wins":     {"replication"},
	"two-owners":            {"buckets", "linearizable"},
}

// hints lists, for each bug, the scenarios expected to catch it, in the
// order make test tries them; the full matrix (-matrix) tries them all.
var hints = map[string][]string{
	"ack-before-commit":     {"leader-isolation"},
	"stale-local-read":      {"leader-isolation"},
	"skip-sync":             {"kill-majority"},
	"forget-dedup":          {"lossy-network"},
	"lease-read-under-skew": {"skewed-leader-isolation"},
	"forget-vote":           {"restart-storm"},
	"config-local-ack":      {"config-loses-quorum"},
	"skip-apply-on-restart": {"rolling-kill"},
	"ack-before-enqueue":    {"ingest-leader-isolation"},
	"commit-on-fetch":       {"kafka-rebalance-partition"},
	"last-arrival-wins":     {"replication-bidirectional-cut"},
	"two-owners":            {"rebalance-kill-leaders"},
}

// seeds bounds the seeds make test tries for a bug whose scenario catches
// it only now and then; the others get -matrix-seeds.
var bugSeeds = map[string]int{"forget-vote": 10}

func seedsFor(bug string) int { return max(bugSeeds[bug], *matrixSeeds) }

// catch runs a scenario with a bug on seeds 1..n and returns the first
// seed on which an expected checker found the run invalid, and that
// checker; 0 if none did.
func catch(t *testing.T, scenario, bug string, n int) (uint64, string) {
	t.Helper()
	s, err := Load(scenario)
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		o, err := runner.Run(s, runner.Options{Seed: seed, Bugs: []string{bug}})
		if err != nil {
			t.Fatalf("%s --bug %s --seed %d: %v", scenario, bug, seed, err)
		}
		for _, r := range o.Results.Checkers {
			// A scenario of several clusters names a check per cluster:
			// raft-safety[dc1].
			name, _, _ := strings.Cut(r.Checker, "[")
			if r.Verdict == checker.Invalid && slices.Contains(catchers[bug], name) {
				return seed, r.Checker
			}
		}
	}
	return 0, ""
}

// TestEveryBugIsCaught: every planted bug is caught by a scenario of the
// library, by a checker that should catch it.
func TestEveryBugIsCaught(t *testing.T) {
	if len(catchers) != len(bugs.Names()) {
		t.Fatalf("catchers covers %d bugs, the build has %d: %v", len(catchers), len(bugs.Names()), bugs.Names())
	}
	for _, bug := range bugs.Names() {
		t.Run(bug, func(t *testing.T) {
			for _, name := range hints[bug] {
				if seed, by := catch(t, name, bug, seedsFor(bug)); seed != 0 {
					t.Logf("%s caught by %s on seed %d (%s)", bug, name, seed, by)
					return
				}
			}
			t.Fatalf("no scenario of %v caught %s on seeds 1..%d with %v", hints[bug], bug, seedsFor(bug), catchers[bug])
		})
	}
}

// TestBugMatrix (with -matrix) runs every bug against every scenario and
// keeps the table in scenarios/README.md.
func TestBugMatrix(t *testing.T) {
	if !*fullMatrix {
		t.Skip("the full bug matrix runs with -matrix (make test-long)")
	}
	// A scenario written to be invalid says nothing of a bug.
	var names []string
	for _, name := range Names() {
		if s, err := Load(name); err != nil {
			t.Fatal(err)
		} else if s.Expect == "valid" {
			names = append(names, name)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "| bug | caught by | %s |\n", strings.Join(names, " | "))
	fmt.Fprintf(&b, "|---|---|%s\n", strings.Repeat("---|", len(names)))
	for _, bug := range bugs.Names() {
		row := make([]string, len(names))
		caught := false
		for i, name := range names {
			seed, by := catch(t, name, bug, seedsFor(bug))
			row[i] = "·"
			if seed != 0 {
				row[i] = fmt.Sprintf("%s (seed %d)", by, seed)
				caught = true
			}
		}
		if !caught {
			t.Errorf("no scenario caught %s on seeds 1..%d", bug, *matrixSeeds)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", bug, strings.Join(catchers[bug], ", "), strings.Join(row, " | "))
	}
	table := b.String()
	t.Logf("bug matrix, seeds 1..%d:\n%s", *matrixSeeds, table)
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(readme, []byte(matrixBegin)), bytes.Index(readme, []byte(matrixEnd))
	if i < 0 || j < i {
		t.Fatalf("%s has no bug matrix markers", readmePath)
	}
	section := fmt.Sprintf("%s\n%s%s", matrixBegin, table, matrixEnd)
	got := string(readme[i : j+len(matrixEnd)])
	if got == section {
		return
	}
	if *updateMatrix {
		out := append(append(slices.Clone(readme[:i]), section...), readme[j+len(matrixEnd):]...)
		if err := os.WriteFile(readmePath, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the bug matrix in %s is out of date; rerun with -matrix -update-matrix", readmePath)
}
