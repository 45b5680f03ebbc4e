//go:build shoalbugs

package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/scenarios/examples"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

// Each planted bug has a scenario built to expose it: a cluster driven by
// simulated clients and simnet's fault API. TestPlantedBugEffects shows
// what each bug does in it; TestCheckersCatchPlantedBugs shows that the
// checker meant to see it reports the run invalid from the trace alone,
// and that every checker finds the same run valid without the bug.

func with(b bugs.Bug) node.Config { return node.Config{Bugs: bugs.Set(0).With(b)} }

// oneWrite adds a client that writes k0 = id-1 once, after delay, sending
// it to target and nowhere else.
func oneWrite(t *testing.T, c *Cluster, id, target string, delay, timeout time.Duration) {
	t.Helper()
	if _, err := c.AddClients(1, client.Config{Delay: delay, Target: target, Timeout: timeout, Retries: -1},
		func(int) client.Workload { return &client.Mix{ID: id, Keys: 1, Write: 1, Ops: 1} }); err != nil {
		t.Fatal(err)
	}
}

// oneRead adds a client that reads k0 once from target, after delay.
func oneRead(t *testing.T, c *Cluster, target string, delay time.Duration) {
	t.Helper()
	if _, err := c.AddClients(1, client.Config{Delay: delay, Target: target, Retries: -1},
		func(int) client.Workload { return &client.Reads{Keys: []string{"k0"}} }); err != nil {
		t.Fatal(err)
	}
}

func followerOf(c *Cluster, leader env.NodeID) env.NodeID {
	for _, n := range c.Names {
		if n != leader {
			return n
		}
	}
	return ""
}

// run is a finished scenario.
type run struct {
	w    *simnet.World
	c    *Cluster
	recs []env.Record
	ops  []*op
}

func finish(t *testing.T, w *simnet.World, c *Cluster) run {
	recs := records(t, w)
	return run{w: w, c: c, recs: recs, ops: history(t, recs)}
}

// ackBeforeCommit: a leader cut off from its followers is asked to write;
// afterwards every key is read.
func ackBeforeCommit(t *testing.T, cfg node.Config) run {
	w, c := start(t, 21, Topology{Instances: 3}, cfg)
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	oneWrite(t, c, "lost", string(leader), 0, time.Second)
	mustPartition(t, w, []env.NodeID{leader, "c1"})
	runUntil(t, w, w.Now()+4*time.Second)
	w.Heal()
	runUntil(t, w, w.Now()+3*time.Second)
	c.FinalRead([]string{"k0"})
	runUntil(t, w, w.Now()+5*time.Second)
	return finish(t, w, c)
}

// ackBeforeEnqueue: a connector hands one message to rs1's leader, which
// is cut off with the connector as it proposes the enqueue; after the heal
// the message's Customer and the repair queue are read.
func ackBeforeEnqueue(t *testing.T, cfg node.Config) run {
	topo, m := examplePipeline(t)
	topo.Instances = 3
	w, c := start(t, 29, topo, cfg)
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	msg := crmCustomer(t, m, "lost", false)
	if _, err := c.AddClients(1, client.Config{Target: string(leader), Timeout: time.Second, Retries: -1},
		func(int) client.Workload { return &client.List{Ops: []client.Op{msg}} }); err != nil {
		t.Fatal(err)
	}
	mustPartition(t, w, []env.NodeID{leader, "c1"})
	runUntil(t, w, w.Now()+4*time.Second)
	w.Heal()
	runUntil(t, w, w.Now()+3*time.Second)
	typ, _ := m.Type("Customer")
	pk, _ := typ.SetKey(model.Object{}, "lost")
	if err := c.FinalIngestReads([]client.Op{
		{F: kv.OpGetObject, Key: msg.Key, Label: msg.Label, Object: &kv.ObjectRequest{Type: "Customer", PK: pk, History: true}},
		{F: kv.OpReadQueue, Queue: &kv.QueueRequest{Replicaset: "rs1", List: "repair"}},
	}); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, w.Now()+3*time.Second)
	return finish(t, w, c)
}

