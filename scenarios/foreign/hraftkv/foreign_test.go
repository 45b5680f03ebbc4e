package hraftkv_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/foreign"
	"github.com/shoaldb/shoal/scenarios/foreign/hraftkv"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

var (
	foreignRun       = flag.Bool("foreign", false, "TestForeign: run scenarios against hraftkv (make foreign)")
	foreignOut       = flag.String("foreign.out", "", "TestForeign: the directory the run directories go in (default: a temporary one, removed after)")
	foreignScenarios = flag.String("foreign.scenarios", "", "TestForeign: comma-separated built-in scenarios (default: every one with a partition that hraftkv can run)")
	foreignSeed      = flag.Uint64("foreign.seed", 1, "TestForeign: the seed each scenario runs on, twice")
	foreignCommit    = flag.String("foreign.commit", "", "the commit the harness is built from, for each run's meta.json (make foreign passes git rev-parse HEAD)")
)

// partitionScenarios lists the built-in scenarios that partition the
// cluster and that hraftkv can run (foreign.Adapt).
func partitionScenarios(t *testing.T) []string {
	var out []string
	for _, name := range library.Names() {
		s, err := library.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		partitions := slices.ContainsFunc(s.Nemesis, func(st nemesis.Step) bool {
			if st.Fault != nil {
				return st.Fault.Kind == nemesis.Partition
			}
			return slices.ContainsFunc(st.Pick, func(f nemesis.Fault) bool { return f.Kind == nemesis.Partition })
		})
		if _, _, err := foreign.Adapt(s, hraftkv.Target()); partitions && err == nil {
			out = append(out, name)
		}
	}
	return out
}

// TestForeign is `make foreign`: it runs built-in scenarios against
// hraftkv, each on one seed twice, writes each run's directory and
// prints it with its verdicts, its speed and its leaders, whether the
// two runs of the seed elected the same leaders, and a summary. It fails
// on any verdict but the one the scenario expects (a finding about
// hashicorp/raft, or about this harness), except unknown where valid is
// expected when the faults check alone said unknown: a fault hraftkv
// cannot take, which is reported.
func TestForeign(t *testing.T) {
	if !*foreignRun {
		t.Skip("runs with -foreign (make foreign)")
	}
	names := partitionScenarios(t)
	if *foreignScenarios != "" {
		names = strings.Split(*foreignScenarios, ",")
	}
	out := *foreignOut
	if out == "" {
		out = t.TempDir()
	}
	var summary []string
	var agreed agreements
	for _, name := range names {
		s, err := library.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		_, unapplied, err := foreign.Adapt(s, hraftkv.Target())
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		var runs []*foreign.Outcome
		for i := range 2 {
			dir := freeDir(filepath.Join(out, fmt.Sprintf("%s-seed-%d-run-%d", name, *foreignSeed, i+1)))
			o := runScenario(t, s, hraftkv.Target(), *foreignSeed, dir)
			o.Records = nil // a run's trace is large; its leaders are what is compared
			runs = append(runs, o)
			want := checker.Verdict(s.Expect)
			as, ok := expected(want, o.Results)
			var b strings.Builder
			fmt.Fprintf(&b, "%s seed %d, run %d: %s (%s)\n", name, *foreignSeed, i+1, describe(o), as)
			for _, c := range o.Results.Checkers {
				fmt.Fprintf(&b, "    %-13s %-8s %s\n", c.Checker, c.Verdict, c.Explanation)
			}
			if i == 0 {
				for _, u := range unapplied {
					fmt.Fprintf(&b, "    not as the scenario says: %s\n", u)
				}
			}
			fmt.Fprintf(&b, "    run directory: %s\n    report: %s", dir, filepath.Join(dir, rundir.ReportFile))
			t.Log(b.String())
			if !ok {
				t.Errorf("%s seed %d, run %d is %s, %s: see %s", name, *foreignSeed, i+1, o.Results.Verdict, as, filepath.Join(dir, rundir.ReportFile))
			}
			summary = append(summary, fmt.Sprintf("%-26s run %d  %-8s %5.0f×  %8s virtual  %7s wall  %d elections",
				name, i+1, o.Results.Verdict, o.Speed(), o.Virtual.Round(time.Millisecond), o.Wall.Round(time.Millisecond), len(o.Leaders)))
		}
		t.Logf("%s seed %d, 2 runs: %s", name, *foreignSeed, agreed.add(runs[0].Leaders, runs[1].Leaders))
	}
	t.Logf("summary (hashicorp/raft %s under testing/synctest, GOMAXPROCS %d):\n%s\n%s\nrun directories: %s",
		hraftkv.RaftVersion, runtime.GOMAXPROCS(0), strings.Join(summary, "\n"), agreed, out)
}

// expected says whether a run's results are what its scenario expects,
// want: its verdict is want, or want is valid and the run is unknown only
// because the faults check is (a fault hraftkv cannot take was traced as
// taking no effect), every other check valid or n/a.
func expected(want checker.Verdict, r rundir.Results) (string, bool) {
	if r.Verdict == want {
		return "as expected", true
	}
	var unknown []string
	for _, c := range r.Checkers {
		if c.Verdict == checker.Unknown {
			unknown = append(unknown, c.Checker)
		}
	}
	if want == checker.Valid && r.Verdict == checker.Unknown && slices.Equal(unknown, []string{scenario.CheckFaults}) {
		return "expected valid; unknown only because a fault was not applied", true
	}
	if len(unknown) > 0 {
		return fmt.Sprintf("expected %s (unknown: %s)", want, strings.Join(unknown, ", ")), false
	}
	return fmt.Sprintf("expected %s", want), false
}

// freeDir returns dir, or dir-2, dir-3, ... whichever does not exist
// yet: a run never overwrites another.
func freeDir(dir string) string {
	for i := 1; ; i++ {
		d := dir
		if i > 1 {
			d = fmt.Sprintf("%s-%d", dir, i)
		}
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			return d
		}
	}
}
