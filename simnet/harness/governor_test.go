package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
)

// governorSteps lists the governor's steps: "TIME NODE OP INSTANCE VOTERS".
func governorSteps(recs []env.Record) []string {
	var out []string
	for _, r := range recs {
		if r.Kind == "governor.step" {
			op, _ := r.Str("op")
			in, _ := r.Str("instance")
			v, _ := r.Str("voters")
			out = append(out, fmt.Sprintf("%.1fs %s %s %s %s", float64(r.Time)/1e9, r.Node, op, in, v))
		}
	}
	return out
}

func mixClients(i int) client.Workload {
	return &client.Mix{ID: fmt.Sprint("c", i), Keys: 6, Read: 1, Write: 2, CAS: 1}
}

func quick(instances int) Topology {
	return Topology{Instances: instances, Settings: map[string]string{cluster.OfflineAfter: "2s"}}
}

// The governor counts ticks, not the clock: a leader's clock stepping
// forward marks no healthy instance offline, and one stepping back does
// not delay marking a dead one.
func TestGovernorIgnoresClockSteps(t *testing.T) {
	w, c := start(t, 3, Topology{Instances: 5, Settings: map[string]string{cluster.OfflineAfter: "5s"}}, node.Config{})
	runUntil(t, w, 4*time.Second)
	leader := waitLeader(t, w, c, "config", time.Second)
	w.SetClockOffset(leader, 30*time.Second)
	runUntil(t, w, 8*time.Second)
	if steps := governorSteps(records(t, w)); len(steps) > 0 {
		t.Errorf("a clock step moved the governor:\n%s", strings.Join(steps, "\n"))
	}
	victim := env.NodeID("n5")
	if leader == victim {
		victim = "n4"
	}
	w.Kill(victim)
	w.SetClockOffset(leader, -60*time.Second)
	runUntil(t, w, 20*time.Second)
	for _, s := range governorSteps(records(t, w)) {
		if strings.Contains(s, " offline "+string(victim)) {
			if at := s[:strings.Index(s, "s ")]; at > "14" {
				t.Errorf("%s died at 8s, marked offline only at %ss", victim, at)
			}
			return
		}
	}
	t.Errorf("%s, dead since 8s, was never marked offline", victim)
}

// A new leader of group 0 gives only the instances headed online a grace
// period: one already offline stays so until it is heard from.
func TestNewLeaderKeepsTheOfflineOffline(t *testing.T) {
	w, c := start(t, 3, quick(5), node.Config{})
	runUntil(t, w, 2*time.Second)
	w.Kill("n5")
	runUntil(t, w, 6*time.Second)
	w.Kill(waitLeader(t, w, c, "config", time.Second))
	runUntil(t, w, 12*time.Second)
	for _, s := range governorSteps(records(t, w)) {
		if strings.Contains(s, " online n5") {
			t.Errorf("dead n5 marked online: %s", s)
		}
	}
}

// An instance that joins and dies before it ever answered is not made a
// voter of the replicaset it joined (rs2 would lose its quorum), and the
// governor can still expel it although group 0 wanted it as a voter and
// Raft never promoted it.
func TestDeadJoinerIsNeverPromoted(t *testing.T) {
	w, c := start(t, 3, quick(3), node.Config{})
	runUntil(t, w, 2*time.Second)
	if err := c.Join("n4", "n1", nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 5*time.Second)
	// Group 0's log grows past the catch-up lag, as tokens, settings and
	// governor steps make it grow in a cluster that lives.
	for i := range 100 {
		c.Propose("n1", "config", fmt.Sprint("set-", i), cluster.SetSetting(fmt.Sprint("k", i), "v").Encode(), 5*time.Second)
	}
	runUntil(t, w, 6*time.Second)
	if err := c.Join("n5", "n1", nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	w.At(w.Now()+time.Millisecond, func() { w.Kill("n5") })
	runUntil(t, w, 12*time.Second)
	if st, _ := c.Status("n4", "rs2"); st.Leader != "n4" {
		t.Errorf("rs2 lost its leader: %+v", st)
	}
	c.Propose("n1", "config", "expel-n5", cluster.Expel("n5", false).Encode(), 5*time.Second)
	runUntil(t, w, 25*time.Second)
	leader := waitLeader(t, w, c, "config", time.Second)
	conf := c.Node(leader).Configuration()
	if in, _ := conf.Instance("n5"); in.State != cluster.Expelled {
		t.Errorf("n5 is %s (headed %s) 13s after its expulsion; voters %v\n%s", in.State, in.Target, conf.Voters,
			strings.Join(governorSteps(records(t, w)), "\n"))
	}
}

// A replicaset whose founder is expelled before anyone else joined is
// founded again by the next joiner, which leads it.
func TestExpelledFounderIsReplaced(t *testing.T) {
	w, c := start(t, 3, quick(3), node.Config{})
	runUntil(t, w, 2*time.Second)
	if err := c.Join("n4", "n1", nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 5*time.Second)
	w.Kill("n4")
	runUntil(t, w, 9*time.Second)
	c.Propose("n1", "config", "expel-n4", cluster.Expel("n4", false).Encode(), 5*time.Second)
	runUntil(t, w, 12*time.Second)
	if err := c.Join("n5", "n1", nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 20*time.Second)
	if st, ok := c.Status("n5", "rs2"); !ok || st.Leader != "n5" {
		t.Errorf("n5's rs2 %+v (%v): no leader 8s after its join", st, ok)
	}
}

// Two instances of a three-member replicaset are expelled while running:
// each stays a member, its acknowledgements counting, until its removal
// applies, so the one left goes on serving alone.
func TestExpelDownToOneMember(t *testing.T) {
	w, c := start(t, 3, quick(3), node.Config{})
	if _, err := c.AddClients(2, client.Config{Delay: time.Second, Interval: 20 * time.Millisecond, Until: 29 * time.Second, Target: "leader"}, mixClients); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 3*time.Second)
	c.Propose("n1", "config", "expel-n3", cluster.Expel("n3", true).Encode(), 5*time.Second)
	runUntil(t, w, 8*time.Second)
	c.Propose("n1", "config", "expel-n2", cluster.Expel("n2", true).Encode(), 5*time.Second)
	runUntil(t, w, 30*time.Second)
	recs := records(t, w)
	requireSafe(t, recs)
	served := 0
	for _, r := range recs {
		if r.Kind == "client.ok" && r.Time > int64(15*time.Second) {
			served++
		}
	}
	if st, _ := c.Status("n1", "rs1"); served < 100 || st.Leader != "n1" {
		t.Errorf("after n2 and n3 left rs1: %d operations served, n1's rs1 %+v", served, st)
	}
}

