package checker

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// generate builds a linearizable history of n operations by procs
// clients over keys keys: each operation gets a random interval and a
// linearization point inside it, the operations are applied in the order
// of their points to learn what reads return and whether a cas succeeds,
// and 1% of the writes never answer (info). A client whose write went
// unanswered carries on under a new process, as a simulated client does,
// so the history holds all n operations.
func generate(seed uint64, n, procs, keys int) *History {
	r := rand.New(rand.NewPCG(seed, 1))
	type gen struct {
		op    Op
		point int64
	}
	var ops []gen
	clock := make([]int64, procs)
	process := make([]int, procs) // client c's current process
	for c := range process {
		process[c] = c
	}
	for i := range n {
		c := i % procs
		call := clock[c] + r.Int64N(1000)
		ret := call + 1 + r.Int64N(5000)
		clock[c] = ret
		o := Op{Process: process[c], Key: fmt.Sprintf("k%d", r.IntN(keys)), HasKey: true, Call: call, Return: ret, Outcome: OK}
		switch x := r.IntN(10); {
		case x < 5:
			o.F = "read"
		case x < 8:
			o.F, o.Value = "write", Int(int64(r.IntN(5)))
			if r.IntN(100) == 0 {
				o.Outcome = Info
				process[c] += procs
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
// processes on 100 keys, and 100k by 50 on 1,000. They are the checker's
// fixed yardstick: unlike the histories of simulated runs
// (BenchmarkLinearizableSimulated), they do not change when the engine
// does. Every check must say valid; ops/s counts the operations checked.
func BenchmarkLinearizable(b *testing.B) {
	for _, bc := range []struct{ ops, procs, keys int }{{10_000, 10, 100}, {100_000, 50, 1000}} {
		h := generate(1, bc.ops, bc.procs, bc.keys)
		b.Run(fmt.Sprintf("%dops-%dprocs-%dkeys", bc.ops, bc.procs, bc.keys), func(b *testing.B) {
			b.ReportAllocs()
			ops, n := len(h.Ops()), 0
			for b.Loop() {
				if r := Linearizable(h, time.Minute).Result; r.Verdict != Valid {
					b.Fatalf("%s: %s", r.Verdict, r.Explanation)
				}
				n++
			}
			b.ReportMetric(float64(ops*n)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// sharedVerdicts is where TestSharedHistories pins the verdict of each
// history in ../shared/histories, "DIR/FILE VERDICT" a line. Neither the
// histories' README nor their names say which are linearizable; the
// pinned verdicts agree with porcupine's own tests (its etcd test table,
// and its kv files named -ok and -bad).
const sharedVerdicts = "testdata/shared-verdicts.txt"

// BenchmarkLinearizableShared checks the real histories in
// ../shared/histories (102 Jepsen histories of etcd, porcupine's six
// key-value histories), found as TestSharedHistories finds them, grouped
// by directory and by the verdict pinned in testdata/shared-verdicts.txt,
// which every check must give: a linearizable history proved, or a
// violation found and explained. ops/s counts the operations of every
// history of the group.
func BenchmarkLinearizableShared(b *testing.B) {
	files, _ := filepath.Glob("../../shared/histories/*/*.jsonl")
	if len(files) == 0 {
		b.Skip("no shared histories beside the checkout (../shared/histories)")
	}
	pinned, err := os.ReadFile(sharedVerdicts)
	if err != nil {
		b.Fatal(err)
	}
	want := map[string]Verdict{}
	for _, line := range strings.Split(strings.TrimSpace(string(pinned)), "\n") {
		name, verdict, _ := strings.Cut(line, " ")
		want[name] = Verdict(verdict)
	}
	type entry struct {
		name string
		h    *History
		ops  int
	}
	var groups []string
	byGroup := map[string][]entry{}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
		v, ok := want[name]
		if !ok {
			b.Fatalf("%s: no verdict pinned in %s (go test ./checker -run TestSharedHistories -update pins one)", name, sharedVerdicts)
		}
		h, err := readHistory(f)
		if err != nil {
			b.Fatal(err)
		}
		g := filepath.Base(filepath.Dir(f)) + "-" + string(v)
		if byGroup[g] == nil {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], entry{name: name, h: h, ops: len(h.Ops())})
	}
	slices.Sort(groups)
	for _, g := range groups {
		entries := byGroup[g]
		b.Run(fmt.Sprintf("%s-%dhistories", g, len(entries)), func(b *testing.B) {
			ops, n := 0, 0
			for _, e := range entries {
				ops += e.ops
			}
			for b.Loop() {
				for _, e := range entries {
					if r := Linearizable(e.h, 12*time.Second).Result; r.Verdict != want[e.name] {
						b.Fatalf("%s: %s, want %s: %s", e.name, r.Verdict, want[e.name], r.Explanation)
					}
				}
				n++
			}
			b.ReportMetric(float64(ops*n)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

func readHistory(path string) (*History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := ParseHistory(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}
