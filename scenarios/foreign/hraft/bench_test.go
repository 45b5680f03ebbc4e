package hraft_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/shoaldb/shoal/scenarios/foreign/hraft"
)

// BenchmarkHashicorpRaftSynctest runs a five-node hashicorp/raft cluster
// under testing/synctest at the write rate of the leader-isolation
// scenario, seed iteration+1, and reports the figures BenchmarkScenarios
// in scenarios/library reports for shoal's simulator: sim-s/wall-s,
// virtual time per wall second inside the bubble, and seeds/h, runs per
// hour. Each run must elect a leader and apply every write it attempted.
//
// synctest.Test needs a *testing.T and a benchmark has none, so each run
// is a test started with testing.RunTests (go test's own entry point).
// That repeats it for each -count and -cpu value, and sets GOMAXPROCS for
// each: every repetition is counted, and GOMAXPROCS is put back after.
func BenchmarkHashicorpRaftSynctest(b *testing.B) {
	w := leaderIsolation(b, 0)
	var seeds int
	var virtual, wall time.Duration
	for b.Loop() {
		w.Seed++
		var runs []hraft.Result
		name := fmt.Sprintf("%s/seed-%d", b.Name(), w.Seed)
		test := func(t *testing.T) { runs = append(runs, hraft.Run(t, w)) }
		procs := runtime.GOMAXPROCS(0)
		ok := testing.RunTests(matchAll, []testing.InternalTest{{Name: name, F: test}})
		runtime.GOMAXPROCS(procs)
		if !ok {
			b.Fatalf("seed %d failed", w.Seed)
		}
		for _, r := range runs {
			what := fmt.Sprintf("seed %d", w.Seed)
			checkRun(b, what, r)
			if r.Applied != r.Attempted {
				b.Fatalf("%s: %d of %d writes applied in a run without faults", what, r.Applied, r.Attempted)
			}
			seeds++
			virtual += r.Virtual
			wall += r.Wall
		}
	}
	b.ReportMetric(virtual.Seconds()/wall.Seconds(), "sim-s/wall-s")
	b.ReportMetric(float64(seeds)/b.Elapsed().Hours(), "seeds/h")
	b.ReportMetric(0, "ns/op")
}

// matchAll lets RunTests run its one test whatever -run says (bench-sim
// passes -run '^$').
func matchAll(pattern, name string) (bool, error) { return true, nil }
