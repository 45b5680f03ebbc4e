package reports

import (
	"slices"
	"testing"

	"github.com/shoaldb/shoal/core/env"
)

// TestTopologyEvents: an instance that joined a formed cluster (it
// bootstraps nothing) has its lane like the others, and the operators'
// joins and expels, admissions, the governor's steps and the final
// configuration are events of the log in words, kept before Raft's own
// when the log must drop some.
func TestTopologyEvents(t *testing.T) {
	var trace []env.Record
	add := func(ms int64, node env.NodeID, kind string, fields ...env.Field) {
		trace = append(trace, env.Record{Time: ms * 1_000_000, Node: node, Kind: kind, Fields: fields})
	}
	for _, n := range []env.NodeID{"n1", "n2", "n3"} {
		add(0, n, "node.start", env.Int("inc", 1))
		add(0, n, "node.bootstrap", env.Int("instances", 3), env.Str("replicaset", "rs1"))
	}
	add(0, "c1", "node.start", env.Int("inc", 1))
	for k := range 30 {
		add(int64(100+k), "n1", "raft.conf", env.Str("group", "rs1"), env.Int("index", int64(k+2)), env.Str("voters", "n1,n2,n3"), env.Str("learners", ""))
	}
	add(1000, "runner", "topology.action", env.Str("id", "join-n4"), env.Str("action", "join"), env.Str("instance", "n4"),
		env.Str("via", "n1"), env.Bool("up", true), env.Int("timeout", 10_000_000_000), env.Str("domain", "zone=a"))
	add(1000, "n4", "node.start", env.Int("inc", 1))
	add(1050, "harness", "join.admitted", env.Str("instance", "n4"), env.Int("raft_id", 4), env.Str("from", "n1"))
	add(1100, "n4", "replicaset.found", env.Str("replicaset", "rs2"), env.Int("group", 2))
	add(1200, "n1", "governor.step", env.Str("id", "gov-n1-1-1"), env.Str("op", "voters"), env.Str("instance", ""),
		env.Str("state", ""), env.Str("voters", "n1,n2,n3,n4"), env.Str("reason", ""))
	add(3000, "n1", "governor.step", env.Str("id", "gov-n1-1-2"), env.Str("op", "offline"), env.Str("instance", "n3"),
		env.Str("state", ""), env.Str("voters", ""), env.Str("reason", "not heard from for 3s"))
	add(5000, "runner", "topology.action", env.Str("id", "expel-n3"), env.Str("action", "expel"), env.Str("instance", "n3"),
		env.Str("via", "n2"), env.Bool("up", false), env.Int("timeout", 10_000_000_000), env.Bool("force", true))
	add(9000, "runner", "topology.final", env.Str("leader", "n1"), env.Str("voters", "n1,n2,n4"),
		env.Str("replicasets", "rs1=n1+n2,rs2=n4"), env.Bool("settled", true))

	caps := defaultCaps
	caps.events = 16 // the lifecycles and the changes of shape; none of the raft.conf records
	d := buildData(Run{Trace: trace}, caps)
	var nodes []string
	for _, i := range d.Nodes {
		nodes = append(nodes, d.Strings[i])
	}
	if want := []string{"n1", "n2", "n3", "n4"}; !slices.Equal(nodes, want) {
		t.Errorf("instances %v, want %v", nodes, want)
	}
	var texts []string
	for _, i := range d.Events.Text {
		texts = append(texts, d.Strings[i])
	}
	for _, want := range []string{
		"operator: join n4 via n1 (zone=a)",
		"n4 admitted (Raft ID 4, from n1's configuration): its engine starts",
		"n4 founds rs2",
		"governor: group 0's voters become n1,n2,n3,n4",
		"governor: n3 headed offline (not heard from for 3s)",
		"operator: expel n3 via n2, forced; n2 is down",
		"final configuration: voters n1,n2,n4; replicasets rs1=n1,n2,rs2=n4",
	} {
		if !slices.Contains(texts, want) {
			t.Errorf("the event log lacks %q; it has:\n%q", want, texts)
		}
	}
	if d.Events.Total <= len(texts) {
		t.Errorf("the log kept %d of %d events: the test wants it to drop some", len(texts), d.Events.Total)
	}
}