// commitOnFetch: 20 customers produced to the crm connector's broker,
// consumed by the three instances' consumers, and read back at the end.
func commitOnFetch(t *testing.T, cfg node.Config) run {
	topo, m := examplePipeline(t)
	topo.Pipeline = append(topo.Pipeline, kafkaConnectors...)
	topo.Instances = 3
	topo.Brokers = []string{"crm"}
	w, c := start(t, 31, topo, cfg)
	runUntil(t, w, 3*time.Second)
	typ, _ := m.Type("Customer")
	var reads []client.Op
	for i := range 20 {
		id := fmt.Sprintf("k%d", i)
		op := crmCustomer(t, m, id, false)
		rec := endpoint.KafkaRecord{Key: []byte(op.Key), Value: op.Message.Payload, Expect: op.Label,
			Headers: []connector.Header{{Name: "X-Kind", Value: "customer"}}}
		if err := c.Produce("crm", rec); err != nil {
			t.Fatal(err)
		}
		pk, _ := typ.SetKey(model.Object{}, id)
		reads = append(reads, client.Op{F: kv.OpGetObject, Key: op.Key, Label: op.Label, Object: &kv.ObjectRequest{Type: "Customer", PK: pk, History: true}})
	}
	runUntil(t, w, w.Now()+10*time.Second)
	reads = append(reads, client.Op{F: kv.OpReadQueue, Queue: &kv.QueueRequest{Replicaset: "rs1", List: "repair"}})
	if err := c.FinalIngestReads(reads); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, w.Now()+3*time.Second)
	return finish(t, w, c)
}

