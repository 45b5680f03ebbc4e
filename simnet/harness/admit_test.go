package harness

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
)

// TestJoinsAreAdmittedInCommitOrder: a join proposed where it cannot
// commit waits, and a later join that commits first takes the next Raft
// ID. Each joining process starts its engine only once a member applied
// its join, with the Raft ID the configuration gave it: n5, joined second
// but committed first, is Raft ID 4, and n4 is 5 once the partition heals.
// Both end as members of group 0.
func TestJoinsAreAdmittedInCommitOrder(t *testing.T) {
	w, c := start(t, 3, Topology{Instances: 3}, node.Config{})
	runUntil(t, w, 2*time.Second)
	cut := waitLeader(t, w, c, "config", 2*time.Second)
	var others []env.NodeID
	for _, n := range c.Instances() {
		if n != cut {
			others = append(others, n)
		}
	}
	mustPartition(t, w, []env.NodeID{cut}, others)
	if err := c.Join("n4", cut, nil, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, w.Now()+3*time.Second)
	if err := c.Join("n5", others[0], nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, w.Now()+2*time.Second)
	if c.Node("n4") != nil || c.Node("n5") == nil {
		t.Fatalf("before the heal: n4's engine runs %v (want not), n5's %v (want it)", c.Node("n4") != nil, c.Node("n5") != nil)
	}
	if got := c.Serving(); slices.Contains(got, "n4") || !slices.Contains(got, "n5") {
		t.Errorf("serving %v before the heal: want n5 and not n4", got)
	}
	w.Heal()
	runUntil(t, w, w.Now()+5*time.Second)

	recs := records(t, w)
	admitted := map[string]int64{}
	var confs []string
	for _, r := range recs {
		switch r.Kind {
		case "raft.ack":
			// A leader names who acknowledged by Raft ID: an engine that
			// started with another instance's ID would be taken for it.
			if from, _ := r.Str("from"); strings.HasPrefix(from, "n") && from > "n3" {
				if _, ok := admitted[from]; !ok {
					t.Fatalf("%s acknowledged %s's entries at %s, before it was admitted", from, r.Node, time.Duration(r.Time))
				}
			}
		case "join.admitted":
			name, _ := r.Str("instance")
			admitted[name], _ = r.Int("raft_id")
		case "raft.conf":
			if g, _ := r.Str("group"); g == "config" && r.Node == others[0] {
				v, _ := r.Str("voters")
				l, _ := r.Str("learners")
				confs = append(confs, v+","+l)
			}
		}
	}
	if admitted["n5"] != 4 || admitted["n4"] != 5 {
		t.Errorf("admitted with Raft IDs %v, want n5 4 and n4 5", admitted)
	}
	for _, name := range []env.NodeID{"n4", "n5"} {
		n := c.Node(name)
		if n == nil {
			t.Fatalf("%s's engine does not run after the heal", name)
		}
		in, ok := n.Configuration().Instance(name)
		if !ok || int64(in.RaftID) != admitted[string(name)] {
			t.Errorf("%s's own configuration has it as %+v, admitted as %d", name, in, admitted[string(name)])
		}
	}
	// Every instance has applied group 0 as far as the others: each
	// engine took part in the group under its own Raft ID.
	applied := map[env.NodeID]uint64{}
	for _, name := range c.Instances() {
		if st, ok := c.Status(name, "config"); ok {
			applied[name] = st.Applied
		}
	}
	for _, name := range c.Instances() {
		if applied[name] != applied["n1"] {
			t.Errorf("group 0 applied at the end: %v; want all alike", applied)
			break
		}
	}
	if len(confs) == 0 || !strings.Contains(confs[len(confs)-1], "n4") || !strings.Contains(confs[len(confs)-1], "n5") {
		t.Errorf("group 0's memberships on %s: %v; want the last with n4 and n5", others[0], confs)
	}
	requireSafe(t, recs)
}
