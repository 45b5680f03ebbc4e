package cli

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/reports"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// Limits of a sweep.
const (
	maxSweepSeeds = 1_000_000
	maxSweepJobs  = 256
)

// The files a sweep writes into its directory, besides the run
// directories (seed-N) of the seeds that did not pass.
const (
	sweepScenarioFile = "scenario.yaml" // the scenario as run, every default filled in
	sweepSummaryText  = "summary.txt"
	sweepSummaryJSON  = "summary.json"
	sweepIndexFile    = "index.html"
	sweepWorkersLog   = "workers.log" // the workers' stderr; removed when empty
)

// sweepSummary is summary.json.
type sweepSummary struct {
	Scenario     string              `json:"scenario"`
	Expect       string              `json:"expect"`
	Command      string              `json:"command"`
	ShoalVersion string              `json:"shoal_version"`
	Commit       string              `json:"commit"`
	SeedSpec     string              `json:"seed_spec"`
	Bugs         []string            `json:"bugs,omitempty"`
	Jobs         int                 `json:"jobs"`
	WallMS       int64               `json:"wall_ms"`
	SeedsPerHour float64             `json:"seeds_per_hour"`
	Totals       reports.SweepTotals `json:"totals"`
	// Verdict is the sweep's: invalid if any seed is, else unknown if any
	// is (internal errors included), else valid.
	Verdict  checker.Verdict `json:"verdict"`
	ExitCode int             `json:"exit_code"`
	// Seeds holds one entry per seed, in seed order.
	Seeds []seedResult `json:"seeds"`
}

