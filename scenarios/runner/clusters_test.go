package runner

import (
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
)

func TestQualify(t *testing.T) {
	for _, tc := range []struct{ cluster, id, want string }{
		{"dc1", "n3", "dc1-n3"},
		{"dc1", "n12", "dc1-n12"},
		{"dc1", "leader", "leader"},
		{"dc1", "random", "random"},
		{"dc1", "n", "n"},
		{"dc1", "nx", "nx"},
		{"", "n3", "n3"},
	} {
		if got := qualify(tc.cluster, tc.id); got != tc.want {
			t.Errorf("qualify(%q, %q) = %q, want %q", tc.cluster, tc.id, got, tc.want)
		}
	}
	f := qualifyFault(nemesis.Fault{Kind: nemesis.Partition, Cluster: "dc2", Components: [][]env.NodeID{{"n1"}, {"n2", "n3"}}})
	if want := [][]env.NodeID{{"dc2-n1"}, {"dc2-n2", "dc2-n3"}}; !slices.EqualFunc(f.Components, want, slices.Equal) {
		t.Errorf("components %v, want %v", f.Components, want)
	}
	if f := qualifyFault(nemesis.Fault{Kind: nemesis.Kill, Target: "n1"}); f.Target != "n1" {
		t.Errorf("a fault of no cluster became %+v", f)
	}
}

// Two clusters, dc1 replicating to dc2 while the dc links are cut for a
// while and a dc2 instance is killed: every check but replication runs
// per cluster under its own name, on the cluster's part of the trace;
// replication runs once, on the whole; the run replays exactly.
func TestClustersRunAndCheckApart(t *testing.T) {
	s := parse(t, `name: two
clusters:
  - {name: dc1, model: example, pipeline: example-dc1}
  - {name: dc2, model: example, pipeline: example-dc2-receive}
workload: [{kind: objects, rate: 40}, {kind: kv, cluster: dc2, target: n1}]
duration: 8s
nemesis:
  - {at: 2s, for: 3s, fault: dclink, mode: cut}
  - {at: 3s, for: 2s, fault: kill, cluster: dc2, target: n2}
final: {recover: 2s}
`)
	o := mustRun(t, s, 1)
	var names []string
	for _, r := range o.Results.Checkers {
		names = append(names, r.Checker)
	}
	want := []string{"linearizable[dc1]", "linearizable[dc2]", "raft-safety[dc1]", "raft-safety[dc2]", "durability[dc1]", "durability[dc2]",
		"convergence[dc1]", "convergence[dc2]", "partitions[dc1]", "partitions[dc2]", "progress[dc1]", "progress[dc2]",
		"faults[dc1]", "faults[dc2]", "model[dc1]", "model[dc2]", "outbound[dc1]", "outbound[dc2]", "replication"}
	if !slices.Equal(names, want) {
		t.Fatalf("results %v,\nwant %v", names, want)
	}
	for _, name := range []string{"durability[dc1]", "model[dc2]"} {
		if r := result(t, o, name); r.Verdict != checker.NA {
			t.Errorf("%s: %s (%s), want n/a: the cluster has no workload of its kind", name, r.Verdict, r.Explanation)
		}
	}
	// linearizable[dc1] judges dc1's objects; linearizable[dc2] only
	// dc2's kv workload, as dc1's changes rewrite dc2's objects.
	for _, name := range []string{"raft-safety[dc1]", "raft-safety[dc2]", "linearizable[dc1]", "linearizable[dc2]", "convergence[dc2]", "faults[dc2]", "model[dc1]"} {
		if r := result(t, o, name); r.Verdict != checker.Valid {
			t.Errorf("%s: %s (%s)", name, r.Verdict, r.Explanation)
		}
	}
	if r := result(t, o, "faults[dc1]"); !strings.Contains(r.Explanation, "1 of 1") {
		t.Errorf("faults[dc1] judged %q: dc1's part has the dclink step and not dc2's kill", r.Explanation)
	}
	dc2 := Part(s, o.Records, "dc2")
	for _, r := range dc2 {
		if strings.HasPrefix(string(r.Node), "dc1-") || r.Node == "ext/to-dc2" {
			t.Fatalf("dc2's part holds %s's %s", r.Node, r.Kind)
		}
	}
	if !slices.ContainsFunc(dc2, func(r env.Record) bool { return r.Kind == "client.ok" && r.Node == "dc2-c1" }) {
		t.Errorf("dc2's part lacks its clients' history")
	}
	again := mustRun(t, s, 1)
	if again.Meta.TraceSHA256 != o.Meta.TraceSHA256 {
		t.Errorf("a second run of seed 1 traced %s, the first %s", again.Meta.TraceSHA256, o.Meta.TraceSHA256)
	}
}
