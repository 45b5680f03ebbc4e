package library

import (
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/scenarios/runner"
)

// BenchmarkScenarios runs each built-in scenario once per iteration, on
// seed iteration+1, as `shoal sim run` does but without writing a run
// directory, and reports what a search over seeds can afford: sim-s/wall-s
// is virtual time per wall second spent simulating (the runner's Simulate
// phase: building and running the World and reading its trace back), and
// seeds/h is whole runs per hour, simulation and every check included,
// one process running them one after another. ns/op is set aside: it is the
// same figure as seeds/h, upside down. Each run's verdict must be the one
// its scenario expects, as the library's tests require on the first
// seeds, so a run that went wrong quickly cannot pass for a fast one.
func BenchmarkScenarios(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			s, err := Load(name)
			if err != nil {
				b.Fatal(err)
			}
			var seed uint64
			var virtual, simulate time.Duration
			for b.Loop() {
				seed++
				o, err := runner.Run(s, runner.Options{Seed: seed})
				if err != nil {
					b.Fatalf("%s seed %d: %v", name, seed, err)
				}
				if want := checker.Verdict(s.Expect); o.Results.Verdict != want {
					b.Fatalf("%s seed %d: verdict %s, want %s (go run ./cmd/shoal sim run %s --seed %d)", name, seed, o.Results.Verdict, want, name, seed)
				}
				virtual += time.Duration(o.Meta.VirtualNanos)
				simulate += o.Simulate
			}
			wall := b.Elapsed()
			b.ReportMetric(virtual.Seconds()/simulate.Seconds(), "sim-s/wall-s")
			b.ReportMetric(float64(seed)/wall.Hours(), "seeds/h")
			b.ReportMetric(0, "ns/op")
		})
	}
}
