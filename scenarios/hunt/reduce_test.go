package hunt

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// The tests here give the reducer a Test that judges a candidate by its
// file alone, without a simulation, so that what it must find is known.

func mustParse(t *testing.T, src string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s.Checks = Checks(s)
	return s
}

// noisy has two steps that matter (the kill of n2 and the clock strobe)
// among five that do not, a pick, a repeating step and a heavy workload.
const noisy = `
name: noisy
cluster: {instances: 5}
workload: {kind: kv, clients: 8, keys: 16, rate: 160}
duration: 20s
nemesis:
  - {at: 1s, fault: partition, shape: halves, for: 2s}
  - {every: 2s, start: 3s, fault: kill, target: leader, for: 1600ms}
  - {at: 4s, fault: link, loss: 0.2, delay: {dist: uniform, min: 1ms, max: 9ms}, duplicate: 0.1, for: 3s}
  - {at: 5s, fault: pause, target: minority, for: 1s}
  - {at: 6s, for: 8s, pick: [{fault: clock, target: n3, strobe: {offset: 1s, period: 100ms}}, {fault: disk, target: n1, errors: [write]}]}
  - {at: 7s, fault: disk, target: all, errors: [write, sync, read], probability: 0.5, for: 2s}
  - {at: 8s, fault: partition, shape: majority, for: 4s}
final: {recover: 10s}
`

// fails is the synthetic failure: a kill of n2 (or of the leader, which
// the trial says was n2) lasting at least 400ms, and a clock strobe, both
// starting by 10s, with at least two kv clients.
func fails(s *scenario.Scenario) Trial {
	t := Trial{At: 11 * time.Second, Steps: map[int][]Occurrence{}}
	kill, clock := false, false
	for i, st := range s.Nemesis {
		start := st.At
		if st.Every > 0 {
			start = st.Start
		}
		alts := st.Pick
		if st.Fault != nil {
			alts = []nemesis.Fault{*st.Fault}
		}
		for _, f := range alts {
			switch {
			case f.Kind == nemesis.Kill && (f.Target == "n2" || f.Target == nemesis.TargetLeader) && st.For >= 400*time.Millisecond && start <= 10*time.Second:
				kill = true
				t.Steps[i] = []Occurrence{{At: start, Kind: nemesis.Kill, Targets: []env.NodeID{"n2"}}, {At: start + st.Every, Kind: nemesis.Kill, Targets: []env.NodeID{"n4"}}}
			case f.Kind == nemesis.Clock && f.Strobe != nil && start <= 10*time.Second:
				clock = true
			}
		}
	}
	t.Failed = kill && clock && len(s.Workloads) > 0 && s.Workloads[0].Clients >= 2
	return t
}

func reduce(t *testing.T, s *scenario.Scenario, budget int) (*scenario.Scenario, *Reducer) {
	t.Helper()
	r := &Reducer{Budget: budget, Test: func(c *scenario.Scenario) (Trial, error) {
		if _, err := scenario.Parse("candidate.yaml", scenario.Marshal(c)); err != nil {
			t.Fatalf("the reducer ran an invalid candidate: %v", err)
		}
		return fails(c), nil
	}}
	out, err := r.Reduce(s, fails(s))
	if err != nil {
		t.Fatal(err)
	}
	if !fails(out).Failed {
		t.Fatalf("the reduced scenario does not fail:\n%s", scenario.Marshal(out))
	}
	return out, r
}

