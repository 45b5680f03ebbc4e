//go:build shoalbugs

package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/scenarios/rundir"
)

// huntCase is a hunt for one planted bug: where it starts (a built-in
// scenario or a file whose cluster and workloads it keeps, or nothing:
// everything drawn), its seed, and how many schedules it may try. Bugs
// that any schedule catches hunt from nothing; the others start from a
// scenario of the shape that catches them (scenarios/README.md, the bug
// matrix): forget-vote needs a restart storm on a go-between, which a
// hunt from nothing draws too rarely, so it starts from
// scenarios/hunt/testdata/forget-vote-storm.yaml, a cheaper cut of the
// built-in restart-storm; ack-before-enqueue from
// scenarios/hunt/testdata/ingest-lite.yaml, a cheaper cut of the ingest
// scenarios; commit-on-fetch from scenarios/hunt/testdata/kafka-lite.yaml,
// which has the Kafka workload it needs; last-arrival-wins from
// scenarios/hunt/testdata/replication-lite.yaml, two clusters writing the
// same objects and replicating to each other.
type huntCase struct {
	bug, base string
	seed      uint64
	runs      int
}

var huntCases = []huntCase{
	{bug: "ack-before-commit", seed: 1, runs: 100},
	{bug: "stale-local-read", seed: 1, runs: 100},
	{bug: "skip-sync", base: "disk-errors", seed: 1, runs: 100},
	{bug: "forget-dedup", base: "lossy-network", seed: 1, runs: 100},
	{bug: "lease-read-under-skew", base: "pause-leader", seed: 1, runs: 100},
	{bug: "forget-vote", base: "../../../scenarios/hunt/testdata/forget-vote-storm.yaml", seed: 4, runs: 400},
	{bug: "config-local-ack", base: "config-loses-quorum", seed: 1, runs: 100},
	{bug: "skip-apply-on-restart", base: "restart-storm", seed: 1, runs: 100},
	{bug: "ack-before-enqueue", base: "../../../scenarios/hunt/testdata/ingest-lite.yaml", seed: 1, runs: 100},
	{bug: "commit-on-fetch", base: "../../../scenarios/hunt/testdata/kafka-lite.yaml", seed: 1, runs: 100},
	{bug: "last-arrival-wins", base: "../../../scenarios/hunt/testdata/replication-lite.yaml", seed: 1, runs: 100},
	{bug: "two-owners", base: "rebalance-kill-leaders", seed: 1, runs: 100},
}

func (c huntCase) args(out string) []string {
	args := []string{"sim", "hunt", "--seed", strconv.FormatUint(c.seed, 10), "--budget", "0", "--runs", strconv.Itoa(c.runs), "--bug", c.bug, "--out", out}
	if c.base != "" {
		args = append(args, "--scenario-base", c.base)
	}
	return args
}

var verdictLine = regexp.MustCompile(`(?m)^  (\S+) +invalid `)

