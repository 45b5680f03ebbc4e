package checker

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// DefaultLinearizableTimeout is how long the linearizability check may
// search before it answers unknown.
const DefaultLinearizableTimeout = 60 * time.Second

// explainBudget bounds the search for an explanation of an invalid
// history (and the data of its visualization): a sixth of the timeout, at
// most three seconds. The search keeps every partial linearization it
// finds, so its memory grows with its time: on porcupine's hardest
// key-value history it held 1.4 GB after ten seconds.
func explainBudget(timeout time.Duration) time.Duration { return min(timeout/6, 3*time.Second) }

// kvInput and kvOutput are an operation as the key-value model sees it.
type kvInput struct {
	f          string
	value, new Value
	initial    Value // what an append to an absent key appends to
}

type kvOutput struct {
	outcome Type  // OK, Fail (a cas whose compare failed) or Info
	value   Value // a read's result
}

// kvModel is a key-value store partitioned per key: each key is a register
// holding a Value (Null when absent). A failed cas observes that the key
// did not hold the expected value; an operation whose outcome is unknown
// may take effect or not.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		_, parts := partitionByKey(history)
		return parts
	},
	Init: func() any { return Value{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(Value), input.(kvInput), output.(kvOutput)
		unknown := out.outcome == Info
		switch in.f {
		case "read":
			return st == out.value, st
		case "write":
			return true, in.value
		case "delete":
			return true, Value{}
		case "append":
			base := st
			if base.Kind == Null {
				base = in.initial
			}
			if base.Kind == Integer || in.value.Kind == Integer {
				return false, st // appending to or with an integer is not defined
			}
			return true, Str(base.Str + in.value.Str)
		case "cas":
			matches := st == in.value
			next := st
			if matches {
				next = in.new
			}
			switch {
			case unknown:
				return true, next
			case out.outcome == Fail:
				return !matches, st
			}
			return matches, next
		}
		return false, st
	},
	Hash: func(state any) uint64 {
		v := state.(Value)
		h := (uint64(14695981039346656037) ^ uint64(v.Kind)) * 1099511628211
		h = (h ^ uint64(v.Int)) * 1099511628211
		for i := 0; i < len(v.Str); i++ {
			h = (h ^ uint64(v.Str[i])) * 1099511628211
		}
		return h
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		var s string
		switch in.f {
		case "read":
			s = fmt.Sprintf("read → %s", out.value)
		case "cas":
			s = fmt.Sprintf("cas(%s, %s)", in.value, in.new)
		case "delete":
			s = "delete"
		default:
			s = fmt.Sprintf("%s(%s)", in.f, in.value)
		}
		switch out.outcome {
		case Info:
			s += " ?"
		case Fail:
			s += " failed"
		}
		return s
	},
	DescribeState: func(state any) string { return state.(Value).String() },
}

// Linearizability is the outcome of the linearizable check, with what a
// visualization needs.
type Linearizability struct {
	Result Result
	info   porcupine.LinearizationInfo
	ops    []porcupine.Operation
}

