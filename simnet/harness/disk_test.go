package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/scenarios/replaytest"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
)

// walFaults fails 30% of the writes and syncs of an instance's Raft log.
func walFaults(t testing.TB) simnet.DiskFaults {
	t.Helper()
	ops, err := simnet.DiskOps("write", "sync")
	if err != nil {
		t.Fatal(err)
	}
	return simnet.DiskFaults{Ops: ops, Probability: 0.3, Under: node.WALDir}
}

// aFollower returns the first instance that is not the leader.
func aFollower(c *Cluster, leader env.NodeID) env.NodeID {
	for _, n := range c.Names {
		if n != leader {
			return n
		}
	}
	return ""
}

// TestFailingWALReplays: one follower's Raft log fails 30% of its writes
// and syncs for four seconds while clients write and read. The follower
// dies of it again and again (node.crash; the harness restarts it every
// half second, and some restarts fail at once), the other two instances
// keep serving, and once the disk is healthy the follower restarts and
// catches up. Every checker stays valid, and the run replays exactly in
// processes with GOMAXPROCS 1 and 2.
func TestFailingWALReplays(t *testing.T) {
	replaytest.Check(t, func(t testing.TB) [32]byte {
		w, c := start(t, 21, Topology{Instances: 3}, node.Config{CompactEvery: 200})
		keys := keyNames(8)
		if _, err := c.AddClients(3, client.Config{Delay: 2 * time.Second, Interval: 20 * time.Millisecond, Target: "leader"},
			func(i int) client.Workload {
				return &client.Mix{ID: fmt.Sprint("c", i), Keys: len(keys), Read: 1, Write: 2, CAS: 1}
			}); err != nil {
			t.Fatal(err)
		}
		runUntil(t, w, 3*time.Second)
		victim := aFollower(c, waitLeader(t, w, c, "rs1", 2*time.Second))
		faultsOn, faultsOff := w.Now(), w.Now()+4*time.Second
		if err := w.SetDiskFaults(victim, walFaults(t)); err != nil {
			t.Fatal(err)
		}
		for at := faultsOn + 500*time.Millisecond; at < faultsOff; at += 500 * time.Millisecond {
			w.At(at, func() { w.Restart(victim) })
		}
		w.At(faultsOff, func() {
			if err := w.SetDiskFaults(victim, simnet.DiskFaults{}); err != nil {
				t.Error(err)
			}
			w.Restart(victim)
		})
		runUntil(t, w, 12*time.Second)
		if err := c.FinalRead(keys); err != nil {
			t.Fatal(err)
		}
		runUntil(t, w, 16*time.Second)
		c.RecordDigests()
		runUntil(t, w, 17*time.Second)

		recs := records(t, w)
		requireSafe(t, recs)
		var crashes, fails, injected, served int
		for _, r := range recs {
			switch {
			case r.Node == victim && r.Kind == "node.crash":
				crashes++
				if e, _ := r.Str("error"); !strings.Contains(e, simnet.ErrInjected.Error()) {
					t.Errorf("%s crashed of %q, not of an injected fault", victim, e)
				}
			case r.Node == victim && r.Kind == "node.fail":
				fails++
			case r.Node == victim && r.Kind == "disk.error":
				injected++
			case r.Node != victim && (r.Kind == "node.crash" || r.Kind == "disk.error"):
				t.Errorf("%s on %s, whose disk is healthy", r.Kind, r.Node)
			case r.Kind == "client.ok" && r.Time > int64(faultsOn) && r.Time < int64(faultsOff):
				served++
			}
		}
		if crashes < 3 || int64(injected) != w.DiskErrors(victim) {
			t.Fatalf("%s: %d crashes, %d restarts failed, %d disk.error events, DiskErrors %d", victim, crashes, fails, injected, w.DiskErrors(victim))
		}
		if served < 300 {
			t.Fatalf("only %d client operations succeeded while %s's disk failed", served, victim)
		}
		if !w.Up(victim) {
			t.Fatalf("%s is down after its disk recovered", victim)
		}
		for _, g := range groupsOf(c) {
			requireConverged(t, c, g)
		}
		ops := history(t, recs)
		if n := len(finalValues(t, ops)); n != len(keys) {
			t.Fatalf("%d of %d keys read finally", n, len(keys))
		}
		t.Logf("%s: %d crashes, %d failed restarts, %d injected errors; %d ops served during the faults",
			victim, crashes, fails, injected, served)
		defer w.Close()
		return w.TraceHash()
	})
}

// TestUnreadableWALFailsStart: an instance whose Raft log cannot be read
// does not start (node.fail: raftlog.Open's error reaches Start) and stays
// down; once the log reads again it starts and catches up.
func TestUnreadableWALFailsStart(t *testing.T) {
	w, c := start(t, 22, Topology{Instances: 3}, node.Config{})
	runUntil(t, w, 3*time.Second)
	victim := aFollower(c, waitLeader(t, w, c, "rs1", 2*time.Second))
	ops, err := simnet.DiskOps("read")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetDiskFaults(victim, simnet.DiskFaults{Ops: ops, Probability: 1, Under: node.WALDir}); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 4*time.Second)
	if !w.Up(victim) || w.DiskErrors(victim) != 0 {
		t.Fatalf("a running instance reads its log: up %v, %d disk errors", w.Up(victim), w.DiskErrors(victim))
	}
	w.Kill(victim)
	if w.Restart(victim); w.Up(victim) {
		t.Fatalf("%s started on a log it cannot read", victim)
	}
	for i := range 20 {
		id := fmt.Sprint("p", i)
		c.Propose("n1", "rs1", id, Put(id, 1, "k", "v"), time.Second)
	}
	runUntil(t, w, 6*time.Second)
	if err := w.SetDiskFaults(victim, simnet.DiskFaults{}); err != nil {
		t.Fatal(err)
	}
	if w.Restart(victim); !w.Up(victim) {
		t.Fatalf("%s did not start once its log read again", victim)
	}
	runUntil(t, w, 9*time.Second)
	recs := records(t, w)
	requireSafe(t, recs)
	var fail env.Record
	for _, r := range recs {
		if r.Kind == "node.fail" && r.Node == victim {
			fail = r
		}
	}
	if e, _ := fail.Str("error"); !strings.Contains(e, "read wal/") || !strings.Contains(e, simnet.ErrInjected.Error()) {
		t.Fatalf("node.fail of %s: %q, want the failed read of its log", victim, e)
	}
	if st := requireConverged(t, c, "rs1"); st.Applied < 21 {
		t.Fatalf("rs1 applied only %d entries", st.Applied)
	}
}
