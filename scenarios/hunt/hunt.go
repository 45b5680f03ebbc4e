package hunt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// Config is what a hunt needs.
type Config struct {
	// Seed is the hunt's seed: schedule i is drawn from stream i of it,
	// with the seed it runs on.
	Seed uint64
	// Base, if set, gives the cluster, network, workloads, duration and
	// recovery; only the fault schedule is drawn.
	Base *scenario.Scenario
	// Bugs names the planted bugs switched on in every run.
	Bugs []string
	// Runs bounds the schedules tried (0: no bound); Stop, if set, is
	// asked before each schedule whether the budget of wall time is spent.
	Runs int
	Stop func() bool
	// ShrinkRuns bounds the runs the reducer spends on a failure.
	ShrinkRuns int
	// Live adds the live property to the checks that make a run fail.
	// Hunts from the command line leave it out, so that every failure
	// they report is one `shoal sim run` reports too.
	Live bool
	// Tried, if set, is called after each schedule with the count so far.
	Tried func(n int)
	// Shrunk, if set, is called after each candidate the reducer ran.
	Shrunk func(runs int)
}

// DefaultShrinkRuns is the reducer's default budget, in runs.
const DefaultShrinkRuns = 200

// Result is what a hunt did.
type Result struct {
	// Tried counts the schedules run.
	Tried int
	// Search is the wall time spent finding the failure (or the budget).
	Search time.Duration
	// Finding is the failure found, shrunk; nil when none was.
	Finding *Finding
}

// Finding is a failing schedule and its shrunk form.
type Finding struct {
	// Schedule is the number (from 1) of the schedule that failed, and
	// Seed the seed it ran on, which every candidate of the shrink used.
	Schedule int
	Seed     uint64
	// Check is the check that failed and Explanation its reason in the
	// drawn schedule; MinimalExplanation in the minimal one.
	Check, Explanation, MinimalExplanation string
	// Drawn is the schedule as drawn, Minimal as shrunk: the same check
	// fails on Seed.
	Drawn, Minimal *scenario.Scenario
	// ShrinkRuns counts the reducer's runs and Shrink their wall time.
	ShrinkRuns int
	Shrink     time.Duration
}

// Faults counts the occurrences of a schedule's steps: a step that
// repeats is as many faults as it has occurrences.
func Faults(s *scenario.Scenario) int {
	n := 0
	for _, st := range s.Nemesis {
		n += len(st.Occurrences(s.Duration))
	}
	return n
}

// Name is the name of schedule i of a hunt.
func Name(seed uint64, i int) string { return fmt.Sprintf("hunt-%d-%d", seed, i) }

// Draw returns schedule i of a hunt and the seed it runs on.
func Draw(cfg Config, i int) (*scenario.Scenario, uint64, error) {
	src := NewRand(cfg.Seed, uint64(i))
	seed := src.r.Uint64N(1_000_000_000) + 1
	s, err := Generate(src, cfg.Base, Name(cfg.Seed, i))
	return s, seed, err
}

// Hunt runs drawn schedules until one fails or the budget is spent, then
// shrinks the failure.
func Hunt(cfg Config) (*Result, error) {
	if cfg.ShrinkRuns <= 0 {
		cfg.ShrinkRuns = DefaultShrinkRuns
	}
	res := &Result{}
	start := time.Now()
	for i := 1; cfg.Runs <= 0 || i <= cfg.Runs; i++ {
		if cfg.Stop != nil && cfg.Stop() {
			break
		}
		s, seed, err := Draw(cfg, i)
		if err != nil {
			return nil, err
		}
		o, err := runner.Run(s, runner.Options{Seed: seed, Bugs: cfg.Bugs})
		if err != nil {
			return nil, fmt.Errorf("hunt: schedule %d (seed %d): %w\n%s", i, seed, err, scenario.Marshal(s))
		}
		res.Tried = i
		if cfg.Tried != nil {
			cfg.Tried(i)
		}
		check, why := Judge(s, o, cfg.Live)
		if check == "" {
			continue
		}
		res.Search = time.Since(start)
		f := &Finding{Schedule: i, Seed: seed, Check: check, Explanation: why.Explanation, Drawn: s}
		start = time.Now()
		red := &Reducer{Budget: cfg.ShrinkRuns}
		red.Test = func(c *scenario.Scenario) (Trial, error) {
			o, err := runner.Run(c, runner.Options{Seed: seed, Bugs: cfg.Bugs})
			if err != nil {
				return Trial{}, fmt.Errorf("hunt: shrinking schedule %d (seed %d): %w\n%s", i, seed, err, scenario.Marshal(c))
			}
			if cfg.Shrunk != nil {
				cfg.Shrunk(red.Runs())
			}
			return TrialOf(c, o, check, cfg.Live), nil
		}
		small, err := red.Reduce(s, TrialOf(s, o, check, cfg.Live))
		if err != nil {
			return nil, err
		}
		f.ShrinkRuns, f.Shrink = red.Runs(), time.Since(start)
		f.Minimal = clone(small)
		f.Minimal.Name = s.Name + "-min"
		// The minimal schedule under its own name, run again (not counted
		// in the budget): it must fail as the reducer's run of it did.
		o, err = runner.Run(f.Minimal, runner.Options{Seed: seed, Bugs: cfg.Bugs})
		if err != nil {
			return nil, err
		}
		t := TrialOf(f.Minimal, o, check, cfg.Live)
		if !t.Failed {
			return nil, fmt.Errorf("hunt: the minimal schedule of schedule %d does not fail %s again on seed %d: the runs are not deterministic", i, check, seed)
		}
		f.MinimalExplanation = t.Why
		f.Minimal.Description = describe(cfg, f)
		if f.Minimal, err = Normalize(f.Minimal); err != nil {
			return nil, err
		}
		res.Finding = f
		return res, nil
	}
	res.Search = time.Since(start)
	return res, nil
}