func runSimSweep(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal sim sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shoal sim sweep FILE|NAME --seeds A..B [--jobs N] [--out DIR] [--bug NAME]...\n\n"+
			"Runs a scenario on many seeds, in worker processes, and writes summary.txt, summary.json and index.html;\n"+
			"only the seeds that are not valid keep a run directory.\n\nbuilt-in scenarios: %s\n\n", strings.Join(library.Names(), ", "))
		fs.PrintDefaults()
	}
	seedSpec := fs.String("seeds", "", "the seeds: A..B, a seed, or a comma list of those (1..100,250,300..310)")
	jobs := fs.Int("jobs", runtime.NumCPU(), "how many seeds run at once, each in its own worker process")
	out := fs.String("out", "", "directory to write (default runs/NAME-sweep-A..B, lowest and highest seed)")
	var bugNames listFlag
	fs.Var(&bugNames, "bug", "switch a planted bug on (repeatable; needs a build with -tags shoalbugs)")
	pos, done, code, err := parseArgs(fs, args, 1, "one scenario file or built-in name")
	if done {
		return code, err
	}
	if *seedSpec == "" {
		return exitUsage, usagef("--seeds is required (for example --seeds 1..100)")
	}
	seeds, err := parseSeeds(*seedSpec)
	if err != nil {
		return exitUsage, err
	}
	if *jobs < 1 || *jobs > maxSweepJobs {
		return exitUsage, usagef("--jobs %d: want 1 to %d", *jobs, maxSweepJobs)
	}
	s, err := loadScenario(pos[0])
	if err != nil {
		return exitUsage, err
	}
	for _, b := range bugNames {
		if err := checkBug(b); err != nil {
			return exitUsage, err
		}
	}
	dir, err := sweepDir(*out, s.Name, seeds)
	if err != nil {
		return exitUsage, err
	}
	command := fmt.Sprintf("shoal sim sweep %s --seeds %s --jobs %d", pos[0], *seedSpec, *jobs)
	for _, b := range bugNames {
		command += " --bug " + b
	}
	scenarioFile := filepath.Join(dir, sweepScenarioFile)
	if err := os.WriteFile(scenarioFile, scenario.Marshal(s), 0o644); err != nil {
		return exitInternal, err
	}
	logFile, err := os.Create(filepath.Join(dir, sweepWorkersLog))
	if err != nil {
		return exitInternal, err
	}
	workerLog := &syncWriter{w: logFile}

	jobCount := min(*jobs, len(seeds))
	fmt.Fprintf(stdout, "sweep %s: %d seeds (%s), %d worker processes, into %s\n", s.Name, len(seeds), *seedSpec, jobCount, dir)
	p := newSweepProgress(stdout, len(seeds))
	args = workerArgs(scenarioFile, dir, pos[0], bugNames)
	start := time.Now()
	var results []seedResult
	dispatch(seeds, jobCount, func() (seedWorker, error) {
		w, err := startProcessWorker(args, workerLog)
		if err != nil {
			return nil, err
		}
		return w, nil
	}, func(r seedResult) {
		results = append(results, r)
		p.finished(r)
	})
	wall := time.Since(start)
	p.close()
	logFile.Close()
	removeIfEmptyFile(filepath.Join(dir, sweepWorkersLog))

	slices.SortFunc(results, func(a, b seedResult) int { return cmp.Compare(a.Seed, b.Seed) })
	sum := sweepSummary{
		Scenario: s.Name, Expect: s.Expect, Command: command, ShoalVersion: version, Commit: commit(),
		SeedSpec: *seedSpec, Bugs: bugNames, Jobs: jobCount, WallMS: wall.Milliseconds(),
		SeedsPerHour: perHour(len(results), wall), Seeds: results,
	}
	page := sweepPage(s, sum, dir)
	sum.Totals = page.Totals()
	sum.Verdict = page.Verdict
	sum.ExitCode = sweepExitCode(sum.Totals)
	if err := writeSweep(dir, sum, page); err != nil {
		return exitInternal, err
	}
	t := sum.Totals
	fmt.Fprintf(stdout, "%d seeds in %s (%s seeds per hour): %d valid, %d invalid, %d unknown", t.Seeds, wall.Round(100*time.Millisecond), formatPerHour(sum.SeedsPerHour), t.Valid, t.Invalid, t.Unknown)
	if t.Errors > 0 {
		fmt.Fprintf(stdout, " (%d internal errors)", t.Errors)
	}
	if t.NA > 0 {
		fmt.Fprintf(stdout, ", %d n/a", t.NA)
	}
	fmt.Fprintln(stdout)
	if expected := countVerdict(results, checker.Verdict(s.Expect)); expected != len(results) {
		fmt.Fprintf(stdout, "%d of %d seeds as expected (the scenario expects %s)\n", expected, len(results), s.Expect)
	}
	fmt.Fprintf(stdout, "summary: %s\nindex: %s\n", filepath.Join(dir, sweepSummaryText), filepath.Join(dir, sweepIndexFile))
	return sum.ExitCode, nil
}

// sweepExitCode is a sweep's exit code: 1 if any seed is invalid, else 4
// if any seed failed internally (its worker died, or the run returned an
// error), else 2 if any seed is unknown, else 0. An invalid seed is a
// finding and comes first; an internal error is the harness's failure and
// outranks an unknown verdict, which is the system's.
func sweepExitCode(t reports.SweepTotals) int {
	switch {
	case t.Invalid > 0:
		return exitInvalid
	case t.Errors > 0:
		return exitInternal
	case t.Unknown > 0:
		return exitUnknown
	}
	return exitValid
}

func countVerdict(rs []seedResult, v checker.Verdict) int {
	n := 0
	for _, r := range rs {
		if r.Verdict == v && r.Error == "" {
			n++
		}
	}
	return n
}

func perHour(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Hours()
}