// A leader that is expelled hands its groups' leadership over before it
// leaves them: no election timeout passes without a leader.
func TestExpelledLeaderHandsOver(t *testing.T) {
	w, c := start(t, 3, Topology{Instances: 3}, node.Config{})
	if _, err := c.AddClients(2, client.Config{Delay: time.Second, Interval: 20 * time.Millisecond, Until: 9 * time.Second, Target: "leader"}, mixClients); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 3*time.Second)
	lead := waitLeader(t, w, c, "rs1", time.Second)
	other := env.NodeID("n1")
	if lead == "n1" {
		other = "n2"
	}
	c.Propose(other, "config", "expel", cluster.Expel(lead, true).Encode(), 5*time.Second)
	runUntil(t, w, 10*time.Second)
	var prev, gap int64
	transfers := 0
	for _, r := range records(t, w) {
		switch r.Kind {
		case "client.ok":
			if prev > 0 {
				gap = max(gap, r.Time-prev)
			}
			prev = r.Time
		case "raft.transfer":
			transfers++
		}
	}
	if transfers == 0 || gap >= int64(time.Second) {
		t.Errorf("expelling the leader %s: %d transfers, %s without a served operation", lead, transfers, time.Duration(gap))
	}
}

// A membership change proposed right after an election, which raft would
// drop, waits until the leader has applied an entry of its own term, so
// that no change is left pending for a whole term. Twenty seeds with slow
// links: the leader of rs1 is cut off while a dead instance is expelled.
func TestMembershipChangesAfterAnElection(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { electionThenExpel(t, seed) })
	}
}

func electionThenExpel(t *testing.T, seed uint64) {
	{
		link := simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Constant, Min: 40 * time.Millisecond}}
		w, c := startWorld(t, simnet.Config{Seed: seed, KeepTrace: true, Network: &link}, quick(5), node.Config{})
		if _, err := c.AddClients(3, client.Config{Delay: time.Second, Interval: 10 * time.Millisecond, Until: 20 * time.Second, Target: "leader"}, mixClients); err != nil {
			t.Fatal(err)
		}
		runUntil(t, w, 2*time.Second)
		w.Kill("n5")
		runUntil(t, w, 5*time.Second)
		old := waitLeader(t, w, c, "rs1", 2*time.Second)
		var others []env.NodeID
		for _, n := range []env.NodeID{"n1", "n2", "n3", "n4"} {
			if n != old {
				others = append(others, n)
			}
		}
		mustPartition(t, w, []env.NodeID{old}, append(others, "n5"))
		c.Propose(others[0], "config", "expel-n5", cluster.Expel("n5", true).Encode(), 10*time.Second)
		runUntil(t, w, 25*time.Second)
		st, _ := c.Status(others[0], "rs1")
		lead, _ := c.Status(env.NodeID(st.Leader), "rs1")
		conf := c.Node(others[0]).Configuration()
		if in, _ := conf.Instance("n5"); in.State != cluster.Expelled {
			t.Errorf("seed %d: n5 is %s 15s after its expulsion", seed, in.State)
		}
		for _, r := range records(t, w) {
			if g, _ := r.Str("group"); r.Kind == "raft.conf" && g == "rs1" && r.Node == env.NodeID(st.Leader) && r.Time > int64(5*time.Second) {
				if v, _ := r.Str("voters"); strings.Contains(v, "n5") {
					continue
				}
				lead.Group = "" // n5 left rs1 on its leader
			}
		}
		if lead.Group != "" {
			t.Errorf("seed %d: rs1's leader %s never removed n5", seed, st.Leader)
		}
	}
}

// An instance started to join reads its configuration (the API's status
// does) before the join reaches it: its peers' names and Raft IDs, no
// replicaset yet, a configuration that decodes.
func TestJoinerConfigurationBeforeItsJoin(t *testing.T) {
	w, c := start(t, 1, Topology{Instances: 3}, node.Config{})
	runUntil(t, w, time.Second)
	peers := c.Node("n1").Configuration().Instances
	cfg := c.Config()
	cfg.Join = &node.JoinInfo{RaftID: 4, Peers: append(peers, cluster.Instance{Name: "n4", RaftID: 4, Replicaset: "rs2"})}
	start := node.Start(cfg)
	var n4 *node.Node
	if err := w.AddNode("n4", func(e env.Env) (env.Node, error) {
		n, err := start(e)
		if err == nil {
			n4 = n.(*node.Node)
		}
		return n, err
	}); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 2*time.Second)
	if n4 == nil {
		t.Fatal("n4 did not start")
	}
	if got := n4.Configuration(); len(got.Instances) != 4 || len(got.Replicasets) != 0 {
		t.Errorf("n4's configuration before its join: %+v", got)
	}
}
