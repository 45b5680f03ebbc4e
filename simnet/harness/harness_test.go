package harness

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/scenarios/replaytest"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
)

// start opens a world and starts a cluster in it; both close with the test.
func start(t testing.TB, seed uint64, topo Topology, cfg node.Config) (*simnet.World, *Cluster) {
	t.Helper()
	return startWorld(t, simnet.Config{Seed: seed, KeepTrace: true}, topo, cfg)
}

// startWorld is start with the world's own configuration.
func startWorld(t testing.TB, wc simnet.Config, topo Topology, cfg node.Config) (*simnet.World, *Cluster) {
	t.Helper()
	w, err := simnet.New(wc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	c, err := Start(w, topo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w, c
}

func mustPartition(t testing.TB, w *simnet.World, components ...[]env.NodeID) {
	t.Helper()
	if err := w.Partition(components...); err != nil {
		t.Fatal(err)
	}
}

func runUntil(t testing.TB, w *simnet.World, until time.Duration) {
	t.Helper()
	if err := w.Run(until); err != nil {
		t.Fatal(err)
	}
}

func records(t testing.TB, w *simnet.World) []env.Record {
	t.Helper()
	recs, err := w.Records()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// outcomes maps each proposal ID to its prop.result record.
func outcomes(recs []env.Record) map[string]env.Record {
	out := map[string]env.Record{}
	for _, r := range recs {
		if r.Kind == "prop.result" {
			id, _ := r.Str("id")
			out[id] = r
		}
	}
	return out
}

func outcome(r env.Record) string { s, _ := r.Str("outcome"); return s }

// requireSafe fails the test unless the Raft safety checker finds the run
// valid, and no other checker finds it anything but valid or n/a.
func requireSafe(t testing.TB, recs []env.Record) {
	t.Helper()
	if res := checker.RaftSafety(recs); res.Verdict != checker.Valid {
		t.Fatalf("raft-safety: %s: %s", res.Verdict, res.Explanation)
	}
	h := checker.FromTrace(recs)
	for _, res := range []checker.Result{checker.Linearizable(h, 30*time.Second).Result, checker.Durability(h),
		checker.Quorum(recs), checker.Convergence(recs), checker.Partitions(recs)} {
		if res.Verdict != checker.Valid && res.Verdict != checker.NA {
			t.Fatalf("%s: %s: %s", res.Checker, res.Verdict, res.Explanation)
		}
	}
}

// members lists the instances of a group: every instance for "config".
func members(c *Cluster, group string) []env.NodeID {
	if group == "config" {
		return c.Names
	}
	rs, _ := c.Bootstrap().Replicaset(group)
	return rs.Members
}

// requireConverged fails unless every running member of the group has
// applied the same entries and holds the same state.
func requireConverged(t testing.TB, c *Cluster, group string) node.Status {
	t.Helper()
	var first node.Status
	var firstName env.NodeID
	for _, name := range members(c, group) {
		st, ok := c.Status(name, group)
		if !ok {
			continue
		}
		if firstName == "" {
			first, firstName = st, name
			continue
		}
		if st.Applied != first.Applied || st.Digest != first.Digest {
			t.Fatalf("%s: %s applied %d (state %s), %s applied %d (state %s)", group, firstName, first.Applied, first.Digest, name, st.Applied, st.Digest)
		}
	}
	return first
}

func waitLeader(t testing.TB, w *simnet.World, c *Cluster, group string, limit time.Duration) env.NodeID {
	t.Helper()
	deadline := w.Now() + limit
	for w.Now() < deadline {
		if l, ok := c.Leader(group); ok {
			return l
		}
		runUntil(t, w, w.Now()+10*time.Millisecond)
	}
	t.Fatalf("no leader of %s by %s", group, w.Now())
	return ""
}

var topologies = []struct {
	name string
	topo Topology
}{
	{"3 instances", Topology{Instances: 3}},
	{"5 instances", Topology{Instances: 5}},
	{"6 instances, rf 3", Topology{Instances: 6, ReplicationFactor: 3}},
}

func groupsOf(c *Cluster) []string {
	out := []string{"config"}
	for _, rs := range c.Bootstrap().Replicasets {
		out = append(out, rs.Name)
	}
	return out
}

// TestEveryGroupElectsAndCommits: every group elects one leader per term,
// commits what its members propose, and its replicas converge.
func TestEveryGroupElectsAndCommits(t *testing.T) {
	for _, tc := range topologies {
		t.Run(tc.name, func(t *testing.T) {
			w, c := start(t, 1, tc.topo, node.Config{})
			runUntil(t, w, 3*time.Second)
			var ids []string
			for _, g := range groupsOf(c) {
				ms := members(c, g)
				for i := range 20 {
					id := fmt.Sprintf("%s-%d", g, i)
					data := Put(id, 1, fmt.Sprint("k", i), fmt.Sprint("entry ", i))
					if g == "config" {
						data = cluster.SetSetting(fmt.Sprintf("k%d", i), "v").Encode()
					}
					c.Propose(ms[i%len(ms)], g, id, data, 2*time.Second)
					ids = append(ids, id)
					runUntil(t, w, w.Now()+7*time.Millisecond)
				}
			}
			runUntil(t, w, w.Now()+3*time.Second)
			recs := records(t, w)
			requireSafe(t, recs)
			res := outcomes(recs)
			for _, id := range ids {
				if outcome(res[id]) != "ok" {
					t.Errorf("proposal %s: %v", id, res[id])
				}
			}
			for _, g := range groupsOf(c) {
				st := requireConverged(t, c, g)
				if st.Applied < 21 {
					t.Errorf("%s applied only %d entries", g, st.Applied)
				}
			}
		})
	}
}

// TestMinorityCommitsNothing isolates the leader of a five-instance
// cluster with one follower: the minority applies nothing new and answers
// no proposal with success, while the majority elects a leader and goes on.
func TestMinorityCommitsNothing(t *testing.T) {
	w, c := start(t, 2, Topology{Instances: 5}, node.Config{})
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	var minority, majority []env.NodeID
	minority = append(minority, leader)
	for _, n := range c.Names {
		if n == leader {
			continue
		}
		if len(minority) < 2 {
			minority = append(minority, n)
		} else {
			majority = append(majority, n)
		}
	}
	applied := map[env.NodeID]uint64{}
	for _, n := range minority {
		st, _ := c.Status(n, "rs1")
		applied[n] = st.Applied
	}
	cut := w.Now()
	if err := w.Partition(minority, majority); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		minID, majID := fmt.Sprintf("min-%d", i), fmt.Sprintf("maj-%d", i)
		c.Propose(minority[i%2], "rs1", minID, Put(minID, 1, "k", "x"), time.Second)
		c.Propose(majority[i%3], "rs1", majID, Put(majID, 1, "k", "y"), 3*time.Second)
		runUntil(t, w, w.Now()+100*time.Millisecond)
	}
	runUntil(t, w, w.Now()+3*time.Second)
	healed := w.Now()
	w.Heal()
	runUntil(t, w, w.Now()+3*time.Second)

	recs := records(t, w)
	requireSafe(t, recs)
	for _, r := range recs {
		if r.Time < int64(cut) || r.Time >= int64(healed) || r.Kind != "raft.apply" || !slices.Contains(minority, r.Node) {
			continue
		}
		if g, _ := r.Str("group"); g != "rs1" {
			continue
		}
		if idx, _ := r.Int("index"); uint64(idx) > applied[r.Node] {
			t.Fatalf("%s, in the minority, applied entry %d of rs1 at %s during the partition", r.Node, idx, time.Duration(r.Time))
		}
	}
	res := outcomes(recs)
	committed := 0
	for i := range 30 {
		if o := outcome(res[fmt.Sprintf("min-%d", i)]); o == "ok" {
			t.Errorf("proposal min-%d, made in the minority during the partition, succeeded", i)
		}
		if outcome(res[fmt.Sprintf("maj-%d", i)]) == "ok" {
			committed++
		}
	}
	if committed < 20 {
		t.Errorf("the majority committed only %d of 30 proposals", committed)
	}
	requireConverged(t, c, "rs1")
}

// TestIsolatedLeaderIsReplaced isolates each group's leader in turn and
// requires a new leader within three election timeouts of virtual time.
func TestIsolatedLeaderIsReplaced(t *testing.T) {
	for _, tc := range topologies[1:] {
		t.Run(tc.name, func(t *testing.T) {
			w, c := start(t, 3, tc.topo, node.Config{})
			runUntil(t, w, 3*time.Second)
			limit := 3 * c.ElectionTimeout()
			for _, g := range groupsOf(c) {
				old := waitLeader(t, w, c, g, 2*time.Second)
				oldTerm, _ := c.Status(old, g)
				isolated := w.Now()
				if err := w.Partition([]env.NodeID{old}); err != nil {
					t.Fatal(err)
				}
				runUntil(t, w, w.Now()+limit+time.Second)
				var replaced time.Duration = -1
				for _, r := range records(t, w) {
					grp, _ := r.Str("group")
					role, _ := r.Str("role")
					term, _ := r.Int("term")
					if r.Kind == "raft.state" && r.Time >= int64(isolated) && grp == g && role == "leader" && r.Node != old && uint64(term) > oldTerm.Term {
						replaced = time.Duration(r.Time) - isolated
						break
					}
				}
				if replaced < 0 || replaced > limit {
					t.Fatalf("%s: leader %s isolated at %s; replaced after %s, want within %s", g, old, isolated, replaced, limit)
				}
				t.Logf("%s: leader %s replaced %s after its isolation", g, old, replaced)
				w.Heal()
				runUntil(t, w, w.Now()+2*time.Second)
			}
			requireSafe(t, records(t, w))
		})
	}
}

// followerOutage kills a follower of rs1, has the leader commit n entries
// without it, restarts it and gives it three seconds; it returns the
// follower.
func followerOutage(t *testing.T, w *simnet.World, c *Cluster, n int) env.NodeID {
	t.Helper()
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	var follower env.NodeID
	for _, name := range c.Names {
		if name != leader {
			follower = name
		}
	}
	w.Kill(follower)
	for i := range n {
		id := fmt.Sprintf("p-%d", i)
		c.Propose(leader, "rs1", id, Put(id, 1, "k", "data"), time.Second)
		runUntil(t, w, w.Now()+10*time.Millisecond)
	}
	w.Restart(follower)
	runUntil(t, w, w.Now()+3*time.Second)
	return follower
}

// TestKilledFollowerCatchesUp kills a follower, commits without it, and
// restarts it from its disk: it catches up through the log.
func TestKilledFollowerCatchesUp(t *testing.T) {
	w, c := start(t, 4, Topology{Instances: 3}, node.Config{})
	followerOutage(t, w, c, 50)
	recs := records(t, w)
	requireSafe(t, recs)
	if st := requireConverged(t, c, "rs1"); st.Applied < 52 {
		t.Fatalf("rs1 applied only %d entries", st.Applied)
	}
	for _, r := range recs {
		if r.Kind == "raft.snapshot.install" {
			t.Fatalf("the follower needed a snapshot, but the log was never compacted: %v", r)
		}
	}
}

// TestFollowerBehindACompactionGetsASnapshot kills a follower while the
// group compacts its log past what the follower has; on restart the leader
// sends it the snapshot.
func TestFollowerBehindACompactionGetsASnapshot(t *testing.T) {
	w, c := start(t, 5, Topology{Instances: 3}, node.Config{CompactEvery: 20})
	follower := followerOutage(t, w, c, 100)
	recs := records(t, w)
	requireSafe(t, recs)
	var sent, installed bool
	for _, r := range recs {
		g, _ := r.Str("group")
		to, _ := r.Str("to")
		switch {
		case r.Kind == "raft.snapshot.send" && g == "rs1" && to == string(follower):
			sent = true
		case r.Kind == "raft.snapshot.install" && g == "rs1" && r.Node == follower:
			installed = true
		}
	}
	if !sent || !installed {
		t.Fatalf("snapshot sent to %s: %v, installed: %v", follower, sent, installed)
	}
	if st := requireConverged(t, c, "rs1"); st.Applied < 101 {
		t.Fatalf("rs1 applied only %d entries", st.Applied)
	}
}

// TestConfigWithoutQuorumDataKeepsFlowing splits a six-instance cluster
// (two replicasets, five group-0 voters) so that every replicaset keeps a
// majority but group 0 has none: operator actions never succeed, data
// proposals do; after the heal operator actions succeed again.
func TestConfigWithoutQuorumDataKeepsFlowing(t *testing.T) {
	w, c := start(t, 6, Topology{Instances: 6, ReplicationFactor: 3}, node.Config{})
	conf := c.Bootstrap()
	if got := fmt.Sprint(conf.Voters); got != "[n1 n2 n3 n4 n5]" {
		t.Fatalf("voters %s; the partition below assumes n1..n5", got)
	}
	rs1, _ := conf.Replicaset("rs1")
	rs2, _ := conf.Replicaset("rs2")
	if fmt.Sprint(rs1.Members, rs2.Members) != "[n1 n3 n5] [n2 n4 n6]" {
		t.Fatalf("replicasets %v %v; the partition below assumes rs1 = n1,n3,n5", rs1.Members, rs2.Members)
	}
	runUntil(t, w, 3*time.Second)
	split := w.Now()
	if err := w.Partition([]env.NodeID{"n1", "n3"}, []env.NodeID{"n2", "n4"}, []env.NodeID{"n5", "n6"}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		at := c.Names[i%6]
		c.Propose(at, "config", fmt.Sprintf("op-%d", i), cluster.SetSetting("k", fmt.Sprint(i)).Encode(), 2*time.Second)
		if i%2 == 0 {
			id := fmt.Sprintf("rs1-%d", i)
			c.Propose([]env.NodeID{"n1", "n3"}[i/2%2], "rs1", id, Put(id, 1, "k", "a"), 3*time.Second)
		} else {
			id := fmt.Sprintf("rs2-%d", i)
			c.Propose([]env.NodeID{"n2", "n4"}[i/2%2], "rs2", id, Put(id, 1, "k", "b"), 3*time.Second)
		}
		runUntil(t, w, w.Now()+100*time.Millisecond)
	}
	runUntil(t, w, w.Now()+3*time.Second)
	w.Heal()
	runUntil(t, w, w.Now()+3*time.Second)
	for i := range 5 {
		c.Propose(c.Names[i], "config", fmt.Sprintf("after-%d", i), cluster.SetSetting("k", "after").Encode(), 3*time.Second)
	}
	runUntil(t, w, w.Now()+4*time.Second)

	recs := records(t, w)
	requireSafe(t, recs)
	res := outcomes(recs)
	data := 0
	for i := range 40 {
		if o := outcome(res[fmt.Sprintf("op-%d", i)]); o == "ok" {
			t.Errorf("operator action op-%d succeeded while group 0 had no quorum (split at %s)", i, split)
		} else if o != "fail" && o != "timeout" {
			t.Errorf("operator action op-%d has no outcome", i)
		}
		g := "rs1"
		if i%2 == 1 {
			g = "rs2"
		}
		if outcome(res[fmt.Sprintf("%s-%d", g, i)]) == "ok" {
			data++
		}
	}
	if data < 30 {
		t.Errorf("only %d of 40 data proposals committed while group 0 had no quorum", data)
	}
	for i := range 5 {
		if o := outcome(res[fmt.Sprintf("after-%d", i)]); o != "ok" {
			t.Errorf("operator action after-%d after the heal: %s", i, o)
		}
	}
	for _, g := range groupsOf(c) {
		requireConverged(t, c, g)
	}
}

// TestClusterReplays runs a six-instance cluster with key-value clients
// through partitions, kills, pauses and compactions in three processes and
// requires one trace hash.
func TestClusterReplays(t *testing.T) {
	replaytest.Check(t, func(t testing.TB) [32]byte {
		w, c := start(t, 7, Topology{Instances: 6, ReplicationFactor: 3}, node.Config{CompactEvery: 30})
		if _, err := c.AddClients(4, client.Config{Delay: 2 * time.Second, Interval: 20 * time.Millisecond},
			func(i int) client.Workload {
				return &client.Mix{ID: fmt.Sprint("c", i), Keys: 10, Read: 1, Write: 1, CAS: 1, Delete: 0.1}
			}); err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			i := i
			w.At(time.Duration(2000+i*15)*time.Millisecond, func() {
				g := []string{"config", "rs1", "rs2"}[i%3]
				data := Put(fmt.Sprint("p", i), 1, "k", fmt.Sprint(i))
				if g == "config" {
					data = cluster.SetSetting("k", fmt.Sprint(i)).Encode()
				}
				c.Propose(c.Names[i%6], g, fmt.Sprint("p", i), data, time.Second)
			})
		}
		w.At(2500*time.Millisecond, func() { w.Partition(c.Names[:2], c.Names[2:]) })
		w.At(3500*time.Millisecond, w.Heal)
		w.At(3000*time.Millisecond, func() { w.Kill("n3") })
		w.At(4500*time.Millisecond, func() { w.Restart("n3") })
		w.At(4000*time.Millisecond, func() { w.Pause("n2") })
		w.At(4400*time.Millisecond, func() { w.Resume("n2") })
		runUntil(t, w, 8*time.Second)
		requireSafe(t, records(t, w))
		defer w.Close()
		return w.TraceHash()
	})
}