func formatPerHour(f float64) string {
	if f >= 100 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

// parseSeeds reads --seeds: A..B (both included), a seed, or a comma list
// of those, in the order given. A seed given twice is an error.
func parseSeeds(spec string) ([]uint64, error) {
	bad := func(format string, args ...any) error {
		return usagef("--seeds %s: %s (want A..B, a seed, or a comma list of those, such as 1..100,250)", spec, fmt.Sprintf(format, args...))
	}
	var seeds []uint64
	seen := make(map[uint64]bool)
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, bad("an empty item")
		}
		lo, hi, isRange := strings.Cut(part, "..")
		a, err := parseSeed(lo)
		if err != nil {
			return nil, bad("%q is not a seed", lo)
		}
		b := a
		if isRange {
			if b, err = parseSeed(hi); err != nil {
				return nil, bad("%q is not a seed", hi)
			}
			if b < a {
				return nil, bad("the range %s runs backwards", part)
			}
		}
		if b-a >= maxSweepSeeds || len(seeds)+int(b-a)+1 > maxSweepSeeds {
			return nil, bad("more than %d seeds", maxSweepSeeds)
		}
		for s := a; ; s++ {
			if seen[s] {
				return nil, bad("seed %d is given twice", s)
			}
			seen[s] = true
			seeds = append(seeds, s)
			if s == b {
				break
			}
		}
	}
	return seeds, nil
}

func parseSeed(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "+") {
		return 0, errors.New("not a seed")
	}
	return strconv.ParseUint(s, 10, 64)
}

// sweepDir returns the directory a sweep writes to, created: --out (which
// must not exist or be empty), or runs/NAME-sweep-A..B (then -2, -3, ...
// if taken).
func sweepDir(out, name string, seeds []uint64) (string, error) {
	dir := out
	if dir == "" {
		lo, hi := slices.Min(seeds), slices.Max(seeds)
		span := strconv.FormatUint(lo, 10)
		if hi != lo {
			span += ".." + strconv.FormatUint(hi, 10)
		}
		dir = freeDir(filepath.Join("runs", name+"-sweep-"+span))
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return "", usagef("%s already exists and is not empty; choose another --out", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", usageError{err.Error()}
	}
	return dir, nil
}

func removeIfEmptyFile(path string) {
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		os.Remove(path)
	}
}

// sweepPage is what index.html shows.
func sweepPage(s *scenario.Scenario, sum sweepSummary, dir string) reports.Sweep {
	page := reports.Sweep{
		Scenario: s.Name, Description: strings.Join(strings.Fields(s.Description), " "), Expect: s.Expect,
		Command: sum.Command, Version: sum.ShoalVersion, Commit: sum.Commit, Seeds: sum.SeedSpec, Bugs: sum.Bugs,
		Jobs: sum.Jobs, Wall: time.Duration(sum.WallMS) * time.Millisecond, SeedsPerHour: sum.SeedsPerHour,
	}
	var verdicts []checker.Result
	for _, r := range sum.Seeds {
		run := reports.SweepRun{Seed: r.Seed, Verdict: r.Verdict, Wall: time.Duration(r.WallMS) * time.Millisecond,
			Virtual: time.Duration(r.VirtualNS), Error: r.Error}
		if c, ok := r.firstFailing(); ok {
			run.Checker, run.Explanation = c.Checker, c.Explanation
		}
		if r.Dir != "" {
			if _, err := os.Stat(filepath.Join(r.Dir, rundir.ReportFile)); err == nil {
				if rel, err := filepath.Rel(dir, filepath.Join(r.Dir, rundir.ReportFile)); err == nil {
					run.Report = filepath.ToSlash(rel)
				}
			}
		}
		page.Runs = append(page.Runs, run)
		verdicts = append(verdicts, checker.Result{Verdict: r.Verdict})
	}
	page.Verdict = checker.Combine(verdicts)
	return page
}

// writeSweep writes summary.txt, summary.json and index.html.
func writeSweep(dir string, sum sweepSummary, page reports.Sweep) error {
	var txt bytes.Buffer
	writeSummaryText(&txt, sum)
	if err := os.WriteFile(filepath.Join(dir, sweepSummaryText), txt.Bytes(), 0o644); err != nil {
		return err
	}
	if err := rundir.WriteJSON(dir, sweepSummaryJSON, sum); err != nil {
		return err
	}
	var html bytes.Buffer
	if err := reports.SweepIndex(&html, page); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, sweepIndexFile), html.Bytes(), 0o644)
}

