package hunt

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"pgregory.net/rapid"
)

// rapidSource draws a generator's choices from rapid, so that rapid can
// replay and shrink them.
type rapidSource struct{ t *rapid.T }

func (r rapidSource) IntN(n int, label string) int { return rapid.IntRange(0, n-1).Draw(r.t, label) }

// roundTrips fails unless s is what its file reads back as.
func roundTrips(t interface {
	Helper()
	Fatalf(string, ...any)
}, s *scenario.Scenario) {
	t.Helper()
	file := scenario.Marshal(s)
	again, err := scenario.Parse("drawn.yaml", file)
	if err != nil {
		t.Fatalf("a drawn scenario does not parse: %v\n%s", err, file)
	}
	if !reflect.DeepEqual(again, s) {
		t.Fatalf("a drawn scenario does not read back as itself:\n%s", file)
	}
	if !bytes.Equal(scenario.Marshal(again), file) {
		t.Fatalf("a drawn scenario's file changes when written again:\n%s", file)
	}
}

// TestPropGenerateValid: every scenario Generate draws, from rapid's
// choices, with and without a base, validates and reads back as itself,
// ends with a heal and a recovery, and uses only the vocabulary's names.
func TestPropGenerateValid(t *testing.T) {
	bases := []*scenario.Scenario{nil}
	for _, name := range library.Names() {
		b, err := library.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, b)
	}
	rapid.Check(t, func(rt *rapid.T) {
		base := rapid.SampledFrom(bases).Draw(rt, "base")
		s, err := Generate(rapidSource{rt}, base, "drawn")
		if err != nil {
			rt.Fatalf("%v", err)
		}
		roundTrips(rt, s)
		if !s.Final.Heal || (base == nil && s.Final.Recover < MinRecover) {
			rt.Fatalf("final %+v: every schedule ends with a heal and a recovery", s.Final)
		}
		if len(s.Nemesis) == 0 || slices.Contains(s.Checks, scenario.CheckFaults) {
			rt.Fatalf("%d steps, checks %v", len(s.Nemesis), s.Checks)
		}
		if base != nil && (!reflect.DeepEqual(s.Cluster, base.Cluster) || !reflect.DeepEqual(s.Workloads, base.Workloads) || s.Duration != base.Duration) {
			rt.Fatalf("a schedule for %s changed its cluster, workloads or duration", base.Name)
		}
	})
}

// TestGenerateCoversTheVocabulary draws schedules from seeded streams and
// requires every fault kind, partition shape and target word among them,
// and every topology.
func TestGenerateCoversTheVocabulary(t *testing.T) {
	kinds, shapes, targets, clusters := map[nemesis.Kind]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	repeat, pick, components, oneWay := false, false, false, false
	for i := range 500 {
		s, err := Generate(NewRand(7, uint64(i)), nil, "drawn")
		if err != nil {
			t.Fatal(err)
		}
		roundTrips(t, s)
		clusters[fmt.Sprintf("%+v", s.Cluster)] = true
		for _, st := range s.Nemesis {
			repeat = repeat || st.Every > 0
			pick = pick || len(st.Pick) > 0
			alts := st.Pick
			if st.Fault != nil {
				alts = []nemesis.Fault{*st.Fault}
			}
			for _, f := range alts {
				kinds[f.Kind] = true
				if f.Shape != "" {
					shapes[f.Shape] = true
				}
				components = components || len(f.Components) > 0
				oneWay = oneWay || f.OneWay
				if f.Target != "" {
					targets[f.Target] = true
				}
			}
		}
	}
	for _, k := range nemesis.Kinds {
		// Endpoint and broker faults need a pipeline with outbound
		// destinations or kafka connectors, which no drawn cluster has;
		// dclink faults several clusters, which no drawn scenario has.
		if !kinds[k] && k != nemesis.Endpoint && k != nemesis.Broker && k != nemesis.DCLink {
			t.Errorf("no %s fault in 500 schedules", k)
		}
	}
	for _, s := range nemesis.Shapes {
		if !shapes[s] {
			t.Errorf("no partition of shape %s in 500 schedules", s)
		}
	}
	for _, w := range nemesis.Targets {
		if !targets[w] {
			t.Errorf("no target %s in 500 schedules", w)
		}
	}
	for _, c := range topologies {
		if !clusters[fmt.Sprintf("%+v", c)] {
			t.Errorf("no cluster %+v in 500 schedules", c)
		}
	}
	if !targets["n1"] || !repeat || !pick || !components || !oneWay {
		t.Errorf("named target %v, every %v, pick %v, components %v, one-way links %v: want each", targets["n1"], repeat, pick, components, oneWay)
	}
}

// TestDrawIsDeterministic: a hunt's schedule i is the same file whenever
// it is drawn, and another seed or index draws another.
func TestDrawIsDeterministic(t *testing.T) {
	base, err := library.Load("restart-storm")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*scenario.Scenario{nil, base} {
		cfg := Config{Seed: 3, Base: b}
		a, seedA, err := Draw(cfg, 5)
		if err != nil {
			t.Fatal(err)
		}
		again, seedAgain, _ := Draw(cfg, 5)
		if !bytes.Equal(scenario.Marshal(a), scenario.Marshal(again)) || seedA != seedAgain {
			t.Fatal("schedule 5 of seed 3 drew two different scenarios")
		}
		other, _, _ := Draw(cfg, 6)
		other.Name = a.Name
		if bytes.Equal(scenario.Marshal(a), scenario.Marshal(other)) {
			t.Fatal("schedules 5 and 6 are the same")
		}
	}
}
