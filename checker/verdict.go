// Package checker turns a run's trace and history into verdicts. It reads
// only trace records (core/env) and histories, never engine internals, so
// the same checkers can judge a simulated run and a real cluster.
package checker

import "fmt"

// Verdict is a checker's judgement of a run.
type Verdict string

// The verdicts. A checker with nothing to check says NA, which does not
// count towards the run's verdict.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown"
	NA      Verdict = "n/a"
)

// Result is one checker's verdict on a run, with an explanation a person
// can act on: it names nodes, keys, values and virtual times.
type Result struct {
	Checker     string  `json:"checker"`
	Verdict     Verdict `json:"verdict"`
	Explanation string  `json:"explanation"`
}

// Combine is a run's verdict: invalid if any checker says invalid, else
// unknown if any says unknown, else valid; NA results do not count, and a
// run with nothing checked is NA.
func Combine(results []Result) Verdict {
	v := NA
	for _, r := range results {
		switch {
		case r.Verdict == Invalid:
			return Invalid
		case r.Verdict == Unknown:
			v = Unknown
		case r.Verdict == Valid && v == NA:
			v = Valid
		}
	}
	return v
}

// ExitCode is the exit status of a command that judged a run: 0 valid (or
// nothing to check), 1 invalid, 2 unknown.
func (v Verdict) ExitCode() int {
	switch v {
	case Invalid:
		return 1
	case Unknown:
		return 2
	}
	return 0
}

// count renders n things: "1 key", "3 keys".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
