//go:build shoalbugs

package harness

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
)

// Each test builds the situation one planted bug needs and shows its
// effect; later checkers prove they catch it from the trace alone.

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

func outcomeOf(ops []*op, value string) *op {
	for _, o := range ops {
		if o.f == "write" && o.value == value {
			return o
		}
	}
	return nil
}

// ack-before-commit: a leader cut off from its followers acknowledges a
// write it only appended; the new majority never has it.
func TestBugAckBeforeCommit(t *testing.T) {
	w, c := start(t, 21, Topology{Instances: 3}, with(bugs.AckBeforeCommit))
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	oneWrite(t, c, "lost", string(leader), 0, time.Second)
	mustPartition(t, w, []env.NodeID{leader, "c1"})
	runUntil(t, w, w.Now()+4*time.Second)
	w.Heal()
	runUntil(t, w, w.Now()+3*time.Second)
	c.FinalRead([]string{"k0"})
	runUntil(t, w, w.Now()+5*time.Second)
	ops := history(t, records(t, w))
	if o := outcomeOf(ops, "lost-1"); o == nil || o.outcome != "ok" {
		t.Fatalf("the isolated leader did not acknowledge the write: %+v", o)
	}
	if f := finalValues(t, ops)["k0"]; !f.absent {
		t.Fatalf("k0 finally reads %q; the acknowledged write should be lost", f.value)
	}
}

// stale-local-read: an isolated follower answers reads from its own old
// state after a newer write was acknowledged.
func TestBugStaleLocalRead(t *testing.T) {
	w, c := start(t, 22, Topology{Instances: 3}, with(bugs.StaleLocalRead))
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	oneWrite(t, c, "old", string(leader), 0, time.Second)
	runUntil(t, w, w.Now()+time.Second)
	var follower env.NodeID
	for _, n := range c.Names {
		if n != leader {
			follower = n
		}
	}
	oneWrite(t, c, "new", string(leader), 0, time.Second) // c2
	oneRead(t, c, string(follower), time.Second)          // c3, once new is acknowledged
	mustPartition(t, w, []env.NodeID{follower, "c3"})
	runUntil(t, w, w.Now()+2*time.Second)
	ops := history(t, records(t, w))
	if o := outcomeOf(ops, "new-1"); o == nil || o.outcome != "ok" {
		t.Fatalf("the second write was not acknowledged: %+v", o)
	}
	for _, o := range ops {
		if o.f == "read" && o.outcome == "ok" {
			if o.value != "old-1" {
				t.Fatalf("the isolated follower read %q, want the stale old-1", o.value)
			}
			return
		}
	}
	t.Fatal("the isolated follower answered no read")
}

// skip-sync: a write acknowledged by all three instances is gone after
// they all crash, because none synced it.
func TestBugSkipSync(t *testing.T) {
	for _, bug := range []bool{false, true} {
		cfg := node.Config{}
		if bug {
			cfg = with(bugs.SkipSync)
		}
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
		ops := history(t, records(t, w))
		if o := outcomeOf(ops, "v-1"); o == nil || o.outcome != "ok" {
			t.Fatalf("bug %v: the write was not acknowledged: %+v", bug, o)
		}
		f := finalValues(t, ops)["k0"]
		if bug != f.absent {
			t.Fatalf("with skip-sync %v, k0 finally reads %q (absent %v)", bug, f.value, f.absent)
		}
		w.Close()
	}
}

// forget-dedup: the retry of a's write, arriving after b's, applies again
// and brings back a's older value.
func TestBugForgetDedup(t *testing.T) {
	_, final := retriedWrite(t, with(bugs.ForgetDedup))
	if final.value != "a-1" {
		t.Fatalf("x finally reads %q; with forget-dedup a's retry should overwrite b's later write", final.value)
	}
}

