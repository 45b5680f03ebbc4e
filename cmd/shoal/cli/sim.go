package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseInterleaved parses flags that may come before or after the
// positional arguments (`shoal sim run NAME --seed 1`), and returns the
// positional ones. done is set when the command should return at once
// with code and err: after -h, or on a flag error.
func parseInterleaved(fs *flag.FlagSet, args []string) (pos []string, done bool, code int, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, exitValid, nil
			}
			return nil, true, exitUsage, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, false, 0, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseArgs parses a command's flags and exactly n positional arguments,
// which what describes for the error ("one run directory").
func parseArgs(fs *flag.FlagSet, args []string, n int, what string) (pos []string, done bool, code int, err error) {
	pos, done, code, err = parseInterleaved(fs, args)
	if done {
		return nil, done, code, err
	}
	if len(pos) != n {
		fs.Usage()
		return nil, true, exitUsage, usagef("want %s, got %d arguments", what, len(pos))
	}
	return pos, false, 0, nil
}

// loadScenario reads a scenario file, or a built-in scenario by name.
func loadScenario(arg string) (*scenario.Scenario, error) {
	data, err := os.ReadFile(arg)
	if err == nil {
		s, err := scenario.Parse(arg, data)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) || strings.Contains(arg, "/") || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		return nil, usageError{err.Error()}
	}
	if _, err := library.Source(arg); err != nil {
		return nil, usagef("%q is neither a scenario file nor a built-in scenario (built in: %s)", arg, strings.Join(library.Names(), ", "))
	}
	s, err := library.Load(arg)
	if err != nil {
		return nil, err // a built-in scenario that does not parse is our bug: exit 4
	}
	return s, nil
}

func runSimRun(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal sim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shoal sim run FILE|NAME [--seed N] [--out DIR] [--bug NAME]...\n\nbuilt-in scenarios (shoal sim list describes them): %s\n\n", strings.Join(library.Names(), ", "))
		fs.PrintDefaults()
	}
	seed := fs.Uint64("seed", 1, "the run's seed")
	out := fs.String("out", "", "run directory to create (default runs/NAME-seed-N)")
	var bugNames listFlag
	fs.Var(&bugNames, "bug", "switch a planted bug on (repeatable; needs a build with -tags shoalbugs)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	pos, done, code, err := parseArgs(fs, args, 1, "one scenario file or built-in name")
	if done {
		return code, err
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
	dir, err := runDir(*out, s.Name, *seed)
	if err != nil {
		return exitUsage, err
	}
	command := fmt.Sprintf("shoal sim run %s --seed %d", pos[0], *seed)
	for _, b := range bugNames {
		command += " --bug " + b
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return exitUsage, usageError{err.Error()}
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return exitInternal, err
		}
		defer pprof.StopCPUProfile()
	}
	opts := runner.Options{Seed: *seed, Bugs: bugNames, Dir: dir, Command: command, Version: version, Commit: commit()}
	clearProgress := func() {}
	if width, ok := terminal(stdout); ok {
		// A status line with the virtual time reached, once the run has
		// taken longer than 2s.
		opts.Progress, clearProgress = runProgress(newStatusLine(stdout, width), s.Name, 2*time.Second)
	}
	o, err := runner.Run(s, opts)
	clearProgress()
	if err != nil {
		return exitInternal, err
	}
	printOutcome(stdout, s, o)
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, rundir.ReportFile))
	return o.Results.Verdict.ExitCode(), nil
}

