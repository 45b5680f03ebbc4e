package hraftkv_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/scenarios/foreign"
	"github.com/shoaldb/shoal/scenarios/foreign/hraftkv"
	"github.com/shoaldb/shoal/scenarios/library"
)

// BenchmarkHashicorpRaftSynctest runs the built-in leader-isolation
// scenario against hraftkv, a five-node hashicorp/raft cluster under
// testing/synctest, on seed iteration+1, as BenchmarkScenarios in
// scenarios/library runs it in shoal's simulator (its clients, its
// partition, its final reads, every check, no run directory), and
// reports the same figures: sim-s/wall-s, virtual time per wall second
// inside the bubble, and seeds/h, whole runs per hour, checks included.
// Each run's verdict must be valid.
//
// synctest.Test needs a *testing.T and a benchmark has none, so each run
// is a test started with testing.RunTests (go test's own entry point).
// That repeats it for each -count and -cpu value, and sets GOMAXPROCS for
// each: every repetition is counted, and GOMAXPROCS is put back after.
func BenchmarkHashicorpRaftSynctest(b *testing.B) {
	s, err := library.Load("leader-isolation")
	if err != nil {
		b.Fatal(err)
	}
	var seed uint64
	var runs int
	var virtual, wall time.Duration
	for b.Loop() {
		seed++
		var outs []*foreign.Outcome
		var errs []error
		name := fmt.Sprintf("%s/seed-%d", b.Name(), seed)
		test := func(t *testing.T) {
			o, err := foreign.Run(t, s, hraftkv.Target(), foreign.Options{Seed: seed})
			outs, errs = append(outs, o), append(errs, err)
		}
		procs := runtime.GOMAXPROCS(0)
		ok := testing.RunTests(matchAll, []testing.InternalTest{{Name: name, F: test}})
		runtime.GOMAXPROCS(procs)
		if !ok {
			b.Fatalf("seed %d failed", seed)
		}
		for i, o := range outs {
			if errs[i] != nil {
				b.Fatalf("seed %d: %v", seed, errs[i])
			}
			if o.Results.Verdict != checker.Valid {
				b.Fatalf("seed %d: verdict %s, want valid", seed, o.Results.Verdict)
			}
			runs++
			virtual += o.Virtual
			wall += o.Wall
		}
	}
	b.ReportMetric(virtual.Seconds()/wall.Seconds(), "sim-s/wall-s")
	b.ReportMetric(float64(runs)/b.Elapsed().Hours(), "seeds/h")
	b.ReportMetric(0, "ns/op")
}

// matchAll lets RunTests run its one test whatever -run says (bench-sim
// passes -run '^$').
func matchAll(pattern, name string) (bool, error) { return true, nil }
