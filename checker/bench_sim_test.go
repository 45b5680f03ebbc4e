package checker_test

import (
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/runner"
)

// BenchmarkLinearizableSimulated checks the histories of simulated runs,
// the histories the checker judges in practice: the built-in
// leader-isolation scenario (five instances, the data leader cut off for
// 10s) on seed 1, its workload scaled to about 10k and 100k operations
// (clients and keys as reports' size tests scale them). The engine must
// be linearizable, so every check must say valid; ops/s counts the
// history's operations. Building the 100k history simulates a run, which
// takes seconds; that is setup, not timed. The histories change when the
// engine does; BenchmarkLinearizable's generated ones do not.
func BenchmarkLinearizableSimulated(b *testing.B) {
	for _, sz := range []struct {
		name               string
		ops, clients, keys int
	}{{"10k", 10_000, 16, 64}, {"100k", 100_000, 64, 512}} {
		b.Run("leader-isolation-"+sz.name, func(b *testing.B) {
			h := simulatedHistory(b, sz.ops, sz.clients, sz.keys)
			ops, n := len(h.Ops()), 0
			for b.Loop() {
				if r := checker.Linearizable(h, time.Minute).Result; r.Verdict != checker.Valid {
					b.Fatalf("%s: %s", r.Verdict, r.Explanation)
				}
				n++
			}
			b.ReportMetric(float64(ops*n)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// simulatedHistory runs leader-isolation with clients clients on keys
// keys at the rate that starts about ops operations while the workload
// runs, and returns its history. Operations stuck behind the cut-off
// leader start no others, so a run makes somewhat fewer; the log says
// how many.
func simulatedHistory(b *testing.B, ops, clients, keys int) *checker.History {
	b.Helper()
	s, err := library.Load("leader-isolation")
	if err != nil {
		b.Fatal(err)
	}
	if len(s.Workloads) != 1 {
		b.Fatalf("leader-isolation has %d workloads, want its one kv workload", len(s.Workloads))
	}
	wl := &s.Workloads[0]
	wl.Clients, wl.Keys = clients, keys
	wl.Rate = float64(ops) / (s.Duration + s.Final.Recover).Seconds()
	o, err := runner.Run(s, runner.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	h := checker.FromTrace(o.Records)
	info := 0
	all := h.Ops()
	for _, op := range all {
		if op.Outcome == checker.Info {
			info++
		}
	}
	b.Logf("%s seed 1, %d clients at %.0f ops/s on %d keys: %d operations (%d unknown), simulated in %s",
		s.Name, clients, wl.Rate, keys, len(all), info, o.Simulate.Round(time.Millisecond))
	return h
}