// lastArrivalWins: dc1 and dc2 replicate to each other, and each writes
// Customer c1 at the same moment, dc2 a millisecond later, so its change
// carries the later stamp. Each then receives the other's change: dc1
// applies dc2's, dc2 must skip dc1's as stale. Every instance lists its
// objects at the end.
func lastArrivalWins(t *testing.T, cfg node.Config) run {
	ts := dcTopologies(3)
	ts[1].Pipeline = examples.PipelineDC2
	ts[1].Endpoints = append(ts[1].Endpoints, "to-dc1")
	w, err := simnet.New(simnet.Config{Seed: 32, KeepTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	cs, err := StartAll(w, ts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		op := putCustomer("c1")
		op.Object.Value = []byte(fmt.Sprintf(`{"id": "c1", "name": "Ada %s", "created": "2026-01-02T03:04:05Z"}`, ts[i].Name))
		if _, err := c.AddClients(1, client.Config{Target: "leader", Delay: 3*time.Second + time.Duration(i)*time.Millisecond},
			func(int) client.Workload { return &client.List{Ops: []client.Op{op}} }); err != nil {
			t.Fatal(err)
		}
	}
	runUntil(t, w, 8*time.Second)
	for _, c := range cs {
		c.RecordDigests()
	}
	runUntil(t, w, w.Now()+100*time.Millisecond)
	return finish(t, w, cs[0])
}

// staleLocalRead: k0 = old, a follower is cut off, k0 = new, and the
// follower is asked to read k0.
func staleLocalRead(t *testing.T, cfg node.Config) run {
	w, c := start(t, 22, Topology{Instances: 3}, cfg)
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	oneWrite(t, c, "old", string(leader), 0, time.Second)
	runUntil(t, w, w.Now()+time.Second)
	follower := followerOf(c, leader)
	oneWrite(t, c, "new", string(leader), 0, time.Second) // c2
	oneRead(t, c, string(follower), time.Second)          // c3, once new is acknowledged
	mustPartition(t, w, []env.NodeID{follower, "c3"})
	runUntil(t, w, w.Now()+2*time.Second)
	return finish(t, w, c)
}

// skipSync: a write is acknowledged, all three instances crash at once and
// restart, and k0 is read.
func skipSync(t *testing.T, cfg node.Config) run {
	w, c := start(t, 23, Topology{Instances: 3}, cfg)
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	oneWrite(t, c, "v", string(leader), 0, time.Second)
	runUntil(t, w, w.Now()+500*time.Millisecond)
	for _, n := range c.Names {
		w.Kill(n)
	}
	for _, n := range c.Names {
		w.Restart(n)
	}
	runUntil(t, w, w.Now()+3*time.Second)
	c.FinalRead([]string{"k0"})
	runUntil(t, w, w.Now()+5*time.Second)
	return finish(t, w, c)
}

// forgetDedup: a cas(k0: absent → a-1) commits, but the answer is lost and
// the client retries it through the new leader after the old one is cut
// off; then k0 is read.
func forgetDedup(t *testing.T, cfg node.Config) run {
	w, c := start(t, 28, Topology{Instances: 3}, cfg)
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	if _, err := c.AddClients(1, client.Config{Target: string(leader), Timeout: 10 * time.Second, Retries: 20},
		func(int) client.Workload { return &client.Mix{ID: "a", Keys: 1, CAS: 1, Ops: 1} }); err != nil {
		t.Fatal(err)
	}
	w.Cut(leader, "c1")
	runUntil(t, w, w.Now()+50*time.Millisecond)
	mustPartition(t, w, []env.NodeID{leader})
	runUntil(t, w, w.Now()+6*time.Second)
	w.Heal()
	runUntil(t, w, w.Now()+5*time.Second)
	c.FinalRead([]string{"k0"})
	runUntil(t, w, w.Now()+5*time.Second)
	return finish(t, w, c)
}

// leaseReadUnderSkew: k0 = old; the leader is cut off and, once it has
// stepped down, its wall clock is stepped back 30s; the majority takes
// k0 = new; the old leader is asked to read k0.
func leaseReadUnderSkew(t *testing.T, cfg node.Config) run {
	w, c := start(t, 24, Topology{Instances: 3}, cfg)
	runUntil(t, w, 3*time.Second)
	old := waitLeader(t, w, c, "rs1", 2*time.Second)
	oneWrite(t, c, "old", string(old), 0, time.Second)
	runUntil(t, w, w.Now()+time.Second)
	oneRead(t, c, string(old), 6*time.Second) // c2, after the new leader took the write below
	mustPartition(t, w, []env.NodeID{old, "c2"})
	runUntil(t, w, w.Now()+1500*time.Millisecond)
	w.SetClockOffset(old, -30*time.Second)
	runUntil(t, w, w.Now()+1500*time.Millisecond)
	if _, err := c.AddClients(1, client.Config{Target: string(followerOf(c, old)), Timeout: 2 * time.Second},
		func(int) client.Workload { return &client.Mix{ID: "new", Keys: 1, Write: 1, Ops: 1} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, w.Now()+4*time.Second)
	return finish(t, w, c)
}

// forgetVote: n2 is the only link between n1 and n3, and restarts whenever
// it campaigns itself. When it first votes for another (X), X's messages
// to n2 are cut, so X's first append never reaches it, and n2 crashes and
// restarts, to meet the other candidate.
func forgetVote(t *testing.T, cfg node.Config) run {
	w, c := startWorld(t, simnet.Config{Seed: 27, KeepTrace: true,
		Network: &simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Constant, Min: 5 * time.Millisecond}}},
		Topology{Instances: 3}, cfg)
	w.Cut("n1", "n3")
	w.Cut("n3", "n1")
	voted := false
	var watch func()
	watch = func() {
		w.After(time.Millisecond, watch)
		st, ok := c.Status("n2", "rs1")
		switch {
		case !ok || voted:
		case st.Role == "precandidate" || st.Role == "candidate":
			w.Kill("n2")
			w.After(2*time.Millisecond, func() { w.Restart("n2") })
		case st.Vote != "" && st.Vote != "n2":
			voted = true
			w.Cut(st.Vote, "n2")
			w.After(2*time.Millisecond, func() { w.Kill("n2") })
			w.After(4*time.Millisecond, func() { w.Restart("n2") })
		}
	}
	w.At(0, watch)
	runUntil(t, w, 10*time.Second)
	return finish(t, w, c)
}

// configLocalAck: group 0's leader is cut off and asked to set a setting.
func configLocalAck(t *testing.T, cfg node.Config) run {
	w, c := start(t, 25, Topology{Instances: 3}, cfg)
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "config", 2*time.Second)
	mustPartition(t, w, []env.NodeID{leader})
	c.Propose(leader, "config", "op", cluster.SetSetting("k", "v").Encode(), time.Second)
	runUntil(t, w, w.Now()+3*time.Second)
	return finish(t, w, c)
}

// skipApplyOnRestart: twenty writes, then a follower crashes and restarts
// at once (its unsynced applies are lost, its commit index is not); at the
// end every instance records its state digest.
func skipApplyOnRestart(t *testing.T, cfg node.Config) run {
	w, c := start(t, 26, Topology{Instances: 3}, cfg)
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	follower := followerOf(c, leader)
	for i := range 20 {
		id := fmt.Sprint("p", i)
		c.Propose(leader, "rs1", id, Put(id, 1, fmt.Sprint("k", i), "v"), time.Second)
		runUntil(t, w, w.Now()+10*time.Millisecond)
	}
	runUntil(t, w, w.Now()+100*time.Millisecond)
	w.Kill(follower)
	w.Restart(follower)
	runUntil(t, w, w.Now()+2*time.Second)
	c.RecordDigests()
	runUntil(t, w, w.Now()+time.Millisecond)
	return finish(t, w, c)
}