// describe is the minimal scenario's description: where it came from and
// how to run it. It holds nothing that varies between machines.
func describe(cfg Config, f *Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Found by shoal sim hunt with seed %d", cfg.Seed)
	if cfg.Base != nil {
		fmt.Fprintf(&b, " from the cluster and workloads of %s", cfg.Base.Name)
	}
	if len(cfg.Bugs) > 0 {
		fmt.Fprintf(&b, " with the planted bug %s", strings.Join(cfg.Bugs, ", "))
	}
	fmt.Fprintf(&b, ": schedule %d, %s (%s), failed %s; shrunk in %s to %s (%s). ",
		f.Schedule, plural(len(f.Drawn.Nemesis), "fault step"), plural(Faults(f.Drawn), "fault"), f.Check,
		plural(f.ShrinkRuns, "run"), plural(len(f.Minimal.Nemesis), "step"), plural(Faults(f.Minimal), "fault"))
	fmt.Fprintf(&b, "On seed %d: %s. ", f.Seed, f.MinimalExplanation)
	fmt.Fprintf(&b, "Reproduce with: %s", Command("FILE", f.Seed, cfg.Bugs))
	return b.String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Command is the command line that runs a scenario file on a seed with
// the bugs.
func Command(file string, seed uint64, bugs []string) string {
	c := "shoal sim run " + file + " --seed " + strconv.FormatUint(seed, 10)
	for _, b := range bugs {
		c += " --bug " + b
	}
	return c
}

// Judge returns the first check a run failed (in the order of
// scenario.Checks, then live), and that check's result; "" when it
// failed none.
func Judge(s *scenario.Scenario, o *runner.Outcome, live bool) (string, checker.Result) {
	for _, r := range o.Results.Checkers {
		if r.Verdict == checker.Invalid {
			return r.Checker, r
		}
	}
	if live {
		if r := Live(s, o.Records); r.Verdict == checker.Invalid {
			return r.Checker, r
		}
	}
	return "", checker.Result{}
}

// result is the result of a check in a run: one of the scenario's
// checks, or live.
func result(s *scenario.Scenario, o *runner.Outcome, check string, live bool) (checker.Result, bool) {
	for _, r := range o.Results.Checkers {
		if r.Checker == check {
			return r, true
		}
	}
	if live && check == "live" {
		return Live(s, o.Records), true
	}
	return checker.Result{}, false
}

// TrialOf reads what a run showed: whether check failed, when, and what
// each step's first effective occurrence hit.
func TrialOf(s *scenario.Scenario, o *runner.Outcome, check string, live bool) Trial {
	t := Trial{At: -1, Steps: map[int][]Occurrence{}}
	if r, ok := result(s, o, check, live); ok && r.Verdict == checker.Invalid {
		t.Failed, t.Why = true, r.Explanation
		if r.First != nil && check != "live" {
			t.At = time.Duration(r.First.Time)
		}
	}
	for i := range o.Records {
		r := &o.Records[i]
		if r.Kind != "nemesis.start" {
			continue
		}
		if effect, _ := r.Bool("effect"); !effect {
			continue
		}
		step, _ := r.Int("step")
		fault, _ := r.Str("fault")
		targets, _ := r.Str("targets")
		occ := Occurrence{At: time.Duration(r.Time), Kind: nemesis.Kind(fault), Targets: ids(targets)}
		if occ.Kind == nemesis.Partition {
			what, _ := r.Str("what")
			if sides := sidesOf(what); len(sides) > 1 {
				occ.Sides = sides
			}
		}
		t.Steps[int(step)-1] = append(t.Steps[int(step)-1], occ)
	}
	return t
}

func ids(list string) []env.NodeID { return env.Split(list) }

// sidesOf reads the sides of a partition from its nemesis.start `what`
// ("majority: n1,n4|n2,n3,n5"); nil for the shapes that are no split
// into sides (bridge, majorities-ring).
func sidesOf(what string) [][]env.NodeID {
	_, cut, ok := strings.Cut(what, ": ")
	if !ok || strings.Contains(cut, "-/-") || strings.Contains(cut, " ") {
		return nil
	}
	var out [][]env.NodeID
	for _, side := range strings.Split(cut, "|") {
		if side == "" {
			return nil
		}
		out = append(out, ids(side))
	}
	if slices.ContainsFunc(out, func(s []env.NodeID) bool { return len(s) == 0 }) {
		return nil
	}
	return out
}
