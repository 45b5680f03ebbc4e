package checker

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Durability checks the final reads against the writes. The final read of
// a key is its last successful read, made after every write to the key
// had completed; for each such key:
//
//   - the value read was written by an acknowledged or unknown write (or
//     is the initial value, or absent after a delete);
//   - no acknowledged write is lost: the value read is not one that an
//     acknowledged write had already overwritten, in real time, before
//     the final read (every write that could have produced it finished
//     before an acknowledged write to the key began).
//
// Keys written with append are not judged (an append's result is not its
// value). NA when no key has a final read.
func Durability(h *History) Result {
	res := Result{Checker: "durability"}
	ops := h.Ops()
	byKey := map[string][]*Op{}
	var keys []string
	for i := range ops {
		o := &ops[i]
		if _, ok := byKey[o.Key]; !ok {
			keys = append(keys, o.Key)
		}
		byKey[o.Key] = append(byKey[o.Key], o)
	}
	checked, skipped := 0, 0
	for _, k := range keys {
		kops := byKey[k]
		var final *Op
		for _, o := range kops {
			if o.F == "read" && o.Outcome == OK && (final == nil || o.Call > final.Call) {
				final = o
			}
		}
		if final == nil {
			continue
		}
		if slices.ContainsFunc(kops, func(o *Op) bool {
			return o.F == "append" || (isWrite(o) && o.Outcome != Info && o.Return > final.Call)
		}) {
			skipped++ // appended to, or a write was still running
			continue
		}
		checked++
		var writers []*Op
		for _, o := range kops {
			if isWrite(o) && o.Outcome != Fail && produced(o) == final.Value {
				writers = append(writers, o)
			}
		}
		initial := final.Value == h.Initial
		if len(writers) == 0 && !initial {
			res.First = final.culprit()
			return invalid(res, "the final %s, but no acknowledged or unknown write to %s wrote %s", final.Describe()+" read "+final.Value.String(),
				keyName(k), final.Value)
		}
		// The latest moment the value can have been written: an unknown
		// write may have taken effect as late as the final read itself.
		// The initial value was there before everything.
		end := int64(math.MinInt64)
		for _, w := range writers {
			e := w.Return
			if w.Outcome == Info {
				e = final.Call
			}
			end = max(end, e)
		}
		for _, o := range kops {
			if isWrite(o) && o.Outcome == OK && o.Call > end && produced(o) != final.Value {
				var source string
				switch {
				case len(writers) == 0:
					source = "the initial value"
				default:
					source = "written by " + writers[len(writers)-1].Describe()
				}
				res.First = final.culprit()
				return invalid(res, "the final %s, %s; but %s came after it and is lost", final.Describe()+" read "+final.Value.String(), source, o.Describe())
			}
		}
	}
	if checked == 0 {
		res.Verdict, res.Explanation = NA, "no key was read after its last write"
		return res
	}
	res.Verdict = Valid
	res.Explanation = fmt.Sprintf("the final reads of %s each returned a value an acknowledged or unknown write left, and no acknowledged write was lost", count(checked, "key"))
	if skipped > 0 {
		res.Explanation += fmt.Sprintf(" (%s not judged: appended to, or written during their final read)", count(skipped, "key"))
	}
	return res
}

func invalid(res Result, format string, args ...any) Result {
	res.Verdict = Invalid
	res.Explanation = strings.TrimSpace(fmt.Sprintf(format, args...))
	return res
}

// isWrite reports whether o may change its key.
func isWrite(o *Op) bool { return o.F == "write" || o.F == "delete" || o.F == "cas" }

// produced is the value a write leaves.
func produced(o *Op) Value {
	switch o.F {
	case "delete":
		return Value{}
	case "cas":
		return o.New
	}
	return o.Value
}
