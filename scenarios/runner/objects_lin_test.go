package runner

import (
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// staleRun runs objects with stale reads on five replicas, one cut off
// for a while: its stale reads return replaced objects.
func staleRun(t *testing.T) (*scenario.Scenario, []env.Record) {
	t.Helper()
	s := parse(t, `name: stale-objects
cluster: {instances: 5, replication_factor: 5, model: example}
network: {latency: {dist: uniform, min: 1ms, max: 5ms}}
workload:
  - {kind: objects, clients: 4, keys: 2, rate: 100, target: random, mix: {read: 1, write: 2, stale_read: 1}}
duration: 10s
nemesis:
  - {at: 2s, fault: partition, shape: one, for: 5s}
final: {heal: true, recover: 3s}
`)
	if !slices.Contains(s.Checks, scenario.CheckLinearizable) {
		t.Fatalf("an objects workload does not get the linearizable check by default: %v", s.Checks)
	}
	return s, mustRun(t, s, 1).Records
}

// The objects' history, stale reads left out, is linearizable; the same
// history with the stale reads counted as linearizable ones is not, and
// the stale reads that returned replaced objects are counted.
func TestObjectsLinearizable(t *testing.T) {
	s, recs := staleRun(t)
	res, _ := linearizable(s, recs)
	if res.Verdict != checker.Valid {
		t.Fatalf("linearizable: %s: %s", res.Verdict, res.Explanation)
	}
	returned, replaced, err := StaleObjectReads(s, recs)
	if err != nil {
		t.Fatal(err)
	}
	if returned == 0 || replaced == 0 || replaced > returned {
		t.Fatalf("%d stale reads returned, %d of them replaced objects; want some of some", returned, replaced)
	}
	if !strings.Contains(res.Explanation, "stale object read") {
		t.Errorf("the explanation does not mention the stale reads: %s", res.Explanation)
	}
	// Drop the stale marks: what the stale reads returned now counts.
	unmarked := slices.Clone(recs)
	for i := range unmarked {
		r := &unmarked[i]
		if stale, _ := r.Bool("stale"); stale && !isFinalObjectRead(r) {
			r.Fields = slices.DeleteFunc(slices.Clone(r.Fields), func(f env.Field) bool { return f.Key == "stale" })
		}
	}
	if res, _ := linearizable(s, unmarked); res.Verdict != checker.Invalid {
		t.Errorf("with the stale reads counted: %s, want invalid: %s", res.Verdict, res.Explanation)
	}
}

// A linearizable read that returns another object than the last one
// written, long after, is caught.
func TestObjectsLinearizableCatchesAWrongRead(t *testing.T) {
	s, recs := objectsRun(t)
	if res, _ := linearizable(s, recs); res.Verdict != checker.Valid {
		t.Fatalf("linearizable: %s: %s", res.Verdict, res.Explanation)
	}
	// The last linearizable read that found an object reads another
	// object of its type written to another key: a value never written
	// to this one.
	bad := slices.Clone(recs)
	reads := map[string]int{} // label → its last ok read with an object
	for i := range bad {
		r := &bad[i]
		if r.Kind == "client.ok" && str(r, "f") == "read-object" && !isFinalObjectRead(r) {
			if absent, _ := r.Bool("absent"); !absent {
				reads[str(r, "key")] = i
			}
		}
	}
	var labels []string
	for l := range reads {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	var from, to int = -1, -1
	for _, a := range labels {
		for _, b := range labels {
			ta, _, _ := strings.Cut(a, "/")
			tb, _, _ := strings.Cut(b, "/")
			if a != b && ta == tb && str(&bad[reads[a]], "value") != str(&bad[reads[b]], "value") {
				from, to = reads[b], reads[a]
			}
		}
	}
	if to < 0 {
		t.Fatal("no two objects of one type were read")
	}
	set(&bad[to], env.Str("value", str(&bad[from], "value")))
	set(&bad[to], env.Int("version", mustInt(t, &bad[from], "version")))
	if res, _ := linearizable(s, bad); res.Verdict != checker.Invalid {
		t.Errorf("a read of another key's object: %s, want invalid: %s", res.Verdict, res.Explanation)
	}
}

func mustInt(t *testing.T, r *env.Record, key string) int64 {
	t.Helper()
	v, ok := r.Int(key)
	if !ok {
		t.Fatalf("%s has no %s", r.Kind, key)
	}
	return v
}