// checkBug refuses a bug name this build does not have, before a run
// directory is made for nothing.
func checkBug(name string) error {
	if _, err := bugs.Parse(name); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// printOutcome prints what a run did and its verdict.
func printOutcome(w io.Writer, s *scenario.Scenario, o *runner.Outcome) {
	virtual := time.Duration(o.Meta.VirtualNanos)
	clients := 0
	for _, wl := range s.Workloads {
		clients += wl.Clients
	}
	instances := fmt.Sprintf("%d instances", s.Cluster.Instances)
	if len(s.Clusters) > 0 {
		var each []string
		for _, c := range s.Clusters {
			each = append(each, fmt.Sprintf("%s %d", c.Name, c.Instances))
		}
		instances = fmt.Sprintf("%d clusters (%s instances)", len(s.Clusters), strings.Join(each, ", "))
	}
	fmt.Fprintf(w, "%s, seed %d: %s, %d clients; %s of virtual time in %s (%d events, %d trace lines)\n",
		s.Name, o.Meta.Seed, instances, clients, virtual, o.Simulate.Round(time.Millisecond), o.Delivered, o.Meta.TraceEvents)
	printJudged(w, s, o.Meta, o.Records, o.Results)
	fmt.Fprintf(w, "wall time: simulate %s, check %s, write %s\n",
		o.Simulate.Round(time.Millisecond), o.Check.Round(time.Millisecond), o.Write.Round(time.Millisecond))
	fmt.Fprintf(w, "trace sha256: %s\n", o.Meta.TraceSHA256)
}

// printJudged prints what a run (simulated or live) did and how it was
// judged: its planted bugs, its faults, each checker and the verdict.
func printJudged(w io.Writer, s *scenario.Scenario, meta rundir.Meta, records []env.Record, results rundir.Results) {
	if len(meta.Bugs) > 0 {
		fmt.Fprintf(w, "  planted bugs: %s\n", strings.Join(meta.Bugs, ", "))
	}
	const maxSteps = 12
	shown, more := 0, 0
	for i := range records {
		r := &records[i]
		if r.Kind != "nemesis.start" {
			continue
		}
		if shown == maxSteps {
			more++
			continue
		}
		shown++
		fmt.Fprintf(w, "  fault %s\n", describeStart(r))
	}
	if more > 0 {
		fmt.Fprintf(w, "  ... and %d more faults\n", more)
	}
	for _, c := range results.Checkers {
		fmt.Fprintf(w, "  %-13s %-8s %s\n", c.Checker, c.Verdict, c.Explanation)
	}
	expected := "as expected"
	if string(results.Verdict) != s.Expect {
		expected = "NOT as expected: the scenario expects " + s.Expect
	}
	fmt.Fprintf(w, "verdict: %s (%s)\n", results.Verdict, expected)
}

// describeStart renders a nemesis.start event: "at 5s: partition n3|n1,n2,n4,n5".
func describeStart(r *env.Record) string {
	fault, _ := r.Str("fault")
	what, _ := r.Str("what")
	group, _ := r.Str("group")
	targets, _ := r.Str("targets")
	why, _ := r.Str("why")
	s := fmt.Sprintf("at %s: %s", time.Duration(r.Time), fault)
	if group != "" {
		s += " (" + group + ")"
	}
	if what != "" {
		s += " " + what
	} else if targets != "" {
		s += " " + targets
	}
	if why != "" {
		s += " — no effect: " + why
	}
	return s
}

func runSimReplay(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal sim replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shoal sim replay DIR\n\nRe-runs a run directory from its scenario.yaml and seed and compares the trace's SHA-256 with meta.json's.")
		fs.PrintDefaults()
	}
	pos, done, code, err := parseArgs(fs, args, 1, "one run directory")
	if done {
		return code, err
	}
	dir := pos[0]
	s, meta, err := readRun(dir)
	if err != nil {
		return exitUsage, err
	}
	if meta.Live != nil {
		return exitUsage, usagef("%s is a live run of real processes: it cannot be replayed, only checked again (shoal check %s)", dir, dir)
	}
	if meta.Foreign != "" {
		return exitUsage, usagef("%s is a run of %s, which shoal did not write: its seed does not replay it, and it can only be checked again (shoal check %s)", dir, meta.Foreign, dir)
	}
	if meta.Commit != commit() || meta.ShoalVersion != version {
		fmt.Fprintf(stderr, "shoal sim replay: note: recorded by shoal %s (%s), replaying with %s (%s); a difference may come from the change\n",
			meta.ShoalVersion, meta.Commit, version, commit())
	}
	o, err := runner.Run(s, runner.Options{Seed: meta.Seed, Bugs: meta.Bugs, Version: version, Commit: commit()})
	if err != nil {
		return exitInternal, err
	}
	printOutcome(stdout, s, o)
	if o.Meta.TraceSHA256 != meta.TraceSHA256 {
		fmt.Fprintf(stdout, "replay DIVERGED: trace sha256 %s, recorded %s\n", o.Meta.TraceSHA256, meta.TraceSHA256)
		return exitInternal, nil
	}
	fmt.Fprintf(stdout, "replay identical: trace sha256 %s, as recorded in %s\n", meta.TraceSHA256, filepath.Join(dir, rundir.MetaFile))
	return o.Results.Verdict.ExitCode(), nil
}