func outcomeOf(ops []*op, value string) *op {
	for _, o := range ops {
		if o.f != "read" && o.value == value {
			return o
		}
	}
	return nil
}

func readValues(ops []*op) []string {
	var out []string
	for _, o := range ops {
		if o.f == "read" && o.outcome == "ok" {
			v := o.value
			if o.absent {
				v = "<absent>"
			}
			out = append(out, v)
		}
	}
	return out
}

// TestPlantedBugEffects shows each bug's effect in its scenario.
func TestPlantedBugEffects(t *testing.T) {
	t.Run("ack-before-commit", func(t *testing.T) {
		r := ackBeforeCommit(t, with(bugs.AckBeforeCommit))
		if o := outcomeOf(r.ops, "lost-1"); o == nil || o.outcome != "ok" {
			t.Fatalf("the isolated leader did not acknowledge the write: %+v", o)
		}
		if f := finalValues(t, r.ops)["k0"]; !f.absent {
			t.Fatalf("k0 finally reads %q; the acknowledged write should be lost", f.value)
		}
	})
	t.Run("stale-local-read", func(t *testing.T) {
		r := staleLocalRead(t, with(bugs.StaleLocalRead))
		if o := outcomeOf(r.ops, "new-1"); o == nil || o.outcome != "ok" {
			t.Fatalf("the second write was not acknowledged: %+v", o)
		}
		if got := readValues(r.ops); len(got) != 1 || got[0] != "old-1" {
			t.Fatalf("the isolated follower read %v, want the stale old-1", got)
		}
	})
	t.Run("skip-sync", func(t *testing.T) {
		r := skipSync(t, with(bugs.SkipSync))
		if o := outcomeOf(r.ops, "v-1"); o == nil || o.outcome != "ok" {
			t.Fatalf("the write was not acknowledged: %+v", o)
		}
		if f := finalValues(t, r.ops)["k0"]; !f.absent {
			t.Fatalf("k0 finally reads %q; the unsynced write should be gone", f.value)
		}
	})
	t.Run("forget-dedup", func(t *testing.T) {
		r := forgetDedup(t, with(bugs.ForgetDedup))
		o := outcomeOf(r.ops, "a-1")
		if o == nil || o.outcome != "fail" {
			t.Fatalf("the retried cas should find its own first application and fail: %+v", o)
		}
		if f := finalValues(t, r.ops)["k0"]; f.value != "a-1" {
			t.Fatalf("k0 finally reads %q, want a-1: the cas did apply", f.value)
		}
	})
	t.Run("lease-read-under-skew", func(t *testing.T) {
		r := leaseReadUnderSkew(t, with(bugs.LeaseReadUnderSkew))
		if o := outcomeOf(r.ops, "new-1"); o == nil || o.outcome != "ok" {
			t.Fatalf("the new leader did not acknowledge the second write: %+v", o)
		}
		if got := readValues(r.ops); len(got) != 1 || got[0] != "old-1" {
			t.Fatalf("the old leader read %v, want the stale old-1", got)
		}
	})
	t.Run("forget-vote", func(t *testing.T) {
		r := forgetVote(t, with(bugs.ForgetVote))
		leaders := map[string]map[env.NodeID]bool{}
		for _, rec := range r.recs {
			if role, _ := rec.Str("role"); rec.Kind == "raft.state" && role == "leader" {
				g, _ := rec.Str("group")
				term, _ := rec.Int("term")
				k := fmt.Sprint(g, term)
				if leaders[k] == nil {
					leaders[k] = map[env.NodeID]bool{}
				}
				leaders[k][rec.Node] = true
				if len(leaders[k]) > 1 {
					return
				}
			}
		}
		t.Fatal("no term had two leaders")
	})
	t.Run("config-local-ack", func(t *testing.T) {
		r := configLocalAck(t, with(bugs.ConfigLocalAck))
		if res := outcomes(r.recs); outcome(res["op"]) != "ok" {
			t.Fatalf("the isolated instance did not acknowledge the action: %v", res["op"])
		}
	})
	t.Run("ack-before-enqueue", func(t *testing.T) {
		r := ackBeforeEnqueue(t, with(bugs.AckBeforeEnqueue))
		for _, rec := range r.recs {
			if f, _ := rec.Str("f"); rec.Kind == "client.ok" && f == "enqueue" {
				return
			}
		}
		t.Fatal("the isolated leader did not acknowledge the message")
	})
	t.Run("skip-apply-on-restart", func(t *testing.T) {
		r := skipApplyOnRestart(t, with(bugs.SkipApplyOnRestart))
		leader, _ := r.c.Leader("rs1")
		l, _ := r.c.Status(leader, "rs1")
		f, _ := r.c.Status(followerOf(r.c, leader), "rs1")
		if l.Applied != f.Applied || l.Digest == f.Digest {
			t.Fatalf("leader applied %d (state %s), follower %d (state %s): want the same index, different states", l.Applied, l.Digest, f.Applied, f.Digest)
		}
	})
}