// Linearizable checks that the key-value history is linearizable, within
// timeout (0 means DefaultLinearizableTimeout; past it the verdict is
// unknown, never valid). Failed reads, writes and deletes took no effect
// and are left out; a failed cas is kept as an observation that the key
// did not hold the expected value; reads of unknown outcome say nothing
// and are left out; writes of unknown outcome may take effect at any time
// after their invocation, or never.
func Linearizable(h *History, timeout time.Duration) *Linearizability {
	if timeout <= 0 {
		timeout = DefaultLinearizableTimeout
	}
	res := Result{Checker: "linearizable"}
	all := h.Ops()
	var ops []porcupine.Operation
	for i := range all {
		o := &all[i]
		switch {
		case o.Outcome == Fail && o.F != "cas":
			continue
		case o.Outcome == Info && o.F == "read":
			continue
		}
		ops = append(ops, porcupine.Operation{
			ClientId: o.Process,
			Input:    kvInput{f: o.F, value: o.Value, new: o.New, initial: h.Initial},
			Output:   kvOutput{outcome: o.Outcome, value: o.Value},
			Call:     o.Call,
			Return:   o.Return,
			Metadata: o,
		})
	}
	if len(ops) == 0 {
		res.Verdict, res.Explanation = NA, "the history has no operation to check"
		return &Linearizability{Result: res}
	}
	model := kvModel
	init := h.Initial
	model.Init = func() any { return init }
	// The verdict first: porcupine stops at the first key that cannot be
	// linearized. Only then the search for what explains it, which must
	// find the longest partial linearization of every key and so runs
	// to the end of each; it gets a bounded share of the time.
	start := time.Now()
	result := porcupine.CheckOperationsTimeout(model, ops, timeout)
	l := &Linearizability{ops: ops}
	if result == porcupine.Illegal {
		budget := min(max(timeout-time.Since(start), time.Second), explainBudget(timeout))
		_, l.info = porcupine.CheckOperationsVerbose(model, ops, budget)
	}
	keys := map[string]bool{}
	for i := range ops {
		keys[ops[i].Metadata.(*Op).Key] = true
	}
	switch result {
	case porcupine.Ok:
		res.Verdict = Valid
		res.Explanation = fmt.Sprintf("%s on %s are linearizable (%d left out: failed, or reads with no answer)",
			count(len(ops), "operation"), count(len(keys), "key"), len(all)-len(ops))
	case porcupine.Unknown:
		res.Verdict = Unknown
		res.Explanation = fmt.Sprintf("the search for a linearization of %d operations did not finish within %s", len(ops), timeout)
	default:
		res.Verdict = Invalid
		res.Explanation, res.First = l.explain(model)
	}
	l.Result = res
	return l
}

// partitionByKey splits operations by key, keys in order of first
// appearance.
func partitionByKey(ops []porcupine.Operation) ([]string, [][]porcupine.Operation) {
	index := map[string]int{}
	var keys []string
	var parts [][]porcupine.Operation
	for _, op := range ops {
		k := op.Metadata.(*Op).Key
		i, ok := index[k]
		if !ok {
			i = len(keys)
			index[k] = i
			keys = append(keys, k)
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return keys, parts
}

// explain names the first operation that cannot be linearized: in the
// partition (key) that failed, the operation outside the longest partial
// linearization that returned first, with the state the key was in.
func (l *Linearizability) explain(model porcupine.Model) (string, *Culprit) {
	keys, parts := partitionByKey(l.ops)
	for p, lins := range l.info.PartialLinearizationsOperations() {
		var longest []porcupine.Operation
		for _, lin := range lins {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
		placed := map[*Op]bool{}
		for _, op := range longest {
			placed[op.Metadata.(*Op)] = true
		}
		var rest []*Op
		for _, op := range parts[p] {
			if o := op.Metadata.(*Op); !placed[o] {
				rest = append(rest, o)
			}
		}
		if len(rest) == 0 {
			continue
		}
		slices.SortStableFunc(rest, func(a, b *Op) int { return cmp.Compare(a.Return, b.Return) })
		bad := rest[0]
		state := model.Init()
		var lastWrite *Op
		for _, op := range longest {
			_, state = model.Step(state, op.Input, op.Output)
			if o := op.Metadata.(*Op); o.F != "read" && !(o.F == "cas" && o.Outcome == Fail) {
				lastWrite = o
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s cannot be linearized: ", bad.Describe())
		switch {
		case bad.F == "read":
			fmt.Fprintf(&b, "it read %s, ", bad.Value)
		case bad.F == "cas" && bad.Outcome == Fail:
			fmt.Fprintf(&b, "it found the key did not hold %s, ", bad.Value)
		case bad.F == "cas":
			fmt.Fprintf(&b, "it found %s, ", bad.Value)
		}
		fmt.Fprintf(&b, "but after the %d of %d operations on %s that can be put in order, it holds %s",
			len(longest), len(parts[p]), keyName(keys[p]), state.(Value))
		if lastWrite != nil {
			fmt.Fprintf(&b, ", last changed by %s", lastWrite.Describe())
		}
		return b.String(), bad.culprit()
	}
	return "the history is not linearizable", nil
}

func keyName(k string) string {
	if k == "" {
		return "the register"
	}
	return "key " + k
}

// Visualize writes porcupine's interactive visualization of the check,
// with annotations (faults, leader changes) drawn alongside.
func (l *Linearizability) Visualize(w io.Writer, annotations []porcupine.Annotation) error {
	if l.Result.Verdict != Invalid {
		return fmt.Errorf("checker: only an invalid history is visualized")
	}
	l.info.AddAnnotations(annotations)
	return porcupine.Visualize(kvModel, l.info, w)
}
