package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoaldb/shoal/scenarios/hunt"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// The files a hunt writes into its directory.
const (
	huntMinimalFile = "minimal.yaml" // the shrunk schedule, which sim run reproduces
	huntDrawnFile   = "found.yaml"   // the failing schedule as drawn
	huntSummaryFile = "hunt.json"
	huntRunDir      = "run" // the run directory of the minimal schedule
)

// huntSummary is hunt.json.
type huntSummary struct {
	Command      string       `json:"command"`
	ShoalVersion string       `json:"shoal_version"`
	Commit       string       `json:"commit"`
	Seed         uint64       `json:"seed"`
	Base         string       `json:"base,omitempty"`
	Bugs         []string     `json:"bugs,omitempty"`
	BudgetMS     int64        `json:"budget_ms"`
	Runs         int          `json:"runs"`
	ShrinkBudget int          `json:"shrink_runs"`
	Tried        int          `json:"tried"`
	SearchMS     int64        `json:"search_ms"`
	Found        *huntFinding `json:"found,omitempty"`
	ExitCode     int          `json:"exit_code"`
}

type huntFinding struct {
	Schedule           int    `json:"schedule"`
	Seed               uint64 `json:"seed"`
	Check              string `json:"check"`
	Explanation        string `json:"explanation"`
	MinimalExplanation string `json:"minimal_explanation"`
	StepsDrawn         int    `json:"steps_drawn"`
	StepsMinimal       int    `json:"steps_minimal"`
	FaultsDrawn        int    `json:"faults_drawn"`
	FaultsMinimal      int    `json:"faults_minimal"`
	ShrinkRuns         int    `json:"shrink_runs"`
	ShrinkMS           int64  `json:"shrink_ms"`
	Minimal            string `json:"minimal"`
	Drawn              string `json:"drawn"`
	RunDir             string `json:"run_dir"`
	Reproduce          string `json:"reproduce"`
}