// checkAll runs every checker on a run.
func checkAll(r run) map[string]checker.Result {
	h := checker.FromTrace(r.recs)
	out := map[string]checker.Result{}
	for _, res := range []checker.Result{
		checker.Linearizable(h, 30*time.Second).Result, checker.Durability(h), checker.RaftSafety(r.recs),
		checker.Quorum(r.recs), checker.Convergence(r.recs), checker.Partitions(r.recs), checker.Delivery(r.recs, FinalIngestProcess),
		checker.Replication(r.recs, nil),
	} {
		out[res.Checker] = res
	}
	return out
}

// checkClusters judges a run of several clusters: every checker on each
// cluster's part of the trace (its instances' and clients' records, and
// the world's about their links or about none), as CHECK[NAME], and the
// replication checker on the whole.
func checkClusters(r run, names ...string) map[string]checker.Result {
	out := map[string]checker.Result{}
	for _, name := range names {
		mine := func(id string) bool { return strings.HasPrefix(id, name+"-") }
		var part []env.Record
		for _, rec := range r.recs {
			from, hasFrom := rec.Str("from")
			to, hasTo := rec.Str("to")
			if mine(string(rec.Node)) || rec.Node == env.WorldNode && (!hasFrom && !hasTo || mine(from) || mine(to)) {
				part = append(part, rec)
			}
		}
		for check, res := range checkAll(run{recs: part}) {
			if check != "replication" {
				out[check+"["+name+"]"] = res
			}
		}
	}
	out["replication"] = checker.Replication(r.recs, nil)
	return out
}

// TestCheckersCatchPlantedBugs runs each scenario with and without its bug:
// with it, one of the checkers meant to see the bug reports invalid; without
// it, no checker reports anything but valid or n/a.
func TestCheckersCatchPlantedBugs(t *testing.T) {
	for _, tc := range []struct {
		bug      bugs.Bug
		scenario func(*testing.T, node.Config) run
		catchers []string // any of them must say invalid
	}{
		{bugs.AckBeforeCommit, ackBeforeCommit, []string{"linearizable", "durability"}},
		{bugs.StaleLocalRead, staleLocalRead, []string{"linearizable", "durability"}},
		{bugs.SkipSync, skipSync, []string{"linearizable", "durability"}},
		{bugs.ForgetDedup, forgetDedup, []string{"linearizable", "durability"}},
		{bugs.LeaseReadUnderSkew, leaseReadUnderSkew, []string{"linearizable", "durability"}},
		{bugs.ForgetVote, forgetVote, []string{"raft-safety"}},
		{bugs.ConfigLocalAck, configLocalAck, []string{"quorum"}},
		{bugs.SkipApplyOnRestart, skipApplyOnRestart, []string{"convergence"}},
		{bugs.AckBeforeEnqueue, ackBeforeEnqueue, []string{"delivery"}},
		{bugs.CommitOnFetch, commitOnFetch, []string{"delivery"}},
		{bugs.LastArrivalWins, lastArrivalWins, []string{"replication"}},
	} {
		judge := checkAll
		if tc.bug == bugs.LastArrivalWins {
			judge = func(r run) map[string]checker.Result { return checkClusters(r, "dc1", "dc2") }
		}
		t.Run(tc.bug.String(), func(t *testing.T) {
			clean := tc.scenario(t, node.Config{})
			clean.w.Close()
			for name, res := range judge(clean) {
				if res.Verdict != checker.Valid && res.Verdict != checker.NA {
					t.Errorf("without the bug, %s: %s: %s", name, res.Verdict, res.Explanation)
				}
			}
			buggy := tc.scenario(t, with(tc.bug))
			buggy.w.Close()
			results := judge(buggy)
			for _, name := range tc.catchers {
				if results[name].Verdict == checker.Invalid {
					t.Logf("%s: %s", name, results[name].Explanation)
					return
				}
			}
			t.Errorf("with %s no checker of %v said invalid: %v", tc.bug, tc.catchers, results)
		})
	}
}
