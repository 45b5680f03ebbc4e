package checker

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// generate builds a linearizable history of n operations by procs
// processes over keys keys: each operation gets a random interval and a
// linearization point inside it, the operations are applied in the order
// of their points to learn what reads return and whether a cas succeeds,
// and 1% of the writes never answer (info).
func generate(seed uint64, n, procs, keys int) *History {
	r := rand.New(rand.NewPCG(seed, 1))
	type gen struct {
		op    Op
		point int64
	}
	var ops []gen
	clock := make([]int64, procs)
	retired := make([]bool, procs) // after an unanswered write
	for i := range n {
		p := i % procs
		if retired[p] {
			continue
		}
		call := clock[p] + r.Int64N(1000)
		ret := call + 1 + r.Int64N(5000)
		clock[p] = ret
		o := Op{Process: p, Key: fmt.Sprintf("k%d", r.IntN(keys)), HasKey: true, Call: call, Return: ret, Outcome: OK}
		switch x := r.IntN(10); {
		case x < 5:
			o.F = "read"
		case x < 8:
			o.F, o.Value = "write", Int(int64(r.IntN(5)))
			if r.IntN(100) == 0 {
				o.Outcome, retired[p] = Info, true
			}
		default:
			o.F, o.Value, o.New = "cas", Int(int64(r.IntN(5))), Int(int64(r.IntN(5)))
		}
		ops = append(ops, gen{op: o, point: call + r.Int64N(ret-call)})
	}
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ops[a].point, ops[b].point) })
	state := map[string]Value{}
	for _, i := range order {
		o := &ops[i].op
		switch o.F {
		case "read":
			o.Value = state[o.Key]
		case "write":
			state[o.Key] = o.Value
		case "cas":
			if state[o.Key] == o.Value {
				state[o.Key] = o.New
			} else {
				o.Outcome = Fail
			}
		}
	}
	h := &History{}
	for i := range ops {
		o := ops[i].op
		h.Events = append(h.Events, Event{Process: o.Process, Type: Invoke, F: o.F, Key: o.Key, HasKey: true, Value: invokeValue(o), New: o.New, Time: o.Call})
		if o.Outcome != Info {
			h.Events = append(h.Events, Event{Process: o.Process, Type: o.Outcome, F: o.F, Key: o.Key, HasKey: true, Value: o.Value, New: o.New, Time: o.Return})
		}
	}
	slices.SortStableFunc(h.Events, func(a, b Event) int { return cmp.Compare(a.Time, b.Time) })
	return h
}

func invokeValue(o Op) Value {
	if o.F == "read" {
		return Value{}
	}
	return o.Value
}

func TestGeneratedHistoriesAreLinearizable(t *testing.T) {
	for seed := range uint64(5) {
		h := generate(seed, 2000, 10, 20)
		if r := Linearizable(h, 30*time.Second).Result; r.Verdict != Valid {
			t.Fatalf("seed %d: %s: %s", seed, r.Verdict, r.Explanation)
		}
	}
}

// BenchmarkLinearizable checks generated histories: 10k operations by 10
// processes on 100 keys, and 100k by 50 on 1,000.
func BenchmarkLinearizable(b *testing.B) {
	for _, bc := range []struct{ ops, procs, keys int }{{10_000, 10, 100}, {100_000, 50, 1000}} {
		h := generate(1, bc.ops, bc.procs, bc.keys)
		b.Run(fmt.Sprintf("%dops-%dprocs-%dkeys", bc.ops, bc.procs, bc.keys), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := Linearizable(h, time.Minute).Result; r.Verdict != Valid {
					b.Fatalf("%s: %s", r.Verdict, r.Explanation)
				}
			}
		})
	}
}
