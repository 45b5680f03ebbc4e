// Package checker turns a run's trace and history into verdicts. It reads
// only trace records (core/env) and histories, never engine internals, so
// the same checkers can judge a simulated run and a real cluster.
package checker

import (
	"fmt"

	"github.com/shoaldb/shoal/core/env"
)

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
	// First is the first thing the checker found wrong, when it says
	// invalid and can point at one operation or event.
	First *Culprit `json:"first_bad,omitempty"`
}

// Culprit is the first thing a checker found wrong: a client operation,
// or an event of the trace.
type Culprit struct {
	Time int64  `json:"time"`           // virtual ns: the operation's invocation, or the event
	Node string `json:"node,omitempty"` // where the event happened, or the instance that served the operation
	What string `json:"what"`           // in words
	Op   *OpRef `json:"op,omitempty"`   // when it is a client operation
}

// OpRef names one operation of a history.
type OpRef struct {
	Process int    `json:"process"`
	F       string `json:"f"`
	Key     string `json:"key,omitempty"`
	Outcome Type   `json:"outcome"`
	Call    int64  `json:"call"`
	Return  int64  `json:"return"`
	Line    int    `json:"line"` // of its invoke in history.jsonl, from 1
}

// culprit points at an operation.
func (o *Op) culprit() *Culprit {
	return &Culprit{Time: o.Call, Node: o.Node, What: o.Describe(), Op: &OpRef{
		Process: o.Process, F: o.F, Key: o.Key, Outcome: o.Outcome, Call: o.Call, Return: o.Return, Line: o.Line}}
}

// eventCulprit points at a trace event.
func eventCulprit(r *env.Record, what string) *Culprit {
	return &Culprit{Time: r.Time, Node: string(r.Node), What: what}
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
