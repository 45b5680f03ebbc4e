package reports

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"time"

	"github.com/shoaldb/shoal/checker"
)

// Sweep is what a sweep's index page shows: one scenario run on many
// seeds.
type Sweep struct {
	Scenario     string
	Description  string
	Expect       string // the verdict the scenario is written to get
	Command      string // reproduces the sweep
	Version      string
	Commit       string
	Seeds        string // as given: "1..1000", "3,7,10..20"
	Bugs         []string
	Jobs         int
	Wall         time.Duration
	SeedsPerHour float64
	Verdict      checker.Verdict // of the sweep: invalid if any seed is, else unknown if any is, else valid
	Runs         []SweepRun
}

// SweepRun is one seed of a sweep.
type SweepRun struct {
	Seed    uint64
	Verdict checker.Verdict
	Wall    time.Duration
	Virtual time.Duration
	// Checker and Explanation are the first checker that found the run
	// invalid or could not judge it, when one did.
	Checker     string
	Explanation string
	// Error is an internal error: the run did not finish (its verdict is
	// unknown).
	Error string
	// Report links to the run directory's report.html, relative to the
	// index page; empty when no run directory was kept.
	Report string
}

// Failing reports whether the seed did not pass: its verdict is invalid
// or unknown, or it failed internally.
func (r SweepRun) Failing() bool {
	return r.Verdict == checker.Invalid || r.Verdict == checker.Unknown || r.Error != ""
}

// SweepTotals counts a sweep's seeds by verdict; Errors counts the seeds
// that failed internally (they are unknown too).
type SweepTotals struct {
	Seeds   int `json:"seeds"`
	Valid   int `json:"valid"`
	Invalid int `json:"invalid"`
	Unknown int `json:"unknown"`
	NA      int `json:"na"`
	Errors  int `json:"errors"`
}

// Totals counts the seeds of s by verdict.
func (s Sweep) Totals() SweepTotals {
	var t SweepTotals
	for _, r := range s.Runs {
		t.Seeds++
		switch r.Verdict {
		case checker.Valid:
			t.Valid++
		case checker.Invalid:
			t.Invalid++
		case checker.NA:
			t.NA++
		default:
			t.Unknown++
		}
		if r.Error != "" {
			t.Errors++
		}
	}
	return t
}

// SortRuns orders runs failing first: invalid, then unknown (internal
// errors among them), then the rest; by seed within each.
func SortRuns(runs []SweepRun) {
	rank := func(r SweepRun) int {
		switch {
		case r.Verdict == checker.Invalid:
			return 0
		case r.Failing():
			return 1
		}
		return 2
	}
	slices.SortStableFunc(runs, func(a, b SweepRun) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return cmp.Compare(a.Seed, b.Seed)
	})
}

//go:embed sweep.html.tmpl
var sweepTemplate string

var sweepPage = template.Must(template.New("sweep").Funcs(template.FuncMap{
	"class": verdictClass,
	"dur":   func(d time.Duration) string { return roundDuration(d).String() },
	"rate":  formatRate,
}).Parse(sweepTemplate))

// SweepIndex writes a sweep's index page: the totals, then every seed
// with its verdict and duration, failing seeds first, each failing seed
// linked to its run's report.
func SweepIndex(w io.Writer, s Sweep) error {
	runs := slices.Clone(s.Runs)
	SortRuns(runs)
	return sweepPage.Execute(w, sweepView{Sweep: s, Totals: s.Totals(), Sorted: runs})
}

type sweepView struct {
	Sweep
	Totals SweepTotals
	Sorted []SweepRun
}

// verdictClass names a verdict's CSS class ("n/a" is not a class name).
func verdictClass(v checker.Verdict) string {
	if v == checker.NA {
		return "na"
	}
	return string(v)
}

// roundDuration keeps three significant figures or so: 1.23s, 45.6ms, 2m3s.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond / 10)
	}
	return d
}

// formatRate writes a rate of seeds per hour: whole above 100, else to
// one decimal.
func formatRate(f float64) string {
	if f >= 100 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}