// writeSummaryText writes summary.txt: the sweep's totals, then a table of
// the seeds, failing seeds first.
func writeSummaryText(w io.Writer, sum sweepSummary) {
	t := sum.Totals
	fmt.Fprintf(w, "%s\n", sum.Command)
	fmt.Fprintf(w, "scenario %s (expects %s), shoal %s (%s)\n", sum.Scenario, sum.Expect, sum.ShoalVersion, sum.Commit)
	fmt.Fprintf(w, "%d seeds: %d valid, %d invalid, %d unknown (%d internal errors), %d n/a; verdict %s, exit %d\n",
		t.Seeds, t.Valid, t.Invalid, t.Unknown, t.Errors, t.NA, sum.Verdict, sum.ExitCode)
	fmt.Fprintf(w, "wall time %s with %d workers: %s seeds per hour\n\n",
		(time.Duration(sum.WallMS) * time.Millisecond).Round(100*time.Millisecond), sum.Jobs, formatPerHour(sum.SeedsPerHour))
	rows := slices.Clone(sum.Seeds)
	slices.SortStableFunc(rows, func(a, b seedResult) int { return failRank(a) - failRank(b) })
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "seed\tverdict\twall\tfirst failing checker\trun directory")
	for _, r := range rows {
		failing := ""
		if r.Error != "" {
			failing = "internal error: " + strings.ReplaceAll(r.Error, "\n", " ")
		} else if c, ok := r.firstFailing(); ok {
			failing = c.Checker
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Seed, r.Verdict, roundWall(time.Duration(r.WallMS)*time.Millisecond), failing, r.Dir)
	}
	tw.Flush()
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
}

// failRank orders seeds invalid first, then unknown (internal errors
// among them), then the rest.
func failRank(r seedResult) int {
	switch {
	case r.Verdict == checker.Invalid:
		return 0
	case !r.passed():
		return 1
	}
	return 2
}

// sweepProgress reports a sweep's progress: on a terminal, a status line
// (done/total, failing, ETA) with the failing seeds printed above it;
// otherwise one line per finished seed.
type sweepProgress struct {
	w       io.Writer
	line    *statusLine // nil when w is no terminal
	total   int
	done    int
	failing int
	start   time.Time
}

func newSweepProgress(w io.Writer, total int) *sweepProgress {
	p := &sweepProgress{w: w, total: total, start: time.Now()}
	if width, ok := terminal(w); ok {
		p.line = newStatusLine(w, width)
		p.line.set(fmt.Sprintf("[0/%d] starting", total))
	}
	return p
}

func (p *sweepProgress) finished(r seedResult) {
	p.done++
	if !r.passed() {
		p.failing++
	}
	text := describeSeed(r)
	if p.line == nil {
		fmt.Fprintln(p.w, text)
		return
	}
	if !r.passed() {
		p.line.println(text)
	}
	elapsed := time.Since(p.start)
	eta := time.Duration(float64(elapsed) / float64(p.done) * float64(p.total-p.done))
	p.line.set(fmt.Sprintf("[%d/%d] %d failing, %s elapsed, ETA %s", p.done, p.total, p.failing,
		elapsed.Round(time.Second), eta.Round(time.Second)))
}

func (p *sweepProgress) close() {
	if p.line != nil {
		p.line.clear()
	}
}

// describeSeed is a finished seed's line: "seed 17: valid (1.2s)", and for
// a seed that did not pass its first failing checker and run directory.
func describeSeed(r seedResult) string {
	s := fmt.Sprintf("seed %d: %s (%s)", r.Seed, r.Verdict, roundWall(time.Duration(r.WallMS)*time.Millisecond))
	if r.Error != "" {
		s += " internal error: " + strings.ReplaceAll(r.Error, "\n", " ")
	} else if c, ok := r.firstFailing(); ok {
		s += " " + c.Checker + ": " + truncate(c.Explanation, 100)
	}
	if r.Dir != "" {
		s += "; " + r.Dir
	}
	return s
}

// roundWall rounds a wall time for a person: 1.2s, 850ms, 2m3s.
func roundWall(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