// lease-read-under-skew: the old leader, cut off and with its wall clock
// stepped back after it stepped down, still believes in its read lease and
// answers a stale read after the new leader acknowledged a newer write.
func TestBugLeaseReadUnderSkew(t *testing.T) {
	w, c := start(t, 24, Topology{Instances: 3}, with(bugs.LeaseReadUnderSkew))
	runUntil(t, w, 3*time.Second)
	old := waitLeader(t, w, c, "rs1", 2*time.Second)
	oneWrite(t, c, "old", string(old), 0, time.Second)
	runUntil(t, w, w.Now()+time.Second)
	oneRead(t, c, string(old), 6*time.Second) // c2, after the new leader took the write below
	mustPartition(t, w, []env.NodeID{old, "c2"})
	// Once the old leader has stepped down, its wall clock is stepped
	// back: by its own clock, the lease it last renewed holds for 30s more.
	runUntil(t, w, w.Now()+1500*time.Millisecond)
	w.SetClockOffset(old, -30*time.Second)
	runUntil(t, w, w.Now()+1500*time.Millisecond)
	var other env.NodeID
	for _, n := range c.Names {
		if n != old {
			other = n
		}
	}
	if _, err := c.AddClients(1, client.Config{Target: string(other), Timeout: 2 * time.Second},
		func(int) client.Workload { return &client.Mix{ID: "new", Keys: 1, Write: 1, Ops: 1} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, w.Now()+4*time.Second)
	ops := history(t, records(t, w))
	if o := outcomeOf(ops, "new-1"); o == nil || o.outcome != "ok" {
		t.Fatalf("the new leader did not acknowledge the second write: %+v", o)
	}
	for _, o := range ops {
		if o.f == "read" && o.outcome == "ok" && o.value == "old-1" {
			return
		}
	}
	t.Fatal("the old leader served no stale read under its skewed lease")
}

// forget-vote: n2 is the only link between n1 and n3, and restarts
// whenever it campaigns itself. When it first votes for another (X), X's
// messages to n2 are cut, so X's first append never reaches it, and n2
// crashes and restarts: with its vote forgotten it grants the other
// candidate a vote in the same term, and two leaders share it.
func TestBugForgetVote(t *testing.T) {
	for _, bug := range []bool{false, true} {
		cfg := node.Config{}
		if bug {
			cfg = with(bugs.ForgetVote)
		}
		w, err := simnet.New(simnet.Config{Seed: 27, KeepTrace: true,
			Network: &simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Constant, Min: 5 * time.Millisecond}}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := Start(w, Topology{Instances: 3}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.Cut("n1", "n3")
		w.Cut("n3", "n1")
		// n2 must not lead: it restarts whenever it campaigns.
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
		if err := w.Run(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		recs, err := w.Records()
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		res := checker.RaftSafety(recs)
		if bug != (res.Verdict == checker.Invalid) {
			t.Fatalf("forget-vote %v: raft-safety %s: %s", bug, res.Verdict, res.Explanation)
		}
		t.Logf("forget-vote %v: %s", bug, res.Explanation)
	}
}

// config-local-ack: an operator action on an instance cut off from group
// 0's majority is acknowledged, though it can never commit.
func TestBugConfigLocalAck(t *testing.T) {
	w, c := start(t, 25, Topology{Instances: 3}, with(bugs.ConfigLocalAck))
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "config", 2*time.Second)
	before, _ := c.Status(leader, "config")
	mustPartition(t, w, []env.NodeID{leader})
	c.Propose(leader, "config", "op", cluster.SetSetting("k", "v").Encode(), time.Second)
	runUntil(t, w, w.Now()+3*time.Second)
	res := outcomes(records(t, w))
	if outcome(res["op"]) != "ok" {
		t.Fatalf("the isolated instance did not acknowledge the action: %v", res["op"])
	}
	if after, _ := c.Status(leader, "config"); after.Commit != before.Commit {
		t.Fatalf("the isolated instance's commit index moved from %d to %d; the action cannot have committed", before.Commit, after.Commit)
	}
}

// skip-apply-on-restart: a follower whose latest applies were lost in a
// crash resumes after its commit index, skipping them, and its state
// differs from the leader's at the same applied index.
func TestBugSkipApplyOnRestart(t *testing.T) {
	w, c := start(t, 26, Topology{Instances: 3}, with(bugs.SkipApplyOnRestart))
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)
	var follower env.NodeID
	for _, n := range c.Names {
		if n != leader {
			follower = n
		}
	}
	for i := range 20 {
		id := fmt.Sprint("p", i)
		c.Propose(leader, "rs1", id, Put(id, 1, fmt.Sprint("k", i), "v"), time.Second)
		runUntil(t, w, w.Now()+10*time.Millisecond)
	}
	runUntil(t, w, w.Now()+100*time.Millisecond)
	w.Kill(follower)
	w.Restart(follower)
	runUntil(t, w, w.Now()+2*time.Second)
	l, _ := c.Status(leader, "rs1")
	f, _ := c.Status(follower, "rs1")
	if l.Applied != f.Applied {
		t.Fatalf("leader applied %d, follower %d", l.Applied, f.Applied)
	}
	if l.Digest == f.Digest {
		t.Fatal("the follower's state equals the leader's: no apply was skipped")
	}
}