func runSimHunt(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal sim hunt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shoal sim hunt [--seed N] [--budget 10m] [--runs N] [--shrink-runs N] [--scenario-base FILE|NAME] [--bug NAME]... [--out DIR]\n\n"+
			"Runs randomly drawn fault schedules until one fails or the budget is spent, shrinks the failure to\n"+
			"its essential faults and writes it as a scenario file that shoal sim run reproduces.\n"+
			"Exit 1 when it found (and wrote) a failure, 0 when the budget ran out without one.\n\n")
		fs.PrintDefaults()
	}
	seed := fs.Uint64("seed", 1, "the hunt's seed: the same seed and flags draw the same schedules and give the same minimal scenario")
	budget := fs.Duration("budget", 10*time.Minute, "wall time to spend looking for a failure (0: no limit); shrinking is bounded by --shrink-runs instead")
	runs := fs.Int("runs", 0, "schedules to try at most (0: no limit)")
	shrinkRuns := fs.Int("shrink-runs", hunt.DefaultShrinkRuns, "runs the shrinker may spend on a failure")
	baseArg := fs.String("scenario-base", "", "a scenario file or built-in name whose cluster, network, workloads and duration every schedule keeps; its steps seed the drawn schedules")
	out := fs.String("out", "", "directory to write (default runs/hunt-seed-N)")
	var bugNames listFlag
	fs.Var(&bugNames, "bug", "switch a planted bug on (repeatable; needs a build with -tags shoalbugs)")
	_, done, code, err := parseArgs(fs, args, 0, "no positional arguments")
	if done {
		return code, err
	}
	if *budget < 0 {
		return exitUsage, usagef("--budget %s: want a duration of 0 or more", *budget)
	}
	if *runs < 0 {
		return exitUsage, usagef("--runs %d: want 0 (no limit) or more", *runs)
	}
	if *shrinkRuns < 1 {
		return exitUsage, usagef("--shrink-runs %d: want 1 or more", *shrinkRuns)
	}
	if *budget == 0 && *runs == 0 {
		return exitUsage, usagef("--budget 0 needs --runs: a hunt needs a bound")
	}
	var base *scenario.Scenario
	if *baseArg != "" {
		if base, err = loadScenario(*baseArg); err != nil {
			return exitUsage, err
		}
	}
	for _, b := range bugNames {
		if err := checkBug(b); err != nil {
			return exitUsage, err
		}
	}
	dir, err := huntDir(*out, *seed)
	if err != nil {
		return exitUsage, err
	}
	command := fmt.Sprintf("shoal sim hunt --seed %d --budget %s --runs %d --shrink-runs %d", *seed, *budget, *runs, *shrinkRuns)
	if *baseArg != "" {
		command += " --scenario-base " + *baseArg
	}
	for _, b := range bugNames {
		command += " --bug " + b
	}

	what := "topologies, workloads and fault schedules"
	if base != nil {
		what = "fault schedules for the cluster and workloads of " + base.Name
	}
	bounds := []string{}
	if *budget > 0 {
		bounds = append(bounds, budget.String())
	}
	if *runs > 0 {
		bounds = append(bounds, fmt.Sprintf("%d schedules", *runs))
	}
	fmt.Fprintf(stdout, "hunt seed %d: %s", *seed, what)
	if len(bugNames) > 0 {
		fmt.Fprintf(stdout, ", planted bugs %s", strings.Join(bugNames, ", "))
	}
	fmt.Fprintf(stdout, "; at most %s, then at most %d runs to shrink; into %s\n", strings.Join(bounds, " or "), *shrinkRuns, dir)

	cfg := hunt.Config{Seed: *seed, Base: base, Bugs: bugNames, Runs: *runs, ShrinkRuns: *shrinkRuns}
	start := time.Now()
	if *budget > 0 {
		cfg.Stop = func() bool { return time.Since(start) >= *budget }
	}
	var line *statusLine
	if width, ok := terminal(stdout); ok {
		line = newStatusLine(stdout, width)
		cfg.Tried = func(n int) {
			line.setSoon(fmt.Sprintf("[%d schedules] no failure yet, %s elapsed", n, time.Since(start).Round(time.Second)))
		}
		cfg.Shrunk = func(n int) {
			line.setSoon(fmt.Sprintf("shrinking: %d of at most %d runs, %s elapsed", n, *shrinkRuns, time.Since(start).Round(time.Second)))
		}
	}
	res, err := hunt.Hunt(cfg)
	if line != nil {
		line.clear()
	}
	if err != nil {
		return exitInternal, err
	}
	sum := huntSummary{
		Command: command, ShoalVersion: version, Commit: commit(), Seed: *seed, Base: *baseArg, Bugs: bugNames,
		BudgetMS: budget.Milliseconds(), Runs: *runs, ShrinkBudget: *shrinkRuns, Tried: res.Tried, SearchMS: res.Search.Milliseconds(),
	}
	f := res.Finding
	if f == nil {
		fmt.Fprintf(stdout, "tried %d schedules in %s: no failure\n", res.Tried, roundWall(res.Search))
		sum.ExitCode = exitValid
		if err := rundir.WriteJSON(dir, huntSummaryFile, sum); err != nil {
			return exitInternal, err
		}
		fmt.Fprintf(stdout, "summary: %s\n", filepath.Join(dir, huntSummaryFile))
		return exitValid, nil
	}
	minimal, drawn := filepath.Join(dir, huntMinimalFile), filepath.Join(dir, huntDrawnFile)
	if err := os.WriteFile(drawn, scenario.Marshal(f.Drawn), 0o644); err != nil {
		return exitInternal, err
	}
	if err := os.WriteFile(minimal, scenario.Marshal(f.Minimal), 0o644); err != nil {
		return exitInternal, err
	}
	reproduce := hunt.Command(minimal, f.Seed, bugNames)
	fmt.Fprintf(stdout, "tried %d schedules in %s: schedule %d failed %s on seed %d: %s\n",
		res.Tried, roundWall(res.Search), f.Schedule, f.Check, f.Seed, truncate(f.Explanation, 300))
	fmt.Fprintf(stdout, "shrunk from %d fault steps (%d faults) to %d (%d faults) in %d runs (%s): %s\n",
		len(f.Drawn.Nemesis), hunt.Faults(f.Drawn), len(f.Minimal.Nemesis), hunt.Faults(f.Minimal), f.ShrinkRuns, roundWall(f.Shrink), truncate(f.MinimalExplanation, 300))

	// The minimal schedule's own run directory, with its report.
	runDir := filepath.Join(dir, huntRunDir)
	if err := rundir.Create(runDir); err != nil {
		return exitInternal, err
	}
	o, err := runner.Run(f.Minimal, runner.Options{Seed: f.Seed, Bugs: bugNames, Dir: runDir, Command: reproduce, Version: version, Commit: commit()})
	if err != nil {
		return exitInternal, err
	}
	if check, _ := hunt.Judge(f.Minimal, o, false); check != f.Check {
		return exitInternal, fmt.Errorf("the minimal scenario failed %q in the hunt but %q when run again: the runs are not deterministic", f.Check, check)
	}
	sum.Found = &huntFinding{
		Schedule: f.Schedule, Seed: f.Seed, Check: f.Check, Explanation: f.Explanation, MinimalExplanation: f.MinimalExplanation,
		StepsDrawn: len(f.Drawn.Nemesis), StepsMinimal: len(f.Minimal.Nemesis),
		FaultsDrawn: hunt.Faults(f.Drawn), FaultsMinimal: hunt.Faults(f.Minimal), ShrinkRuns: f.ShrinkRuns, ShrinkMS: f.Shrink.Milliseconds(),
		Minimal: minimal, Drawn: drawn, RunDir: runDir, Reproduce: reproduce,
	}
	sum.ExitCode = exitInvalid
	if err := rundir.WriteJSON(dir, huntSummaryFile, sum); err != nil {
		return exitInternal, err
	}
	fmt.Fprintf(stdout, "minimal scenario: %s (as drawn: %s)\n", minimal, drawn)
	fmt.Fprintf(stdout, "reproduce: %s\n", reproduce)
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(runDir, rundir.ReportFile))
	return exitInvalid, nil
}

// huntDir returns the directory a hunt writes to, created: --out (which
// must not exist or be empty), or runs/hunt-seed-N (then -2, -3, ... if
// taken).
func huntDir(out string, seed uint64) (string, error) {
	dir := out
	if dir == "" {
		dir = freeDir(filepath.Join("runs", fmt.Sprintf("hunt-seed-%d", seed)))
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return "", usagef("%s already exists and is not empty; choose another --out", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", usageError{err.Error()}
	}
	return dir, nil
}