// readRun reads a run directory's scenario and meta.
func readRun(dir string) (*scenario.Scenario, rundir.Meta, error) {
	var meta rundir.Meta
	if err := rundir.ReadJSON(dir, rundir.MetaFile, &meta); err != nil {
		return nil, meta, usagef("%s is not a run directory: %v", dir, err)
	}
	path := filepath.Join(dir, rundir.ScenarioFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, meta, usageError{err.Error()}
	}
	s, err := scenario.Parse(path, data)
	if err != nil {
		return nil, meta, usageError{err.Error()}
	}
	return s, meta, nil
}

// checkRunDir re-checks a run directory: it reads the trace, runs the
// scenario's checks and rewrites history.jsonl, results.json and the
// report.
func checkRunDir(dir string, stdout, stderr io.Writer) (int, error) {
	s, meta, err := readRun(dir)
	if err != nil {
		return exitUsage, err
	}
	f, err := os.Open(filepath.Join(dir, rundir.TraceFile))
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	defer f.Close()
	sum := newHashReader(f)
	records, err := env.ReadTrace(sum)
	if err != nil {
		return exitUsage, usagef("%s: %v", filepath.Join(dir, rundir.TraceFile), err)
	}
	if got := sum.hex(); got != meta.TraceSHA256 {
		fmt.Fprintf(stderr, "shoal check: note: %s has sha256 %s, meta.json recorded %s: the trace was changed after the run\n",
			rundir.TraceFile, got, meta.TraceSHA256)
	}
	start := time.Now()
	results, lin := runner.Check(s, records)
	took := time.Since(start)
	if err := runner.WriteResults(dir, s, meta, records, results, lin); err != nil {
		return exitInternal, err
	}
	fmt.Fprintf(stdout, "%s, seed %d: %d trace lines checked in %s\n", s.Name, meta.Seed, len(records), took.Round(time.Millisecond))
	for _, c := range results.Checkers {
		fmt.Fprintf(stdout, "  %-13s %-8s %s\n", c.Checker, c.Verdict, c.Explanation)
	}
	fmt.Fprintf(stdout, "verdict: %s\nreport: %s\n", results.Verdict, filepath.Join(dir, rundir.ReportFile))
	if results.Verdict == checker.NA {
		return exitValid, nil
	}
	return results.Verdict.ExitCode(), nil
}

// hashReader computes the SHA-256 of what is read through it.
type hashReader struct {
	r io.Reader
	h hash.Hash
}

func newHashReader(r io.Reader) *hashReader { return &hashReader{r: r, h: sha256.New()} }

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func (h *hashReader) hex() string { return hex.EncodeToString(h.h.Sum(nil)) }

// runDir returns the directory a run writes to, created: --out, or
// runs/NAME-seed-N (then -2, -3, ... if taken).
func runDir(out, scenario string, seed uint64) (string, error) {
	dir := out
	if dir == "" {
		dir = freeDir(filepath.Join("runs", fmt.Sprintf("%s-seed-%d", scenario, seed)))
	}
	if err := rundir.Create(dir); err != nil {
		return "", usageError{err.Error()}
	}
	return dir, nil
}

// freeDir returns dir, or dir-2, dir-3, ... whichever does not exist yet.
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
