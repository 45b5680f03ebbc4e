package runner

import (
	"fmt"
	"slices"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

func parse(t *testing.T, src string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRun(t *testing.T, s *scenario.Scenario, seed uint64) *Outcome {
	t.Helper()
	o, err := Run(s, Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func result(t *testing.T, o *Outcome, name string) checker.Result {
	t.Helper()
	for _, r := range o.Results.Checkers {
		if r.Checker == name {
			return r
		}
	}
	t.Fatalf("no %s result in %+v", name, o.Results.Checkers)
	return checker.Result{}
}

// Two workloads, kv and config, through a minority cut off: operator
// actions commit and are judged by the quorum check, two kv workloads
// share the keys without sharing process numbers, and every check holds.
func TestWorkloadsTogether(t *testing.T) {
	s := parse(t, `name: together
cluster: {instances: 5}
workload:
  - {kind: kv, clients: 3, keys: 4, rate: 60}
  - {kind: kv, clients: 2, keys: 6, rate: 40, target: leader, mix: {read: 1, write: 1, delete: 1}}
  - {kind: config, clients: 2, rate: 4}
duration: 12s
nemesis:
  - {at: 3s, for: 4s, fault: partition, shape: minority-third}
final: {recover: 4s}
`)
	if !slices.Contains(s.Checks, scenario.CheckQuorum) {
		t.Fatalf("checks %v: a config workload makes quorum a default", s.Checks)
	}
	o := mustRun(t, s, 3)
	for _, r := range o.Results.Checkers {
		if r.Verdict != checker.Valid {
			t.Errorf("%s: %s: %s", r.Checker, r.Verdict, r.Explanation)
		}
	}
	// Each client's operations, and only its, use its process numbers.
	owner := map[int]string{}
	actions := 0
	for _, r := range o.Records {
		switch r.Kind {
		case "client.invoke":
			p, _ := r.Int("process")
			if prev, ok := owner[int(p)]; ok && prev != string(r.Node) {
				t.Fatalf("process %d used by %s and %s", p, prev, r.Node)
			}
			owner[int(p)] = string(r.Node)
		case "prop.result":
			if out, _ := r.Str("outcome"); out == "ok" {
				actions++
			}
		}
	}
	if len(owner) < 6 || actions < 20 {
		t.Fatalf("%d processes, %d operator actions ok: the workloads did not run", len(owner), actions)
	}
	keys := 0
	for _, r := range o.Records {
		if r.Kind == "client.invoke" && r.Node == "final" {
			keys++
		}
	}
	if keys != 6 {
		t.Fatalf("the final reader read %d keys, want the 6 of the widest workload", keys)
	}
}

// Without the final heal a kill that lasts until the heal lasts to the
// end, and progress is not a check.
func TestNoHeal(t *testing.T) {
	s := parse(t, `name: no-heal
workload: {clients: 2, rate: 20}
duration: 6s
nemesis:
  - {at: 2s, fault: kill, target: n3}
final: {heal: false, recover: 2s}
`)
	if slices.Contains(s.Checks, scenario.CheckProgress) {
		t.Fatalf("checks %v include progress without a heal", s.Checks)
	}
	o := mustRun(t, s, 1)
	starts := 0
	for _, r := range o.Records {
		if r.Kind == "node.start" && r.Node == "n3" {
			starts++
		}
		if r.Kind == "nemesis.heal" {
			t.Fatal("healed without final.heal")
		}
	}
	if starts != 1 {
		t.Fatalf("n3 started %d times; the kill should last to the end", starts)
	}
	if o.Results.Verdict != checker.Valid {
		t.Fatalf("verdict %s: %+v", o.Results.Verdict, o.Results.Checkers)
	}
}

// The same scenario and seed give the same trace; another seed, another.
func TestRunIsAFunctionOfTheSeed(t *testing.T) {
	s := parse(t, `name: seeds
workload: {clients: 2, rate: 50}
duration: 5s
nemesis:
  - {every: 1s, for: 300ms, fault: pause, target: random}
final: {recover: 1s}
`)
	a, b, c := mustRun(t, s, 9), mustRun(t, s, 9), mustRun(t, s, 10)
	if a.Meta.TraceSHA256 != b.Meta.TraceSHA256 {
		t.Fatal("the same seed gave two traces")
	}
	if a.Meta.TraceSHA256 == c.Meta.TraceSHA256 {
		t.Fatal("two seeds gave one trace")
	}
	if got := fmt.Sprint(result(t, a, "linearizable").Verdict); got != "valid" {
		t.Fatalf("linearizable: %s", got)
	}
}