func TestReduceFindsTheStepsThatMatter(t *testing.T) {
	s := mustParse(t, noisy)
	out, r := reduce(t, s, 200)
	if len(out.Nemesis) != 2 {
		t.Fatalf("%d steps left, want the kill and the clock:\n%s", len(out.Nemesis), scenario.Marshal(out))
	}
	kill, clock := out.Nemesis[0], out.Nemesis[1]
	if kill.Fault == nil || kill.Fault.Kind != nemesis.Kill || kill.Fault.Target != "n2" || kill.Every != 0 || kill.At != 3*time.Second {
		t.Errorf("the kill should be one occurrence at 3s of a kill of n2: %+v %+v", kill, kill.Fault)
	}
	if kill.For != 400*time.Millisecond {
		t.Errorf("the kill lasts %s; halving 1.6s while it fails gives 400ms", kill.For)
	}
	if clock.Fault == nil || clock.Fault.Kind != nemesis.Clock || len(clock.Pick) != 0 {
		t.Errorf("the pick should be its clock alternative: %+v", clock)
	}
	if clock.For != 100*time.Millisecond {
		t.Errorf("the clock step lasts %s; halving 8s while it fails gives 100ms", clock.For)
	}
	if w := out.Workloads[0]; w.Clients != 2 || w.Rate != 20 || w.Keys != 16 {
		t.Errorf("workload %+v: want 2 clients (the least that fails), rate 20 (the floor), keys left alone", w)
	}
	if out.Duration != 8*time.Second || out.Final.Recover != MinRecover {
		t.Errorf("duration %s, recover %s: want a second past the end of the last fault (6.1s, rounded up), and %s", out.Duration, out.Final.Recover, MinRecover)
	}
	if r.Runs() > 200 {
		t.Errorf("%d runs, over the budget", r.Runs())
	}
	t.Logf("%d runs:\n%s", r.Runs(), scenario.Marshal(out))

	// The same reduction again gives the same file.
	again, r2 := reduce(t, s, 200)
	if !bytes.Equal(scenario.Marshal(out), scenario.Marshal(again)) || r.Runs() != r2.Runs() {
		t.Error("two reductions of the same scenario differ")
	}
}

// TestReduceKeepsToItsBudget: with a budget of a few runs the reducer
// stops after them, with the best it found so far, and a larger budget
// never gives a larger result.
func TestReduceKeepsToItsBudget(t *testing.T) {
	s := mustParse(t, noisy)
	prev := len(s.Nemesis) + 1
	for _, budget := range []int{1, 3, 10, 40} {
		out, r := reduce(t, s, budget)
		if r.Runs() > budget {
			t.Errorf("budget %d: %d runs", budget, r.Runs())
		}
		if len(out.Nemesis) > prev {
			t.Errorf("budget %d: %d steps, more than a smaller budget left (%d)", budget, len(out.Nemesis), prev)
		}
		prev = len(out.Nemesis)
	}
}

// TestReduceToNoSteps: a failure that needs no fault loses every step.
func TestReduceToNoSteps(t *testing.T) {
	s := mustParse(t, noisy)
	r := &Reducer{Budget: 50, Test: func(c *scenario.Scenario) (Trial, error) {
		return Trial{Failed: true, At: -1}, nil
	}}
	out, err := r.Reduce(s, Trial{Failed: true, At: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Nemesis) != 0 || r.Runs() == 0 {
		t.Fatalf("%d steps left after %d runs", len(out.Nemesis), r.Runs())
	}
}

// TestReduceSides: a partition shape becomes the sides it cut, when
// those still fail.
func TestReduceSides(t *testing.T) {
	s := mustParse(t, `
name: sides
cluster: {instances: 5}
duration: 10s
nemesis:
  - {at: 2s, fault: partition, shape: isolate-leader, for: 4s}
`)
	sides := [][]env.NodeID{{"n4"}, {"n1", "n2", "n3", "n5"}}
	test := func(c *scenario.Scenario) Trial {
		st := c.Nemesis
		ok := len(st) == 1 && st[0].For >= 2*time.Second &&
			(st[0].Fault.Shape == nemesis.IsolateLeader || slices.EqualFunc(st[0].Fault.Components, [][]env.NodeID{{"n4"}}, slices.Equal))
		return Trial{Failed: ok, At: -1, Steps: map[int][]Occurrence{0: {{At: 2 * time.Second, Kind: nemesis.Partition, Sides: sides}}}}
	}
	r := &Reducer{Budget: 50, Test: func(c *scenario.Scenario) (Trial, error) { return test(c), nil }}
	out, err := r.Reduce(s, test(s))
	if err != nil {
		t.Fatal(err)
	}
	f := out.Nemesis[0].Fault
	if f.Shape != "" || len(f.Components) != 1 || out.Nemesis[0].For != 2*time.Second {
		t.Fatalf("want components [[n4]] for 2s:\n%s", scenario.Marshal(out))
	}
}

func TestSidesOf(t *testing.T) {
	for what, want := range map[string]int{
		"isolate-leader: n3|n1,n2,n4,n5": 2,
		"components: n1,n3|n4,n6|n2,n5":  3,
		"bridge: n1-/-n3 n3-/-n1":        0,
		"majorities-ring: n1-/-n3":       0,
		"no leader":                      0,
	} {
		if got := sidesOf(what); len(got) != want {
			t.Errorf("sidesOf(%q) = %v, want %d sides", what, got, want)
		}
	}
}