// TestHuntCatchesEveryBug: for every planted bug, shoal sim hunt finds a
// failing schedule within a budget counted in schedules, shrinks it to at
// most three fault steps, and writes a scenario file that shoal sim run
// reproduces: the same check invalid, the same trace as the hunt's own
// run of it. Each hunt and each run is a child process, two at a time.
func TestHuntCatchesEveryBug(t *testing.T) {
	var names []string
	for _, c := range huntCases {
		names = append(names, c.bug)
	}
	if !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(bugs.Names()))) {
		t.Fatalf("the hunts cover %v, the build has %v", names, bugs.Names())
	}
	for _, c := range huntCases {
		t.Run(c.bug, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "hunt")
			code, out := shoalProcess(t, "1", c.args(dir)...)
			if code != exitInvalid {
				t.Fatalf("shoal %s: exit %d, want 1 (found)\n%s", strings.Join(c.args(dir), " "), code, out)
			}
			var sum huntSummary
			if err := rundir.ReadJSON(dir, huntSummaryFile, &sum); err != nil {
				t.Fatal(err)
			}
			f := sum.Found
			if f == nil || f.StepsMinimal > 3 {
				t.Fatalf("want a failure shrunk to at most 3 fault steps: %+v\n%s", f, out)
			}
			t.Logf("%s: schedule %d failed %s; shrunk from %d fault steps (%d faults) to %d (%d faults) in %d runs (%d ms)",
				c.bug, f.Schedule, f.Check, f.StepsDrawn, f.FaultsDrawn, f.StepsMinimal, f.FaultsMinimal, f.ShrinkRuns, f.ShrinkMS)
			if !strings.Contains(out, "tried "+strconv.Itoa(sum.Tried)+" schedules") || !strings.Contains(out, "minimal scenario: "+f.Minimal) {
				t.Errorf("the output should say how many schedules it tried and name the minimal scenario:\n%s", out)
			}
			minimal, _ := os.ReadFile(f.Minimal)
			t.Logf("%s:\n%s", f.Minimal, minimal)

			// shoal sim run reproduces it.
			again := filepath.Join(t.TempDir(), "run")
			args := []string{"sim", "run", f.Minimal, "--seed", strconv.FormatUint(f.Seed, 10), "--bug", c.bug, "--out", again}
			if want := "shoal " + strings.Join(args[:len(args)-2], " "); want != f.Reproduce {
				t.Errorf("reproduce: %q, want %q", f.Reproduce, want)
			}
			code, out = shoalProcess(t, "2", args...)
			if code != exitInvalid || !slices.ContainsFunc(verdictLine.FindAllStringSubmatch(out, -1), func(m []string) bool { return m[1] == f.Check }) {
				t.Fatalf("%s: exit %d, want 1 with %s invalid\n%s", f.Reproduce, code, f.Check, out)
			}
			var hunted, rerun rundir.Meta
			if err := rundir.ReadJSON(f.RunDir, rundir.MetaFile, &hunted); err != nil {
				t.Fatal(err)
			}
			if err := rundir.ReadJSON(again, rundir.MetaFile, &rerun); err != nil {
				t.Fatal(err)
			}
			if hunted.TraceSHA256 != rerun.TraceSHA256 {
				t.Errorf("sim run's trace %s differs from the hunt's run of the same scenario %s", rerun.TraceSHA256, hunted.TraceSHA256)
			}
		})
	}
}

// TestHuntIsDeterministic: the same hunt, in processes with different
// GOMAXPROCS, writes the same scenario files byte for byte and reports the
// same schedule, seed and shrink.
func TestHuntIsDeterministic(t *testing.T) {
	for _, c := range []huntCase{huntCases[0], huntCases[5]} {
		t.Run(c.bug, func(t *testing.T) {
			var files [2][2][]byte
			var found [2]huntFinding
			for i, procs := range []string{"1", "2"} {
				dir := filepath.Join(t.TempDir(), "hunt")
				if code, out := shoalProcess(t, procs, c.args(dir)...); code != exitInvalid {
					t.Fatalf("GOMAXPROCS=%s: exit %d\n%s", procs, code, out)
				}
				for j, name := range []string{huntMinimalFile, huntDrawnFile} {
					b, err := os.ReadFile(filepath.Join(dir, name))
					if err != nil {
						t.Fatal(err)
					}
					files[i][j] = b
				}
				var sum huntSummary
				if err := rundir.ReadJSON(dir, huntSummaryFile, &sum); err != nil {
					t.Fatal(err)
				}
				found[i] = *sum.Found
			}
			if !bytes.Equal(files[0][0], files[1][0]) || !bytes.Equal(files[0][1], files[1][1]) {
				t.Errorf("two hunts with the same seed and flags wrote different scenarios:\n%s\n---\n%s", files[0][0], files[1][0])
			}
			same := func(f huntFinding) string {
				return fmt.Sprint(f.Schedule, f.Seed, f.Check, f.MinimalExplanation, f.StepsDrawn, f.StepsMinimal, f.FaultsDrawn, f.FaultsMinimal, f.ShrinkRuns)
			}
			if same(found[0]) != same(found[1]) {
				t.Errorf("two hunts with the same seed and flags found %+v and %+v", found[0], found[1])
			}
		})
	}
}
