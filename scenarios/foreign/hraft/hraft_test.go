package hraft_test

import (
	"testing"

	"github.com/shoaldb/shoal/scenarios/foreign/hraft"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// leaderIsolation is the write load of the built-in leader-isolation
// scenario: as many nodes, its kv workload's rate times its write share,
// on its keys, for as long as its clients run (duration and recovery).
// Its partition is not reproduced: the cluster runs fault-free.
func leaderIsolation(tb testing.TB, seed uint64) hraft.Workload {
	tb.Helper()
	s, err := library.Load("leader-isolation")
	if err != nil {
		tb.Fatal(err)
	}
	for _, wl := range s.Workloads {
		if wl.Kind == scenario.KV {
			m := wl.Mix
			share := m.Write / (m.Read + m.Write + m.CAS + m.Delete + m.StaleRead)
			return hraft.Workload{Nodes: s.Cluster.Instances, Rate: wl.Rate * share,
				Duration: s.Duration + s.Final.Recover, Keys: wl.Keys, Seed: seed}
		}
	}
	tb.Fatal("leader-isolation has no kv workload")
	return hraft.Workload{}
}

// checkRun fails a run that never elected a leader or applied nothing:
// its figures would measure an idle cluster.
func checkRun(tb testing.TB, what string, r hraft.Result) {
	tb.Helper()
	if len(r.Leaders) == 0 {
		tb.Fatalf("%s: no leader was ever elected", what)
	}
	if r.Applied == 0 {
		tb.Fatalf("%s: no write applied (%d attempted)", what, r.Attempted)
	}
}

// TestLeaderHistoryReplay runs seed 1 twice and logs whether the two
// leader histories agree. Disagreement is the expected finding, not a
// failure: hashicorp/raft's election jitter comes from math/rand's global
// source and its goroutines race, and the seed reaches neither.
func TestLeaderHistoryReplay(t *testing.T) {
	w := leaderIsolation(t, 1)
	a, b := hraft.Run(t, w), hraft.Run(t, w)
	checkRun(t, "run 1", a)
	checkRun(t, "run 2", b)
	for i, r := range []hraft.Result{a, b} {
		t.Logf("run %d: %d of %d writes applied in %s virtual, %s wall; leaders: %v", i+1, r.Applied, r.Attempted, r.Virtual, r.Wall.Round(1e6), r.Leaders)
	}
	switch i := hraft.FirstDifference(a.Leaders, b.Leaders); {
	case i < 0:
		t.Logf("2 runs of seed 1: leader histories identical (%d changes)", len(a.Leaders))
	default:
		t.Logf("2 runs of seed 1: leader histories differ at change %d: %s vs %s", i+1, change(a.Leaders, i), change(b.Leaders, i))
	}
}

func change(h []hraft.LeaderChange, i int) string {
	if i >= len(h) {
		return "none"
	}
	return h[i].String()
}
